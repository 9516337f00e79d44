"""The bot's own commands: `serve`, `worker`, `migrate`, `history`. Added to the CLI group in
bot/cli.py; kept apart so that `smokebot run` never imports Slack or Redis."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click

from bot.settings import Settings
from checks.errors import SmokebotError
from checks.redact import RedactingFilter, Redactor

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["deliveries", "history", "migrate", "serve", "worker"]


def _logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(Redactor(settings.secrets())))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


T = TypeVar("T")


def _fail(exc: SmokebotError) -> NoReturn:
    click.echo(f"error: {exc.render()}", err=True)
    sys.exit(exc.exit_code)


def _query_store(settings: Settings, query: Callable[[Store], Awaitable[T]]) -> T:
    """Opens the history store (waiting for the database), runs one query and closes it; a
    SmokebotError becomes the command's error line and exit code."""
    from bot.store import Store  # here, so that `smokebot run` never imports the store

    async def run() -> T:
        async with Store.open(settings.database_url, settings.db_schema, wait=True) as store:
            return await query(store)
    try:
        return asyncio.run(run())
    except SmokebotError as exc:
        _fail(exc)


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--socket-mode", is_flag=True, help="Connect to Slack over Socket Mode "
              "(needs SLACK_APP_TOKEN) instead of serving /slack/events.")
def serve(host: str, port: int, socket_mode: bool) -> None:
    """Serve the Slack app (and deploy webhooks) over HTTP, or over Socket Mode."""
    settings = Settings.from_env()
    _logging(settings)
    try:
        if socket_mode:
            asyncio.run(_socket_mode(settings))
        else:
            import uvicorn

            from bot.web import create_web_app
            uvicorn.run(create_web_app(settings), host=host, port=port, log_level="info",
                        access_log=False)
    except SmokebotError as exc:
        _fail(exc)


async def _socket_mode(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.services import Services
    from bot.slack.app import create_bolt_app
    if settings.slack_app_token is None:
        raise SmokebotError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token")
    services = await Services.start(settings)
    try:
        handler = AsyncSocketModeHandler(create_bolt_app(services),
                                         settings.slack_app_token.reveal())
        await handler.start_async()
    finally:
        await services.close()


@click.command()
@click.option("--concurrency", default=2, show_default=True, type=int,
              help="Runs executed at once by this worker.")
def worker(concurrency: int) -> None:
    """Execute queued runs (and reap runs whose worker died)."""
    settings = Settings.from_env()
    _logging(settings)
    from bot.worker_main import run_worker_process
    try:
        asyncio.run(run_worker_process(settings, concurrency=concurrency))
    except SmokebotError as exc:
        _fail(exc)


@click.command()
def migrate() -> None:
    """Apply the history store's migrations (idempotent)."""
    settings = Settings.from_env()
    applied = _query_store(settings, lambda store: store.migrate())
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")


@click.command()
@click.argument("environment", required=False)
@click.option("--limit", default=20, show_default=True, type=int)
def history(environment: str | None, limit: int) -> None:
    """The last runs, with verdicts, triggers and deployed versions."""
    settings = Settings.from_env()
    runs = _query_store(settings, lambda store: store.recent_runs(environment, limit=limit))
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
@click.option("--limit", default=20, show_default=True, type=int)
@click.option("--source", type=click.Choice(["github", "argocd", "deploy"]))
def deliveries(limit: int, source: str | None) -> None:
    """Recent deploy webhook deliveries, and why each did or did not start a run."""
    settings = Settings.from_env()
    from bot.store import WebhookSource
    found = _query_store(settings, lambda store: store.recent_webhook_deliveries(
        limit, source=WebhookSource(source) if source else None))
    if not found:
        click.echo("no deliveries yet")
    for d in found:
        run = str(d.run_id)[:8] if d.run_id else "-"
        again = f" (+{d.redeliveries} redelivered)" if d.redeliveries else ""
        click.echo(f"{d.received_at:%Y-%m-%d %H:%M:%S} {d.source.value:<7} "
                   f"{(d.delivery_id or '-')[:20]:<20} {d.outcome.value:<8} "
                   f"{d.environment or '-':<12} run {run}{again}  {d.reason}")
