"""The Markdown report: the document a person used to write by hand after a smoke test
(header, summary table, issues, the flaky and slow passes, details per category, what did not
run)."""

from __future__ import annotations

import re

from checks.redact import Redactor
from checks.report._redact import redact_run
from checks.report._summary import (Tally, category_state, failed_attempts, grouped, issues,
                                    remark, remarked, remarks_text, verdict_detail,
                                    verdict_line)
from checks.report._text import (as_utc, format_duration, format_measurements, one_line,
                                 show_controls)
from checks.results import CheckResult, RunResult, Status, Verdict

__all__ = ["render_markdown"]

MARKS = {Status.PASS: "✅", Status.FAIL: "❌", Status.ERROR: "⛔", Status.WARN: "⚠️",
         Status.SKIP: "⏭️", Status.FLAKY: "🔁", Status.SLOW: "🐢"}
LABELS = {Status.PASS: "passed", Status.FAIL: "failed", Status.ERROR: "could not run",
          Status.WARN: "warning", Status.SKIP: "skipped", Status.FLAKY: "flaky",
          Status.SLOW: "slow"}
VERDICT_MARKS = {Verdict.PASSED: "✅", Verdict.FAILED: "❌", Verdict.CANCELLED: "🛑"}
PASSED_DETAIL_LINES = 40  # of a passing check's evidence; a problem's is shown whole

# What would turn a target's text into emphasis, a link, HTML, an entity or a table column.
# An underscore inside a word, or `<` not opening a tag, is left alone: the raw report stays
# readable (`api_keys.key_hash`, `latency < 100`).
_MARKDOWN_SPECIAL = re.compile(
    r"[\\`*\[\]|~]|(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])|<(?=[A-Za-z/!?])|&(?=#?\w+;)")


def _inline(text: str) -> str:
    """User text on one line, shown literally wherever it lands (a table cell included)."""
    return _MARKDOWN_SPECIAL.sub(lambda m: "\\" + m.group(0), one_line(text))


