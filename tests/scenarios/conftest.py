"""The whole bot on one machine: the Slack emulator, the web process (served in-process over
real HTTP), a real worker process, the machine's PostgreSQL and Redis, and a demo target."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

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


@dataclass
class BotStack:
    emulator: SlackEmulator
    slack: SlackRequestFactory
    web_url: str
    env: dict[str, str]
    dsn: str
    schema: str

    def send(self, request: SignedRequest) -> httpx.Response:
        return httpx.post(f"{self.web_url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)

    def wait_for(self, condition: Callable[[], Any], timeout: float = 30.0,
                 what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = condition()
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def start_worker(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen([sys.executable, "-m", "bot", "worker"], cwd=ROOT,
                                env={**os.environ, **self.env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)


@pytest.fixture
def bot_stack(pg_dsn: str, tmp_path: Path) -> Iterator[BotStack]:
    emulator = SlackEmulator(trigger_ttl=None)
    with emulator.serve() as api_url, \
            serve_asgi(create_target(degraded=frozenset({"openai"}))) as target_url:
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
            stack = BotStack(emulator, SlackRequestFactory(SIGNING_SECRET, emulator=emulator),
                             web_url, env, pg_dsn, schema)
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


def _tracking(start: Callable[[], subprocess.Popen[bytes]],
              started: list[subprocess.Popen[bytes]]) -> Callable[[], subprocess.Popen[bytes]]:
    def wrapper() -> subprocess.Popen[bytes]:
        process = start()
        started.append(process)
        return process
    return wrapper
