from __future__ import annotations

from dataclasses import replace

from checks.config import CheckSpec
from checks.kinds.base import CheckKind, KindParams
from checks.plan import PlannedCheck
from checks.redact import Redactor
from checks.report import TerminalProgress, render_summary
from checks.runner import CheckFinished, CheckStarted
from tests.checks.report.consoles import plain_lines, recording_console
from tests.checks.report.runs import failing_run, passing_run


def _planned(check_id: str, name: str) -> PlannedCheck:
    return PlannedCheck(spec=CheckSpec(id=check_id, name=name, type="http"), category="Health",
                        kind=CheckKind(), params=KindParams(), timeout=5.0, retries=0,
                        retry_backoff=0.5)


def test_summary_shows_table_problems_and_verdict() -> None:
    console = recording_console()
    render_summary(failing_run(), console, Redactor())
    assert plain_lines(console) == [
        "",
        "Smoke test: staging (suite platform, version week-2-complete)",
        "Category Checks Passed Failed Skipped Status",
        "─" * 71,
        "Database Schema 2 1 1 0 ✗ FAIL",
        "Health & Infrastructure 3 0 1 1 ✗ FAIL",
        "─" * 71,
        "TOTAL 5 1 2 1 ✗ FAIL",
        "",
        "Problems",
        "✗ FAIL API key hash column [db.key-hash]: expected column api_keys.key_hash, "
        "got no such column (31ms)",
        "after 2 attempts",
        "columns of api_keys:",
        "id (bigint)",
        "name (text)",
        "! ERROR Health endpoint [health]: connection refused: 127.0.0.1:4000 [errno 111] (1.5s)",
        "after 3 attempts",
        "⚠ WARN Health latency [health.latency]: expected latency_ms < 100, got 240 (240ms)",
        "",
        "SMOKE TESTS FAILED: 2 of 5 checks failed (1 could not run)",
        "Duration: 12.3s",
    ]


def test_summary_of_a_passing_run_has_no_problems_section() -> None:
    console = recording_console()
    render_summary(passing_run(), console, Redactor())
    lines = plain_lines(console)
    assert "Problems" not in lines
    assert lines[-2:] == ["SMOKE TESTS PASSED: all 2 checks passed", "Duration: 12.3s"]


def test_brackets_and_markup_in_user_text_are_printed_literally() -> None:
    run = passing_run()
    run = replace(run, results=(run.results[0].with_changes(
        status=run.results[0].status.FAIL, name="[bold]Health[/bold]",
        summary="expected [red]200[/red], got :boom: [503]"),))
    console = recording_console()
    render_summary(run, console, Redactor())
    assert ("✗ FAIL [bold]Health[/bold] [health]: expected [red]200[/red], got :boom: [503] (45ms)"
            in plain_lines(console))


def test_escape_sequences_from_a_target_cannot_reach_the_terminal() -> None:
    run = failing_run()
    run = replace(run, results=tuple(
        r.with_changes(details="\x1b]0;pwned\x07\x1b[2J") for r in run.results))
    console = recording_console(terminal=True)
    render_summary(run, console, Redactor())
    output = console.file.getvalue()  # type: ignore[attr-defined]
    assert "\x1b]0;" not in output and "\x1b[2J" not in output
    assert "\\x1b]0;pwned\\x07\\x1b[2J" in console.export_text()


def test_long_details_are_cut_to_an_excerpt() -> None:
    run = failing_run()
    details = "\n".join(f"line {n}" for n in range(1, 11))
    run = replace(run, results=tuple(r.with_changes(details=details) for r in run.results
                                     if r.check_id == "db.key-hash"))
    console = recording_console()
    render_summary(run, console, Redactor())
    lines = plain_lines(console)
    assert "line 6" in lines and "line 7" not in lines
    assert "… 4 more lines in the full report" in lines


def test_progress_without_a_terminal_prints_one_plain_line_per_finished_check() -> None:
    console = recording_console()
    first, second = passing_run().results
    with TerminalProgress(console, 2, "staging") as progress:
        progress.on_event(CheckStarted(_planned("health", "Health endpoint")))
        progress.on_event(CheckStarted(_planned("pods", "Pods ready")))
        progress.on_event(CheckFinished(second, 1, 2))
        progress.on_event(CheckFinished(first, 2, 2))
    assert console.export_text() == (
        "Running 2 checks against staging\n"
        "[1/2] ✓ PASS  Pods ready [pods]: 2/2 pods ready (800ms)\n"
        "[2/2] ✓ PASS  Health endpoint [health]: 200 in 45ms (45ms)\n")
    assert "\x1b" not in console.file.getvalue()  # type: ignore[attr-defined]


def test_progress_on_a_terminal_prints_finished_lines_above_the_live_bar() -> None:
    console = recording_console(terminal=True)
    first, second = passing_run().results
    with TerminalProgress(console, 2, "staging") as progress:
        assert progress.live
        progress.on_event(CheckStarted(_planned("health", "Health endpoint")))
        progress.on_event(CheckFinished(first, 1, 2))
        progress.on_event(CheckStarted(_planned("pods", "Pods ready")))
        progress.on_event(CheckFinished(second, 2, 2))
    text = console.export_text()
    assert "[1/2] ✓ PASS  Health endpoint [health]: 200 in 45ms (45ms)" in text
    assert "[2/2] ✓ PASS  Pods ready [pods]: 2/2 pods ready (800ms)" in text


def test_progress_shows_the_checks_running_now() -> None:
    console = recording_console(terminal=True)
    with TerminalProgress(console, 5, "staging") as progress:
        for n in range(5):
            progress.on_event(CheckStarted(_planned(f"c{n}", f"Check {n}")))
        assert progress._progress is not None
        task = progress._progress.tasks[0]
        assert task.fields["running"] == "running: Check 0, Check 1, Check 2 +2 more"
        assert task.description == "smoke test staging"
        progress.on_event(CheckFinished(passing_run().results[0].with_changes(check_id="c1"),
                                        1, 5))
        assert task.fields["running"] == "running: Check 0, Check 2, Check 3 +1 more"
        assert task.completed == 1
