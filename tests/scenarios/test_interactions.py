"""Buttons, the Acknowledge modal and `@smokebot rerun`, end to end."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import final_summary, message_text, run_rows


def test_acknowledged_failure_is_recorded_posted_and_shown_as_known_in_the_rerun(
        bot_stack: BotStack) -> None:
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
    run_id = run_rows(bot_stack)[0][0]
    first_reply = bot_stack.wait_for(
        lambda: [r for r in bot_stack.emulator.thread(CHANNEL, summary.ts)
                 if "(health) failed" in r.text], what="the failure reply")[0]
    assert ":new: *New failure*" in message_text(first_reply)

    click = bot_stack.slack.block_actions(action_id="acknowledge", message_ts=summary.ts)
    assert bot_stack.send(click).status_code == 200
    assert [c.error for c in bot_stack.emulator.calls("views.open")] == [None]
    modal = bot_stack.emulator.views()[0].view
    assert modal["callback_id"] == "ack_submit" and modal["private_metadata"] == run_id
    option = modal["blocks"][1]["element"]["options"][0]
    assert option["value"] == "health"

    submission = bot_stack.slack.view_submission(modal, values={
        "checks": {"checks": {"type": "checkboxes", "selected_options": [option]}},
        "reason": {"reason": "OpenAI is degraded upstream; tracked in INC-42"},
        "expiry": {"expiry": "7"},
    })
    submitted = bot_stack.send(submission)
    assert submitted.status_code == 200 and submitted.text == ""

    acks = bot_stack.query("SELECT environment, check_id, reason, acknowledged_by, expires_at,"
                           " run_id::text FROM acknowledgements")
    assert [a[:4] + a[5:] for a in acks] == [
        ("staging", "health", "OpenAI is degraded upstream; tracked in INC-42", "U0HUMAN001",
         run_id)]
    expected_expiry = datetime.now(timezone.utc) + timedelta(days=7)
    assert abs((acks[0][4] - expected_expiry).total_seconds()) < 60
    assert bot_stack.query("SELECT actor, allowed FROM audit_log WHERE action = 'acknowledge'") \
        == [("U0HUMAN001", True)]
    # Posted in the background once the modal was answered: wait for it.
    posted = bot_stack.wait_for(lambda: [r for r in bot_stack.emulator.thread(CHANNEL, summary.ts)
                                         if "acknowledged" in r.text], what="the notice")
    assert [p.text for p in posted] == [
        "<@U0HUMAN001> acknowledged health: OpenAI is degraded upstream; tracked in INC-42"]

    # `@smokebot rerun` in the thread: the same checks again, into the same thread.
    mention = bot_stack.slack.app_mention("<@U0SMOKEBOT> rerun", thread_ts=summary.ts)
    assert bot_stack.send(mention).status_code == 200

    def rerun_finished() -> bool:
        rows = run_rows(bot_stack)
        return len(rows) == 2 and rows[1][1] == "failed"

    bot_stack.wait_for(rerun_finished, what="the re-run to finish")
    rerun_id = run_rows(bot_stack)[1][0]
    assert bot_stack.query("SELECT trigger_kind, rerun_of::text FROM runs WHERE id = %s",
                           (rerun_id,)) == [("mention", run_id)]
    assert len([m for m in bot_stack.emulator.messages(CHANNEL) if not m.thread_ts]) == 1

    def known_reply() -> list[object]:
        return [r for r in bot_stack.emulator.thread(CHANNEL, summary.ts)
                if "(health) failed" in r.text and "*Known*" in message_text(r)]

    reply = bot_stack.wait_for(known_reply, what="the re-run's failure reply, shown as known")[0]
    assert (":shushing_face: *Known*: acknowledged by <@U0HUMAN001> until "
            in message_text(reply))
    assert "OpenAI is degraded upstream; tracked in INC-42" in message_text(reply)
    rerun_summaries = [r for r in bot_stack.emulator.thread(CHANNEL, summary.ts)
                       if r.text.startswith("Smoke test of staging failed")]
    assert len(rerun_summaries) == 1
    assert bot_stack.query("SELECT channel, thread_ts FROM slack_messages WHERE run_id = %s"
                           " AND kind = 'summary'", (rerun_id,)) == [(CHANNEL, summary.ts)]
