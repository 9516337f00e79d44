"""What a mention of the bot is answered with, seen by the person who mentioned it alone
(chat.postEphemeral, in the thread when the mention was in one): a refused `@smokebot rerun`
says why, and a mention that asks nothing the bot does gets a short help."""

from __future__ import annotations

from bot.slack.render import render_mention_help
from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import final_summary, outbox_drained, run_rows

OUTSIDER = "U0OTHER002"  # not among production's allowed users


def _private(stack: BotStack, user: str) -> list[tuple[str | None, str]]:
    """(thread_ts, text) of what chat.postEphemeral showed `user`."""
    return [(e.thread_ts, e.text) for e in stack.emulator.ephemerals(CHANNEL, user)
            if e.source == "chat.postEphemeral"]


def test_a_refused_mention_rerun_is_told_to_that_person_alone_and_audited(
        bot_stack: BotStack) -> None:
    bot_stack.start_worker()
    # staging's run, then production guarded by user: a thread of a production run is needed.
    bot_stack.write_suite(bot_stack.suite_path.read_text().replace(
        "slack: {channel: C0SMOKE001}\n", "slack: {channel: C0SMOKE001, allowed_users: "
        "[U0HUMAN001]}\n", 1))
    assert "Queued" in bot_stack.send(bot_stack.slack.slash_command("staging")).json()["text"]
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
    # The failure replies follow the final summary: counted once all are out.
    bot_stack.wait_for(lambda: outbox_drained(bot_stack), what="the run's messages delivered")
    posts = len(bot_stack.emulator.calls("chat.postMessage"))

    mention = bot_stack.slack.app_mention("<@U0SMOKEBOT> rerun please", user_id=OUTSIDER,
                                          thread_ts=summary.ts)
    assert bot_stack.send(mention).status_code == 200

    assert _private(bot_stack, OUTSIDER) == [
        (summary.ts, "Not allowed: only the listed users may test staging.")]
    assert len(bot_stack.emulator.calls("chat.postMessage")) == posts, "nothing said in public"
    assert [m.text for m in bot_stack.emulator.thread(CHANNEL, summary.ts)
            if "Not allowed" in m.text] == []
    assert len(run_rows(bot_stack)) == 1
    assert bot_stack.query(
        "SELECT actor, action, environment, allowed, detail->>'reason' FROM audit_log"
        " WHERE actor = %s", (OUTSIDER,)) == [
        (OUTSIDER, "rerun", "staging", False, "only the listed users may test staging.")]


def test_a_mention_that_asks_nothing_the_bot_does_gets_a_short_help(bot_stack: BotStack) -> None:
    help_text = render_mention_help().text
    outside = bot_stack.slack.app_mention("<@U0SMOKEBOT> hello")
    rerun_outside = bot_stack.slack.app_mention("<@U0SMOKEBOT> rerun")
    parent = bot_stack.emulator.add_user_message(CHANNEL, "lunch?")
    other_thread = bot_stack.slack.app_mention("<@U0SMOKEBOT> rerun", thread_ts=parent)
    for request in (outside, rerun_outside, other_thread):
        assert bot_stack.send(request).status_code == 200

    assert _private(bot_stack, "U0HUMAN001") == [
        (None, help_text), (None, help_text), (parent, help_text)]
    assert help_text.startswith("@smokebot rerun in a smoke test run's thread runs it again")
    assert bot_stack.emulator.calls("chat.postMessage") == []
    assert run_rows(bot_stack) == []
    assert bot_stack.query("SELECT count(*) FROM audit_log") == [(0,)]
