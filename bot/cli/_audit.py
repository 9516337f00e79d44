"""`smokebot audit [ENV|RUN]`: the audit log as plain text, oldest first: the last entries, an
environment's, or one run's trail (its confirmation, start, joins, re-runs, cancel and
acknowledgements)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import click

from bot.cli._store import query_store
from bot.records import AuditEntry
from checks.errors import UsageError

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["audit", "audit_line"]

_RUN_ID = re.compile(r"^[0-9a-f]{8}[0-9a-f-]{0,28}$", re.IGNORECASE)  # all or a prefix


@click.command()
@click.argument("target", metavar="[ENV|RUN]", required=False)
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1),
              help="At most this many entries (the latest) of the log or an environment.")
def audit(target: str | None, limit: int) -> None:
    """Who asked for, confirmed, was refused, cancelled or acknowledged what: the last
    entries, those of environment ENV, or the trail of run RUN (its id, or the first 8
    characters `smokebot history` shows)."""
    title, entries = query_store(lambda store: _entries(store, target, limit))
    if not entries:
        click.echo(f"no audit entries {title}".rstrip())
    for entry in entries:
        click.echo(audit_line(entry))


async def _entries(store: Store, target: str | None,
                   limit: int) -> tuple[str, Sequence[AuditEntry]]:
    """What to print, with the words for "no audit entries ..."."""
    if target is None:
        return "yet", list(reversed(await store.recent_audit(limit)))
    if target in await store.audited_environments():
        return f"for {target}", list(reversed(await store.recent_audit(limit, target)))
    runs = await store.audited_run_ids(target) if _RUN_ID.match(target) else []
    if len(runs) == 1:
        return f"for run {runs[0]}", await store.run_audit(runs[0])
    if len(runs) > 1:
        raise UsageError(f"run id '{target}' is ambiguous: it starts "
                         f"{', '.join(str(r) for r in runs)}; give more of it")
    environments = ", ".join(await store.audited_environments()) or "none yet"
    recent = ", ".join(str(r.id)[:8] for r in await store.recent_runs(limit=5)) or "none yet"
    raise UsageError(f"unknown environment or run '{target}'; expected an environment "
                     f"({environments}) or a run id (recent runs: {recent})")


def audit_line(entry: AuditEntry) -> str:
    """`2025-06-01 09:30:02 confirmed          production   U0HUMAN001  allowed  run -
    request 3f2a..., filters health`: one line per entry, the detail that matters last."""
    run = str(entry.run_id)[:8] if entry.run_id else "-"
    verdict = "allowed" if entry.allowed else "refused"
    line = (f"{entry.at:%Y-%m-%d %H:%M:%S} {entry.action:<17} {entry.environment or '-':<12} "
            f"{entry.actor:<11} {verdict:<7} run {run}")
    facts = _facts(entry.detail)
    return f"{line}  {facts}" if facts else line


def _facts(detail: dict[str, Any]) -> str:
    said = []
    if detail.get("rerun_of"):
        which = "failed checks" if detail.get("only_failed") else "all checks"
        said.append(f"re-run ({which}) of {str(detail['rerun_of'])[:8]}")
    if detail.get("filters"):
        said.append("filters " + " ".join(str(f) for f in detail["filters"]))
    if detail.get("check_id"):
        said.append(f"check {detail['check_id']}")
    if detail.get("confirmed"):
        said.append("confirmed")
    if detail.get("trigger"):
        said.append(f"via {detail['trigger']}")
    if detail.get("request"):
        said.append(f"request {detail['request']}")
    if detail.get("channel"):
        said.append(f"in {detail['channel']}")
    if detail.get("reason"):
        said.append(f"reason: {detail['reason']}")
    return ", ".join(said)
