"""The final summary a run's ending writes to the outbox carries what the worker learnt:
which failures are acknowledged, and who cancelled the run (its status reason)."""

from __future__ import annotations

from datetime import datetime, timezone
from uuid import UUID

from bot.records import Run, RunCounts, RunStatus, SlackMessageKind, TriggerKind, Verdict
from bot.slack import render
from bot.slack.outgoing import EndingContext, ending_messages
from checks.results import CheckResult, Severity, Status

RUN_ID = UUID("0192a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b")
T0 = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)


def _run(status: RunStatus, reason: str | None = None) -> Run:
    return Run(id=RUN_ID, environment="staging", status=status, trigger_kind=TriggerKind.SLASH,
               trigger_detail="/smoketest staging", requested_by="U0ALICE01", filters=(),
               channel="C0SMOKE01", deploy=None, suite="unit", created_at=T0, started_at=T0,
               finished_at=T0, heartbeat_at=T0, worker_id="w-1", counts=RunCounts(),
               verdict=Verdict(status.value), status_reason=reason, rerun_of=None,
               superseded_by=None, idempotency_key=None)


def _result(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id=check_id, name=check_id, category="Health", kind="http",
                       severity=Severity.CRITICAL, status=status, summary="expected 200, got 503")


def _context(results: tuple[CheckResult, ...],
             known: dict[str, render.KnownState | None]) -> EndingContext:
    return EndingContext(channel="C0SMOKE01", reply_under=None, total=len(results),
                         categories=("Health",), results=results, known=known, mention=None,
                         report_markdown=None, report_filename="r.md", report_title="r")


def test_the_final_summary_marks_the_failures_someone_acknowledged() -> None:
    results = (_result("health", Status.FAIL), _result("version", Status.FAIL))
    known = {"health": render.KnownState(render.KnownKind.ACKNOWLEDGED, acknowledged_by="U0BOB"),
             "version": render.KnownState.new()}

    summary, *replies = ending_messages(_run(RunStatus.FAILED), _context(results, known))

    assert summary.kind is SlackMessageKind.SUMMARY
    assert summary.payload["text"] == ("Smoke test of staging failed: 2 of 2 checks failed, "
                                       "1 acknowledged")
    assert [r.check_id for r in replies] == ["health", "version"]


def test_the_final_summary_of_a_cancelled_run_says_who_and_offers_reruns() -> None:
    results = (_result("health", Status.PASS),
               _result("version", Status.SKIP).with_changes(summary="cancelled before it "
                                                                    "finished"))
    [summary] = ending_messages(_run(RunStatus.CANCELLED, "cancelled by <@U0BOB0001>"),
                                _context(results, {}))

    assert summary.payload["text"] == ("Smoke test of staging cancelled: stopped after 1 of 2 "
                                       "checks: cancelled by <@U0BOB0001>")
    blocks = summary.payload["blocks"]
    assert isinstance(blocks, list)
    assert blocks[-1] == {"type": "actions", "elements": [
        {"type": "button", "action_id": "rerun_all", "value": str(RUN_ID),
         "text": {"type": "plain_text", "text": "Re-run all", "emoji": True}}]}
