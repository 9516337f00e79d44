"""Block Kit rendering: the payloads are the contract with Slack, so whole structures are
asserted, and every payload is also checked against Slack's limits by the emulator's validator."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import bot.slack.render as render
from bot.slack.render import (
    AckSubmission,
    AckSubmissionError,
    KnownKind,
    KnownState,
    RunView,
    SlackMessage,
    known_state,
    read_ack_submission,
    render_ack_modal,
    render_acknowledged,
    render_confirm_production,
    render_error,
    render_failure_mention,
    render_failure_reply,
    render_help,
    render_history,
    render_interrupted,
    render_joined,
    render_list,
    render_not_in_channel,
    render_status,
    render_summary,
)
from bot.store import (
    Acknowledgement,
    DeployFacts,
    PreviousFailure,
    Run,
    RunCounts,
    RunStatus,
    SlackMessageKind,
    TriggerKind,
)
from bot.store import SlackMessage as StoredSlackMessage
from checks.redact import Redactor
from checks.results import CheckResult, Severity, Status, Verdict
from tests.support.slack_blockkit import validate_blocks, validate_view
from tests.support.slack_requests import SlackRequestFactory

RUN_ID = "0192a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
T0 = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)  # epoch 1761687000
STARTED = "Started <!date^1761687000^{date_short_pretty} {time}|2025-10-28 21:30 UTC>"
CANARY = "sk_live_CANARY_4f9d2b7e1a6c8e3d"


def check(check_id: str, category: str, status: Status = Status.PASS, *,
          summary: str = "as expected", name: str | None = None, details: str = "",
          measurements: dict[str, Any] | None = None, evidence: dict[str, Any] | None = None,
          severity: Severity = Severity.CRITICAL, duration_s: float = 0.0,
          attempts: int = 1) -> CheckResult:
    return CheckResult(check_id=check_id, name=name or check_id.replace("-", " ").capitalize(),
                       category=category, kind="http", severity=severity, status=status,
                       summary=summary, details=details, duration_s=duration_s,
                       attempts=attempts, measurements=measurements or {},
                       evidence=evidence or {})


PASSING = (check("tables", "Database Schema"), check("key-hash", "Database Schema"),
           check("health", "Health"))
FAILING = (check("tables", "Database Schema", Status.FAIL,
                 summary="expected 4 tables, got 3: subscriptions is missing"),
           check("key-hash", "Database Schema"),
           check("health", "Health", Status.ERROR,
                 summary="could not connect: connection refused"),
           check("pods", "Health"))


def view(status: str = "passed", results: tuple[CheckResult, ...] = PASSING,
         **changes: Any) -> RunView:
    fields: dict[str, Any] = dict(
        run_id=RUN_ID, environment="staging", status=status,
        trigger="/smoketest staging by <@U0ALICE01>", requested_by="U0ALICE01",
        total=len(results), results=results, categories=("Database Schema", "Health"),
        started_at=T0, finished_at=T0 + timedelta(seconds=75) if status not in (
            "queued", "running") else None)
    fields.update(changes)
    return RunView(**fields)


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


def button(text: str, action_id: str, value: str = RUN_ID,
           style: str | None = None) -> dict[str, Any]:
    made = {"type": "button", "action_id": action_id, "text": plain(text), "value": value}
    return {**made, "style": style} if style else made


def assert_valid(message: SlackMessage) -> None:
    """Slack's own limits (emulator validator) plus ours (fallback text)."""
    assert validate_blocks(message.blocks) == []
    assert 0 < len(message.text) <= render.FALLBACK_TEXT_MAX
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3_000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
    assert len(message.blocks) <= 50


def all_text(message: SlackMessage) -> str:
    return json.dumps({"text": message.text, "blocks": message.blocks}, ensure_ascii=False)


# --- the summary: exact payloads ---------------------------------------------------------------

