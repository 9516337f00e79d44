"""smokebot's check engine: suite files, plans, the runner, assertions, redaction and reports.
It knows nothing of Slack; `bot/` adapts it to the world.

The public names are imported when first used: `from checks.errors import CheckError` (what
`smokebot --version` needs) then loads the errors module, not the suite models and the runner."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from checks.config import Suite, load_suite
    from checks.errors import CheckError, ConfigError, SmokebotError, UsageError
    from checks.kinds import kind_names, register_kind
    from checks.kinds.base import CheckContext, CheckKind, KindParams
    from checks.plan import RunPlan, build_plan
    from checks.redact import Redactor
    from checks.resources import RunResources
    from checks.results import CheckResult, Outcome, RunResult, Severity, Status, Verdict
    from checks.runner import CheckFinished, CheckStarted, run_plan
    from checks.secrets import Secret, describe_secret

# public name -> the module that defines it
_MODULES = {
    "CheckContext": "checks.kinds.base",
    "CheckError": "checks.errors",
    "CheckFinished": "checks.runner",
    "CheckKind": "checks.kinds.base",
    "CheckResult": "checks.results",
    "CheckStarted": "checks.runner",
    "ConfigError": "checks.errors",
    "KindParams": "checks.kinds.base",
    "Outcome": "checks.results",
    "Redactor": "checks.redact",
    "RunPlan": "checks.plan",
    "RunResources": "checks.resources",
    "RunResult": "checks.results",
    "Secret": "checks.secrets",
    "Severity": "checks.results",
    "SmokebotError": "checks.errors",
    "Status": "checks.results",
    "Suite": "checks.config",
    "UsageError": "checks.errors",
    "Verdict": "checks.results",
    "build_plan": "checks.plan",
    "describe_secret": "checks.secrets",
    "kind_names": "checks.kinds",
    "load_suite": "checks.config",
    "register_kind": "checks.kinds",
    "run_plan": "checks.runner",
}

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
    "RunResources",
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


def __getattr__(name: str) -> Any:
    module = _MODULES.get(name)
    if module is None:
        raise AttributeError(f"module 'checks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
