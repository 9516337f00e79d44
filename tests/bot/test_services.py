"""The bot's services start while PostgreSQL is down and migrate once it is back."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bot import services as services_module
from bot.services import Services
from bot.settings import Settings
from tests.support.relay import TcpRelay
from tests.support.services import redis_url, unique_prefix


async def test_services_start_with_postgresql_down_and_migrate_when_it_returns(
        pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services_module, "MIGRATE_RETRY_S", 0.2)
    info = psycopg.conninfo.conninfo_to_dict(pg_dsn)
    relay = TcpRelay(info.get("host", "127.0.0.1"), int(info.get("port", 5432)))
    relayed = psycopg.conninfo.make_conninfo(pg_dsn, host="127.0.0.1", port=relay.port)
    settings = Settings(database_url=relayed, redis_url=redis_url(),
                        key_prefix=unique_prefix("svc"))
    services = await Services.start(settings)  # nothing listens on the relay's port yet
    try:
        assert services._migrating is not None and not services._migrating.done()
        relay.start()
        await asyncio.wait_for(services._migrating, timeout=30)
        with psycopg.connect(pg_dsn) as conn:
            applied = conn.execute("SELECT count(*) FROM smokebot.schema_migrations").fetchone()
        assert applied[0] >= 1
    finally:
        await services.close()
        relay.cut()