def test_passing_run_summary_is_verdict_table_duration_and_rerun_all() -> None:
    message = render_summary(view("passed"))
    assert message == SlackMessage(
        text="Smoke test of staging passed: all 3 checks passed",
        blocks=[
            {"type": "header", "text": plain(":white_check_mark: Smoke test: staging passed")},
            section(":white_check_mark: *SMOKE TESTS PASSED*: all 3 checks passed"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Status\n"
                    "-------------------------------------------------\n"
                    "Database Schema       2       2       0  PASS\n"
                    "Health                1       1       0  PASS\n"
                    "-------------------------------------------------\n"
                    "TOTAL                 3       3       0  PASS\n"
                    "```"),
            {"type": "context", "elements": [
                mrkdwn("/smoketest staging by <@U0ALICE01>"), mrkdwn("Run `0192a3b4`"),
                mrkdwn(STARTED), mrkdwn("Took 1m 15s")]},
            {"type": "actions", "elements": [button("Re-run all", "rerun_all")]},
        ])
    assert_valid(message)


def test_failing_run_summary_lists_failures_mentions_group_and_offers_three_buttons() -> None:
    message = render_summary(view("failed", FAILING, mention="S0ONCALL1"))
    assert message == SlackMessage(
        text="<!subteam^S0ONCALL1> Smoke test of staging failed: 2 of 4 checks failed "
             "(1 could not run)",
        blocks=[
            {"type": "header", "text": plain(":x: Smoke test: staging failed")},
            section("<!subteam^S0ONCALL1> :x: *SMOKE TESTS FAILED*: 2 of 4 checks failed "
                    "(1 could not run)"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Status\n"
                    "-------------------------------------------------\n"
                    "Database Schema       2       1       1  FAIL\n"
                    "Health                2       1       1  FAIL\n"
                    "-------------------------------------------------\n"
                    "TOTAL                 4       2       2  FAIL\n"
                    "```"),
            section("*Failed checks* (details in the thread)\n"
                    "• :x: *Tables* `tables`: expected 4 tables, got 3: subscriptions is missing\n"
                    "• :no_entry: *Health* `health`: could not connect: connection refused"),
            {"type": "context", "elements": [
                mrkdwn("/smoketest staging by <@U0ALICE01>"), mrkdwn("Run `0192a3b4`"),
                mrkdwn(STARTED), mrkdwn("Took 1m 15s")]},
            {"type": "actions", "elements": [
                button("Re-run failed", "rerun_failed", style="primary"),
                button("Re-run all", "rerun_all"),
                button("Acknowledge", "acknowledge")]},
        ])
    assert_valid(message)


def test_running_run_summary_is_header_context_and_progress_line_without_buttons() -> None:
    done = FAILING[:2]  # 2 of 4 finished, one of them failed
    message = render_summary(view("running", done, total=4))
    assert message == SlackMessage(
        text="Smoke test of staging running: 2/4 checks done, 1 failed",
        blocks=[
            {"type": "header", "text": plain("Smoke test: staging")},
            {"type": "context", "elements": [
                mrkdwn("/smoketest staging by <@U0ALICE01>"), mrkdwn("Run `0192a3b4`"),
                mrkdwn(STARTED)]},
            section("`██████████░░░░░░░░░░` 2/4 checks done · 1 failed · running…"),
        ])
    assert_valid(message)


def test_queued_run_shows_an_empty_bar_and_waits() -> None:
    message = render_summary(view("queued", (), total=14, started_at=None))
    assert message.blocks[-1] == section("`░░░░░░░░░░░░░░░░░░░░` 0/14 checks done · queued…")
    assert message.text == "Smoke test of staging queued: 0/14 checks done"


def test_deploy_header_names_version_and_the_deploy_line_commit_ref_deployer_and_link() -> None:
    message = render_summary(view(
        "running", (), total=14, trigger="deployment_status 4242", requested_by=None,
        version="v1.4.2", commit="26603507c0ffee26603507c0ffee266035070000", ref="main",
        deployer="octo-cat", deploy_url="https://github.com/acme/api/deployments?id=7&env=s"))
    assert message == SlackMessage(
        text="Deploy of v1.4.2 to staging: smoke tests running: 0/14 checks done",
        blocks=[
            {"type": "header", "text": plain("Deploy of v1.4.2 to staging: smoke tests running")},
            section("Commit `2660350` · ref `main` · by octo-cat · "
                    "<https://github.com/acme/api/deployments?id=7&amp;env=s|deployment>"),
            {"type": "context", "elements": [
                mrkdwn("deployment_status 4242"), mrkdwn("Run `0192a3b4`"),
                mrkdwn("Version `v1.4.2`"), mrkdwn(STARTED)]},
            section("`░░░░░░░░░░░░░░░░░░░░` 0/14 checks done · running…"),
        ])
    assert_valid(message)


