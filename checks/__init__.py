"""smokebot's check engine: suite files, plans, the runner, assertions, redaction and reports.
It knows nothing of Slack; `bot/` adapts it to the world."""

from checks.config import Suite, load_suite
from checks.errors import CheckError, ConfigError, SmokebotError, UsageError
from checks.kinds import kind_names, register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import RunPlan, build_plan
from checks.redact import Redactor
from checks.results import CheckResult, Outcome, RunResult, Severity, Status, Verdict
from checks.runner import CheckFinished, CheckStarted, run_plan
from checks.secrets import Secret, describe_secret

__all__ = [
    "CheckContext",
    "CheckError",
    "CheckFinished",
    "CheckKind",
    "CheckResult",
    "CheckStarted",
    "ConfigError",
    "KindParams",
    "Outcome",
    "Redactor",
    "RunPlan",
    "RunResult",
    "Secret",
    "Severity",
    "SmokebotError",
    "Status",
    "Suite",
    "UsageError",
    "Verdict",
    "build_plan",
    "describe_secret",
    "kind_names",
    "load_suite",
    "register_kind",
    "run_plan",
]
