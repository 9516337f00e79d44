"""A long check's progress in the terminal: next to its name in the live bar, and, off a
terminal (CI), one line at most every few seconds per check so that a log stays short."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from checks.config import CheckSpec
from checks.kinds.base import CheckKind, KindParams
from checks.plan import PlannedCheck
from checks.redact import Redactor
from checks.report import TerminalProgress, terminal
from checks.runner import CheckFinished, CheckProgress, CheckStarted
from checks.secrets import Secret
from tests.checks.report.consoles import recording_console
from tests.checks.report.runs import passing_run

LOAD = PlannedCheck(spec=CheckSpec(id="api-load", name="API load", type="load"),
                    category="API", kind=CheckKind(), params=KindParams(), timeout=60.0,
                    retries=0, retry_backoff=0.5)
OTHER = PlannedCheck(spec=CheckSpec(id="limits", name="Rate limits", type="ratelimit"),
                     category="API", kind=CheckKind(), params=KindParams(), timeout=60.0,
                     retries=0, retry_backoff=0.5)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The terminal's clock, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr(terminal, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


def test_the_live_bar_shows_a_running_probes_latest_progress_next_to_its_name() -> None:
    console = recording_console(terminal=True, width=160)
    with TerminalProgress(console, 2, "staging") as progress:
        progress.on_event(CheckStarted(LOAD))
        progress.on_event(CheckStarted(OTHER))
        progress.on_event(CheckProgress(LOAD, "100/3000 requests", 0.03))
        progress.on_event(CheckProgress(LOAD, "812/3000 requests · 98 rps", 0.27))
        assert progress._progress is not None
        running = progress._progress.tasks[0].fields["running"]
        assert running == "running: API load (812/3000 requests · 98 rps), Rate limits"
        [result, _] = passing_run().results
        progress.on_event(CheckFinished(result.with_changes(check_id="api-load"), 1, 2))
        assert progress._progress.tasks[0].fields["running"] == "running: Rate limits"
    assert "812/3000 requests · 98 rps" in console.file.getvalue()  # type: ignore[attr-defined]


def test_off_a_terminal_progress_is_printed_at_most_every_five_seconds_per_check(
        clock: list[float]) -> None:
    console = recording_console(width=160)
    with TerminalProgress(console, 2, "staging") as progress:
        progress.on_event(CheckStarted(LOAD))
        progress.on_event(CheckStarted(OTHER))
        for second in range(12):  # two events a second for 12 s
            for half in (0.0, 0.5):
                clock[0] = 1000.0 + second + half
                progress.on_event(CheckProgress(LOAD, f"{second * 100 + int(half * 100)}/1200"))
        progress.on_event(CheckProgress(OTHER, "burst 1/3"))
    assert console.export_text().splitlines() == [
        "Running 2 checks against staging",
        "  … API load: 0/1200",
        "  … API load: 500/1200",
        "  … API load: 1000/1200",
        "  … Rate limits: burst 1/3",
    ]


def test_progress_text_is_redacted_and_shown_literally(clock: list[float]) -> None:
    console = recording_console(width=160)
    redactor = Redactor([Secret("hunter2-token-value")])
    with TerminalProgress(console, 1, "staging", redactor=redactor) as progress:
        progress.on_event(CheckStarted(LOAD))
        progress.on_event(CheckProgress(LOAD, "[bold]sent[/] hunter2-token-value\x1b[2J"))
    text = console.export_text()
    assert "hunter2-token-value" not in text and "\x1b[2J" not in text
    assert "  … API load: [bold]sent[/] " in text