def test_deploy_without_version_is_named_by_its_short_commit_and_its_verdict() -> None:
    message = render_summary(view("failed", FAILING, commit="26603507c0ffee2660350",
                                  deployer="U0DEPLOY01"))
    assert message.blocks[0] == {
        "type": "header", "text": plain(":x: Deploy of 2660350 to staging: smoke tests failed")}
    assert message.blocks[1] == section("Commit `2660350` · by <@U0DEPLOY01>")


def test_deploy_link_that_is_not_http_is_not_made_a_link() -> None:
    message = render_summary(view("running", (), version="v1", deploy_url="javascript:alert(1)"))
    assert "javascript" not in all_text(message)


def test_group_is_mentioned_only_when_the_run_failed() -> None:
    assert "subteam" not in all_text(render_summary(view("passed", mention="S0ONCALL1")))
    assert "subteam" not in all_text(render_summary(view("running", FAILING, mention="S0ONCALL1")))
    failed = render_summary(view("failed", FAILING, mention="<!subteam^S0ONCALL1|@oncall>"))
    assert failed.blocks[1]["text"]["text"].startswith("<!subteam^S0ONCALL1> ")
    assert failed.text.startswith("<!subteam^S0ONCALL1> ")


def test_failure_mention_is_a_message_of_its_own_because_edits_do_not_notify() -> None:
    failed = view("failed", FAILING, mention="S0ONCALL1", version="v1.4.2")
    assert render_failure_mention(failed) == SlackMessage(
        text="<!subteam^S0ONCALL1> Deploy of v1.4.2 to staging: smoke tests failed: "
             "2 of 4 checks failed (1 could not run)",
        blocks=[section("<!subteam^S0ONCALL1> Deploy of v1.4.2 to staging: smoke tests "
                        "failed: 2 of 4 checks failed (1 could not run)")])
    assert render_failure_mention(view("failed", FAILING)) is None
    assert render_failure_mention(view("passed", mention="S0ONCALL1")) is None


def test_mention_that_is_not_a_group_id_is_shown_as_text_not_a_broadcast() -> None:
    failed = render_summary(view("failed", FAILING, mention="<!channel>"))
    assert "<!channel>" not in all_text(failed)
    assert failed.blocks[1]["text"]["text"].startswith("&lt;!channel&gt; ")


@pytest.mark.parametrize(("status", "changes", "header", "verdict"), [
    ("cancelled", {"interrupted_reason": "cancelled by <@U0BOB0001>"},
     ":octagonal_sign: Smoke test: staging cancelled",
     ":octagonal_sign: *SMOKE TESTS CANCELLED*: stopped after 3 of 3 checks: "
     "cancelled by <@U0BOB0001>"),
    ("interrupted", {"interrupted_reason": "worker w-1 stopped heartbeating", "total": 14},
     ":warning: Smoke test: staging interrupted",
     ":warning: *SMOKE TESTS INTERRUPTED*: stopped after 3 of 14 checks: "
     "worker w-1 stopped heartbeating"),
    ("superseded", {"superseded_by": "7777aaaa-0000-0000-0000-000000000000"},
     ":fast_forward: Smoke test: staging superseded",
     ":fast_forward: *SMOKE TESTS SUPERSEDED*: a newer deploy of the environment replaced "
     "this run (run `7777aaaa`)"),
    ("error", {"interrupted_reason": "the suite could not be planned: bad <YAML>"},
     ":boom: Smoke test: staging could not run",
     ":boom: *SMOKE TESTS COULD NOT RUN*: the run could not be carried out: "
     "the suite could not be planned: bad &lt;YAML&gt;"),
])
def test_unfinished_verdicts_say_why_and_offer_no_buttons(status: str, changes: dict[str, Any],
                                                          header: str, verdict: str) -> None:
    message = render_summary(view(status, **changes))
    assert message.blocks[0] == {"type": "header", "text": plain(header)}
    assert message.blocks[1] == section(verdict)
    assert all(b["type"] != "actions" for b in message.blocks)
    assert_valid(message)


def test_interrupted_without_a_reason_blames_the_worker() -> None:
    message = render_summary(view("interrupted", FAILING[:1], total=4))
    assert message.blocks[1] == section(
        ":warning: *SMOKE TESTS INTERRUPTED*: stopped after 1 of 4 checks, 1 failed: "
        "its worker stopped")


