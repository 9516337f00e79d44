"""The bot's real services for tests that call our functions directly (not a test module):
this test's own PostgreSQL database and Redis key prefix, and a Slack client talking to the
Slack emulator. The suite guards `production` by user and `guarded` by user group."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from psycopg.conninfo import make_conninfo
from redis import asyncio as aioredis

from bot.queue import RunQueue
from bot.records import AuditEntry
from bot.services import Services
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.store import Store
from bot.suites import SuiteSource
from checks.secrets import Secret
from tests.support.relay import TcpRelay
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator

__all__ = ["CHANNEL", "ONCALL", "SIGNING_SECRET", "SUITE", "audit_log", "open_services",
           "relayed_dsn", "slack_emulator"]

SIGNING_SECRET = "unit-signing-secret-0123456789"
CHANNEL = "C0SMOKE001"
ONCALL = "S0ONCALL01"

SUITE = f"""\
suite: unit
environments:
  staging:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}}}
  production:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}, allowed_users: [U0HUMAN001]}}
  guarded:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}, allowed_usergroups: [{ONCALL}]}}
  sandbox:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}, allowed_usergroups: [S0GONE0001]}}
categories:
  - name: Health
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${{base_url}}/health
      - id: version
        name: Deployed version
        type: http
        url: ${{base_url}}/version
"""


def relayed_dsn(relay: TcpRelay, pg_dsn: str) -> str:
    """`pg_dsn` through the `postgres_relay` fixture (tests/bot/conftest.py)."""
    return make_conninfo(pg_dsn, host="127.0.0.1", port=str(relay.port))


@contextmanager
def slack_emulator() -> Iterator[tuple[SlackEmulator, str]]:
    """The emulator (its default channel is `CHANNEL`) and its API URL."""
    emulator = SlackEmulator()
    assert emulator.default_channel == CHANNEL
    with emulator.serve() as api_url:
        yield emulator, api_url


@asynccontextmanager
async def open_services(pg_dsn: str, directory: Path, emulator: SlackEmulator,
                        api_url: str) -> AsyncIterator[Services]:
    suite_path = directory / "smoketest.yaml"
    suite_path.write_text(SUITE, encoding="utf-8")
    settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                        slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                        database_url=pg_dsn, redis_url=redis_url(),
                        key_prefix=unique_prefix("slack"), config_path=str(suite_path))
    store = await Store.open(pg_dsn, "smokebot", wait=True)
    await store.migrate()
    services = Services(settings=settings, store=store,
                        queue=RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix),
                        slack=create_slack_client(settings, retries=0),
                        suites=SuiteSource(suite_path))
    try:
        yield services
    finally:
        await services.close()
        redis = aioredis.Redis.from_url(settings.redis_url)
        keys = [key async for key in redis.scan_iter(match=f"*{settings.key_prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


async def audit_log(services: Services, count: int, *, timeout_s: float = 10.0
                    ) -> list[tuple[str, str, str | None, bool]]:
    """(actor, action, environment, allowed) of the audit log, oldest first, once it holds
    `count` entries: an allowed request's entry is written off the ack path."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        entries: list[AuditEntry] = list(reversed(await services.store.recent_audit()))
        if len(entries) >= count or asyncio.get_running_loop().time() > deadline:
            return [(e.actor, e.action, e.environment, e.allowed) for e in entries]
        await asyncio.sleep(0.05)
