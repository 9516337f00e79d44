"""What the run pages show, as plain frozen data built from the store's records: pure
functions, no I/O, no HTML (the templates draw it, escaping every value).

Every text that came from a target or a person is passed through the redactor here, once, as
the last line of defence: the store holds what the runner already redacted, and a secret that
slipped through anyway (or one the web process knows, such as its own tokens) is still never
shown. Long evidence is clipped, so one check's megabyte of body cannot make the page huge.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlsplit

from bot.records import PastResult, Run, RunStatus
from checks.redact import Redactor
from checks.report._summary import (
    Tally,
    category_state,
    failed_attempts,
    grouped,
    remark,
    verdict_detail,
)
from checks.report._text import format_duration, format_value, one_line, show_controls
from checks.results import CheckResult, RunResult, Status

__all__ = ["STATUS_LABELS", "CategoryRow", "CheckView", "Comparison", "HistoryRow",
           "HistoryView", "Links", "RunListRow", "RunListView", "RunPageView", "SuiteFacts",
           "build_history", "build_run_list", "build_run_page", "run_class", "safe_href",
           "status_class"]

DETAILS_MAX = 20_000  # characters of a check's details (or evidence) shown on the page
SUMMARY_MAX = 2_000
# "…: expected status 200, got 503": the convention every kind's failures follow.
_EXPECTED_GOT = re.compile(r"^(?P<what>.*?)\bexpected (?P<expected>.+?), got (?P<actual>.+)$",
                           re.DOTALL)

STATUS_LABELS = {Status.PASS: "pass", Status.FAIL: "fail", Status.ERROR: "error",
                 Status.WARN: "warn", Status.SKIP: "skip", Status.FLAKY: "flaky",
                 Status.SLOW: "slow"}
_RUN_LABELS = {RunStatus.ERROR: "could not run"}


def status_class(status: Status) -> str:
    """The CSS class (and chart colour) of a check status: `s-fail`."""
    return f"s-{Status(status).value}"


def run_class(status: RunStatus) -> str:
    """The CSS class of a run state: `r-running`."""
    return f"r-{RunStatus(status).value}"


def safe_href(url: str | None) -> str | None:
    """`url` if it is an absolute http(s) URL (a deploy's page, a Slack permalink): a
    `javascript:` or `data:` URL from a webhook is never made a link."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return url if parts.scheme in ("http", "https") and parts.netloc else None


@dataclass(frozen=True)
class SuiteFacts:
    """What the suite in use says about an environment; empty when it could not be loaded."""

    categories: tuple[str, ...] = ()  # in suite order
    check_order: tuple[str, ...] = ()  # check ids in suite order
    planned: int | None = None  # checks a run of the environment executes (with its filters)


@dataclass(frozen=True)
class Links:
    """Signed, ready-to-use links of a page: `check(check_id)` to a check's history (None
    for an id that cannot stand in a path), `run(run_id)` to another run's page."""

    runs: str | None
    check: Callable[[str], str | None]
    run: Callable[[str], str]


@dataclass(frozen=True)
class Comparison:
    """One failure, as what was expected against what was seen."""

    what: str
    expected: str
    actual: str


@dataclass(frozen=True)
class CheckView:
    check_id: str
    anchor: str  # the element id of its entry: `check-<id>`
    name: str
    kind: str
    severity: str
    status: str
    status_class: str
    summary: str
    remark: str  # why a pass is flaky or slow
    comparisons: tuple[Comparison, ...]  # expected/actual, one per failure
    details: str
    evidence: str  # pretty JSON
    measurements: tuple[tuple[str, str], ...]
    attempts: int
    failed_attempts: tuple[str, ...]
    duration: str
    history_href: str | None
    is_problem: bool


@dataclass(frozen=True)
class CategoryRow:
    name: str
    state: str
    state_class: str
    passed: int
    failed: int
    warned: int
    skipped: int
    flaky: int
    slow: int
    total: int
    duration: str


@dataclass(frozen=True)
class RunPageView:
    run_id: str
    environment: str
    status: str
    status_label: str
    status_class: str
    active: bool
    headline: str
    verdict: str
    reason: str
    trigger: str
    requested_by: str
    deploy: tuple[tuple[str, str], ...]  # (label, value) of the deploy's facts
    deploy_href: str | None
    created: str
    started: str
    finished: str
    duration: str
    done: int
    planned: int | None
    percent: int
    rows: tuple[CategoryRow, ...]
    total_row: CategoryRow | None
    groups: tuple[tuple[str, tuple[CheckView, ...]], ...]
    problems: tuple[CheckView, ...]
    slack_href: str | None
    runs_href: str | None
    superseded_by_href: str | None
    rerun_of_href: str | None


def _utc(moment: datetime | None) -> str:
    if moment is None:
        return ""
    at = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return at.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit:,} more characters not shown)"