def test_result_in_a_category_the_view_does_not_list_still_gets_a_row() -> None:
    message = render_summary(view("passed", PASSING + (check("extra", "Smuggled"),)))
    assert "Smuggled              1       1       0  PASS" in message.blocks[2]["text"]["text"]


def test_category_with_no_results_is_marked_not_run() -> None:
    message = render_summary(view("cancelled", PASSING[:2]))
    assert "Health                0       0       0  NOT RUN" in message.blocks[2]["text"]["text"]


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown run status 'done'"):
        view("done")


# --- limits under stress -----------------------------------------------------------------------

def big_suite(categories: int, checks: int, *, failing_every: int = 7,
              name_length: int = 60) -> tuple[tuple[str, ...], tuple[CheckResult, ...]]:
    names = tuple(f"Category {i:03d} " + "x" * name_length for i in range(categories))
    results = tuple(
        check(f"check-{i:04d}", names[i % categories],
              Status.FAIL if i % failing_every == 0 else Status.PASS,
              summary=f"expected <200> & got {i}: " + "y" * 300, name="Check " + "n" * 200,
              details="evidence line\n" * 400)
        for i in range(checks))
    return names, results


@pytest.mark.parametrize(("categories", "checks"), [(30, 200), (200, 200), (1, 500)])
def test_huge_suites_render_within_every_limit(categories: int, checks: int) -> None:
    names, results = big_suite(categories, checks)
    for status in ("running", "failed", "cancelled", "interrupted"):
        message = render_summary(view(status, results, categories=names, total=checks,
                                      mention="S0ONCALL1", version="v" * 300,
                                      trigger="t" * 5_000, deploy_url="https://x.y/" + "z" * 5_000))
        assert_valid(message)
    for result in results[:5]:
        assert_valid(render_failure_reply(result, known=KnownState.new()))


def test_table_collapses_categories_that_do_not_fit_but_keeps_every_failing_one() -> None:
    names = tuple(f"Category {i:03d}" for i in range(300))
    results = tuple(check(f"c{i}", names[i], Status.FAIL if i in (5, 299) else Status.PASS)
                    for i in range(300))
    message = render_summary(view("failed", results, categories=names))
    table = message.blocks[2]["text"]["text"]
    assert len(table) <= 3_000
    assert "Category 005" in table and "Category 299" in table  # failing ones are never hidden
    shown = len(re.findall(r"^Category \d{3} ", table, flags=re.M))
    assert f"… and {300 - shown} more categories\n" in table
    assert table.endswith("TOTAL            300     298       2  FAIL\n```")
    assert_valid(message)


def test_failure_list_in_the_summary_collapses_into_and_n_more() -> None:
    names, results = big_suite(3, 200, failing_every=1)
    message = render_summary(view("failed", results, categories=names))
    failures = message.blocks[3]["text"]["text"]
    assert failures.startswith("*Failed checks* (details in the thread)\n")
    listed = failures.count("\n• ")
    assert failures.endswith(f"\n… and {200 - listed} more")


_nasty_text = st.lists(st.sampled_from([*"ab <>&`*_~|@!\n\x1b:é😀", "```", "&amp;", "<!here>"]),
                      max_size=300).map("".join)


@st.composite
def run_views(draw: st.DrawFn) -> RunView:
    categories = draw(st.lists(_nasty_text, min_size=0, max_size=40))
    count = draw(st.integers(min_value=0, max_value=250))
    results = tuple(
        check(f"c{i}", draw(st.sampled_from(categories)) if categories else draw(_nasty_text),
              draw(st.sampled_from(list(Status))), summary=draw(_nasty_text),
              name=draw(_nasty_text) or "n", details=draw(_nasty_text) * 20)
        for i in range(count))
    return RunView(
        run_id=RUN_ID, environment=draw(_nasty_text) or "env",
        status=draw(st.sampled_from(render.RUN_STATES)), trigger=draw(_nasty_text),
        version=draw(st.none() | _nasty_text), commit=draw(st.none() | _nasty_text),
        deployer=draw(st.none() | _nasty_text), total=count + draw(st.integers(0, 5)),
        results=results, categories=tuple(categories), started_at=T0,
        finished_at=T0 + timedelta(seconds=draw(st.integers(0, 10_000))),
        mention=draw(st.none() | _nasty_text), interrupted_reason=draw(st.none() | _nasty_text))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(run_views())
