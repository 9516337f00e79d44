"""The run summary: exact payloads while the run goes and once it is over, and every limit
held however big or hostile the suite."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.render import (
    KnownState,
    RunView,
    SlackMessage,
    render_failure_mention,
    render_failure_reply,
    render_summary,
)
from bot.slack.render._states import RUN_STATES
from checks.results import CheckResult, Status
from tests.bot.slack.render.render_support import (
    FINISHED_CONTEXT,
    FAILING,
    PASSING,
    RUN_ID,
    STARTED,
    T0,
    all_text,
    assert_valid,
    button,
    check,
    mrkdwn,
    plain,
    section,
    view,
)

# --- the summary: exact payloads ---------------------------------------------------------------

def test_passing_run_summary_is_verdict_table_duration_and_rerun_all() -> None:
    message = render_summary(view("passed"))
    assert message == SlackMessage(
        text="Smoke test of staging passed: all 3 checks passed",
        blocks=[
            {"type": "header", "text": plain(":white_check_mark: Smoke test: staging passed")},
            section(":white_check_mark: *SMOKE TESTS PASSED*: all 3 checks passed"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------\n"
                    "Database Schema       2       2       0        0  PASS\n"
                    "Health                1       1       0        0  PASS\n"
                    "----------------------------------------------------------\n"
                    "TOTAL                 3       3       0        0  PASS\n"
                    "```"),
            FINISHED_CONTEXT,
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
                    "Category         Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------\n"
                    "Database Schema       2       1       1        0  FAIL\n"
                    "Health                2       1       1        0  FAIL\n"
                    "----------------------------------------------------------\n"
                    "TOTAL                 4       2       2        0  FAIL\n"
                    "```"),
            section("*Failed checks* (details in the thread)\n"
                    "• :x: *Tables* `tables`: expected 4 tables, got 3: subscriptions is missing\n"
                    "• :no_entry: *Health* `health`: could not connect: connection refused"),
            FINISHED_CONTEXT,
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
    assert "Smuggled              1       1       0        0  PASS" in \
        message.blocks[2]["text"]["text"]


def test_category_with_no_results_is_marked_not_run() -> None:
    message = render_summary(view("cancelled", PASSING[:2]))
    assert "Health                0       0       0        0  NOT RUN" in \
        message.blocks[2]["text"]["text"]


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
    assert table.endswith("TOTAL            300     298       2        0  FAIL\n```")
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
        status=draw(st.sampled_from(RUN_STATES)), trigger=draw(_nasty_text),
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


def test_trigger_keeps_the_requesters_mention_but_not_a_broadcast() -> None:
    message = render_summary(view("running", (),
                                  trigger="/smoketest staging <!here> by <@U0ALICE01>"))
    assert message.blocks[1]["elements"][0] == mrkdwn(
        "/smoketest staging &lt;!here&gt; by <@U0ALICE01>")

