"""What every renderer says about a run in the same words: the results grouped by category,
the tallies, each category's state, the passes worth a remark (flaky, slow) and the verdict
line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks.results import CheckResult, RunResult, Status, Verdict

__all__ = ["REMARKED", "Tally", "category_state", "failed_attempts", "grouped", "issues",
           "remark", "remarked", "remarks_text", "verdict_detail", "verdict_line"]

REMARKED = (Status.FLAKY, Status.SLOW)  # passed, with something worth a look


@dataclass(frozen=True)
class Tally:
    total: int = 0
    passed: int = 0  # pass, flaky and slow: the checks that passed
    failed: int = 0  # fail and error: the checks that fail the run
    errored: int = 0  # of `failed`, those that could not look at all
    warned: int = 0
    skipped: int = 0
    flaky: int = 0  # of `passed`, those that failed first and passed on a retry
    slow: int = 0  # of `passed`, those slower than their warn_latency

    @classmethod
    def of(cls, results: Iterable[CheckResult]) -> Tally:
        statuses = [r.status for r in results]
        return cls(total=len(statuses),
                   passed=sum(s.passed for s in statuses),
                   failed=sum(s.is_problem for s in statuses),
                   errored=statuses.count(Status.ERROR),
                   warned=statuses.count(Status.WARN),
                   skipped=statuses.count(Status.SKIP),
                   flaky=statuses.count(Status.FLAKY),
                   slow=statuses.count(Status.SLOW))


def remarks_text(tally: Tally, *, warnings: bool = True) -> str:
    """`1 warning, 2 flaky, 1 slow`: what a passing category's (or run's) state adds to PASS;
    empty when there is nothing to add."""
    parts = [_plural(tally.warned, "warning")] if warnings and tally.warned else []
    parts += [f"{tally.flaky} flaky"] if tally.flaky else []
    parts += [f"{tally.slow} slow"] if tally.slow else []
    return ", ".join(parts)


def grouped(run: RunResult) -> list[tuple[str, list[CheckResult]]]:
    """Results by category in suite order. A result whose category the run does not list
    still gets a group at the end: a report must never drop a result."""
    groups = run.by_category()
    known = set(run.categories)
    for result in run.results:
        if result.category not in known:
            known.add(result.category)
            groups.append((result.category, [r for r in run.results
                                             if r.category == result.category]))
    return groups


def category_state(results: list[CheckResult]) -> Status:
    """FAIL if any check fails the run, WARN if there are warnings, FLAKY or SLOW if a pass
    deserves a look, SKIP if nothing ran, else PASS: the most pressing first."""
    tally = Tally.of(results)
    if tally.failed:
        return Status.FAIL
    if tally.warned:
        return Status.WARN
    if tally.flaky:
        return Status.FLAKY
    if tally.slow:
        return Status.SLOW
    if tally.total and tally.skipped == tally.total:
        return Status.SKIP
    return Status.PASS


def issues(run: RunResult) -> list[CheckResult]:
    """Failures and errors first, then warnings; suite order within each."""
    return run.problems() + [r for r in run.results if r.status is Status.WARN]


def remarked(run: RunResult) -> list[CheckResult]:
    """The checks that passed with a remark (flaky, slow), in suite order."""
    return [r for r in run.results if r.status in REMARKED]


def failed_attempts(result: CheckResult) -> list[str]:
    """What each failed attempt of a flaky check said, first attempt first (the runner's
    `evidence["failed_attempts"]`)."""
    found = result.evidence.get("failed_attempts")
    return [str(text) for text in found] if isinstance(found, (list, tuple)) else []


def remark(result: CheckResult) -> str:
    """`passed on attempt 2`, `412 ms, over the 300 ms warn_latency`: why a pass is flaky or
    slow; empty for any other status. (The failed attempts are `failed_attempts`.)"""
    if result.status is Status.FLAKY:
        return f"passed on attempt {result.attempts}"
    if result.status is Status.SLOW:
        return str(result.evidence.get("warning") or "slower than its warn_latency")
    return ""


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def verdict_detail(run: RunResult) -> str:
    """`2 of 14 checks failed`, `all 14 checks passed`, `12 of 14 checks passed, 2 skipped`."""
    tally = Tally.of(run.results)
    if run.verdict is Verdict.CANCELLED:
        ran = tally.total - tally.skipped
        detail = f"stopped after {ran} of {_plural(tally.total, 'check')}"
        return detail + (f", {tally.failed} failed" if tally.failed else "")
    if run.verdict is Verdict.FAILED:
        detail = f"{tally.failed} of {_plural(tally.total, 'check')} failed"
        return detail + (f" ({tally.errored} could not run)" if tally.errored else "")
    if tally.total == 0:
        return "no checks ran"
    # Flaky and slow checks passed: said in brackets after the passes they are part of.
    among = remarks_text(tally, warnings=False)
    among = f" ({among})" if among else ""
    if tally.passed == tally.total:
        return ("1 check passed" if tally.total == 1
                else f"all {tally.total} checks passed") + among
    detail = f"{tally.passed} of {_plural(tally.total, 'check')} passed{among}"
    if tally.warned:
        detail += f", {_plural(tally.warned, 'warning')}"
    if tally.skipped:
        detail += f", {tally.skipped} skipped"
    return detail


def verdict_line(run: RunResult) -> str:
    """`SMOKE TESTS FAILED: 2 of 14 checks failed`: the line a reader looks for first."""
    return f"SMOKE TESTS {run.verdict.value.upper()}: {verdict_detail(run)}"