class _Text:
    """Redacts, makes control characters visible and clips: every value a page shows."""

    def __init__(self, redactors: Sequence[Redactor]) -> None:
        self._redactors = redactors

    def __call__(self, text: object, limit: int = SUMMARY_MAX, *, lines: bool = False) -> str:
        value = str(text if text is not None else "")
        for redactor in self._redactors:
            value = redactor.redact(value)
        value = show_controls(value) if lines else one_line(value)
        return _clip(value, limit)

    def json(self, data: Mapping[str, Any]) -> str:
        if not data:
            return ""
        for redactor in self._redactors:  # before JSON escapes a quote inside a secret
            data = redactor.redact_obj(dict(data))
        try:
            text = json.dumps(data, indent=2, ensure_ascii=False, default=str, sort_keys=True)
        except (TypeError, ValueError):
            text = str(data)
        return self(text, DETAILS_MAX, lines=True)


def _comparisons(result: CheckResult, text: _Text) -> tuple[Comparison, ...]:
    if not result.status.is_problem and result.status is not Status.WARN:
        return ()
    failures = result.evidence.get("failures")
    lines = ([str(f) for f in failures] if isinstance(failures, list) and failures
             else result.summary.split("; "))
    found = []
    for line in lines:
        match = _EXPECTED_GOT.match(one_line(line))
        if match:
            found.append(Comparison(text(match["what"].rstrip(" :,")), text(match["expected"]),
                                    text(match["actual"])))
    if not found and ("expected" in result.evidence or "actual" in result.evidence):
        found.append(Comparison("", text(format_value(result.evidence.get("expected", ""))),
                                text(format_value(result.evidence.get("actual", "")))))
    return tuple(found)


def _check_view(result: CheckResult, text: _Text, links: Links) -> CheckView:
    evidence = {k: v for k, v in result.evidence.items() if k != "failed_attempts"}
    return CheckView(
        check_id=text(result.check_id, 100), anchor=f"check-{text(result.check_id, 100)}",
        name=text(result.name or result.check_id, 300), kind=text(result.kind, 100),
        severity=text(result.severity.value), status=STATUS_LABELS[result.status],
        status_class=status_class(result.status), summary=text(result.summary),
        remark="" if remark(result) in result.summary else text(remark(result)),
        comparisons=_comparisons(result, text),
        details=text(result.details, DETAILS_MAX, lines=True), evidence=text.json(evidence),
        measurements=tuple((text(k, 100), text(format_value(v), 500))
                           for k, v in sorted(result.measurements.items())),
        attempts=result.attempts,
        failed_attempts=tuple(text(a, 1_000) for a in failed_attempts(result)),
        duration=format_duration(result.duration_s), history_href=links.check(result.check_id),
        is_problem=result.status.is_problem)


def _row(name: str, results: list[CheckResult], text: _Text, *, state: str | None = None,
         state_css: str | None = None) -> CategoryRow:
    tally = Tally.of(results)
    status = category_state(results)
    return CategoryRow(
        name=text(name, 200), state=state or STATUS_LABELS[status].upper(),
        state_class=state_css or status_class(status), passed=tally.passed,
        failed=tally.failed, warned=tally.warned, skipped=tally.skipped, flaky=tally.flaky,
        slow=tally.slow, total=tally.total,
        duration=format_duration(sum(r.duration_s for r in results)))


