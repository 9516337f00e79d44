"""Runs a plan: checks in parallel up to a concurrency limit, each with its timeout and retries,
dependents of a failed check skipped, every result redacted before anyone sees it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

from checks.errors import CheckError
from checks.kinds.base import CheckContext
from checks.plan import PlannedCheck, RunPlan
from checks.resources import RunResources
from checks.results import CheckResult, Outcome, RunResult, Severity, Status
from checks.version import read_version

__all__ = ["CheckFinished", "CheckProgress", "CheckStarted", "RunEvent", "run_plan"]

MAX_BACKOFF_S = 10.0


@dataclass(frozen=True)
class CheckStarted:
    check: PlannedCheck


@dataclass(frozen=True)
class CheckFinished:
    result: CheckResult
    done: int
    total: int


@dataclass(frozen=True)
class CheckProgress:
    """A long check saying how far it is ("812/3000 requests, p95 41 ms"): for a live display.
    `fraction` is 0..1 when the check knows it."""

    check: PlannedCheck
    text: str
    fraction: float | None = None


RunEvent = CheckStarted | CheckProgress | CheckFinished
EventSink = Callable[[RunEvent], None]


def _result(check: PlannedCheck, status: Status, summary: str, **kw: object) -> CheckResult:
    spec = check.spec
    return CheckResult(check_id=spec.id, name=spec.title, category=check.category, kind=spec.type,
                       severity=spec.severity, status=status, summary=summary,
                       tags=tuple(spec.tags), **kw)  # type: ignore[arg-type]


class _Run:
    def __init__(self, plan: RunPlan, on_event: EventSink | None, concurrency: int) -> None:
        self.plan = plan
        self.on_event = on_event
        self.semaphore = asyncio.Semaphore(concurrency)
        self.exclusive: dict[str, asyncio.Lock] = {}
        self.loop = asyncio.get_running_loop()
        self.done: dict[str, asyncio.Future[CheckResult]] = {
            c.id: self.loop.create_future() for c in plan.checks}
        self.results: dict[str, CheckResult] = {}
        self.redacted_at: dict[str, int] = {}  # check id -> the redactor's generation then
        self.version_read: str | None = None  # where the suite's `version:` points
        self.resources = RunResources()  # closed by run_plan when every check has ended

    def emit(self, event: RunEvent) -> None:
        if self.on_event is not None:
            self.on_event(event)

    def progress(self, check: PlannedCheck, text: str, fraction: float | None = None) -> None:
        self.emit(CheckProgress(check, self.plan.redactor.redact(text), fraction))

    def finish(self, check: PlannedCheck, result: CheckResult) -> None:
        result = self._redacted(result)
        self.results[check.id] = result
        self.redacted_at[check.id] = self.plan.redactor.generation
        future = self.done[check.id]
        if not future.done():
            future.set_result(result)
        self.emit(CheckFinished(result, len(self.results), len(self.plan.checks)))

    def _redacted(self, result: CheckResult) -> CheckResult:
        redactor = self.plan.redactor
        if redactor.empty:
            return result
        return result.with_changes(
            summary=redactor.redact(result.summary), details=redactor.redact(result.details),
            measurements=redactor.redact_obj(result.measurements),
            evidence=redactor.redact_obj(result.evidence))

    async def run_check(self, check: PlannedCheck) -> None:
        for dep in check.spec.depends_on:
            future = self.done.get(dep)
            if future is None:
                self.finish(check, _result(check, Status.SKIP,
                                           f"depends on '{dep}', which does not run here"))
                return
            dep_result = await future
            if not dep_result.status.passed:
                self.finish(check, _result(
                    check, Status.SKIP,
                    f"skipped: depends on '{dep}', which {_verb(dep_result.status)}"))
                return
        group = check.kind.exclusive_group(check.params)
        # Checks of one group (the traffic probes) run one after another, and each one's
        # timeout starts only when its turn comes.
        turn = (self.exclusive.setdefault(group, asyncio.Lock()) if group
                else contextlib.nullcontext())
        async with turn:
            async with self.semaphore:
                self.emit(CheckStarted(check))
                self.finish(check, await self.attempt_all(check))

    async def attempt_all(self, check: PlannedCheck) -> CheckResult:
        started = time.perf_counter()
        attempts = check.retries + 1
        result: CheckResult | None = None
        failed_before: list[str] = []  # what each failed attempt said, for a flaky result
        for attempt in range(1, attempts + 1):
            result = await self.attempt(check, attempt)
            permanent = result.evidence.get("_permanent", False)
            if result.status.passed or permanent or attempt == attempts:
                break
            failed_before.append(result.summary)
            await asyncio.sleep(min(check.retry_backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
        assert result is not None
        evidence = {k: v for k, v in result.evidence.items() if k != "_permanent"}
        status = result.status
        if status.is_problem and check.spec.severity is Severity.WARNING:
            status = Status.WARN
        elif status.passed and failed_before:
            # Passing on a retry is worth knowing: the target may be flapping.
            status = Status.FLAKY
            evidence["failed_attempts"] = failed_before
        return result.with_changes(status=status, evidence=evidence, attempts=attempt,
                                   duration_s=time.perf_counter() - started)

    async def attempt(self, check: PlannedCheck, attempt: int) -> CheckResult:
        ctx = CheckContext(environment=self.plan.environment, redactor=self.plan.redactor,
                           variables=self.plan.variables, attempt=attempt,
                           progress=functools.partial(self.progress, check),
                           traffic=self.plan.traffic, check_id=check.id,
                           resources=self.resources,
                           suite_dir=self.plan.suite.base_dir)
        deadline = asyncio.timeout(check.timeout)
        try:
            async with deadline:
                outcome: Outcome = await check.kind.run(check.params, ctx)
        except TimeoutError as exc:
            if deadline.expired():
                return _result(check, Status.ERROR, f"timed out after {check.timeout:g}s")
            # A TimeoutError of the kind's own (a socket's, say) that it did not translate.
            return _result(check, Status.ERROR, f"internal error: {type(exc).__name__}: {exc}",
                           details=traceback.format_exc())
        except CheckError as exc:
            return _result(check, Status.ERROR, exc.message, details=exc.details,
                           evidence={"_permanent": exc.permanent})
        except Exception as exc:  # a bug in a kind must not take the run down
            return _result(check, Status.ERROR, f"internal error: {type(exc).__name__}: {exc}",
                           details=traceback.format_exc())
        source = self.plan.suite.version
        if source is not None and source.from_ == check.id:
            self.version_read = read_version(source, outcome) or self.version_read
        if not outcome.passed:
            status = Status.FAIL
        else:
            status = Status.PASS
            if outcome.warning:
                status = Status.SLOW if outcome.warning_state == "slow" else Status.WARN
        evidence = outcome.evidence
        if outcome.warning:
            evidence = {**evidence, "warning": outcome.warning}
        return _result(check, status, outcome.summary, details=outcome.details,
                       measurements=outcome.measurements, evidence=evidence)


def _verb(status: Status) -> str:
    return {Status.FAIL: "failed", Status.ERROR: "could not run", Status.SKIP: "was skipped",
            Status.WARN: "failed with a warning"}.get(status, status.value)


async def run_plan(plan: RunPlan, *, on_event: EventSink | None = None,
                   concurrency: int | None = None, cancel: asyncio.Event | None = None,
                   version: str | None = None, trigger: str | None = None) -> RunResult:
    """Runs every check of the plan. Setting `cancel` stops the run: the checks that did not
    finish are reported as skipped and the run as cancelled. Cancelling the calling task
    cancels every check and propagates, as asyncio expects. Without `version`, the run's
    version is what the check named by the suite's `version:` read, if it read one."""
    started_at = datetime.now(timezone.utc)
    run = _Run(plan, on_event, concurrency or plan.concurrency)
    tasks = [asyncio.ensure_future(run.run_check(check)) for check in plan.checks]
    everything = asyncio.gather(*tasks)
    cancelled = False
    waiter = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    try:
        if waiter is None:
            await everything
        else:
            await asyncio.wait([everything, waiter], return_when=asyncio.FIRST_COMPLETED)
            cancelled = cancel.is_set() and not everything.done()
            if everything.done():
                everything.result()  # re-raises what went wrong (an on_event sink's bug, say)
    finally:
        if waiter is not None:
            waiter.cancel()
        pending = [task for task in tasks if not task.done()]
        # Cancelled by the event, by the caller, or a task failed: none may outlive the run.
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if not everything.done():
            everything.cancel()
        elif not everything.cancelled():
            # A check cancelled above leaves its CancelledError in the gather; unread, asyncio
            # would log it with a traceback ("exception was never retrieved") after a Ctrl-C.
            everything.exception()
        # No check runs any more: what they shared (connection pools) can go.
        await run.resources.aclose()
    for check in plan.checks:
        if check.id not in run.results:
            run.results[check.id] = _result(check, Status.SKIP, "cancelled before it finished")
    # Once more at the end: a secret registered by a later check (a k8s.secret read, an
    # http.flow capture) may sit in an earlier check's evidence. Only then: a result redacted
    # since the last secret was registered is as redacted as it can be.
    ordered = tuple(run.results[c.id]
                    if run.redacted_at.get(c.id) == plan.redactor.generation
                    else run._redacted(run.results[c.id]) for c in plan.checks)
    version_from = None
    if not version and run.version_read is not None and plan.suite.version is not None:
        version, version_from = plan.redactor.redact(run.version_read), plan.suite.version.from_
    return RunResult(suite=plan.suite.suite, environment=plan.environment, started_at=started_at,
                     finished_at=datetime.now(timezone.utc), results=ordered,
                     categories=plan.categories, cancelled=cancelled, version=version or None,
                     trigger=trigger, version_from=version_from)
