"""The bot's processes: `serve` (the Slack app and deploy webhooks), `worker` (executes queued
runs) and `migrate` (the history store's schema). Slack, Redis and the store are imported
inside each command, so that `smokebot run` never imports them."""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from bot.cli._bridge import output_redactor
from bot.cli._store import query_store
from bot.errors import SettingError
from bot.settings import Settings
from checks.redact import RedactingFilter

__all__ = ["migrate", "serve", "worker"]


def _logging(settings: Settings) -> None:
    redactor = output_redactor()
    for secret in settings.secrets():
        redactor.register(secret)
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RedactingFilter(redactor))
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


@click.command()
@click.option("--host", default="0.0.0.0", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--socket-mode", is_flag=True, help="Connect to Slack over Socket Mode "
              "(needs SLACK_APP_TOKEN) instead of serving /slack/events.")
def serve(host: str, port: int, socket_mode: bool) -> None:
    """Serve the Slack app (and deploy webhooks) over HTTP, or over Socket Mode."""
    settings = Settings.from_env()
    _logging(settings)
    if socket_mode:
        asyncio.run(_socket_mode(settings))
        return
    import uvicorn

    from bot.web import create_web_app
    uvicorn.run(create_web_app(settings), host=host, port=port, log_level="info",
                access_log=False)


async def _socket_mode(settings: Settings) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    from bot.services import Services
    from bot.slack.app import create_bolt_app
    if settings.slack_app_token is None:
        raise SettingError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token "
                           "(xapp-…)")
    services = await Services.start(settings)
    try:
        handler = AsyncSocketModeHandler(create_bolt_app(services),
                                         settings.slack_app_token.reveal())
        await handler.start_async()
    finally:
        await services.close()


@click.command()
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(min=1),
              help="Runs executed at once by this worker.")
def worker(concurrency: int) -> None:
    """Execute queued runs (and reap runs whose worker died)."""
    settings = Settings.from_env()
    _logging(settings)
    from bot.worker_main import run_worker_process
    asyncio.run(run_worker_process(settings, concurrency=concurrency))


@click.command()
def migrate() -> None:
    """Apply the history store's migrations (idempotent)."""
    applied = query_store(lambda store: store.migrate())
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")