def _as_run_result(run: Run, results: Sequence[CheckResult],
                   categories: tuple[str, ...]) -> RunResult:
    start = run.started_at or run.created_at
    return RunResult(suite=run.suite or "", environment=run.environment, started_at=start,
                     finished_at=run.finished_at or start, results=tuple(results),
                     categories=categories, cancelled=run.status is RunStatus.CANCELLED)


def _verdict(run: Run, result: RunResult, planned: int | None) -> str:
    done = len(result.results)
    if run.status is RunStatus.QUEUED:
        return "waiting for a worker"
    if run.status is RunStatus.RUNNING:
        of = f" of {planned}" if planned else ""
        failed = Tally.of(result.results).failed
        return f"{done}{of} checks done" + (f", {failed} failed" if failed else "")
    if run.status in (RunStatus.PASSED, RunStatus.FAILED, RunStatus.CANCELLED):
        return verdict_detail(result)
    if run.status is RunStatus.SUPERSEDED:
        return "a newer deploy of the environment replaced this run"
    if run.status is RunStatus.INTERRUPTED:
        return f"stopped after {done} checks: its worker stopped"
    return "the run could not be carried out"


def build_run_page(run: Run, results: Sequence[CheckResult], *, suite: SuiteFacts,
                   links: Links, redactors: Sequence[Redactor],
                   slack_href: str | None = None) -> RunPageView:
    text = _Text(redactors)
    order = {check_id: i for i, check_id in enumerate(suite.check_order)}
    results = sorted(results, key=lambda r: order.get(r.check_id, len(order)))  # stable
    known = set(suite.categories)
    categories = (*suite.categories,
                  *dict.fromkeys(r.category for r in results if r.category not in known))
    result = _as_run_result(run, results, categories)
    groups = [(name, found) for name, found in grouped(result) if found]
    stopped = {RunStatus.INTERRUPTED: "INTERRUPTED", RunStatus.SUPERSEDED: "SUPERSEDED",
               RunStatus.ERROR: "NOT RUN"}.get(run.status)
    rows = tuple(_row(name, found, text) for name, found in groups)
    total = _row("Total", list(results), text, state=stopped,
                 state_css=run_class(run.status) if stopped else None) \
        if results else None
    deploy = run.deploy
    facts = [] if deploy is None else [
        (label, text(value, 300)) for label, value in (
            ("Version", deploy.version), ("Commit", deploy.commit), ("Ref", deploy.ref),
            ("Deployer", deploy.deployer), ("Source", deploy.source)) if value]
    planned = max(suite.planned, len(results)) if suite.planned else None
    done = len(results)
    word = _RUN_LABELS.get(run.status, run.status.value)
    env = text(run.environment, 100)
    headline = (f"Deploy of {facts[0][1]} to {env}" if facts else f"Smoke test of {env}")
    views = {r.check_id: _check_view(r, text, links) for r in results}
    return RunPageView(
        run_id=str(run.id), environment=env, status=run.status.value, status_label=word,
        status_class=run_class(run.status), active=run.is_active,
        headline=headline, verdict=text(_verdict(run, result, planned)),
        reason=text(run.status_reason or "", 1_000),
        trigger=text(run.trigger_detail or run.trigger_kind.value, 500),
        requested_by=text(run.requested_by or "", 100), deploy=tuple(facts),
        deploy_href=safe_href(deploy.link or deploy.url) if deploy else None,
        created=_utc(run.created_at), started=_utc(run.started_at),
        finished=_utc(run.finished_at),
        duration=format_duration(run.duration_s) if run.duration_s is not None else "",
        done=done, planned=planned,
        percent=min(100, round(100 * done / planned)) if planned else (100 if done else 0),
        rows=rows, total_row=total,
        groups=tuple((text(name, 200), tuple(views[r.check_id] for r in found))
                     for name, found in groups),
        problems=tuple(views[r.check_id] for r in results if r.status.is_problem),
        slack_href=safe_href(slack_href), runs_href=links.runs,
        superseded_by_href=links.run(str(run.superseded_by)) if run.superseded_by else None,
        rerun_of_href=links.run(str(run.rerun_of)) if run.rerun_of else None)


