"""Flaky and slow checks in Slack: the run still passes, the table counts them among the passes
and names them, the summary lists them (a flaky one with how often it was flaky lately), a
flaky check's thread reply shows its failed attempts, and history shows the counts."""

from __future__ import annotations

from datetime import datetime, timezone
from types import SimpleNamespace
from uuid import UUID

from bot.records import FlakyHistory, RunCounts, RunStatus, TriggerKind
from bot.slack.render import (
    KnownState,
    SlackMessage,
    flaky_history_words,
    known_state,
    render_failure_reply,
    render_history,
    render_summary,
)
from checks.results import Status
from tests.bot.slack.render.render_support import (
    FINISHED_CONTEXT,
    assert_valid,
    button,
    check,
    mrkdwn,
    plain,
    section,
    view,
)

REFUSED = "cannot connect to 127.0.0.1:4000: connection refused"
SLOW = "412 ms, over the 300 ms warn_latency"
REMARKED = (check("tables", "Database Schema"),
            check("health", "Health", Status.FLAKY, summary="200 OK in 45 ms", attempts=2,
                  evidence={"failed_attempts": [REFUSED]}),
            check("pricing", "Health", Status.SLOW, summary=f"200 OK in {SLOW}",
                  evidence={"warning": SLOW}))
HISTORY = FlakyHistory(check_id="health", flaky=3, runs=10)


def test_a_passing_run_with_flaky_and_slow_checks_passes_and_lists_them() -> None:
    message = render_summary(view("passed", REMARKED, flaky_history=(HISTORY,)))

    assert message == SlackMessage(
        text="Smoke test of staging passed: all 3 checks passed (1 flaky, 1 slow)",
        blocks=[
            {"type": "header", "text": plain(":white_check_mark: Smoke test: staging passed")},
            section(":white_check_mark: *SMOKE TESTS PASSED*: all 3 checks passed "
                    "(1 flaky, 1 slow)"),
            section("```\n"
                    "Category         Checks  Passed  Failed  Skipped  Status\n"
                    "----------------------------------------------------------\n"
                    "Database Schema       1       1       0        0  PASS\n"
                    "Health                2       2       0        0  FLAKY\n"
                    "----------------------------------------------------------\n"
                    "TOTAL                 3       3       0        0  FLAKY\n"
                    "```"),
            section("*Flaky and slow checks* (passed)\n"
                    "• :arrows_counterclockwise: *Health* `health`: passed on attempt 2 · "
                    f"first failed: {REFUSED} · flaky 3 of the last 10 runs\n"
                    f"• :snail: *Pricing* `pricing`: {SLOW}"),
            FINISHED_CONTEXT,
            # Nothing failed: nothing to re-run on its own or to acknowledge.
            {"type": "actions", "elements": [button("Re-run all", "rerun_all")]},
        ])
    assert_valid(message)


def test_a_category_that_is_only_slow_reads_slow() -> None:
    message = render_summary(view("passed", REMARKED[:1] + REMARKED[2:]))
    table = message.blocks[2]["text"]["text"]

    assert "Health                1       1       0        0  SLOW\n" in table
    assert message.text == "Smoke test of staging passed: all 2 checks passed (1 slow)"


def test_a_failed_run_lists_its_failures_and_its_flaky_checks_apart() -> None:
    results = REMARKED + (check("db", "Database Schema", Status.FAIL, summary="expected 4"),)
    blocks = render_summary(view("failed", results)).blocks
    texts = [b["text"]["text"] for b in blocks if b["type"] == "section"]

    assert texts[0] == ":x: *SMOKE TESTS FAILED*: 1 of 4 checks failed"
    assert texts[2] == "*Failed checks* (details in the thread)\n• :x: *Db* `db`: expected 4"
    assert texts[3].startswith("*Flaky and slow checks* (passed)\n• :arrows_counterclockwise: ")


def test_a_flaky_checks_thread_reply_shows_its_failed_attempts_and_how_often() -> None:
    flaky = REMARKED[1]
    message = render_failure_reply(flaky, known=KnownState.of_flaky(HISTORY))

    assert message.text == ("Health (health) flaky (passed on a retry): 200 OK in 45 ms")
    assert message.blocks[0] == section(
        ":arrows_counterclockwise: *Health* `health` flaky (passed on a retry)\n>200 OK in 45 ms")
    assert message.blocks[1]["fields"][2] == mrkdwn("*Status*\nflaky (passed on a retry)")
    assert message.blocks[2] == {"type": "context", "elements": [mrkdwn(
        ":arrows_counterclockwise: *Flaky*: passed on a retry; flaky 3 of the last 10 runs")]}
    assert message.blocks[3] == section(
        f"```\npassed on attempt 2; before that:\nattempt 1 failed: {REFUSED}\n```")
    assert message.blocks[4] == {"type": "context", "elements": [mrkdwn("2 attempts")]}
    assert_valid(message)


def test_a_failure_that_was_flaky_lately_says_so_after_whether_it_is_news() -> None:
    failed = check("health", "Health", Status.FAIL, summary="expected 200, got 503")
    known = known_state(None, None, flaky=FlakyHistory("health", flaky=2, runs=10))
    never = known_state(None, None, flaky=FlakyHistory("health", flaky=0, runs=10))

    context = render_failure_reply(failed, known=known).blocks[2]
    assert context == {"type": "context", "elements": [mrkdwn(
        ":new: *New failure*: not failing in earlier runs · flaky 2 of the last 10 runs")]}
    assert never == KnownState.new()  # never flaky: nothing to add


def test_flaky_history_reads_naturally() -> None:
    assert flaky_history_words(FlakyHistory("a", flaky=3, runs=10)) == \
        "flaky 3 of the last 10 runs"
    assert flaky_history_words(FlakyHistory("a", flaky=1, runs=4)) == \
        "flaky 1 of the last 4 runs"
    assert flaky_history_words(FlakyHistory("a", flaky=1, runs=1)) == \
        "flaky in its only run on record"


def test_history_counts_flaky_and_slow_among_the_passes() -> None:
    run = SimpleNamespace(
        id=UUID("0192a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"), environment="staging",
        status=RunStatus.PASSED, trigger_kind=TriggerKind.SLASH, trigger_detail="/smoketest",
        requested_by=None, deploy=None, status_reason=None,
        created_at=datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc), started_at=None,
        counts=RunCounts(passed=3, flaky=1, slow=1))
    line = render_history([run]).blocks[0]["text"]["text"].splitlines()[1]

    assert line.startswith(":white_check_mark: *staging* passed · 3/3 passed (1 flaky, 1 slow) · ")
