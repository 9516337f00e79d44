"""`smokebot migrate`, `history` and `deliveries` against the machine's PostgreSQL."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.store import (DeployFacts, RunRequest, Store, TriggerKind, WebhookOutcome,
                       WebhookSource)


@pytest.fixture
def store_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    return pg_dsn


def test_migrate_applies_once_then_reports_up_to_date(store_env: str) -> None:
    first = CliRunner().invoke(cli, ["migrate"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("applied: 0001")
    second = CliRunner().invoke(cli, ["migrate"])
    assert second.output == "up to date\n"


def test_history_and_deliveries_show_what_happened(store_env: str) -> None:
    async def seed() -> None:
        async with Store.open(store_env, "smokebot", wait=True) as store:
            await store.migrate()
            await store.create_run(RunRequest(
                environment="staging", trigger_kind=TriggerKind.WEBHOOK,
                trigger_detail="deployment_status 42",
                deploy=DeployFacts(source="github", version="v1.2.3", commit="26603507")))
            await store.record_webhook_delivery(WebhookSource.GITHUB, "d-1",
                                                WebhookOutcome.IGNORED,
                                                reason="ignored: environment 'qa' is not mapped",
                                                environment="qa")
    asyncio.run(seed())
    history = CliRunner().invoke(cli, ["history", "staging"])
    assert history.exit_code == 0, history.output
    assert "staging" in history.output and "queued" in history.output
    assert "deployment_status 42  version v1.2.3" in history.output
    deliveries = CliRunner().invoke(cli, ["deliveries"])
    assert deliveries.exit_code == 0, deliveries.output
    assert "github" in deliveries.output and "ignored" in deliveries.output
    assert "ignored: environment 'qa' is not mapped" in deliveries.output


def test_history_with_postgresql_down_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    result = CliRunner().invoke(cli, ["history"])
    assert result.exit_code != 0
    assert "history store is unavailable" in result.output
    assert "Traceback" not in result.output
