"""The verdict line every renderer shows, and the durations they print."""

from __future__ import annotations

from dataclasses import replace

import pytest

import checks.report
from checks.report._summary import verdict_line
from checks.report._text import format_duration
from checks.results import Status
from tests.checks.report.runs import HEALTH, failing_run, passing_run, result


def test_public_surface_of_the_report_package() -> None:
    assert checks.report.__all__ == ["TerminalProgress", "render_json", "render_junit",
                                     "render_markdown", "render_summary"]


def test_failed_run_counts_failures_and_errors() -> None:
    assert verdict_line(failing_run()) == (
        "SMOKE TESTS FAILED: 2 of 5 checks failed (1 could not run)")


def test_failed_run_without_errors_says_only_how_many_failed() -> None:
    run = failing_run()
    run = replace(run, results=tuple(r for r in run.results if r.status is not Status.ERROR))
    assert verdict_line(run) == "SMOKE TESTS FAILED: 1 of 4 checks failed"


def test_clean_pass() -> None:
    assert verdict_line(passing_run()) == "SMOKE TESTS PASSED: all 2 checks passed"
    single = replace(passing_run(), results=passing_run().results[:1])
    assert verdict_line(single) == "SMOKE TESTS PASSED: 1 check passed"


def test_pass_with_warnings_and_skips_says_so() -> None:
    run = passing_run()
    run = replace(run, results=run.results + (
        result("a", "A", HEALTH, Status.WARN, "slow"),
        result("b", "B", HEALTH, Status.SKIP, "not here"),
        result("c", "C", HEALTH, Status.SKIP, "not here")))
    assert verdict_line(run) == "SMOKE TESTS PASSED: 2 of 5 checks passed, 1 warning, 2 skipped"


def test_cancelled_run_says_how_far_it_got() -> None:
    run = replace(failing_run(), cancelled=True)
    assert verdict_line(run) == "SMOKE TESTS CANCELLED: stopped after 4 of 5 checks, 2 failed"


@pytest.mark.parametrize(("seconds", "shown"), [
    (0.0, "0ms"), (0.0454, "45ms"), (0.9996, "1.0s"), (1.0, "1.0s"), (12.34, "12.3s"),
    (59.96, "1m 00s"), (125.0, "2m 05s"),
    (3725.0, "1h 02m"),
])
def test_durations_are_short_and_readable(seconds: float, shown: str) -> None:
    assert format_duration(seconds) == shown
