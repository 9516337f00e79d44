"""`smokebot audit [ENV|RUN]` against the machine's PostgreSQL: the log as plain text, oldest
first, each decision its own action; a run's trail with the confirmation that led to it; an
unknown environment or run named with the valid choices."""

from __future__ import annotations

import asyncio
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.records import RunTicket, StartRequest, TriggerKind
from bot.services import Services
from bot.start_requests import ask_to_start, cancel_confirmation, start_confirmed
from tests.bot.services_support import CHANNEL, SUITE, open_services
from tests.support.slack_emulator import SlackEmulator

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"
CONFIRMING_SUITE = SUITE.replace("allowed_users: [U0HUMAN001]}",
                                 "allowed_users: [U0HUMAN001], confirm: true}")


@pytest.fixture
def seeded(pg_dsn: str, tmp_path: Path, emulator: tuple[SlackEmulator, str],
           monkeypatch: pytest.MonkeyPatch) -> tuple[UUID, UUID]:
    """A confirmed production run, a refusal, a re-run of it asked and cancelled, and a
    staging run; returns (production's run id, staging's)."""
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")

    async def seed() -> tuple[UUID, UUID]:
        async with open_services(pg_dsn, tmp_path, *emulator) as services:
            (tmp_path / "smoketest.yaml").write_text(CONFIRMING_SUITE, encoding="utf-8")
            asked = StartRequest("production", TriggerKind.SLASH, ("health",), request_id="r-1")
            await ask_to_start(services, asked, user=ALICE, channel=CHANNEL)
            await _written(services, 1)  # confirm-requested is written in the background
            await start_confirmed(services, asked, user=ALICE, channel=CHANNEL)
            [production] = await services.store.active_runs("production")
            await ask_to_start(services, StartRequest("production", TriggerKind.SLASH,
                                                      request_id="r-2"),
                               user=OUTSIDER, channel=CHANNEL)
            await services.store.mark_interrupted(production.id, "its worker stopped")
            rerun = StartRequest("production", TriggerKind.BUTTON, rerun_of=production.id,
                                 request_id="r-3")
            await ask_to_start(services, rerun, user=ALICE, channel=CHANNEL)
            await _written(services, 5)
            await cancel_confirmation(services, rerun, user=ALICE, channel=CHANNEL)
            ticket = await ask_to_start(services, StartRequest(
                "staging", TriggerKind.SLASH, request_id="r-4"), user=ALICE, channel=CHANNEL)
            assert isinstance(ticket, RunTicket)
            return production.id, ticket.run.id
    return asyncio.run(seed())


async def _written(services: Services, count: int) -> None:
    for _ in range(200):
        if len(await services.store.recent_audit()) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {count} audit entries")


def _lines(output: str) -> list[str]:
    """Each line without its timestamp (`2025-06-01 09:30:02 `)."""
    return [line[20:] for line in output.splitlines()]


def test_a_runs_trail_shows_its_confirmation_start_and_the_rerun_asked_of_it(
        seeded: tuple[UUID, UUID]) -> None:
    production, _ = seeded
    result = CliRunner().invoke(cli, ["audit", str(production)[:8]])

    assert result.exit_code == 0, result.output
    run = str(production)[:8]
    assert _lines(result.stdout) == [
        f"confirm-requested production   {ALICE}  allowed run -  filters health, via slash, "
        f"request r-1, in {CHANNEL}",
        f"confirmed         production   {ALICE}  allowed run -  filters health, via slash, "
        f"request r-1, in {CHANNEL}",
        f"run               production   {ALICE}  allowed run {run}  filters health, confirmed, "
        f"via slash, request r-1, in {CHANNEL}",
        f"confirm-requested production   {ALICE}  allowed run -  re-run (all checks) of {run}, "
        f"filters health, via button, request r-3, in {CHANNEL}",
        f"confirm-cancelled production   {ALICE}  allowed run -  re-run (all checks) of {run}, "
        f"via button, request r-3, in {CHANNEL}",
    ]
    assert CliRunner().invoke(cli, ["audit", str(production)]).stdout == result.stdout


def test_the_log_and_an_environments_entries_oldest_first(seeded: tuple[UUID, UUID]) -> None:
    _, staging = seeded
    everything = CliRunner().invoke(cli, ["audit"])
    assert everything.exit_code == 0, everything.output
    assert [line.split()[0] for line in _lines(everything.stdout)] == [
        "confirm-requested", "confirmed", "run", "run", "confirm-requested",
        "confirm-cancelled", "run"]
    refusal = _lines(everything.stdout)[3]
    assert refusal == (f"run               production   {OUTSIDER}  refused run -  via slash, "
                       f"request r-2, in {CHANNEL}, reason: only the listed users may test "
                       "production.")

    production = CliRunner().invoke(cli, ["audit", "production", "--limit", "2"])
    assert [line.split()[0] for line in _lines(production.stdout)] == [
        "confirm-requested", "confirm-cancelled"]
    only_staging = CliRunner().invoke(cli, ["audit", "staging"])
    assert _lines(only_staging.stdout) == [
        f"run               staging      {ALICE}  allowed run {str(staging)[:8]}  via slash, "
        f"request r-4, in {CHANNEL}"]


def test_an_unknown_environment_or_run_is_a_usage_error_naming_the_choices(
        seeded: tuple[UUID, UUID]) -> None:
    production, staging = seeded
    recent = ", ".join(str(r)[:8] for r in (staging, production))
    for target in ("nowhere", "deadbeef"):
        result = CliRunner().invoke(cli, ["audit", target])
        assert result.exit_code == 2, result.output
        assert result.stdout == ""
        assert result.stderr == (
            f"error: unknown environment or run '{target}'; expected an environment "
            f"(production, staging) or a run id (recent runs: {recent})\n")


def test_an_empty_log_says_so(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0

    result = CliRunner().invoke(cli, ["audit"])

    assert (result.exit_code, result.output) == (0, "no audit entries yet\n")
