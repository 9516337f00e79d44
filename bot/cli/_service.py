"""The bot's processes: `serve` (the Slack app and deploy webhooks), `worker` (executes queued
runs) and `migrate` (the history store's schema). Slack, Redis and the store are imported
inside each command, so that `smokebot run` never imports them.

`serve` and `worker` refuse to start, with one line and exit 2, when what they would need for
every request is wrong: a setting, the suite file, the address to listen on."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import gc
import logging
import signal
import socket
import sys

import click

from bot.cli._bridge import output_redactor
from bot.cli._engine import config_option
from bot.cli._store import query_store
from bot.errors import CannotListen
from bot.settings import WORKER_METRICS_PORT, Settings
from bot.suites import load_suite
from checks.redact import RedactingFilter

__all__ = ["migrate", "serve", "worker"]

log = logging.getLogger("smokebot")
UVICORN_STARTUP_FAILURE = 3  # what `uvicorn.run` exits with when the app did not start


def _process_settings(config: str | None) -> Settings:
    settings = Settings.from_env()
    return settings if config is None else dataclasses.replace(settings, config_path=config)


def _require_suite(settings: Settings) -> None:
    """Raises ConfigError (`FILE: suite file not found ...`, `FILE:LINE:COL: ...`): started
    without a good suite, the process would answer every command with that error. Later
    edits are reloaded while it runs, the last good version kept."""
    load_suite(settings.config_path)


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
@config_option
@click.option("--host", default="0.0.0.0", show_default=True, envvar="SMOKEBOT_HOST",
              show_envvar=True, help="Address to listen on: 0.0.0.0 is every interface, "
              "127.0.0.1 this machine only.")
@click.option("--port", default=3000, show_default=True, envvar="SMOKEBOT_PORT",
              show_envvar=True, type=click.IntRange(0, 65535),
              help="Port to listen on (0: any free port).")
@click.option("--socket-mode", is_flag=True, help="Connect to Slack over Socket Mode "
              "(needs SLACK_APP_TOKEN) instead of serving /slack/events; --host and --port "
              "are not used.")
def serve(config: str | None, host: str, port: int, socket_mode: bool) -> None:
    """Serve the Slack app (and deploy webhooks) over HTTP, or over Socket Mode."""
    from bot.slack.app import signing_secret
    settings = _process_settings(config)
    if socket_mode:
        from bot.slack.socket_mode import app_token
        app_token(settings)
    signing_secret(settings)
    _require_suite(settings)
    _logging(settings)
    if socket_mode:
        asyncio.run(_socket_mode(settings))
        return
    import uvicorn

    from bot.web import create_web_app
    listener = _listening_socket(host, port)
    log.info("listening on http://%s (Slack: /slack/events)", _shown(*listener.getsockname()))
    server = uvicorn.Server(uvicorn.Config(create_web_app(settings), log_level="info",
                                           access_log=False))
    # The app and its imports live as long as the process: frozen, a full collection does
    # not walk them (35-65 ms pauses that doubled a 500-check run page's p95).
    gc.freeze()
    server.run(sockets=[listener])
    if not server.started:
        raise SystemExit(UVICORN_STARTUP_FAILURE)


_LISTEN_PROBLEMS = {errno.EADDRINUSE: "the address is already in use",
                    errno.EADDRNOTAVAIL: "it is not an address of this machine",
                    errno.EACCES: "permission denied (ports below 1024 need privileges)"}


def _listening_socket(host: str, port: int) -> socket.socket:
    """Bound and listening before anything opens: a port in use is one line and exit 2,
    not a log line of uvicorn's after the store and queue were opened."""
    listener = None
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or "0.0.0.0", port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:  # socket.gaierror too: a host name that does not resolve
        if listener is not None:
            listener.close()
        problem = _LISTEN_PROBLEMS.get(exc.errno or 0) or (exc.strerror or str(exc)).lower()
        raise CannotListen(f"cannot listen on {_shown(host, port)}: {problem}; pass --host and "
                           f"--port (or set SMOKEBOT_HOST and SMOKEBOT_PORT)") from None
    return listener


def _shown(host: str, port: int, *_: object) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _socket_mode(settings: Settings) -> None:
    from bot.services import Services
    from bot.slack.socket_mode import serve_socket_mode
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    services = await Services.start(settings)
    try:
        await serve_socket_mode(services, stop=stop)
    finally:
        await services.close()


@click.command()
@config_option
@click.option("--concurrency", default=2, show_default=True, type=click.IntRange(min=1),
              help="Runs executed at once by this worker.")
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=None,
              help="Port of this worker's Prometheus /metrics, on SMOKEBOT_WORKER_METRICS_HOST "
              "(0: none). Default: SMOKEBOT_WORKER_METRICS_PORT, else "
              f"{WORKER_METRICS_PORT}.")
def worker(config: str | None, concurrency: int, metrics_port: int | None) -> None:
    """Execute queued runs (and reap runs whose worker died)."""
    settings = _process_settings(config)
    if metrics_port is not None:
        settings = dataclasses.replace(settings, worker_metrics_port=metrics_port)
    _require_suite(settings)
    _logging(settings)
    from bot.worker_main import run_worker_process
    asyncio.run(run_worker_process(settings, concurrency=concurrency))


@click.command()
def migrate() -> None:
    """Apply the history store's migrations (idempotent)."""
    applied = query_store(lambda store: store.migrate())
    click.echo(f"applied: {', '.join(applied)}" if applied else "up to date")