def test_any_run_renders_within_slack_limits(run_view: RunView) -> None:
    assert_valid(render_summary(run_view))
    for result in run_view.results[:3]:
        assert_valid(render_failure_reply(result, known=KnownState.new()))


# --- escaping ----------------------------------------------------------------------------------

HOSTILE = "<!channel> <https://evil.example|click> <@U0VICTIM1> & <!subteam^S0ALL0001>"


def test_hostile_text_cannot_mention_or_link_anywhere() -> None:
    hostile = check("tables", HOSTILE, Status.FAIL, summary=HOSTILE, name=HOSTILE,
                    details=HOSTILE, measurements={HOSTILE: HOSTILE})
    messages = [
        render_summary(view("failed", (hostile,), categories=(HOSTILE,), environment=HOSTILE,
                            version=HOSTILE, ref=HOSTILE, deployer=HOSTILE,
                            interrupted_reason=HOSTILE)),
        render_summary(view("running", (hostile,), environment=HOSTILE, version=HOSTILE)),
        render_failure_reply(hostile, known=KnownState(KnownKind.ACKNOWLEDGED,
                                                       acknowledged_by=HOSTILE, reason=HOSTILE)),
        render_error(HOSTILE), render_joined(HOSTILE, None), render_help([HOSTILE]),
        render_list([HOSTILE], {HOSTILE: [HOSTILE]}), render_not_in_channel(HOSTILE),
        render_confirm_production(HOSTILE, [HOSTILE]), render_interrupted(HOSTILE, RUN_ID, HOSTILE),
    ]
    for message in messages:
        assert_valid(message)
        # plain_text (headers, buttons) is never parsed, so only mrkdwn and `text` matter.
        mrkdwn_texts = [message.text] + [
            t["text"] for t in _text_objects(message.blocks) if t["type"] == "mrkdwn"]
        for text in mrkdwn_texts:
            for live in ("<!channel>", "<https://evil", "<@U0VICTIM1>", "<!subteam^S0ALL0001>"):
                assert live not in text


def _text_objects(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, dict):
        found = [node] if node.get("type") in ("mrkdwn", "plain_text") else []
        return found + [t for v in node.values() for t in _text_objects(v)]
    if isinstance(node, list):
        return [t for v in node for t in _text_objects(v)]
    return []


def test_summary_text_is_escaped_exactly() -> None:
    reply = render_failure_reply(check("x", "C", Status.FAIL, summary="a < b & c > <!here>"),
                                 known=None)
    assert reply.blocks[0] == section(":x: *X* `x` failed\n>a &lt; b &amp; c &gt; &lt;!here&gt;")
    assert reply.text == "X (x) failed: a &lt; b &amp; c &gt; &lt;!here&gt;"


def test_trigger_keeps_the_requesters_mention_but_not_a_broadcast() -> None:
    message = render_summary(view("running", (),
                                  trigger="/smoketest staging <!here> by <@U0ALICE01>"))
    assert message.blocks[1]["elements"][0] == mrkdwn(
        "/smoketest staging &lt;!here&gt; by <@U0ALICE01>")


def test_backticks_in_names_and_evidence_cannot_close_code() -> None:
    reply = render_failure_reply(check("x", "C", Status.FAIL, name="n", details="a```b\n````"),
                                 known=None)
    assert reply.blocks[2] == section("```\na`\u200b`\u200b`b\n`\u200b`\u200b`\u200b`\n```")
    row = render_summary(view("failed", (check("y", "c```d", Status.FAIL),), categories=()))
    assert "c`\u200b`\u200b`d" in row.blocks[2]["text"]["text"]


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


# --- the Acknowledge modal ---------------------------------------------------------------------

