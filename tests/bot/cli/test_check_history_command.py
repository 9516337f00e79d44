"""`smokebot history ENV --check ID`: one check's latest results and how often it was flaky
("flaky 2 of the last 4 runs"), the flaky and slow counts in the runs' history, and a typo in
a check id named as an error; against the machine's PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import cli
from bot.store import Run, RunRequest, Store, TriggerKind
from checks.results import CheckResult, RunResult, Severity, Status

SUITE = """\
suite: cli
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
categories:
  - name: Health
    checks:
      - id: health
        type: http
        url: ${base_url}/health
      - id: pricing
        type: http
        url: ${base_url}/pricing
"""


@pytest.fixture
def cli_env(pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    monkeypatch.setenv("SMOKEBOT_CONFIG", str(suite))
    monkeypatch.delenv("SLACK_BOT_TOKEN", raising=False)
    return pg_dsn


def _result(check_id: str, status: Status, summary: str, attempts: int = 1) -> CheckResult:
    return CheckResult(check_id=check_id, name=check_id, category="Health", kind="http",
                       severity=Severity.CRITICAL, status=status, summary=summary,
                       attempts=attempts)


async def _seed(dsn: str, statuses: list[Status]) -> list[Run]:
    """One finished run of staging per status of `health`, oldest first; `pricing` is slow in
    each."""
    summaries = {Status.PASS: "200 OK in 40 ms", Status.FLAKY: "200 OK in 45 ms",
                 Status.FAIL: "expected status 200, got 503", Status.SKIP: "skipped"}
    async with Store.open(dsn, "smokebot", wait=True) as store:
        await store.migrate()
        for status in statuses:
            run = await store.create_run(RunRequest(environment="staging",
                                                    trigger_kind=TriggerKind.CLI,
                                                    trigger_detail="ci"))
            moment = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)
            await store.finish_run(run.id, RunResult(
                suite="cli", environment="staging", started_at=moment, finished_at=moment,
                categories=("Health",), results=(
                    _result("health", status, summaries[status],
                            attempts=2 if status is Status.FLAKY else 1),
                    _result("pricing", Status.SLOW, "200 OK in 412 ms, over the 300 ms "
                                                    "warn_latency"))))
        return await store.recent_runs("staging")


def test_history_of_a_check_says_how_often_it_was_flaky_and_lists_its_results(
        cli_env: str) -> None:
    runs = asyncio.run(_seed(cli_env, [Status.FLAKY, Status.PASS, Status.SKIP, Status.FAIL,
                                       Status.FLAKY]))

    result = CliRunner().invoke(cli, ["history", "staging", "--check", "health"])

    assert result.exit_code == 0, result.output
    when = {run.id: f"{run.created_at:%Y-%m-%d %H:%M}  {str(run.id)[:8]}" for run in runs}
    newest, failed, _, passed, oldest = runs
    assert result.stdout.splitlines() == [
        "health in staging: flaky 2 of the last 4 runs",
        "",
        "When              Run       Run status   Check   Attempts  Summary",
        f"{when[newest.id]}  passed       flaky          2  200 OK in 45 ms",
        f"{when[failed.id]}  failed       fail           1  expected status 200, got 503",
        f"{when[passed.id]}  passed       pass           1  200 OK in 40 ms",
        f"{when[oldest.id]}  passed       flaky          2  200 OK in 45 ms",
    ]


def test_the_runs_history_shows_their_flaky_and_slow_counts(cli_env: str) -> None:
    newest, _ = asyncio.run(_seed(cli_env, [Status.PASS, Status.FLAKY]))

    result = CliRunner().invoke(cli, ["history", "staging"])

    assert result.exit_code == 0, result.output
    line = result.stdout.splitlines()[1]
    assert line.startswith(f"{newest.created_at:%Y-%m-%d %H:%M}  {str(newest.id)[:8]}  ")
    assert line.endswith("passed           2/2       0  ci  (1 flaky, 1 slow)"), line


def test_a_check_without_results_yet_says_so(cli_env: str) -> None:
    asyncio.run(_seed(cli_env, []))

    result = CliRunner().invoke(cli, ["history", "staging", "--check", "pricing"])

    assert (result.exit_code, result.stdout) == (0, "No results of pricing in staging yet.\n")


def test_a_check_the_suite_does_not_have_is_an_error_naming_the_closest(cli_env: str) -> None:
    asyncio.run(_seed(cli_env, []))

    result = CliRunner().invoke(cli, ["history", "staging", "--check", "helth"])

    assert result.exit_code == 2, result.output
    assert result.stderr == ("error: unknown check 'helth' (did you mean 'health'?); the "
                             "suite's checks are listed by `smokebot list`\n")


def test_check_history_needs_an_environment(cli_env: str) -> None:
    result = CliRunner().invoke(cli, ["history", "--check", "health"])

    assert result.exit_code == 2, result.output
    assert result.stderr == ("error: --check needs an environment: smokebot history "
                             "ENVIRONMENT --check health\n")
