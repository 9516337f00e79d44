"""The whole bot on one machine: the Slack emulator, the web process (served in-process over
real HTTP), a real worker process, the machine's PostgreSQL and Redis, and a demo target.

Besides the demo target, an auxiliary target serves `/slow?seconds=N` (answers after N
seconds: a run that is still going when a test needs it to be) and `/echo` (answers 500 with
the request's headers in its body: evidence that would carry a credential sent in a header).
`write_suite` replaces the suite file; the web process and the workers reload it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot.settings import Settings
from bot.web import create_web_app
from demo.target import create_app as create_target
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SignedRequest, SlackRequestFactory

ROOT = Path(__file__).resolve().parents[2]
SIGNING_SECRET = "scenario-signing-secret-0123456789"
CHANNEL = "C0SMOKE001"

SUITE = """\
suite: scenario
defaults: {{timeout: 5s}}
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    slack: {{channel: {channel}}}
  production:
    variables: {{base_url: "{base_url}"}}
    slack: {{channel: {channel}, confirm: true, allowed_users: [U0HUMAN001]}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: health
        name: Health endpoint
        type: http
        tags: [health]
        url: ${{base_url}}/api/health
        assert: ["services.ai_providers.* == healthy"]
      - id: version
        name: Deployed version
        type: http
        tags: [health]
        url: ${{base_url}}/api/version
        assert: ["version exists"]
"""


def create_aux_target() -> Starlette:
    async def slow(request: Request) -> JSONResponse:
        await asyncio.sleep(float(request.query_params.get("seconds", "30")))
        return JSONResponse({"status": "healthy"})

    async def echo(request: Request) -> JSONResponse:
        return JSONResponse({"status": "broken", "headers": dict(request.headers)},
                            status_code=500)

    return Starlette(routes=[Route("/slow", slow), Route("/echo", echo)])


@dataclass
class BotStack:
    emulator: SlackEmulator
    slack: SlackRequestFactory
    web_url: str
    env: dict[str, str]
    dsn: str
    schema: str
    suite_path: Path
    target_url: str
    aux_url: str
    logs_dir: Path
    worker_logs: dict[int, Path] = field(default_factory=dict)  # pid -> its stderr

    def write_suite(self, text: str) -> None:
        """Replaces the suite; the processes reload it when its mtime changes."""
        before = self.suite_path.stat().st_mtime_ns
        self.suite_path.write_text(text)
        # Two writes within the file system's timestamp granularity would look unchanged.
        after = max(before + 1_000_000_000, self.suite_path.stat().st_mtime_ns)
        os.utime(self.suite_path, ns=(after, after))

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Rows from the store's schema (tables named without the schema)."""
        with psycopg.connect(self.dsn) as conn:
            conn.execute(f"SET search_path TO {self.schema}")
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def worker_stderr(self, process: subprocess.Popen[bytes]) -> str:
        return self.worker_logs[process.pid].read_text(errors="replace")

    def send(self, request: SignedRequest, *, web_url: str | None = None) -> httpx.Response:
        return httpx.post(f"{web_url or self.web_url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)

    @contextlib.contextmanager
    def another_web_app(self, **env: str) -> Iterator[str]:
        """A second web process on the same store and queue, with some settings changed
        (REDIS_URL or DATABASE_URL pointing elsewhere); yields its base URL."""
        settings = Settings.from_env({**self.env, **env})
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0,
                 what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def start_worker(self, extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        # stderr goes to a file: a pipe nobody reads fills up and blocks the worker's logging.
        path = self.logs_dir / f"worker-{len(self.worker_logs)}.stderr"
        with path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=ROOT,
                                       env={**os.environ, **self.env, **(extra_env or {})},
                                       stdout=subprocess.DEVNULL, stderr=log)
        self.worker_logs[process.pid] = path
        return process


@pytest.fixture
def bot_stack(pg_dsn: str, tmp_path: Path) -> Iterator[BotStack]:
    emulator = SlackEmulator(trigger_ttl=None)
    with emulator.serve() as api_url, \
            serve_asgi(create_target(degraded=frozenset({"openai"}))) as target_url, \
            serve_asgi(create_aux_target(), timeout_graceful_shutdown=1) as aux_url:
        suite = tmp_path / "smoketest.yaml"
        suite.write_text(SUITE.format(base_url=target_url, channel=CHANNEL))
        schema = "smokebot"
        env = {
            "SLACK_BOT_TOKEN": emulator.bot_token, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": api_url, "REDIS_URL": redis_url(), "DATABASE_URL": pg_dsn,
            "SMOKEBOT_CONFIG": str(suite), "SMOKEBOT_KEY_PREFIX": unique_prefix("scenario"),
            "SMOKEBOT_DB_SCHEMA": schema, "SMOKEBOT_UPDATE_INTERVAL": "0.2",
            "SMOKEBOT_HEARTBEAT": "1", "SMOKEBOT_STALE_AFTER": "4",
        }
        settings = Settings.from_env(env)
        with serve_asgi(create_web_app(settings), lifespan="on") as web_url:
            logs = tmp_path / "logs"
            logs.mkdir()
            stack = BotStack(emulator, SlackRequestFactory(SIGNING_SECRET, emulator=emulator),
                             web_url, env, pg_dsn, schema, suite, target_url, aux_url, logs)
            workers: list[subprocess.Popen[bytes]] = []
            stack.start_worker = _tracking(stack.start_worker, workers)  # type: ignore[method-assign]
            try:
                yield stack
            finally:
                for worker in workers:
                    if worker.poll() is None:
                        worker.send_signal(signal.SIGTERM)
                        try:
                            worker.wait(timeout=20)
                        except subprocess.TimeoutExpired:
                            worker.kill()


def _tracking(start: Callable[..., subprocess.Popen[bytes]],
              started: list[subprocess.Popen[bytes]]) -> Callable[..., subprocess.Popen[bytes]]:
    def wrapper(extra_env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        process = start(extra_env)
        started.append(process)
        return process
    return wrapper