def test_ack_modal_is_exact_with_failed_checks_preselected() -> None:
    modal = render_ack_modal(RUN_ID, [FAILING[0], FAILING[2]])
    options = [{"text": plain("Tables (tables)"), "value": "tables"},
               {"text": plain("Health (health)"), "value": "health"}]
    expiry = [{"text": plain("1 day"), "value": "1"}, {"text": plain("7 days"), "value": "7"},
              {"text": plain("30 days"), "value": "30"}]
    assert modal == {
        "type": "modal", "callback_id": "ack_submit", "private_metadata": RUN_ID,
        "title": plain("Acknowledge failures"), "close": plain("Cancel"),
        "submit": plain("Acknowledge"),
        "blocks": [
            section("An acknowledged failure shows as *known* in later runs until the "
                    "acknowledgement expires."),
            {"type": "input", "block_id": "checks", "label": plain("Failures"),
             "element": {"type": "checkboxes", "action_id": "checks", "options": options,
                         "initial_options": options}},
            {"type": "input", "block_id": "reason", "label": plain("Reason"),
             "element": {"type": "plain_text_input", "action_id": "reason", "multiline": True,
                         "max_length": 500,
                         "placeholder": plain("Why is this failure known or expected?")}},
            {"type": "input", "block_id": "expiry", "label": plain("Expires after"),
             "element": {"type": "static_select", "action_id": "expiry", "options": expiry,
                         "initial_option": expiry[1]}},
            {"type": "input", "block_id": "until", "optional": True,
             "label": plain("Or until this date"),
             "hint": plain("A date here replaces the choice above."),
             "element": {"type": "datepicker", "action_id": "until",
                         "placeholder": plain("Pick a date")}},
        ]}
    assert validate_view(modal) == []


def test_ack_modal_with_many_failures_uses_a_multi_select_within_limits() -> None:
    failed = [check(f"c{i}", "C", Status.FAIL, name="N" * 200) for i in range(150)]
    modal = render_ack_modal(RUN_ID, failed)
    element = modal["blocks"][1]["element"]
    assert element["type"] == "multi_static_select" and len(element["options"]) == 100
    assert all(len(o["text"]["text"]) <= 75 for o in element["options"])
    assert modal["blocks"][2] == {"type": "context", "elements": [mrkdwn(
        "50 more failures are not listed; acknowledge them after these.")]}
    assert validate_view(modal) == []


def test_ack_modal_for_a_run_without_failures_cannot_be_submitted() -> None:
    modal = render_ack_modal(RUN_ID, [])
    assert "submit" not in modal and validate_view(modal) == []


def submitted(values: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The modal as Slack sends it back, built by the test support's request factory."""
    factory = SlackRequestFactory("signing-secret")
    modal = render_ack_modal(RUN_ID, [FAILING[0], FAILING[2]])
    view_: dict[str, Any] = factory.view_submission(modal, values=values).payload["view"]
    return view_


CHOSEN = {"type": "checkboxes", "selected_options": [
    {"text": plain("Tables (tables)"), "value": "tables"},
    {"text": plain("Health (health)"), "value": "health"}]}


def test_ack_submission_reads_checks_reason_and_expiry() -> None:
    view_ = submitted({"checks": {"checks": CHOSEN}, "reason": {"reason": "  known\n flake "},
                       "expiry": {"expiry": "30"}})
    assert view_["private_metadata"] == RUN_ID
    assert read_ack_submission(view_) == AckSubmission(("tables", "health"), "known flake", 30)


def test_ack_submission_date_overrides_the_expiry_choice() -> None:
    view_ = submitted({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"},
                       "expiry": {"expiry": "1"}, "until": {"until": "2025-11-10"}})
    assert read_ack_submission(view_, today=date(2025, 10, 28)).days == 13


@pytest.mark.parametrize(("values", "block_id", "message"), [
    ({"checks": {"checks": {"type": "checkboxes", "selected_options": []}},
      "reason": {"reason": "known"}}, "checks", "Choose at least one failure to acknowledge."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "   "}}, "reason",
     "Say why this failure is known or expected."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"},
      "until": {"until": "2025-10-28"}}, "until", "Pick a date from tomorrow to 365 days ahead."),
    ({"checks": {"checks": CHOSEN}, "reason": {"reason": "known"}, "expiry": {"expiry": "3"}},
     "expiry", "Choose how long the acknowledgement lasts."),
])
def test_bad_ack_submission_names_the_input_to_fix(values: dict[str, Any], block_id: str,
                                                   message: str) -> None:
    with pytest.raises(AckSubmissionError) as caught:
        read_ack_submission(submitted(values), today=date(2025, 10, 28))
    assert (caught.value.block_id, str(caught.value)) == (block_id, message)
    assert isinstance(caught.value, ValueError)  # what the view listener catches


# --- ephemeral replies -------------------------------------------------------------------------

