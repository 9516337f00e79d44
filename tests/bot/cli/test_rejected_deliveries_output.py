"""`smokebot deliveries` for rejected deliveries, which are counted per rejection, not listed
one row per request (bot/store/deliveries.py)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.records import WebhookDelivery
from bot.store import Store, WebhookOutcome


@pytest.fixture
def store_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    return pg_dsn


def test_a_repeated_rejection_shows_once_with_how_often_it_came(store_env: str) -> None:
    async def seed() -> tuple[WebhookDelivery, WebhookDelivery]:
        async with Store.open(store_env, "smokebot", wait=True) as store:
            await store.migrate()
            for _ in range(3):
                rejected = await store.record_webhook_delivery(
                    "github", "d-9", WebhookOutcome.REJECTED, reason="bad signature",
                    headers={"remote-addr": "203.0.113.7"})
            for _ in range(2):
                ignored = await store.record_webhook_delivery(
                    "github", "d-1", WebhookOutcome.IGNORED, reason="ignored: a ping")
            return rejected, ignored
    rejected, ignored = asyncio.run(seed())

    result = CliRunner().invoke(cli, ["deliveries"])

    assert result.exit_code == 0, result.output
    if rejected.redeliveries != 2:
        pytest.skip("the hour turned between the rejections: they are two rows, rightly")
    ignored_line, rejected_line = result.output.splitlines()  # newest first
    assert rejected_line == (
        f"{rejected.received_at:%Y-%m-%d %H:%M:%S} github  d-9                  rejected "
        f"-            run - (+2 more like it, last {rejected.last_received_at:%H:%M:%S})  "
        f"bad signature")
    assert ignored_line == (f"{ignored.received_at:%Y-%m-%d %H:%M:%S} github  d-1"
                            f"                  ignored  -            run - (+1 redelivered)  "
                            f"ignored: a ping")
