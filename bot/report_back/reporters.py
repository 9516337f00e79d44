"""The registry of reporters: every kind of report back smokebot can make, one entry each.

Adding one (a GitLab deployment, say) is its module (like `github.py`: a `Reporter` with
`prepare`, `send` and, if the source can be asked, `find`), its name in `names.py`, one entry
below, and the source's parser setting `DeployNotice.report_to`. The store, the deliverer and
`smokebot deliveries` read this registry.
"""

from __future__ import annotations

from bot.records import ReportTarget
from bot.report_back import callback, github
from bot.report_back.base import Reporter
from bot.settings import Settings
from bot.webhooks.notice import DeployNotice

__all__ = ["describe_target", "owed_report", "reporter_for", "reporters"]

_REPORTERS: dict[str, Reporter] = {r.kind: r for r in (github.REPORTER, callback.REPORTER)}


def reporters() -> tuple[Reporter, ...]:
    return tuple(_REPORTERS.values())


def reporter_for(kind: str) -> Reporter | None:
    return _REPORTERS.get(kind)


def owed_report(settings: Settings, notice: DeployNotice) -> ReportTarget | None:
    """Where the notice's run will report its verdict: the notice's target, if a reporter
    of its kind exists and the settings let it send (no GitHub token: GitHub is not told)."""
    target = notice.report_to
    if target is None:
        return None
    reporter = _REPORTERS.get(target.kind)
    if reporter is None or reporter.ready(settings, target) is not None:
        return None
    return target


def describe_target(target: ReportTarget) -> str:
    reporter = _REPORTERS.get(target.kind)
    return reporter.describe(target) if reporter is not None else target.kind
