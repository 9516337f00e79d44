"""What every renderer says about a run in the same words: the results grouped by category,
the tallies, each category's state and the verdict line."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from checks.results import CheckResult, RunResult, Status, Verdict

__all__ = ["Tally", "category_state", "grouped", "issues", "verdict_detail", "verdict_line"]


@dataclass(frozen=True)
class Tally:
    total: int = 0
    passed: int = 0
    failed: int = 0  # fail and error: the checks that fail the run
    errored: int = 0  # of `failed`, those that could not look at all
    warned: int = 0
    skipped: int = 0

    @classmethod
    def of(cls, results: Iterable[CheckResult]) -> Tally:
        statuses = [r.status for r in results]
        return cls(total=len(statuses),
                   passed=statuses.count(Status.PASS),
                   failed=sum(s.is_problem for s in statuses),
                   errored=statuses.count(Status.ERROR),
                   warned=statuses.count(Status.WARN),
                   skipped=statuses.count(Status.SKIP))


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
    """FAIL if any check fails the run, WARN if only warnings, SKIP if nothing ran, else PASS."""
    tally = Tally.of(results)
    if tally.failed:
        return Status.FAIL
    if tally.warned:
        return Status.WARN
    if tally.total and tally.skipped == tally.total:
        return Status.SKIP
    return Status.PASS


def issues(run: RunResult) -> list[CheckResult]:
    """Failures and errors first, then warnings; suite order within each."""
    return run.problems() + [r for r in run.results if r.status is Status.WARN]


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
    if tally.passed == tally.total:
        return "1 check passed" if tally.total == 1 else f"all {tally.total} checks passed"
    detail = f"{tally.passed} of {_plural(tally.total, 'check')} passed"
    if tally.warned:
        detail += f", {_plural(tally.warned, 'warning')}"
    if tally.skipped:
        detail += f", {tally.skipped} skipped"
    return detail


def verdict_line(run: RunResult) -> str:
    """`SMOKE TESTS FAILED: 2 of 14 checks failed`: the line a reader looks for first."""
    return f"SMOKE TESTS {run.verdict.value.upper()}: {verdict_detail(run)}"
