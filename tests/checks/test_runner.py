"""The runner: timeouts, retries, dependencies, the concurrency limit, cancellation, severity,
filters, events and redaction, driven by kinds of the tests' own."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import pytest
import yaml

import checks.kinds
from checks.config import parse_suite
from checks.errors import CheckError
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import RunPlan, build_plan
from checks.results import Outcome, RunResult, Status, Verdict
from checks.runner import CheckFinished, CheckStarted, RunEvent, run_plan
from checks.secrets import Secret
from checks.yamlsource import load_yaml

CANARY = "sk_test_RUNNERCANARY0123456789abcdef"


class SleepParams(KindParams):
    seconds: float = 0.0
    passes: bool = True


@dataclass
class SleepCheck(CheckKind[SleepParams]):
    """Sleeps, then passes or fails; remembers who ran and who was cancelled mid-sleep."""

    Params = SleepParams
    ran: list[float] = field(default_factory=list)
    cancelled: int = 0
    running: int = 0
    most_running: int = 0

    async def run(self, params: SleepParams, ctx: CheckContext) -> Outcome:
        self.ran.append(params.seconds)
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(params.seconds)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.running -= 1
        if params.passes:
            return Outcome.ok(f"slept {params.seconds:g}s")
        return Outcome.failed("expected to pass, got told to fail", details="as asked")


class FlakyParams(KindParams):
    failures: int  # attempts that fail before one passes
    permanent: bool = False


@dataclass
class FlakyCheck(CheckKind[FlakyParams]):
    Params = FlakyParams
    attempts: list[tuple[int, float]] = field(default_factory=list)  # (attempt, loop time)

    async def run(self, params: FlakyParams, ctx: CheckContext) -> Outcome:
        self.attempts.append((ctx.attempt, asyncio.get_running_loop().time()))
        if ctx.attempt <= params.failures:
            raise CheckError(f"connection refused (attempt {ctx.attempt})",
                             permanent=params.permanent, details="nothing listens")
        return Outcome.ok(f"answered on attempt {ctx.attempt}")


class CrashParams(KindParams):
    error: str = "runtime"


class CrashCheck(CheckKind[CrashParams]):
    Params = CrashParams

    async def run(self, params: CrashParams, ctx: CheckContext) -> Outcome:
        if params.error == "timeout":
            raise TimeoutError("the kind's own socket timed out")
        raise RuntimeError(f"boom, with {ctx.variables['secrets']['token'].reveal()}")


class LeakParams(KindParams):
    pass


class LeakCheck(CheckKind[LeakParams]):
    """Puts the secret everywhere a result can carry text."""

    Params = LeakParams

    async def run(self, params: LeakParams, ctx: CheckContext) -> Outcome:
        token = ctx.variables["secrets"]["token"].reveal()
        return Outcome.failed(f"expected 200 for {token}", details=f"Authorization: {token}",
                              measurements={"key": token}, evidence={"headers": [token]})


@dataclass
class Kinds:
    sleep: SleepCheck
    flaky: FlakyCheck


@pytest.fixture(autouse=True)
def kinds(monkeypatch: pytest.MonkeyPatch) -> Kinds:
    monkeypatch.setattr(checks.kinds, "_KINDS", {})
    monkeypatch.setattr(checks.kinds, "_loaded", {})
    monkeypatch.setenv("SMOKEBOT_TEST_TOKEN", CANARY)
    registered = Kinds(SleepCheck(), FlakyCheck())
    register_kind("test.sleep", registered.sleep)
    register_kind("test.flaky", registered.flaky)
    register_kind("test.crash", CrashCheck())
    register_kind("test.leak", LeakCheck())
    return registered


def make_plan(categories: dict[str, list[dict[str, Any]]], *, only: list[str] | None = None,
              **defaults: Any) -> RunPlan:
    suite = {
        "defaults": {"retry_backoff": "1ms", **defaults},
        "environments": {"staging": {"secrets": {"token": {"env": "SMOKEBOT_TEST_TOKEN"}}},
                         "production": {}},
        "categories": [{"name": name, "checks": items} for name, items in categories.items()],
    }
    text = yaml.safe_dump(suite, sort_keys=False)
    return build_plan(parse_suite(load_yaml(text, "smoketest.yaml")), "staging", only=only)


def sleep(check_id: str, seconds: float = 0.0, passes: bool = True, **spec: Any) -> dict[str, Any]:
    return {"id": check_id, "type": "test.sleep", "seconds": seconds, "passes": passes, **spec}


def by_id(result: RunResult) -> dict[str, tuple[Status, str]]:
    return {r.check_id: (r.status, r.summary) for r in result.results}


# ------------------------------------------------------------------ timeouts and retries

async def test_check_running_past_its_timeout_is_an_error() -> None:
    plan = make_plan({"Health": [sleep("slow", 30, timeout="200ms")]})
    result = await run_plan(plan)
    (slow,) = result.results
    assert (slow.status, slow.summary, slow.attempts) == (Status.ERROR, "timed out after 0.2s", 1)
    assert result.verdict is Verdict.FAILED


async def test_kinds_own_timeout_error_is_not_mistaken_for_the_deadline() -> None:
    plan = make_plan({"Health": [{"id": "own", "type": "test.crash", "error": "timeout"}]})
    (own,) = (await run_plan(plan)).results
    assert (own.status, own.summary) == (
        Status.ERROR, "internal error: TimeoutError: the kind's own socket timed out")


async def test_failing_attempts_are_retried_until_one_passes(kinds: Kinds) -> None:
    plan = make_plan({"Health": [{"id": "api", "type": "test.flaky", "failures": 2,
                                  "retries": 3}]})
    (api,) = (await run_plan(plan)).results
    # Passing on a retry passes, as `flaky`, with what the failed attempts said.
    assert (api.status, api.summary, api.attempts) == (Status.FLAKY, "answered on attempt 3", 3)
    assert api.evidence == {"failed_attempts": ["connection refused (attempt 1)",
                                                "connection refused (attempt 2)"]}
    assert [attempt for attempt, _ in kinds.flaky.attempts] == [1, 2, 3]


async def test_retries_back_off_exponentially(kinds: Kinds) -> None:
    plan = make_plan({"Health": [{"id": "api", "type": "test.flaky", "failures": 2,
                                  "retries": 2}]}, retry_backoff="20ms")
    await run_plan(plan)
    times = [at for _, at in kinds.flaky.attempts]
    gaps = [later - earlier for earlier, later in zip(times, times[1:])]
    # Lower bounds only (a sleep never ends early); 5% slack for the clock's resolution.
    assert gaps[0] >= 0.020 * 0.95 and gaps[1] >= 0.040 * 0.95


async def test_last_attempts_error_is_reported_when_retries_run_out(kinds: Kinds) -> None:
    plan = make_plan({"Health": [{"id": "api", "type": "test.flaky", "failures": 5,
                                  "retries": 1}]})
    (api,) = (await run_plan(plan)).results
    assert (api.status, api.summary, api.details, api.attempts) == (
        Status.ERROR, "connection refused (attempt 2)", "nothing listens", 2)


async def test_permanent_error_is_not_retried(kinds: Kinds) -> None:
    plan = make_plan({"Health": [{"id": "api", "type": "test.flaky", "failures": 5,
                                  "permanent": True, "retries": 3}]})
    (api,) = (await run_plan(plan)).results
    assert (api.status, api.summary, api.attempts) == (
        Status.ERROR, "connection refused (attempt 1)", 1)
    assert len(kinds.flaky.attempts) == 1
    assert api.evidence == {}  # the runner's bookkeeping does not leak into the result


async def test_failed_outcome_is_retried_too(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("api", passes=False, retries=2)]})
    (api,) = (await run_plan(plan)).results
    assert (api.status, api.summary, api.details, api.attempts) == (
        Status.FAIL, "expected to pass, got told to fail", "as asked", 3)
    assert len(kinds.sleep.ran) == 3


async def test_unexpected_exception_in_a_kind_is_an_internal_error_not_a_crash() -> None:
    plan = make_plan({"Health": [{"id": "bug", "type": "test.crash"}, sleep("fine")]})
    result = await run_plan(plan)
    bug, fine = result.results
    assert (bug.status, fine.status) == (Status.ERROR, Status.PASS)
    assert bug.summary == (
        "internal error: RuntimeError: boom, with [redacted sk_test_…(36 chars)]")
    assert "Traceback" in bug.details and "RuntimeError" in bug.details
    assert CANARY not in bug.details


# ------------------------------------------------------------------ dependencies

async def test_dependents_of_a_failed_check_are_skipped_transitively(kinds: Kinds) -> None:
    plan = make_plan({
        "Database": [sleep("db", passes=False)],
        "Billing": [sleep("invoices", depends_on=["db"]),
                    sleep("receipts", depends_on=["invoices"]),
                    sleep("unrelated")],
    })
    result = await run_plan(plan)
    assert by_id(result) == {
        "db": (Status.FAIL, "expected to pass, got told to fail"),
        "invoices": (Status.SKIP, "skipped: depends on 'db', which failed"),
        "receipts": (Status.SKIP, "skipped: depends on 'invoices', which was skipped"),
        "unrelated": (Status.PASS, "slept 0s"),
    }
    assert len(kinds.sleep.ran) == 2  # db and unrelated; the skipped ones never ran


async def test_dependent_of_an_errored_check_says_it_could_not_run() -> None:
    plan = make_plan({"Health": [{"id": "bug", "type": "test.crash"},
                                 sleep("after", depends_on=["bug"])]})
    result = await run_plan(plan)
    assert by_id(result)["after"] == (Status.SKIP, "skipped: depends on 'bug', which could not run")


async def test_dependent_waits_for_its_dependency_to_pass(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("after", depends_on=["first"]), sleep("first", 0.05)]})
    events: list[RunEvent] = []
    result = await run_plan(plan, on_event=events.append)
    assert [r.status for r in result.results] == [Status.PASS, Status.PASS]
    started = [e.check.id for e in events if isinstance(e, CheckStarted)]
    assert started == ["first", "after"]


async def test_dependency_restricted_to_another_environment_skips_its_dependents() -> None:
    plan = make_plan({"Health": [sleep("prod-only", environments=["production"]),
                                 sleep("after", depends_on=["prod-only"])]})
    result = await run_plan(plan)
    assert by_id(result) == {
        "after": (Status.SKIP, "depends on 'prod-only', which does not run here")}


# ------------------------------------------------------------------ concurrency

async def test_concurrency_limit_of_the_suite_is_reached_and_never_exceeded(
        kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep(f"c{i}", 0.02) for i in range(9)]}, concurrency=3)
    result = await run_plan(plan)
    assert result.counts()[Status.PASS] == 9
    assert kinds.sleep.most_running == 3


async def test_concurrency_given_to_the_run_overrides_the_suite(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep(f"c{i}", 0.02) for i in range(5)]}, concurrency=50)
    await run_plan(plan, concurrency=2)
    assert kinds.sleep.most_running == 2


async def test_checks_waiting_on_dependencies_do_not_hold_a_slot(kinds: Kinds) -> None:
    # With one slot, a dependent that held it while waiting would deadlock the run.
    plan = make_plan({"Health": [sleep("b", depends_on=["a"]), sleep("a", 0.01)]},
                     concurrency=1)
    result = await asyncio.wait_for(run_plan(plan), timeout=10)
    assert [r.status for r in result.results] == [Status.PASS, Status.PASS]


# ------------------------------------------------------------------ cancellation

def _cancel_when(started: str, finished: str, cancel: asyncio.Event):
    """An event sink that sets `cancel` once `started` runs and `finished` has finished."""
    seen: set[str] = set()

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckStarted) and event.check.id == started:
            seen.add("started")
        if isinstance(event, CheckFinished) and event.result.check_id == finished:
            seen.add("finished")
        if seen == {"started", "finished"}:
            cancel.set()
    return on_event


async def test_cancel_event_ends_the_run_with_finished_results_kept(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("quick"), sleep("slow", 30),
                                 sleep("after", depends_on=["slow"])]})
    cancel = asyncio.Event()
    result = await asyncio.wait_for(
        run_plan(plan, cancel=cancel, on_event=_cancel_when("slow", "quick", cancel)), 10)
    assert result.cancelled and result.verdict is Verdict.CANCELLED
    assert by_id(result) == {
        "quick": (Status.PASS, "slept 0s"),
        "slow": (Status.SKIP, "cancelled before it finished"),
        "after": (Status.SKIP, "cancelled before it finished"),
    }
    assert kinds.sleep.cancelled == 1  # the slow check was stopped, not left running


async def test_cancel_event_after_the_last_check_is_not_a_cancelled_run() -> None:
    plan = make_plan({"Health": [sleep("quick")]})
    cancel = asyncio.Event()

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckFinished):
            cancel.set()
    result = await run_plan(plan, cancel=cancel, on_event=on_event)
    assert not result.cancelled and result.verdict is Verdict.PASSED


async def test_cancelling_the_caller_cancels_every_check_and_propagates(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("slow", 30), sleep("slower", 60)]})
    both_started = asyncio.Event()

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckStarted) and event.check.id == "slower":
            both_started.set()
    run = asyncio.create_task(run_plan(plan, on_event=on_event))
    await asyncio.wait_for(both_started.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert kinds.sleep.cancelled == 2
    assert asyncio.all_tasks() == {asyncio.current_task()}  # nothing left behind


async def test_cancelling_the_caller_of_a_cancellable_run_propagates(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("slow", 30)]})
    started = asyncio.Event()
    run = asyncio.create_task(run_plan(
        plan, cancel=asyncio.Event(),
        on_event=lambda e: started.set() if isinstance(e, CheckStarted) else None))
    await asyncio.wait_for(started.wait(), 10)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert kinds.sleep.cancelled == 1
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_failing_event_sink_stops_the_run_and_leaves_no_check_running(
        kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("quick"), sleep("slow", 30)]})

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckFinished):
            raise ValueError("the progress message could not be updated")
    for cancel in (None, asyncio.Event()):
        with pytest.raises(ValueError, match="could not be updated"):
            await asyncio.wait_for(run_plan(plan, on_event=on_event, cancel=cancel), 10)
        assert asyncio.all_tasks() == {asyncio.current_task()}
    assert kinds.sleep.cancelled == 2


# ------------------------------------------------------------------ severity

async def test_warning_severity_turns_problems_into_warnings_and_the_run_passes() -> None:
    plan = make_plan({"Health": [sleep("soft", passes=False, severity="warning"),
                                 {"id": "bug", "type": "test.crash", "severity": "warning"},
                                 sleep("fine")]})
    result = await run_plan(plan)
    assert [r.status for r in result.results] == [Status.WARN, Status.WARN, Status.PASS]
    assert result.results[0].summary == "expected to pass, got told to fail"
    assert result.verdict is Verdict.PASSED and result.problems() == []


async def test_dependents_of_a_warning_are_skipped() -> None:
    plan = make_plan({"Health": [sleep("soft", passes=False, severity="warning"),
                                 sleep("after", depends_on=["soft"])]})
    result = await run_plan(plan)
    assert by_id(result)["after"] == (
        Status.SKIP, "skipped: depends on 'soft', which failed with a warning")


# ------------------------------------------------------------------ filters

FILTERED = {
    "Database Schema": [sleep("tables"), sleep("columns", depends_on=["tables"])],
    "Health Checks": [sleep("api", tags=["fast"]), sleep("cluster", tags=["k8s"])],
    "Billing": [sleep("invoices", depends_on=["columns"], tags=["stripe"])],
}


@pytest.mark.parametrize(("only", "ran"), [
    (["database-schema"], ["tables", "columns"]),
    (["Database Schema"], ["tables", "columns"]),
    (["fast"], ["api"]),
    (["cluster"], ["cluster"]),
    (["invoices"], ["tables", "columns", "invoices"]),  # with what it depends on
    (["fast", "stripe"], ["tables", "columns", "api", "invoices"]),
    (None, ["tables", "columns", "api", "cluster", "invoices"]),
], ids=["category-slug", "category-name", "tag", "id", "dependencies", "several", "none"])
async def test_filters_select_by_category_tag_or_id_with_dependencies(
        only: list[str] | None, ran: list[str]) -> None:
    plan = make_plan(FILTERED, only=only)
    result = await run_plan(plan)
    assert [r.check_id for r in result.results] == ran
    assert all(r.status is Status.PASS for r in result.results)
    assert result.categories == tuple(
        c for c in ("Database Schema", "Health Checks", "Billing")
        if any(r.category == c for r in result.results))


# ------------------------------------------------------------------ events and redaction

async def test_events_announce_each_start_before_its_finish_and_count_up() -> None:
    plan = make_plan({"Health": [sleep("a"), sleep("b", passes=False),
                                 sleep("c", depends_on=["b"]), sleep("d", 0.01)]})
    events: list[RunEvent] = []
    result = await run_plan(plan, on_event=events.append)
    finished = [e for e in events if isinstance(e, CheckFinished)]
    started = [e.check.id for e in events if isinstance(e, CheckStarted)]
    assert sorted(started) == ["a", "b", "d"]  # a skipped check never starts
    assert [(e.done, e.total) for e in finished] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert sorted(e.result.check_id for e in finished) == ["a", "b", "c", "d"]
    for check_id in started:
        start = next(i for i, e in enumerate(events)
                     if isinstance(e, CheckStarted) and e.check.id == check_id)
        end = next(i for i, e in enumerate(events)
                   if isinstance(e, CheckFinished) and e.result.check_id == check_id)
        assert start < end
    assert {e.result.check_id: e.result for e in finished} == {
        r.check_id: r for r in result.results}


async def test_every_text_of_a_result_is_redacted_before_anyone_sees_it() -> None:
    plan = make_plan({"Health": [{"id": "leaky", "type": "test.leak"}]})
    events: list[RunEvent] = []
    result = await run_plan(plan, on_event=events.append)
    (leaky,) = result.results
    shown = "[redacted sk_test_…(36 chars)]"
    assert (leaky.summary, leaky.details, leaky.measurements, leaky.evidence) == (
        f"expected 200 for {shown}", f"Authorization: {shown}", {"key": shown},
        {"headers": [shown]})
    assert CANARY not in repr(events) + repr(result) + repr(plan)


async def test_secrets_reach_the_kind_wrapped(kinds: Kinds) -> None:
    plan = make_plan({"Health": [sleep("a")]})
    token = plan.variables["secrets"]["token"]
    assert isinstance(token, Secret) and token.reveal() == CANARY


async def test_run_of_an_empty_plan_passes_with_no_results() -> None:
    plan = make_plan({"Health": [sleep("prod-only", environments=["production"])]})
    result = await run_plan(plan, cancel=asyncio.Event())
    assert result.results == () and result.verdict is Verdict.PASSED


async def test_result_carries_suite_environment_and_trigger() -> None:
    plan = make_plan({"Health": [sleep("a")]})
    result = await run_plan(plan, version="1.2.0", trigger="slack:U123")
    assert (result.suite, result.environment, result.version, result.trigger) == (
        "smoketest", "staging", "1.2.0", "slack:U123")
    assert result.finished_at >= result.started_at