def _code(text: str) -> str:
    """An inline code span that holds any text, backticks included."""
    text = one_line(text)
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _fenced(text: str) -> list[str]:
    """A fenced block longer than any backtick run inside, so details cannot close it early."""
    body = show_controls(text).rstrip()
    longest = max((len(run) for run in re.findall(r"`{3,}", body)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *body.split("\n"), fence]


def _category_cell(results: list[CheckResult]) -> str:
    state = category_state(results)
    if state in (Status.WARN, Status.FLAKY, Status.SLOW):
        return f"{MARKS[state]} PASS ({remarks_text(Tally.of(results))})"
    return {Status.FAIL: "❌ FAIL", Status.SKIP: "⏭️ SKIPPED"}.get(state, "✅ PASS")


def _counts_cells(tally: Tally) -> str:
    return f"{tally.total} | {tally.passed} | {tally.failed} | {tally.skipped}"


def _header(run: RunResult) -> list[str]:
    started = as_utc(run.started_at).strftime("%Y-%m-%d %H:%M:%S UTC")
    lines = [f"# Smoke test: {_inline(run.environment)}", "",
             f"- **Date**: {started}",
             f"- **Environment**: {_inline(run.environment)}",
             f"- **Version**: {_version(run)}"]
    if run.trigger:
        lines.append(f"- **Trigger**: {_inline(run.trigger)}")
    lines += [f"- **Duration**: {format_duration(run.duration_s)}",
              f"- **Status**: {VERDICT_MARKS[run.verdict]} {run.verdict.value.upper()}: "
              f"{verdict_detail(run)}", ""]
    return lines


def _version(run: RunResult) -> str:
    if not run.version:
        return "unknown"
    if run.version_from:  # not the trigger's word: the target's own, as a check read it
        return f"{_inline(run.version)} (read by {_code(run.version_from)})"
    return _inline(run.version)


def _summary(run: RunResult) -> list[str]:
    lines = ["## Summary", "",
             "| Category | Checks | Passed | Failed | Skipped | Status |",
             "|----------|-------:|-------:|-------:|--------:|--------|"]
    for category, results in grouped(run):
        lines.append(f"| {_inline(category)} | {_counts_cells(Tally.of(results))} "
                     f"| {_category_cell(results)} |")
    total = list(run.results)
    status = "🛑 CANCELLED" if run.verdict is Verdict.CANCELLED else _category_cell(total)
    lines += [f"| **TOTAL** | {_counts_cells(Tally.of(total))} | {status} |", "",
              f"**Overall result**: {VERDICT_MARKS[run.verdict]} **{_inline(verdict_line(run))}**",
              ""]
    return lines


def _title(result: CheckResult) -> str:
    return f"{MARKS[result.status]} {_inline(result.name)} ({_code(result.check_id)})"


def _issues(run: RunResult) -> list[str]:
    lines = ["## Issues found", ""]
    found = issues(run)
    if not found:
        skipped = any(r.status is Status.SKIP for r in run.results)
        lines += ["None: all checks that ran passed." if skipped else "None: all checks passed.",
                  ""]
        return lines
    for number, result in enumerate(found, 1):
        lines += [f"### {number}. {_title(result)}", "",
                  f"- **Status**: {LABELS[result.status]}",
                  f"- **Severity**: {result.severity.value}",
                  f"- **Result**: {_inline(result.summary)}"]
        if result.attempts > 1:
            lines.append(f"- **Attempts**: {result.attempts}")
        lines.append("")
        if result.details.strip():
            lines += [*_fenced(result.details), ""]
    return lines


def _remarked(run: RunResult) -> list[str]:
    """The passes worth a look: why each is flaky (what its failed attempts said) or slow."""
    found = remarked(run)
    if not found:
        return []
    lines = ["## Flaky and slow checks", "",
             "These passed, so the run did not fail for them, but they deserve a look.", ""]
    for number, result in enumerate(found, 1):
        lines += [f"### {number}. {_title(result)}", "",
                  f"- **Status**: {LABELS[result.status]}: {_inline(remark(result))}",
                  f"- **Severity**: {result.severity.value}",
                  f"- **Result**: {_inline(result.summary)}"]
        attempts = failed_attempts(result)
        if attempts:
            lines.append("- **Failed attempts**:")
            lines += [f"  {n}. {_inline(text)}" for n, text in enumerate(attempts, 1)]
        lines.append("")
    return lines


def _check_entry(result: CheckResult, descriptions: dict[str, str]) -> list[str]:
    took = "" if result.status is Status.SKIP else f" ({format_duration(result.duration_s)})"
    lines = [f"- {MARKS[result.status]} **{_inline(result.name)}** ({_code(result.check_id)}): "
             f"{_inline(result.summary)}{took}"]
    description = descriptions.get(result.check_id)
    if description:
        lines.append(f"  - What it checks: {_inline(description)}")
    if result.measurements:
        shown = ", ".join(_code(m) for m in format_measurements(result.measurements))
        lines.append(f"  - Measurements: {shown}")
    if result.status.passed and result.details.strip():
        # What a passing check saw (the rows read back, the response): the evidence the
        # hand-written report quoted. A problem's details are under "Issues found" already.
        lines += [f"  {line}".rstrip() for line in _fenced(_clipped(result.details))]
    return lines


def _clipped(text: str) -> str:
    lines = text.rstrip().split("\n")
    if len(lines) <= PASSED_DETAIL_LINES:
        return text
    more = len(lines) - PASSED_DETAIL_LINES
    return "\n".join([*lines[:PASSED_DETAIL_LINES],
                      f"… {more} more line{'s' if more != 1 else ''}"])


def _details(run: RunResult, descriptions: dict[str, str]) -> list[str]:
    lines = ["## Details", ""]
    for number, (category, results) in enumerate(grouped(run), 1):
        state = category_state(results)
        lines += [f"### {number}. {_inline(category)} {MARKS[state]}", ""]
        for result in results:
            lines += _check_entry(result, descriptions)
        tally = Tally.of(results)
        among = remarks_text(tally, warnings=False)
        lines += ["", f"**{_inline(category)}**: {tally.passed}/{tally.total} passed"
                      + (f" ({among})" if among else ""), ""]
    return lines


def _not_run(run: RunResult) -> list[str]:
    skipped = [r for r in run.results if r.status is Status.SKIP]
    if not skipped:
        return []
    return ["## Not run", "",
            *(f"- {_title(r)}: {_inline(r.summary)}" for r in skipped), ""]


def render_markdown(run: RunResult, redactor: Redactor, *,
                    descriptions: dict[str, str] | None = None) -> str:
    """The whole report. Every field is redacted before it is formatted (so a redaction
    marker is escaped like any text), and the finished document once more."""
    safe = redact_run(run, redactor)
    safe_descriptions = {k: redactor.redact(v) for k, v in (descriptions or {}).items()}
    lines = [*_header(safe), *_summary(safe), *_issues(safe), *_remarked(safe),
             *_details(safe, safe_descriptions), *_not_run(safe),
             "---", "", f"_Generated by smokebot from suite {_code(safe.suite)}._", ""]
    return redactor.redact("\n".join(lines))