# --- the environment's runs ---------------------------------------------------------------------

@dataclass(frozen=True)
class RunListRow:
    run_id: str
    short_id: str
    href: str
    environment: str
    status: str
    status_label: str
    status_class: str
    trigger: str
    created: str
    duration: str
    counts: str


@dataclass(frozen=True)
class RunListView:
    environment: str | None
    rows: tuple[RunListRow, ...]
    limit: int


def _counts_text(run: Run) -> str:
    c = run.counts
    parts = [f"{c.passed} passed"] if c.passed else []
    parts += [f"{c.failed} failed"] if c.failed else []
    parts += [f"{c.errors} errors"] if c.errors else []
    parts += [f"{c.warnings} warnings"] if c.warnings else []
    parts += [f"{c.skipped} skipped"] if c.skipped else []
    parts += [f"{c.flaky} flaky"] if c.flaky else []
    parts += [f"{c.slow} slow"] if c.slow else []
    return ", ".join(parts)


def build_run_list(environment: str | None, runs: Sequence[Run], *, links: Links,
                   redactors: Sequence[Redactor], limit: int) -> RunListView:
    text = _Text(redactors)
    return RunListView(
        environment=text(environment, 100) if environment else None, limit=limit,
        rows=tuple(RunListRow(
            run_id=str(run.id), short_id=str(run.id)[:8], href=links.run(str(run.id)),
            environment=text(run.environment, 100), status=run.status.value,
            status_label=_RUN_LABELS.get(run.status, run.status.value),
            status_class=run_class(run.status),
            trigger=text(run.trigger_detail or run.trigger_kind.value, 200),
            created=_utc(run.created_at),
            duration=format_duration(run.duration_s) if run.duration_s is not None else "",
            counts=_counts_text(run)) for run in runs))


# --- a check's history ------------------------------------------------------------------------

@dataclass(frozen=True)
class HistoryRow:
    run_id: str
    short_id: str
    href: str
    at: datetime
    created: str
    status: str
    status_class: str
    duration_s: float
    duration: str
    attempts: int
    summary: str


@dataclass(frozen=True)
class HistoryView:
    environment: str
    check_id: str
    name: str
    rows: tuple[HistoryRow, ...]  # newest first
    counts: tuple[tuple[str, int, str], ...]  # (status, how many, css class), most first
    median: str
    slowest: str
    runs_href: str | None
    limit: int


def build_history(environment: str, check_id: str, past: Sequence[PastResult], *,
                  links: Links, redactors: Sequence[Redactor], limit: int,
                  name: str | None = None) -> HistoryView:
    text = _Text(redactors)
    rows = tuple(HistoryRow(
        run_id=str(p.run_id), short_id=str(p.run_id)[:8], href=links.run(str(p.run_id)),
        at=p.run_created_at, created=_utc(p.run_created_at),
        status=STATUS_LABELS[p.result.status], status_class=status_class(p.result.status),
        duration_s=p.result.duration_s, duration=format_duration(p.result.duration_s),
        attempts=p.result.attempts, summary=text(p.result.summary, 300)) for p in past)
    tally: dict[Status, int] = {}
    for p in past:
        tally[p.result.status] = tally.get(p.result.status, 0) + 1
    durations = sorted(p.result.duration_s for p in past)
    latest_name = past[0].result.name if past else name
    return HistoryView(
        environment=text(environment, 100), check_id=text(check_id, 100),
        name=text(latest_name or check_id, 300), rows=rows,
        counts=tuple((STATUS_LABELS[s], n, status_class(s))
                     for s, n in sorted(tally.items(), key=lambda item: -item[1])),
        median=format_duration(durations[len(durations) // 2]) if durations else "",
        slowest=format_duration(durations[-1]) if durations else "",
        runs_href=links.runs, limit=limit)
