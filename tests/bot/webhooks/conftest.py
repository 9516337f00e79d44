"""The real web app for the webhook guard's tests, served by uvicorn on a loopback port, with
its services on this test's own PostgreSQL database and Redis key prefix, and every webhook
secret set."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from bot.queue import RunQueue
from bot.settings import Settings
from bot.store import Store
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.webhooks.guard_support import SECRETS, SUITE, Served
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix


@pytest.fixture
async def served(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[Served]:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    prefix = unique_prefix("guard")
    settings = Settings(
        slack_bot_token=Secret("xoxb-guard-tests-0000000000"),
        slack_signing_secret=Secret("signing-secret-guard-tests-0000"),
        slack_api_url="http://127.0.0.1:9/api/", redis_url=redis_url(), database_url=pg_dsn,
        config_path=str(suite), key_prefix=prefix,
        webhook_secrets={name: Secret(value) for name, value in SECRETS.items()})
    async with Store.open(pg_dsn) as store:
        await store.migrate()
    # uvicorn's own records (a traceback, a protocol error) reach caplog too.
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    queue = RunQueue.from_url(settings.redis_url, prefix=prefix)
    app = create_web_app(settings)
    try:
        with serve_asgi(app, lifespan="on", log_config=None) as url:
            yield Served(url, app, pg_dsn, queue)
    finally:
        await queue.close()
        redis = aioredis.Redis.from_url(settings.redis_url)
        keys = [key async for key in redis.scan_iter(match=f"*{prefix}*")]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()