def test_production_confirmation_carries_environment_and_filters_in_the_button() -> None:
    message = render_confirm_production("production", ["database", "health"])
    value = '{"environment":"production","filters":["database","health"]}'
    assert message == SlackMessage(
        text="Confirm: run the smoke tests on production?",
        blocks=[section(":warning: *production* is protected: confirm before the smoke tests "
                        "run on it.\nOnly: `database` `health`"),
                {"type": "actions", "elements": [
                    button("Run on production", "confirm_run", value, "danger"),
                    button("Cancel", "cancel_confirm", "production")]}])
    assert json.loads(value) == {"environment": "production", "filters": ["database", "health"]}
    assert_valid(message)


def test_confirmation_too_big_for_a_button_value_is_an_error_instead() -> None:
    message = render_confirm_production("production", ["f" * 80] * 30)
    assert message.text == "Too many filters to confirm in one click; run fewer at a time."
    assert_valid(message)


def test_help_lists_the_subcommands_and_environments() -> None:
    message = render_help(["staging", "production"])
    text = message.blocks[0]["text"]["text"]
    for usage in ("`/smoketest ENV [filters]`", "`/smoketest list`", "`/smoketest history [ENV]`",
                  "`/smoketest status`", "`/smoketest cancel [ENV]`", "`@smokebot rerun`"):
        assert usage in text
    assert text.endswith("Environments: `staging`, `production`")
    assert_valid(message)


def test_list_shows_each_environments_checks_and_survives_huge_suites() -> None:
    message = render_list(["staging", "production"], {"staging": ["tables", "health"],
                                                      "production": []})
    assert message.blocks == [section("*staging* (2 checks): `tables` `health`\n"
                                      "*production* (0 checks): _none_")]
    envs = [f"env-{i}" for i in range(300)]
    huge = render_list(envs, {e: [f"check-{j:03d}" for j in range(200)] for e in envs})
    assert_valid(huge)
    assert huge.blocks[-1]["text"]["text"].endswith("more environments")


def stored_run(status: RunStatus = RunStatus.PASSED, **changes: Any) -> Run:
    fields: dict[str, Any] = dict(
        id=UUID(RUN_ID), environment="staging", status=status, trigger_kind=TriggerKind.SLASH,
        trigger_detail="/smoketest staging", requested_by="U0ALICE01", filters=(),
        channel="C0SMOKE01", deploy=None, suite=None, created_at=T0, started_at=T0,
        finished_at=T0 + timedelta(seconds=75), heartbeat_at=None, worker_id=None,
        counts=RunCounts(passed=12, failed=1, errors=1), verdict=Verdict.FAILED,
        status_reason=None, rerun_of=None, superseded_by=None, idempotency_key=None)
    fields.update(changes)
    return Run(**fields)


def test_history_shows_verdict_counts_trigger_version_and_thread_link() -> None:
    deploy_run = stored_run(RunStatus.FAILED, trigger_kind=TriggerKind.WEBHOOK,
                            trigger_detail="deployment_status 4242", requested_by="octo-cat",
                            deploy=DeployFacts(version="v1.4.2"))
    summary = StoredSlackMessage(id=1, run_id=UUID(RUN_ID), kind=SlackMessageKind.SUMMARY,
                                 channel="C0SMOKE01", ts="1761687000.000100", thread_ts=None,
                                 check_id=None, created_at=T0, updated_at=T0)
    message = render_history([deploy_run], {UUID(RUN_ID): summary})
    assert message.blocks == [section(
        "*Last 1 run*\n"
        ":x: *staging* failed · 12/14 passed, 2 failed · "
        "<!date^1761687000^{date_short_pretty} {time}|2025-10-28 21:30 UTC> · "
        "deployment_status 4242 · version `v1.4.2` · "
        "<https://slack.com/archives/C0SMOKE01/p1761687000000100|thread>")]
    assert_valid(message)


def test_history_adds_the_requester_and_the_reason_of_an_interrupted_run() -> None:
    run = stored_run(RunStatus.INTERRUPTED, status_reason="worker w-1 died")
    line = render_history([run]).blocks[0]["text"]["text"]
    assert "/smoketest staging by <@U0ALICE01>" in line
    assert line.endswith("(worker w-1 died)")
    assert render_history([]).text == "No runs yet."


