"""The terminal: a live progress display while checks run, and the summary after the run.

User text (names, summaries, details) is never parsed as rich markup: it goes into `Text`
objects, which show brackets literally, after redaction and with control characters made
visible, so a target's response cannot restyle or drive the terminal."""

from __future__ import annotations

import time
from types import TracebackType

from rich import box
from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TaskID,
                           TextColumn, TimeElapsedColumn)
from rich.table import Table
from rich.text import Text

from checks.redact import Redactor
from checks.report._redact import redact_run
from checks.report._summary import (Tally, category_state, failed_attempts, grouped, issues,
                                    remark, remarked, remarks_text, verdict_line)
from checks.report._text import format_duration, one_line, show_controls
from checks.results import CheckResult, RunResult, Status, Verdict
from checks.runner import CheckFinished, CheckProgress, CheckStarted, RunEvent

__all__ = ["TerminalProgress", "render_summary"]

# Mark, word, style: the word is there for logs and for readers who do not see colour.
_STATUS = {
    Status.PASS: ("✓", "PASS", "green"),
    Status.FAIL: ("✗", "FAIL", "bold red"),
    Status.ERROR: ("!", "ERROR", "bold red"),
    Status.WARN: ("⚠", "WARN", "yellow"),
    Status.SKIP: ("-", "SKIP", "dim"),
    # Passed, but worth a look: yellow like a warning, each with its own mark and word.
    Status.FLAKY: ("~", "FLAKY", "yellow"),
    Status.SLOW: ("◷", "SLOW", "yellow"),
}
_VERDICT_STYLE = {Verdict.PASSED: "bold green", Verdict.FAILED: "bold red",
                  Verdict.CANCELLED: "bold yellow"}
EXCERPT_LINES = 6
EXCERPT_WIDTH = 160
RUNNING_SHOWN = 3
PROGRESS_EVERY_S = 5.0  # off a terminal, a long check's progress is printed at most this often


def _status_text(status: Status) -> Text:
    mark, word, style = _STATUS[status]
    return Text(f"{mark} {word:<5}", style=style)


def _check_line(result: CheckResult) -> Text:
    line = Text.assemble(_status_text(result.status), " ", one_line(result.name),
                         (f" [{one_line(result.check_id)}]", "dim"))
    if result.summary:
        line.append(f": {one_line(result.summary)}")
    if result.status is not Status.SKIP:
        line.append(f" ({format_duration(result.duration_s)})", style="dim")
    return line


class TerminalProgress:
    """Shows a run as it happens. On a terminal: a live bar (done/total, elapsed, the checks
    running now) with one line printed above it per finished check. Elsewhere (CI, a pipe):
    those lines only, since a live display would fill a log with redraws."""

    def __init__(self, console: Console, total: int, environment: str, *,
                 redactor: Redactor | None = None) -> None:
        self.console = console
        self.total = total
        self.environment = environment
        self.redactor = Redactor() if redactor is None else redactor
        self.running: dict[str, str] = {}  # check id -> name, in start order
        self.progress: dict[str, str] = {}  # check id -> its latest progress text
        self._progress_printed: dict[str, float] = {}  # check id -> when, off a terminal
        self.live = console.is_interactive
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> TerminalProgress:
        environment = one_line(self.redactor.redact(self.environment))
        checks = "check" if self.total == 1 else "checks"
        if not self.live:
            self.console.print(Text(f"Running {self.total} {checks} against {environment}"),
                               soft_wrap=True)
            return self
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[running]}", markup=False, style="dim"),
            console=self.console, transient=True, refresh_per_second=4)
        self._task = self._progress.add_task(f"smoke test {environment}", total=self.total,
                                             running="")
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, CheckStarted):
            self.running[event.check.id] = one_line(self.redactor.redact(event.check.spec.title))
            self._refresh()
        elif isinstance(event, CheckProgress):
            text = one_line(self.redactor.redact(event.text))
            self.progress[event.check.id] = text
            if self.live:
                self._refresh(draw=True)  # a probe says so a few times a second at most
            else:
                self._print_progress(event.check.id, text)
        elif isinstance(event, CheckFinished):
            self.running.pop(event.result.check_id, None)
            self.progress.pop(event.result.check_id, None)
            self._refresh(done=event.done)
            self._print_finished(event)

    def _print_progress(self, check_id: str, text: str) -> None:
        """A CI log gets a long check's progress now and then, not at every step."""
        now = time.monotonic()
        last = self._progress_printed.get(check_id)
        if last is not None and now - last < PROGRESS_EVERY_S:
            return
        self._progress_printed[check_id] = now
        name = self.running.get(check_id) or one_line(self.redactor.redact(check_id))
        self.console.print(Text.assemble(("  … ", "dim"), name, ": ", text), soft_wrap=True)

    def _print_finished(self, event: CheckFinished) -> None:
        safe = event.result.with_changes(
            name=self.redactor.redact(event.result.name),
            check_id=self.redactor.redact(event.result.check_id),
            summary=self.redactor.redact(event.result.summary))
        width = len(str(event.total))
        line = Text.assemble((f"[{event.done:>{width}}/{event.total}] ", "dim"),
                             _check_line(safe))
        # Printed through the progress's console, so the line lands above the live bar.
        self.console.print(line, soft_wrap=not self.live)

    def _refresh(self, done: int | None = None, draw: bool = False) -> None:
        """Updates the bar; it is drawn at its own 4 per second unless `draw`: drawing at
        every check's start and end cost ~0.9 ms a check (500 checks: 713 ms of CPU, 258 ms
        without)."""
        if self._progress is None or self._task is None:
            return
        # A long check's progress next to its name: "API load (812/3000 requests · 98 rps)".
        names = [f"{name} ({self.progress[check_id]})" if check_id in self.progress else name
                 for check_id, name in self.running.items()]
        running = f"running: {', '.join(names[:RUNNING_SHOWN])}" if names else ""
        if len(names) > RUNNING_SHOWN:
            running += f" +{len(names) - RUNNING_SHOWN} more"
        self._progress.update(self._task, running=running, refresh=draw,
                              **({"completed": done} if done is not None else {}))


