"""`smokebot history` and `deliveries` against the machine's PostgreSQL, and what they say when
it cannot be reached."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.store import DeployFacts, RunRequest, Store, TriggerKind, WebhookOutcome
from tests.support.asgi import free_port

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def store_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    return pg_dsn


def test_history_and_deliveries_show_what_happened(store_env: str) -> None:
    async def seed() -> None:
        async with Store.open(store_env, "smokebot", wait=True) as store:
            await store.migrate()
            await store.create_run(RunRequest(
                environment="staging", trigger_kind=TriggerKind.WEBHOOK,
                trigger_detail="deployment_status 42",
                deploy=DeployFacts(source="github", version="v1.2.3", commit="26603507")))
            await store.record_webhook_delivery("github", "d-1",
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


def test_history_of_an_empty_store_says_so(store_env: str) -> None:
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0

    result = CliRunner().invoke(cli, ["history"])

    assert (result.exit_code, result.output) == (0, "No runs yet.\n")


@pytest.mark.parametrize("command", [["history"], ["history", "staging"], ["deliveries"]])
def test_postgresql_unreachable_is_one_clean_line_and_exit_1(
        monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    port = free_port()  # bound and released: nothing listens there
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/smokebot")

    result = CliRunner().invoke(cli, command)

    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == (f"error: history store is unavailable: cannot connect to PostgreSQL "
                             f"at 127.0.0.1:{port}/smokebot (connection refused); try again "
                             f"shortly\n")
    assert result.stdout == ""
    assert "Traceback" not in result.output


def test_postgresql_unreachable_through_the_real_entry_point_prints_only_that_line() -> None:
    """Not CliRunner: here nothing captures logging, so the pool's own warnings about each
    failed attempt would reach the terminal ahead of the error line."""
    port = free_port()
    process = subprocess.run([sys.executable, "-m", "bot", "history"], cwd=REPO, check=False,
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SMOKEBOT_DEBUG": "",
                                  "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{port}/x"})

    assert process.returncode == 1, process.stderr
    assert process.stderr == (f"error: history store is unavailable: cannot connect to "
                              f"PostgreSQL at 127.0.0.1:{port}/x (connection refused); try "
                              f"again shortly\n")
    assert process.stdout == ""


def test_limit_below_one_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["history", "--limit", "0"])

    assert result.exit_code == 2
    assert "Invalid value for '--limit'" in result.stderr
