"""Slack misbehaving while a run reports: 429s are retried after Retry-After; while Slack is
down the run's messages wait in the store's outbox and are delivered once Slack is back; a
channel the bot cannot post to gets the requester an ephemeral "how to fix it", and the run's
results are stored all the same."""

from __future__ import annotations

import pytest

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import (
    final_summary,
    message_text,
    run_rows,
    slow_suite,
    summary_ts,
)


def test_rate_limited_and_failed_calls_are_retried_and_the_summary_arrives(
        bot_stack: BotStack) -> None:
    bot_stack.emulator.inject_rate_limit("chat.postMessage", times=1, retry_after=1)
    bot_stack.emulator.inject_error("chat.postMessage", status=503, times=1)
    bot_stack.emulator.inject_rate_limit("chat.update", times=2, retry_after=1)
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))

    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
    assert summary.text.startswith("Smoke test of staging failed: ")
    refused = [(c.method, c.status) for c in bot_stack.emulator.calls() if c.status != 200]
    assert sorted(refused) == [("chat.postMessage", 429), ("chat.postMessage", 503),
                               ("chat.update", 429), ("chat.update", 429)]
    assert len([m for m in bot_stack.emulator.messages(CHANNEL) if not m.thread_ts]) == 1
    replies = bot_stack.wait_for(lambda: [r for r in bot_stack.emulator.thread(CHANNEL,
                                                                                 summary.ts)
                                          if "(health) failed" in r.text],
                                 what="the failure reply")
    assert len(replies) == 1
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL") == [(0,)],
        what="nothing left in the outbox")
    assert bot_stack.query("SELECT count(*) FROM outbox_messages WHERE gave_up_at IS NOT NULL") \
        == [(0,)]


def test_summary_waits_in_the_outbox_while_slack_is_down_and_is_delivered_after(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(slow_suite(bot_stack, seconds=3))
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    run_id = bot_stack.wait_for(lambda: run_rows(bot_stack), what="the run")[0][0]
    ts = bot_stack.wait_for(lambda: summary_ts(bot_stack, run_id), what="the summary")

    bot_stack.emulator.begin_outage(503)
    bot_stack.wait_for(lambda: run_rows(bot_stack)[0][1] == "failed", what="the run to finish")
    pending = bot_stack.wait_for(
        lambda: bot_stack.query("SELECT kind, payload->>'text' FROM outbox_messages"
                                " WHERE delivered_at IS NULL AND run_id = %s ORDER BY id",
                                (run_id,)),
        what="the summary to be queued in the outbox")
    assert [kind for kind, _ in pending] == ["summary", "failure_reply", "report"]
    assert pending[0][1].startswith("Smoke test of staging failed: ")
    assert "running" in bot_stack.emulator.message(CHANNEL, ts).text, "Slack did not get it"

    bot_stack.emulator.end_outage()

    def delivered() -> bool:
        return "failed" in bot_stack.emulator.message(CHANNEL, ts).text.split(":", 1)[0]

    bot_stack.wait_for(delivered, timeout=45, what="the outbox delivery once Slack is back")
    summary = bot_stack.emulator.message(CHANNEL, ts)
    assert summary.text.startswith("Smoke test of staging failed: ")
    assert '"action_id": "rerun_failed"' in message_text(summary)
    replies = bot_stack.wait_for(lambda: [r for r in bot_stack.emulator.thread(CHANNEL, ts)
                                          if "(health) failed" in r.text],
                                 what="the failure reply delivered with the summary")
    assert len(replies) == 1
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL") == [(0,)],
        what="nothing left in the outbox")


def test_run_that_could_never_post_gets_its_summary_and_replies_once_slack_is_back(
        bot_stack: BotStack) -> None:
    bot_stack.emulator.begin_outage(503)
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    bot_stack.wait_for(lambda: run_rows(bot_stack) and run_rows(bot_stack)[0][1] == "failed",
                       what="the run to finish")
    pending = bot_stack.wait_for(
        lambda: bot_stack.query("SELECT kind FROM outbox_messages WHERE delivered_at IS NULL"
                                " ORDER BY id"),
        what="the summary to be queued in the outbox")
    # The summary the run began with, then its ending: never posted, so posted in that order.
    assert pending == [("summary",), ("summary",), ("failure_reply",), ("report",)]
    assert bot_stack.emulator.messages(CHANNEL) == []

    bot_stack.emulator.end_outage()
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), timeout=45,
                                 what="the summary delivered from the outbox")
    assert summary.text.startswith("Smoke test of staging failed: ")
    # The reply follows the summary's final edit: wait for it, then make sure it is alone.
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT count(*) FROM outbox_messages WHERE delivered_at IS NULL") == [(0,)],
        what="nothing left in the outbox")
    replies = [r for r in bot_stack.emulator.thread(CHANNEL, summary.ts)
               if "(health) failed" in r.text]
    assert len(replies) == 1
    run_id = run_rows(bot_stack)[0][0]
    assert summary_ts(bot_stack, run_id) == summary.ts  # buttons and `rerun` find the run
    assert len(bot_stack.emulator.messages(CHANNEL)) == 1  # one summary, posted once
    bot_stack.wait_for(lambda: [f for f in bot_stack.emulator.files() if f.shares],
                       what="the report attached")


@pytest.mark.parametrize(("arrange", "problem", "advice"), [
    ("kick", "not_in_channel", "Invite me with `/invite @smokebot` and try again."),
    ("archive", "is_archived", "is archived, so I can't post there. Unarchive it"),
])
def test_channel_the_bot_cannot_post_to_gets_the_requester_told_how_to_fix_it(
        bot_stack: BotStack, arrange: str, problem: str, advice: str) -> None:
    if arrange == "kick":
        bot_stack.emulator.set_bot_membership(CHANNEL, False)
    else:
        bot_stack.emulator.archive_channel(CHANNEL)
    bot_stack.start_worker()
    ack = bot_stack.send(bot_stack.slack.slash_command("staging")).json()
    assert "Queued a smoke test of staging" in ack["text"]

    def told() -> list[object]:
        return [e for e in bot_stack.emulator.ephemerals(CHANNEL, "U0HUMAN001")
                if e.source == "response_url"]

    ephemeral = bot_stack.wait_for(told, what="the ephemeral reply via response_url")[0]
    assert advice in ephemeral.text
    assert "The run's results are stored: `/smoketest history` shows them." in ephemeral.text
    refused = [c for c in bot_stack.emulator.calls("chat.postMessage") if c.error == problem]
    assert refused, f"the bot tried to post and Slack said {problem}"

    bot_stack.wait_for(lambda: run_rows(bot_stack)[0][1] == "failed", what="the run to finish")
    results = bot_stack.query("SELECT check_id, status FROM check_results ORDER BY check_id")
    assert results == [("health", "fail"), ("version", "pass")]
    assert bot_stack.emulator.messages(CHANNEL) == []
