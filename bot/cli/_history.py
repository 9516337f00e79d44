"""What the history store holds: `history` (the last runs) and `deliveries` (the last deploy
webhooks and what each started)."""

from __future__ import annotations

import click

from bot.cli._store import query_store
from bot.records import WebhookOutcome
from bot.webhooks.sources import source_names

__all__ = ["deliveries", "history"]


@click.command()
@click.argument("environment", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
def history(environment: str | None, limit: int) -> None:
    """The last runs, with verdicts, triggers and deployed versions."""
    runs = query_store(lambda store: store.recent_runs(environment, limit=limit))
    if not runs:
        click.echo("no runs yet")
    for run in runs:
        version = run.deploy.version or run.deploy.commit if run.deploy else None
        counts = run.counts
        click.echo(f"{run.created_at:%Y-%m-%d %H:%M} {str(run.id)[:8]} {run.environment:<12} "
                   f"{run.status.value:<11} {counts.passed}/{counts.total} passed  "
                   f"{run.trigger_detail or run.trigger_kind.value}"
                   + (f"  version {version}" if version else ""))


@click.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
@click.option("--source", type=click.Choice(source_names()))
def deliveries(limit: int, source: str | None) -> None:
    """Recent deploy webhook deliveries, and why each did or did not start a run."""
    found = query_store(lambda store: store.recent_webhook_deliveries(
        limit, source=source or None))
    if not found:
        click.echo("no deliveries yet")
    for d in found:
        run = str(d.run_id)[:8] if d.run_id else "-"
        again = ""
        if d.redeliveries and d.outcome is WebhookOutcome.REJECTED:
            # One row stands for the same rejection repeated within the hour (migration 0005).
            again = f" (+{d.redeliveries} more like it, last {d.last_received_at:%H:%M:%S})"
        elif d.redeliveries:
            again = f" (+{d.redeliveries} redelivered)"
        click.echo(f"{d.received_at:%Y-%m-%d %H:%M:%S} {d.source:<7} "
                   f"{(d.delivery_id or '-')[:20]:<20} {d.outcome.value:<8} "
                   f"{d.environment or '-':<12} run {run}{again}  {d.reason}")
