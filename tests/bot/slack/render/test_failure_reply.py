"""A failed check's thread reply (fields, known state, evidence, measurements), the known
state from the store's records, and the notice of an acknowledgement."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from uuid import UUID

from bot.records import Acknowledgement, PreviousFailure
from bot.slack.render import (
    KnownKind,
    KnownState,
    SlackMessage,
    known_state,
    render_acknowledged,
    render_failure_reply,
)
from checks.results import Severity, Status
from tests.bot.slack.render.render_support import (
    FAILING,
    T0,
    all_text,
    assert_valid,
    check,
    mrkdwn,
    section,
)


def test_summary_text_is_escaped_exactly() -> None:
    reply = render_failure_reply(check("x", "C", Status.FAIL, summary="a < b & c > <!here>"),
                                 known=None)
    assert reply.blocks[0] == section(":x: *X* `x` failed\n>a &lt; b &amp; c &gt; &lt;!here&gt;")
    assert reply.text == "X (x) failed: a &lt; b &amp; c &gt; &lt;!here&gt;"



# --- failure replies ---------------------------------------------------------------------------

def test_failure_reply_is_exact_with_fields_known_state_evidence_and_measurements() -> None:
    result = check("tables", "Database Schema", Status.FAIL,
                   summary="expected 4 tables, got 3", name="Billing tables exist",
                   details="missing: subscriptions\nfound: billing_events, credit_transactions",
                   measurements={"rows": 3, "latency_ms": 12.3456}, duration_s=0.25, attempts=2)
    known = KnownState(KnownKind.STILL_FAILING, since_run_id="11112222-aaaa", since=T0,
                       earlier_link="https://slack.com/archives/C0SMOKE01/p1761687000000100")
    message = render_failure_reply(result, known=known)
    assert message == SlackMessage(
        text="Billing tables exist (tables) failed: expected 4 tables, got 3",
        blocks=[
            section(":x: *Billing tables exist* `tables` failed\n>expected 4 tables, got 3"),
            {"type": "section", "fields": [
                mrkdwn("*Category*\nDatabase Schema"), mrkdwn("*Severity*\ncritical"),
                mrkdwn("*Status*\nfailed"), mrkdwn("*Kind*\nhttp")]},
            {"type": "context", "elements": [mrkdwn(
                ":repeat: *Still failing* since run `11112222` "
                "(<!date^1761687000^{date_short}|2025-10-28>), "
                "<https://slack.com/archives/C0SMOKE01/p1761687000000100|earlier thread>")]},
            section("```\nmissing: subscriptions\nfound: billing_events, credit_transactions\n```"),
            {"type": "context", "elements": [
                mrkdwn("took 250ms"), mrkdwn("2 attempts"), mrkdwn("`rows=3`"),
                mrkdwn("`latency_ms=12.346`")]},
        ])
    assert_valid(message)


def test_reply_without_details_shows_structured_evidence_as_json() -> None:
    result = check("h", "Health", Status.FAIL, evidence={"status": 503, "body": "<down>"})
    assert render_failure_reply(result, known=None).blocks[2] == section(
        '```\n{\n  "status": 503,\n  "body": "&lt;down&gt;"\n}\n```')


def test_long_evidence_is_truncated_within_the_section_and_says_so() -> None:
    result = check("x", "C", Status.FAIL, details="0123456789\n" * 1_000)
    evidence = render_failure_reply(result, known=None).blocks[2]["text"]["text"]
    assert len(evidence) <= 3_000
    assert evidence.startswith("```\n0123456789\n")
    assert evidence.endswith("…\n```\n_… truncated, full report attached_")


def test_truncation_counts_escaped_characters_and_never_splits_an_entity() -> None:
    result = check("x", "C", Status.FAIL, details="<&>" * 2_000)  # 6,000 chars, ~27,000 escaped
    evidence = render_failure_reply(result, known=None).blocks[2]["text"]["text"]
    assert len(evidence) <= 3_000
    body = evidence.removeprefix("```\n").split("…\n```")[0]
    assert re.fullmatch(r"(&lt;&amp;&gt;)*(&lt;|&lt;&amp;)?", body)


def test_short_evidence_is_not_marked_truncated() -> None:
    reply = render_failure_reply(check("x", "C", Status.FAIL, details="x" * 2_990), known=None)
    assert "truncated" not in all_text(reply)


def test_more_than_ten_measurements_collapse_into_the_last_context_element() -> None:
    result = check("x", "C", Status.FAIL, measurements={f"m{i}": i for i in range(15)})
    elements = render_failure_reply(result, known=None).blocks[-1]["elements"]
    assert len(elements) == 10
    assert elements[-1] == mrkdwn("… and 6 more")


def test_error_and_warning_replies_say_so() -> None:
    error = render_failure_reply(check("x", "C", Status.ERROR, summary="refused"), known=None)
    assert error.blocks[0] == section(":no_entry: *X* `x` could not run\n>refused")
    warn = render_failure_reply(check("x", "C", Status.WARN, severity=Severity.WARNING),
                                known=None)
    assert warn.blocks[1]["fields"][1] == mrkdwn("*Severity*\nwarning")


# --- known state -------------------------------------------------------------------------------

def previous(still_failing: bool = True, reply_ts: str | None = "1761687000.000200"
             ) -> PreviousFailure:
    return PreviousFailure(check_id="tables", run_id=UUID("11112222-3333-4444-5555-666677778888"),
                           run_created_at=T0, status=Status.FAIL, summary="expected 4",
                           still_failing=still_failing, channel="C0SMOKE01",
                           thread_ts="1761687000.000100", reply_ts=reply_ts)


def acknowledgement(expires_at: datetime | None = T0 + timedelta(days=7)) -> Acknowledgement:
    return Acknowledgement(id=1, environment="staging", check_id="tables",
                           reason="migration lands <tomorrow>", acknowledged_by="U0ALICE01",
                           created_at=T0, expires_at=expires_at, run_id=None)


def test_no_earlier_failure_is_new() -> None:
    assert known_state(None, None) == KnownState(KnownKind.NEW)
    line = render_failure_reply(FAILING[0], known=known_state(None, None)).blocks[2]
    assert line == {"type": "context", "elements": [
        mrkdwn(":new: *New failure*: not failing in earlier runs")]}


def test_still_failing_links_to_the_checks_own_reply_in_the_earlier_thread() -> None:
    state = known_state(None, previous())
    assert state == KnownState(
        KnownKind.STILL_FAILING, since_run_id="11112222-3333-4444-5555-666677778888", since=T0,
        earlier_link="https://slack.com/archives/C0SMOKE01/p1761687000000200"
                     "?thread_ts=1761687000.000100&cid=C0SMOKE01")
    line = render_failure_reply(FAILING[0], known=state).blocks[2]["elements"][0]["text"]
    assert line.endswith("<https://slack.com/archives/C0SMOKE01/p1761687000000200"
                         "?thread_ts=1761687000.000100&amp;cid=C0SMOKE01|earlier thread>")


def test_failure_that_passed_since_is_failing_again_and_links_the_thread_root() -> None:
    state = known_state(None, previous(still_failing=False, reply_ts=None))
    assert state.kind is KnownKind.FAILED_BEFORE
    assert state.earlier_link == "https://slack.com/archives/C0SMOKE01/p1761687000000100"
    line = render_failure_reply(FAILING[0], known=state).blocks[2]["elements"][0]["text"]
    assert line.startswith(":leftwards_arrow_with_hook: *Failing again*: it passed since it "
                           "last failed in run `11112222`")


def test_acknowledged_failure_shows_who_why_until_when_and_since_when() -> None:
    state = known_state(acknowledgement(), previous())
    assert (state.kind, state.acknowledged_by, state.reason) == (
        KnownKind.ACKNOWLEDGED, "U0ALICE01", "migration lands <tomorrow>")
    line = render_failure_reply(FAILING[0], known=state).blocks[2]["elements"][0]["text"]
    assert line.startswith(
        ":shushing_face: *Known*: acknowledged by <@U0ALICE01> until "
        "<!date^1762291800^{date_short}|2025-11-04>: migration lands &lt;tomorrow&gt; · "
        "failing since run `11112222`")


def test_render_acknowledged_is_exact() -> None:
    message = render_acknowledged(acknowledgement())
    assert message == SlackMessage(
        text="<@U0ALICE01> acknowledged tables: migration lands &lt;tomorrow&gt;",
        blocks=[section(":shushing_face: <@U0ALICE01> acknowledged `tables` until "
                        "<!date^1762291800^{date_short}|2025-11-04>: migration lands "
                        "&lt;tomorrow&gt;\nIt shows as known in later runs until then.")])
    assert "until further notice" in render_acknowledged(acknowledgement(None)).blocks[0][
        "text"]["text"]

