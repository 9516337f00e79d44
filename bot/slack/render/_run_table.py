"""What a finished run's summary says about its checks: the per-category table (Checks,
Passed, Failed, Skipped, Status), the failed checks with the acknowledged ones marked, the
flaky and slow passes (with how often each flaky one was flaky lately), and the skipped checks
grouped by why they did not run. Pure text for summary.py's sections.

Passed counts every check that passed, flaky and slow ones included: they do not fail the run.
A category whose passes include a flaky (or slow) check reads FLAKY (SLOW) in the table."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from bot.slack.render._blocks import SECTION_TEXT_MAX, clip, code, code_body, inline, plural
from bot.slack.render._flakiness import FlakyHistoryRecord, flaky_history_words, history_of
from bot.slack.render._states import CHECK_EMOJI, STOPPED_TABLE_STATES, TABLE_STATES
from checks.report._summary import REMARKED, Tally, category_state, failed_attempts, remark
from checks.report._text import one_line
from checks.results import CheckResult, Status

__all__ = ["RunFacts", "acknowledged_note", "failure_lines", "remarked_lines", "skipped_lines",
           "summary_table"]

_TABLE_NAME_WIDTH = 28
_SKIP_REASON_IDS_MAX = 300  # characters of check ids listed for one skip reason


class RunFacts(Protocol):
    """What of a run the table and the lists read (summary.py's `RunView` has it)."""

    @property
    def status(self) -> str: ...
    @property
    def total(self) -> int: ...
    @property
    def results(self) -> Sequence[CheckResult]: ...
    @property
    def categories(self) -> Sequence[str]: ...
    @property
    def acknowledged(self) -> Sequence[str]: ...
    @property
    def flaky_history(self) -> Sequence[FlakyHistoryRecord]: ...


def acknowledged_note(view: RunFacts) -> str:
    """`, both acknowledged`: failures someone said are known read differently from news."""
    problems = [r for r in view.results if r.status.is_problem]
    known = _known_count(view, problems)
    if not known:
        return ""
    if known < len(problems):
        return f", {known} acknowledged"
    return {1: ", acknowledged", 2: ", both acknowledged"}.get(known,
                                                                 f", all {known} acknowledged")


def _known_count(view: RunFacts, results: list[CheckResult]) -> int:
    acknowledged = set(view.acknowledged)
    return sum(r.status.is_problem and r.check_id in acknowledged for r in results)


def _groups(view: RunFacts) -> list[tuple[str, list[CheckResult]]]:
    """Results by category in suite order; a category only results name comes last, so no
    result is ever left out of the table."""
    names = list(dict.fromkeys(view.categories))
    for result in view.results:
        if result.category not in names:
            names.append(result.category)
    return [(n, [r for r in view.results if r.category == n]) for n in names]


def _table_state(view: RunFacts, results: list[CheckResult], unreported: int = 0) -> str:
    """PASS, FAIL (and how many of its failures are acknowledged), WARN, SKIP; in a run that
    ended early, checks that never ran make it the run's word (CANCELLED, ...); no results at
    all, NOT RUN."""
    tally = Tally.of(results)
    if tally.failed:
        known = _known_count(view, results)
        if not known:
            return "FAIL"
        return "FAIL (acknowledged)" if known == tally.failed else \
            f"FAIL ({known} of {tally.failed} acknowledged)"
    if (tally.skipped or unreported) and view.status in STOPPED_TABLE_STATES:
        return STOPPED_TABLE_STATES[view.status]
    return TABLE_STATES[category_state(results)] if results else "NOT RUN"


def summary_table(view: RunFacts) -> str:
    """A monospace table like the reference report's, collapsed to fit one section: failing
    categories are kept first, the rest become `… and N more categories`."""
    groups = _groups(view)
    if not groups:
        return ""
    width = max(8, min(_TABLE_NAME_WIDTH, max(len(one_line(n)) for n, _ in groups)))

    def row(name: str, checks: Any, passed: Any, failed: Any, skipped: Any, state: str) -> str:
        name = clip(one_line(name), width)
        return (f"{name:<{width}}  {checks:>6}  {passed:>6}  {failed:>6}  {skipped:>7}  "
                f"{state}").rstrip()

    def group_row(name: str, results: list[CheckResult]) -> str:
        tally = Tally.of(results)
        return code_body(row(name, tally.total, tally.passed, tally.failed, tally.skipped,
                             _table_state(view, results)))

    overall = Tally.of(view.results)
    # Planned checks without a result (a run cut short) count in the total, as not run.
    unreported = max(0, view.total - overall.total)
    rule = "-" * (width + 43)
    head = [code_body(row("Category", "Checks", "Passed", "Failed", "Skipped", "Status")), rule]
    tail = [rule, code_body(row("TOTAL", overall.total + unreported, overall.passed,
                                overall.failed, overall.skipped + unreported,
                                _table_state(view, list(view.results), unreported)))]
    rows = [group_row(n, rs) for n, rs in groups]
    fixed = len("```\n\n```") + sum(len(line) + 1 for line in head + tail)
    budget = SECTION_TEXT_MAX - fixed
    if sum(len(r) + 1 for r in rows) <= budget:
        shown = rows
    else:
        budget -= len("… and 9999 more categories (9999 failing)") + 1
        failing = {i for i, (_, rs) in enumerate(groups) if Tally.of(rs).failed}
        order = sorted(range(len(groups)), key=lambda i: (i not in failing, i))
        keep: set[int] = set()
        for i in order:
            if len(rows[i]) + 1 > budget:
                break
            keep.add(i)
            budget -= len(rows[i]) + 1
        hidden = len(groups) - len(keep)
        hidden_failing = len(failing - keep)
        shown = [rows[i] for i in sorted(keep)]
        shown.append(f"… and {hidden} more {'category' if hidden == 1 else 'categories'}"
                     + (f" ({hidden_failing} failing)" if hidden_failing else ""))
    return "```\n" + "\n".join(head + shown + tail) + "\n```"


def failure_lines(view: RunFacts) -> str:
    problems = [r for r in view.results if r.status.is_problem]
    if not problems:
        return ""
    acknowledged = set(view.acknowledged)
    return _listed("*Failed checks* (details in the thread)", [
        _check_line(result, inline(result.summary, 200))
        + (" · _acknowledged_" if result.check_id in acknowledged else "")
        for result in problems])


def remarked_lines(view: RunFacts) -> str:
    """`*Flaky and slow checks* (passed)`, one line each: a flaky check with the attempt it
    passed on, what its first failed attempt said and how often it was flaky lately; a slow
    one with how slow it was."""
    found = [r for r in view.results if r.status in REMARKED]
    if not found:
        return ""
    lines = []
    for result in found:
        parts = [inline(remark(result), 200)]
        attempts = failed_attempts(result)
        if attempts:
            parts.append(f"first failed: {inline(attempts[0], 200)}")
        history = history_of(view.flaky_history, result.check_id)
        if history is not None and result.status is Status.FLAKY:
            parts.append(flaky_history_words(history))
        lines.append(_check_line(result, " · ".join(parts)))
    return _listed("*Flaky and slow checks* (passed)", lines)


def skipped_lines(view: RunFacts) -> str:
    """`*Skipped checks* (not run)`, one line per reason: `• `a`, `b`: depends on 'db', which
    failed`; planned checks that never reported (a run cut short) get a line of their own."""
    reasons: dict[str, list[str]] = {}
    for result in view.results:
        if result.status is Status.SKIP:
            reason = one_line(result.summary).removeprefix("skipped: ") or "no reason given"
            reasons.setdefault(reason, []).append(result.check_id)
    unreported = max(0, view.total - len(view.results))
    entries = [f"• {_id_list(ids)}: {inline(reason, 200)}" for reason, ids in reasons.items()]
    if unreported:
        count = f"{unreported} more" if reasons else plural(unreported, "check")
        entries.append(f"• {count}: no result before the run ended")
    if not entries:
        return ""
    return _listed("*Skipped checks* (not run)", entries, more="more reasons")


def _check_line(result: CheckResult, words: str) -> str:
    return (f"• {CHECK_EMOJI[result.status]} *{inline(result.name, 150)}* "
            f"{code(result.check_id, 90)}: {words}")


def _listed(title: str, lines: Sequence[str], *, more: str = "more") -> str:
    """`title` and as many of `lines` as fit one section, then `… and N more`."""
    shown = [title]
    size = len(title)
    for index, line in enumerate(lines):
        if size + 1 + len(line) > SECTION_TEXT_MAX - 40:
            shown.append(f"… and {len(lines) - index} {more}")
            break
        shown.append(line)
        size += 1 + len(line)
    return "\n".join(shown)


def _id_list(ids: list[str]) -> str:
    shown: list[str] = []
    size = 0
    for index, check_id in enumerate(ids):
        item = code(check_id, 90)
        if shown and size + len(item) + 2 > _SKIP_REASON_IDS_MAX:
            return ", ".join(shown) + f" and {len(ids) - index} more"
        shown.append(item)
        size += len(item) + 2
    return ", ".join(shown)

