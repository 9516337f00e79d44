"""The Slack app manifest's scopes against what the bot really calls: a run with failures,
a post Slack answered with a 5xx (so the deliverer looks for it first), the acknowledge modal
and mentions, end to end against the emulator; every Web API method called must be one the
manifest holds the scopes of (bot/slack/manifest.py). tests/bot/cli/test_slack_manifest.py
checks the other way round, that every method listed is called somewhere in `bot/`."""

from __future__ import annotations

from bot.slack.manifest import METHOD_SCOPES
from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import final_summary, outbox_drained

NOT_WEB_API = {"response_url", "upload_url"}  # the URLs Slack hands out: no scope, no token


def test_every_method_a_run_and_its_interactions_call_is_in_the_manifest(
        bot_stack: BotStack) -> None:
    bot_stack.emulator.inject_error("chat.postMessage", status=500, times=2)
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
    bot_stack.wait_for(lambda: outbox_drained(bot_stack), what="every message delivered")
    click = bot_stack.slack.block_actions(action_id="acknowledge", message_ts=summary.ts)
    assert bot_stack.send(click).status_code == 200
    assert bot_stack.send(bot_stack.slack.app_mention("<@U0SMOKEBOT> hello")).status_code == 200
    bot_stack.wait_for(lambda: bot_stack.emulator.ephemerals(CHANNEL), what="the mention's help")

    called = {call.method for call in bot_stack.emulator.calls()} - NOT_WEB_API

    assert called - set(METHOD_SCOPES) == set(), "called, but the manifest lacks its scopes"
    # The flows above reach these; the rest of the table is proved used by the source scan.
    assert called >= {"chat.postMessage", "chat.update", "chat.postEphemeral", "views.open",
                      "files.getUploadURLExternal", "files.completeUploadExternal"}
    assert called & {"conversations.history", "conversations.replies"}, \
        "after a 5xx the deliverer looks in Slack before posting again"