def test_status_shows_running_then_queued() -> None:
    running = stored_run(RunStatus.RUNNING, finished_at=None, counts=RunCounts())
    queued = stored_run(RunStatus.QUEUED, environment="production", started_at=None,
                        finished_at=None, counts=RunCounts())
    message = render_status([queued], [running])
    text = message.blocks[0]["text"]["text"]
    assert text.startswith("*Running* (1)\n• :hourglass_flowing_sand: *staging* running · ")
    assert "\n*Queued* (1)\n• :hourglass: *production* queued · " in text
    assert message.text == "1 running, 1 queued"
    assert render_status([], []).text == "Nothing is queued or running."


def test_error_is_escaped_and_says_what_to_do() -> None:
    message = render_error("unknown environment 'stagin'; choose one of: staging, production")
    assert message == SlackMessage(
        text="unknown environment 'stagin'; choose one of: staging, production",
        blocks=[section(":warning: unknown environment 'stagin'; choose one of: "
                        "staging, production")])


def test_joined_links_to_the_running_summary() -> None:
    link = "https://slack.com/archives/C0SMOKE01/p1761687000000100"
    assert render_joined("staging", link).blocks == [section(
        ":arrows_counterclockwise: *staging* is already being smoke-tested; you joined that "
        f"run. <{link}|Follow its summary>.")]
    assert render_joined("staging").blocks[0]["text"]["text"].endswith(
        "Its summary is in the channel.")


def test_interrupted_notice_offers_a_rerun() -> None:
    message = render_interrupted("staging", RUN_ID, "worker w-1 stopped heartbeating")
    assert message.blocks == [
        section(":warning: Run `0192a3b4` of *staging* was interrupted: worker w-1 stopped "
                "heartbeating. The results so far are stored; re-run it to get a verdict."),
        {"type": "actions", "elements": [button("Re-run all", "rerun_all")]}]
    assert_valid(message)


@pytest.mark.parametrize(("problem", "fix"), [
    (None, "I'm not in <#C0SMOKE01>. Invite me with `/invite @smokebot` and try again."),
    ("not_in_channel",
     "I'm not in <#C0SMOKE01>. Invite me with `/invite @smokebot` and try again."),
    ("is_archived", "<#C0SMOKE01> is archived, so I can't post there. Unarchive it, or map the "
                    "environment to another channel in the suite file."),
    ("channel_not_found", "I can't see <#C0SMOKE01>: it does not exist, or it is private and "
                          "I'm not in it. Invite me there with `/invite @smokebot`, or fix the "
                          "channel in the suite file."),
    ("missing_scope", "Slack refused my message to <#C0SMOKE01> (`missing_scope`). Check my "
                      "scopes and that I'm in the channel (`/invite @smokebot`)."),
])
def test_not_in_channel_says_how_to_fix_it(problem: str | None, fix: str) -> None:
    message = render_not_in_channel("C0SMOKE01", problem)
    assert message.blocks == [section(
        f":warning: {fix}\nThe run's results are stored: `/smoketest history` shows them.")]
    assert_valid(message)


# --- secrets -----------------------------------------------------------------------------------

def test_redacted_results_render_without_the_secret_and_nothing_is_added_back() -> None:
    redactor = Redactor([CANARY])
    leaky = check("login", "Auth", Status.FAIL, name="Login works",
                  summary=f"expected 200 with key {CANARY}, got 401",
                  details=f"Authorization: Bearer {CANARY}\n" * 300,
                  measurements={"token": CANARY}, evidence={"headers": {"x-key": CANARY}})
    # What the runner does to every result before anyone sees it.
    redacted = leaky.with_changes(summary=redactor.redact(leaky.summary),
                                  details=redactor.redact(leaky.details),
                                  measurements=redactor.redact_obj(leaky.measurements),
                                  evidence=redactor.redact_obj(leaky.evidence))
    messages = [render_summary(view("failed", (redacted,), categories=("Auth",))),
                render_failure_reply(redacted, known=KnownState.new()),
                render_failure_reply(redacted.with_changes(details=""), known=None)]
    dumped = json.dumps([all_text(m) for m in messages] + [render_ack_modal(RUN_ID, [redacted])])
    assert CANARY not in dumped and CANARY[8:] not in dumped
    assert "[redacted " in dumped


def test_public_surface_is_the_documented_list() -> None:
    assert render.__all__ == sorted(render.__all__)
    assert all(hasattr(render, name) for name in render.__all__)
