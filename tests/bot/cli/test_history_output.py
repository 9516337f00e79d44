"""`smokebot history` as a terminal shows it: plain text (no Slack markup), a Failed column,
why a run ended early, the link to each run's Slack thread in the workspace (auth.test's URL,
asked of the Slack emulator), and an unknown environment named as an error with the suite
file's environments; against the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.store import Run, RunRequest, SlackMessageKind, Store, TriggerKind
from checks.results import CheckResult, RunResult, Severity, Status
from tests.support.slack_emulator import SlackEmulator

CHANNEL = "C0SMOKE001"
SUITE = """\
suite: cli
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
  production:
    variables: {base_url: "http://127.0.0.1:9"}
categories:
  - name: Health
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${base_url}/health
"""


@pytest.fixture
def emulator() -> Iterator[tuple[SlackEmulator, str]]:
    emulator = SlackEmulator()
    with emulator.serve() as api_url:
        yield emulator, api_url


@pytest.fixture
def cli_env(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
            emulator: tuple[SlackEmulator, str]) -> str:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    monkeypatch.setenv("SMOKEBOT_CONFIG", str(suite))
    monkeypatch.setenv("SLACK_BOT_TOKEN", emulator[0].bot_token)
    monkeypatch.setenv("SLACK_API_URL", emulator[1])
    return pg_dsn


def _result(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id=check_id, name=check_id, category="Health", kind="http",
                       severity=Severity.CRITICAL, status=status, summary="-")


async def _seed(dsn: str) -> list[Run]:
    """A run of staging that failed (2 of 3), shown in Slack; a re-run cancelled by Bob."""
    async with Store.open(dsn, "smokebot", wait=True) as store:
        await store.migrate()
        failed = await store.create_run(RunRequest(
            environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
            trigger_detail="/smoketest staging &lt;all&gt;", channel=CHANNEL))
        moment = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)
        await store.finish_run(failed.id, RunResult(
            suite="cli", environment="staging", started_at=moment, finished_at=moment,
            results=(_result("health", Status.PASS), _result("version", Status.FAIL),
                     _result("db", Status.ERROR)), categories=("Health",)))
        await store.set_slack_message(failed.id, SlackMessageKind.SUMMARY, CHANNEL,
                                      "1761687000.000100")
        rerun = await store.create_run(RunRequest(
            environment="staging", trigger_kind=TriggerKind.BUTTON, requested_by="U0HUMAN001",
            trigger_detail="Re-run all by <@U0HUMAN001> from <#C0SMOKE001|smoke> "
                           "(<https://ci.example/1|CI>)",
            channel=CHANNEL, rerun_of=failed.id))
        await store.mark_running(rerun.id, "w-1")
        await store.mark_cancelled(rerun.id, "cancelled by <@U0BOB0001|bob>")
        await store.set_slack_message(rerun.id, SlackMessageKind.SUMMARY, CHANNEL,
                                      "1761687060.000200", thread_ts="1761687000.000100")
        return await store.recent_runs("staging")


def _when(run: Run) -> str:
    return f"{run.created_at:%Y-%m-%d %H:%M}  {str(run.id)[:8]}"


def test_history_is_plain_text_with_failed_counts_reasons_and_thread_links(
        cli_env: str, emulator: tuple[SlackEmulator, str]) -> None:
    rerun, failed = asyncio.run(_seed(cli_env))

    result = CliRunner().invoke(cli, ["history", "staging"])

    assert result.exit_code == 0, result.output
    archive = f"https://smokebot-test.slack.com/archives/{CHANNEL}"
    assert result.stdout.splitlines() == [
        "When              Run       Environment  Status        Passed  Failed  Trigger",
        f"{_when(rerun)}  staging      cancelled        0/0       0  Re-run all by @U0HUMAN001 "
        "from #smoke (CI (https://ci.example/1))  (cancelled by @bob)  thread "
        f"{archive}/p1761687060000200?thread_ts=1761687000.000100&cid={CHANNEL}",
        f"{_when(failed)}  staging      failed           1/3       2  /smoketest staging <all> "
        f"by @U0HUMAN001  thread {archive}/p1761687000000100",
    ]
    assert "<@" not in result.stdout and "&lt;" not in result.stdout
    assert len(emulator[0].calls("auth.test")) == 1


def test_history_links_through_slack_com_without_a_bot_token(
        cli_env: str, monkeypatch: pytest.MonkeyPatch,
        emulator: tuple[SlackEmulator, str]) -> None:
    asyncio.run(_seed(cli_env))
    monkeypatch.delenv("SLACK_BOT_TOKEN")

    result = CliRunner().invoke(cli, ["history"])

    assert result.exit_code == 0, result.output
    assert f"thread https://slack.com/archives/{CHANNEL}/p1761687000000100" in result.stdout
    assert emulator[0].calls("auth.test") == []


def test_unknown_environment_is_an_error_naming_the_suites_environments(cli_env: str) -> None:
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0

    result = CliRunner().invoke(cli, ["history", "nosuchenv"])
    misspelt = CliRunner().invoke(cli, ["history", "stagin"])

    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == ("error: unknown environment 'nosuchenv'; expected one of: "
                             "staging, production\n")
    assert misspelt.stderr == ("error: unknown environment 'stagin' (did you mean 'staging'?); "
                               "expected one of: staging, production\n")


def test_known_environment_without_runs_says_no_runs_yet(cli_env: str) -> None:
    asyncio.run(_seed(cli_env))

    result = CliRunner().invoke(cli, ["history", "production"])

    assert (result.exit_code, result.output) == (0, "No runs yet.\n")


def test_environment_gone_from_the_suite_file_still_shows_its_runs(
        cli_env: str, tmp_path: Path) -> None:
    asyncio.run(_seed(cli_env))
    (tmp_path / "smoketest.yaml").write_text(SUITE.replace("staging", "qa"), encoding="utf-8")

    result = CliRunner().invoke(cli, ["history", "staging"])

    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 3


def test_the_suite_file_can_be_named_with_config(cli_env: str, tmp_path: Path) -> None:
    other = tmp_path / "other.yaml"
    other.write_text(SUITE.replace("production", "qa"), encoding="utf-8")
    assert CliRunner().invoke(cli, ["migrate"]).exit_code == 0

    result = CliRunner().invoke(cli, ["history", "production", "--config", str(other)])

    assert result.exit_code == 2
    assert result.stderr == ("error: unknown environment 'production'; expected one of: "
                             "staging, qa\n")
