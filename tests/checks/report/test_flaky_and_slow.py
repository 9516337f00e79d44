"""Flaky and slow checks in every reporter: shown apart from a plain pass (mark, word, the
failed attempts of a flaky check, how slow a slow one was), counted among the passes, and the
run still passed."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace

from checks.config import CheckSpec
from checks.kinds.base import CheckKind, KindParams
from checks.plan import PlannedCheck
from checks.redact import Redactor
from checks.report import (
    TerminalProgress,
    render_json,
    render_junit,
    render_markdown,
    render_summary,
)
from checks.report._summary import Tally, category_state, verdict_line
from checks.results import Severity, Status
from checks.runner import CheckFinished, CheckStarted
from tests.checks.report.consoles import plain_lines, recording_console
from tests.checks.report.runs import (
    FLAKY_REFUSED,
    HEALTH,
    SLOW_WARNING,
    passing_run,
    remarked_run,
    result,
)


# --- what every reporter says alike --------------------------------------------------------------

def test_flaky_and_slow_count_as_passed_and_the_verdict_says_which() -> None:
    run = remarked_run()

    assert Tally.of(run.results) == Tally(total=3, passed=3, flaky=1, slow=1)
    assert verdict_line(run) == "SMOKE TESTS PASSED: all 3 checks passed (1 flaky, 1 slow)"
    assert run.verdict.exit_code == 0


def test_remarks_sit_with_the_passes_they_are_part_of() -> None:
    run = passing_run()
    run = replace(run, results=run.results + (
        result("a", "A", HEALTH, Status.FLAKY, "200 OK", attempts=2),
        result("b", "B", HEALTH, Status.WARN, "slow", severity=Severity.WARNING),
        result("c", "C", HEALTH, Status.SKIP, "not here")))
    assert verdict_line(run) == ("SMOKE TESTS PASSED: 3 of 5 checks passed (1 flaky), "
                                 "1 warning, 1 skipped")


def test_a_category_state_names_the_most_pressing_remark() -> None:
    flaky = result("a", "A", HEALTH, Status.FLAKY, "ok", attempts=2)
    slow = result("b", "B", HEALTH, Status.SLOW, "ok")
    warned = result("c", "C", HEALTH, Status.WARN, "no", severity=Severity.WARNING)
    failed = result("d", "D", HEALTH, Status.FAIL, "no")

    assert category_state([slow]) is Status.SLOW
    assert category_state([slow, flaky]) is Status.FLAKY
    assert category_state([slow, flaky, warned]) is Status.WARN
    assert category_state([slow, flaky, warned, failed]) is Status.FAIL


# --- terminal ------------------------------------------------------------------------------------

def test_terminal_summary_shows_flaky_and_slow_apart_with_their_failed_attempts() -> None:
    console = recording_console()
    render_summary(remarked_run(), console, Redactor())

    assert plain_lines(console) == [
        "",
        "Smoke test: staging (suite platform)",
        "Category Checks Passed Failed Skipped Status",
        "─" * 89,
        "Database Schema 1 1 0 0 ✓ PASS",
        "Health & Infrastructure 2 2 0 0 ~ PASS (1 flaky, 1 slow)",
        "─" * 89,
        "TOTAL 3 3 0 0 ~ PASS (1 flaky, 1 slow)",
        "",
        "Flaky and slow (passed)",
        "~ FLAKY Health endpoint [health]: 200 OK in 45 ms (1.5s)",
        "passed on attempt 2",
        f"attempt 1 failed: {FLAKY_REFUSED}",
        f"◷ SLOW Pricing page [pricing]: 200 OK in {SLOW_WARNING} (412ms)",
        "",
        "SMOKE TESTS PASSED: all 3 checks passed (1 flaky, 1 slow)",
        "Duration: 12.3s",
    ]


def test_terminal_marks_flaky_and_slow_yellow_like_a_warning() -> None:
    console = recording_console(terminal=True)
    render_summary(remarked_run(), console, Redactor())
    output = console.file.getvalue()  # type: ignore[attr-defined]

    yellow = "\x1b[33m"
    assert f"{yellow}~ FLAKY" in output and f"{yellow}◷ SLOW " in output


def test_terminal_progress_prints_a_flaky_check_as_flaky() -> None:
    console = recording_console()
    flaky = remarked_run().results[1]
    planned = PlannedCheck(spec=CheckSpec(id="health", name="Health endpoint", type="http"),
                           category=HEALTH, kind=CheckKind(), params=KindParams(), timeout=5.0,
                           retries=1, retry_backoff=0.5)
    with TerminalProgress(console, 1, "staging") as progress:
        progress.on_event(CheckStarted(planned))
        progress.on_event(CheckFinished(flaky, 1, 1))

    assert console.export_text().splitlines()[-1] == (
        "[1/1] ~ FLAKY Health endpoint [health]: 200 OK in 45 ms (1.5s)")


# --- Markdown ------------------------------------------------------------------------------------

def test_markdown_marks_and_lists_flaky_and_slow_checks_with_the_failed_attempts() -> None:
    report = render_markdown(remarked_run(), Redactor())

    assert "- **Status**: ✅ PASSED: all 3 checks passed (1 flaky, 1 slow)\n" in report
    assert "| Health & Infrastructure | 2 | 2 | 0 | 0 | 🔁 PASS (1 flaky, 1 slow) |\n" in report
    assert "| **TOTAL** | 3 | 3 | 0 | 0 | 🔁 PASS (1 flaky, 1 slow) |\n" in report
    assert "## Issues found\n\nNone: all checks passed.\n" in report
    assert (
        "## Flaky and slow checks\n\n"
        "These passed, so the run did not fail for them, but they deserve a look.\n\n"
        "### 1. 🔁 Health endpoint (`health`)\n\n"
        "- **Status**: flaky: passed on attempt 2\n"
        "- **Severity**: critical\n"
        "- **Result**: 200 OK in 45 ms\n"
        "- **Failed attempts**:\n"
        f"  1. {FLAKY_REFUSED}\n\n"
        "### 2. 🐢 Pricing page (`pricing`)\n\n"
        f"- **Status**: slow: {SLOW_WARNING}\n"
        "- **Severity**: critical\n"
        f"- **Result**: 200 OK in {SLOW_WARNING}\n\n"
        "## Details\n") in report
    assert "### 2. Health & Infrastructure 🔁\n" in report
    assert "- 🔁 **Health endpoint** (`health`): 200 OK in 45 ms (1.5s)\n" in report
    assert f"- 🐢 **Pricing page** (`pricing`): 200 OK in {SLOW_WARNING} (412ms)\n" in report
    assert "**Health & Infrastructure**: 2/2 passed (1 flaky, 1 slow)\n" in report


def test_markdown_of_a_run_without_remarks_has_no_flaky_section() -> None:
    assert "## Flaky and slow checks" not in render_markdown(passing_run(), Redactor())


def test_markdown_escapes_what_a_failed_attempt_said() -> None:
    run = remarked_run()
    flaky = run.results[1].with_changes(evidence={"failed_attempts": ["got *bold* | [x](y)"]})
    run = replace(run, results=(run.results[0], flaky, run.results[2]))

    assert "  1. got \\*bold\\* \\| \\[x\\](y)\n" in render_markdown(run, Redactor())


# --- JSON ----------------------------------------------------------------------------------------

def test_json_has_the_statuses_their_counts_and_the_failed_attempts() -> None:
    document = json.loads(render_json(remarked_run(), Redactor()))

    assert document["verdict"] == "passed"
    assert document["counts"] == {"total": 3, "pass": 1, "fail": 0, "error": 0, "skip": 0,
                                  "warn": 0, "flaky": 1, "slow": 1}
    health = document["categories"][1]
    assert health["counts"] == {"total": 2, "pass": 0, "fail": 0, "error": 0, "skip": 0,
                                "warn": 0, "flaky": 1, "slow": 1}
    flaky, slow = health["checks"]
    assert (flaky["status"], flaky["attempts"], flaky["evidence"]) == (
        "flaky", 2, {"failed_attempts": [FLAKY_REFUSED]})
    assert (slow["status"], slow["evidence"]) == ("slow", {"warning": SLOW_WARNING})


# --- JUnit ---------------------------------------------------------------------------------------

def test_junit_keeps_flaky_and_slow_as_passed_testcases_that_say_what_they_are() -> None:
    root = ET.fromstring(render_junit(remarked_run(), Redactor()))
    cases = {case.attrib["name"]: case for case in root.iter("testcase")}

    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) \
        == ("3", "0", "0", "0")
    flaky = cases["Health endpoint [health]"]
    assert [child.tag for child in flaky] == ["flakyFailure", "system-out"]
    assert flaky.find("flakyFailure").attrib == {  # type: ignore[union-attr]
        "message": FLAKY_REFUSED, "type": "flaky"}
    assert flaky.findtext("system-out") == (
        f"FLAKY: passed on attempt 2\nattempt 1 failed: {FLAKY_REFUSED}\n\n200 OK in 45 ms")
    slow = cases["Pricing page [pricing]"]
    assert [child.tag for child in slow] == ["system-out"]
    assert slow.findtext("system-out") == f"SLOW: {SLOW_WARNING}\n\n200 OK in {SLOW_WARNING}"
    # Neither is a failure, an error or a skip to a CI.
    for case in (flaky, slow):
        assert not {"failure", "error", "skipped"} & {child.tag for child in case}


def test_every_failed_attempt_of_a_flaky_check_is_its_own_flaky_failure() -> None:
    run = remarked_run()
    flaky = run.results[1].with_changes(attempts=3, evidence={
        "failed_attempts": ["expected status 200, got 503", FLAKY_REFUSED]})
    run = replace(run, results=(flaky,), categories=(HEALTH,))
    case = next(ET.fromstring(render_junit(run, Redactor())).iter("testcase"))

    assert [f.get("message") for f in case.iter("flakyFailure")] == [
        "expected status 200, got 503", FLAKY_REFUSED]
    assert case.findtext("system-out", "").splitlines()[:3] == [
        "FLAKY: passed on attempt 3", "attempt 1 failed: expected status 200, got 503",
        f"attempt 2 failed: {FLAKY_REFUSED}"]


def test_a_secret_in_what_a_failed_attempt_said_never_reaches_a_report() -> None:
    secret = "sk_" + "live_" + "Q7vx" * 6
    run = remarked_run()
    flaky = run.results[1].with_changes(evidence={
        "failed_attempts": [f"expected 200 for Bearer {secret}, got 401"]})
    run = replace(run, results=(run.results[0], flaky, run.results[2]))
    redactor = Redactor([secret])
    console = recording_console()
    render_summary(run, console, redactor)

    outputs = [render_markdown(run, redactor), render_json(run, redactor),
               render_junit(run, redactor), console.export_text()]
    for output in outputs:
        assert secret not in output
        assert "(32 chars)" in output  # the attempt was shown, redacted
