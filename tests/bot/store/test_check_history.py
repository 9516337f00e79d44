"""Flaky and slow results in the history store (migration 0008): stored and read back, counted
among a run's passes however the run ends, and a check's history: "flaky 3 of the last 10
runs" and its latest results; against the machine's PostgreSQL."""

from __future__ import annotations

import psycopg
import pytest

from bot.records import DeployFacts, RunCounts, RunRequest, RunStatus, TriggerKind
from bot.store import FLAKY_HISTORY_RUNS, FlakyHistory, Run, Store
from checks.results import CheckResult, Status
from tests.bot.store.store_support import result, run_result, slash, sql_rows


def flaky(check_id: str) -> CheckResult:
    return result(check_id, Status.FLAKY, attempts=2,
                  evidence={"failed_attempts": ["expected status 200, got 503"]})


def slow(check_id: str) -> CheckResult:
    return result(check_id, Status.SLOW, evidence={"warning": "412 ms, over the 300 ms "
                                                              "warn_latency"})


async def _finished(store: Store, *results: CheckResult, environment: str = "staging") -> Run:
    run = await store.create_run(slash(environment))
    await store.mark_running(run.id, "w")
    finished = await store.finish_run(run.id, run_result(*results))
    assert finished is not None
    return finished


async def test_flaky_and_slow_results_are_stored_and_read_back_as_they_were(store: Store) -> None:
    run = await _finished(store, result("home"), flaky("login"), slow("search"))

    assert await store.results(run.id) == [result("home"), flaky("login"), slow("search")]
    assert (run.status, run.counts) == (
        RunStatus.PASSED, RunCounts(passed=3, flaky=1, slow=1))
    assert run.counts.total == 3
    assert await store.get_run(run.id) == run


async def test_a_run_ended_early_counts_its_flaky_and_slow_results_too(store: Store) -> None:
    interrupted = await store.create_run(slash("staging"))
    await store.mark_running(interrupted.id, "w")
    for saved in (flaky("login"), slow("search"), result("home", Status.FAIL)):
        await store.save_result(interrupted.id, saved)
    ended = await store.mark_interrupted(interrupted.id, "worker lost")
    assert ended is not None and ended.counts == RunCounts(passed=2, failed=1, flaky=1, slow=1)

    running = await store.create_run(slash("staging"))
    await store.mark_running(running.id, "w")
    await store.save_result(running.id, flaky("login"))
    start = await store.start_superseding(RunRequest("staging", TriggerKind.WEBHOOK,
                                                     deploy=DeployFacts(version="v6")))
    assert [r.counts for r in start.superseded] == [RunCounts(passed=1, flaky=1)]


async def test_the_status_column_still_refuses_a_status_that_does_not_exist(
        store: Store, pg_dsn: str) -> None:
    run = await _finished(store, flaky("login"))

    with pytest.raises(psycopg.errors.CheckViolation):
        await sql_rows(pg_dsn, "UPDATE smokebot.check_results SET status = 'flakey'"
                       " WHERE run_id = %s", run.id)


async def test_flaky_history_counts_the_latest_runs_that_ran_the_check(store: Store) -> None:
    # Oldest first: flaky in 3 of the 10 latest runs that ran `login`; the run that skipped
    # it, the older runs and another environment's runs are not among them.
    await _finished(store, flaky("login"))  # 12th latest: outside the window
    await _finished(store, flaky("login"))  # 11th latest
    timeline = [flaky("login"), result("login"), result("login"), flaky("login"),
                result("login", Status.FAIL), result("login"), result("login", Status.SKIP),
                result("login"), slow("login"), result("login"), flaky("login")]
    runs = [await _finished(store, entry, result("home")) for entry in timeline]
    await _finished(store, flaky("login"), flaky("login-2"), environment="production")

    found = await store.flaky_history("staging", ["login", "home", "never-ran"])

    assert FLAKY_HISTORY_RUNS == 10
    assert found == {"login": FlakyHistory("login", flaky=3, runs=10),
                     "home": FlakyHistory("home", flaky=0, runs=10),
                     "never-ran": FlakyHistory("never-ran", flaky=0, runs=0)}
    # The window ends at the run being reported, which it includes.
    assert await store.flaky_history("staging", ["login"], through_run_id=runs[3].id) == {
        "login": FlakyHistory("login", flaky=4, runs=6)}
    assert await store.flaky_history("staging", ["login"], runs=3) == {
        "login": FlakyHistory("login", flaky=1, runs=3)}
    assert await store.flaky_history("staging", []) == {}


async def test_past_results_are_the_checks_latest_results_newest_first(store: Store) -> None:
    first = await _finished(store, flaky("login"))
    await _finished(store, result("login", Status.SKIP))
    last = await _finished(store, slow("login"), result("home"))

    past = await store.past_results("staging", "login")

    assert [(p.run_id, p.run_status, p.result) for p in past] == [
        (last.id, RunStatus.PASSED, slow("login")), (first.id, RunStatus.PASSED, flaky("login"))]
    assert past[0].run_created_at == last.created_at
    assert [p.run_id for p in await store.past_results("staging", "login", limit=1)] == [last.id]
    assert await store.past_results("production", "login") == []