def _category_status(results: list[CheckResult]) -> Text:
    state = category_state(results)
    mark, _, style = _STATUS[state]
    if state in (Status.WARN, Status.FLAKY, Status.SLOW):
        return Text(f"{mark} PASS ({remarks_text(Tally.of(results))})", style=style)
    return Text(f"{mark} {'SKIPPED' if state is Status.SKIP else state.value.upper()}",
                style=style)


def _summary_table(run: RunResult) -> Table:
    tally = Tally.of(run.results)
    total_status = (Text("■ CANCELLED", style="bold yellow") if run.verdict is Verdict.CANCELLED
                    else _category_status(list(run.results)))
    # The TOTAL row is the footer, so the table draws a rule above it.
    table = Table(box=box.SIMPLE, show_edge=False, show_footer=True)
    table.add_column("Category", footer=Text("TOTAL", style="bold"))
    for heading, count in (("Checks", tally.total), ("Passed", tally.passed),
                           ("Failed", tally.failed), ("Skipped", tally.skipped)):
        table.add_column(heading, justify="right", footer=str(count))
    table.add_column("Status", footer=total_status)
    for category, results in grouped(run):
        counts = Tally.of(results)
        table.add_row(Text(one_line(category)), str(counts.total), str(counts.passed),
                      str(counts.failed), str(counts.skipped), _category_status(results))
    return table


def _clipped(line: str) -> str:
    return line if len(line) <= EXCERPT_WIDTH else line[:EXCERPT_WIDTH - 1] + "…"


def _excerpt(details: str) -> Text:
    lines = show_controls(details).strip("\n").split("\n")
    shown = [_clipped(line) for line in lines[:EXCERPT_LINES]]
    if len(lines) > EXCERPT_LINES:
        more = len(lines) - EXCERPT_LINES
        shown.append(f"… {more} more line{'s' if more != 1 else ''} in the full report")
    return Text("\n".join("    " + line for line in shown), style="dim")


def _print_remarked(found: list[CheckResult], console: Console) -> None:
    """The passes worth a look: a flaky check with what its failed attempts said, a slow one
    with how slow it was."""
    if not found:
        return
    console.print()
    console.print(Text("Flaky and slow (passed)", style="bold"))
    for result in found:
        console.print(Text("  ").append_text(_check_line(result)))
        said = one_line(remark(result))
        if said and said not in one_line(result.summary):  # an http summary says it already
            console.print(Text(f"    {said}", style="dim"))
        for number, text in enumerate(failed_attempts(result), 1):
            line = _clipped(one_line(f"attempt {number} failed: {text}"))
            console.print(Text(f"    {line}", style="dim"))


def render_summary(run: RunResult, console: Console, redactor: Redactor) -> None:
    """The table by category, each problem with an excerpt of its details, the flaky and
    slow passes with why, the verdict."""
    safe = redact_run(run, redactor)
    heading = f"Smoke test: {one_line(safe.environment)} (suite {one_line(safe.suite)}"
    heading += f", version {one_line(safe.version)})" if safe.version else ")"
    console.print()
    console.print(Text(heading, style="bold"))
    console.print(_summary_table(safe))
    found = issues(safe)
    if found:
        console.print()
        console.print(Text("Problems", style="bold"))
        for result in found:
            console.print(Text("  ").append_text(_check_line(result)))
            if result.attempts > 1:
                console.print(Text(f"    after {result.attempts} attempts", style="dim"))
            if result.details.strip():
                console.print(_excerpt(result.details))
    passed_with_remarks = remarked(safe)
    _print_remarked(passed_with_remarks, console)
    if found or passed_with_remarks:
        console.print()
    console.print(Text(verdict_line(safe), style=_VERDICT_STYLE[safe.verdict]))
    console.print(Text(f"Duration: {format_duration(safe.duration_s)}"))
