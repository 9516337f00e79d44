"""The `/smoketest` sub-commands end to end: joining a run already going, status, history,
cancel, help and list."""

from __future__ import annotations

import json

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import message_text, run_rows, slow_suite, summary_ts


def _command(stack: BotStack, text: str, user_id: str = "U0HUMAN001") -> dict:
    body = stack.send(stack.slack.slash_command(text, user_id=user_id)).json()
    assert body["response_type"] == "ephemeral", body
    return body


def test_second_request_joins_the_running_run_then_status_history_and_cancel(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(slow_suite(bot_stack, seconds=30))
    bot_stack.start_worker()
    assert "Queued a smoke test of staging" in _command(bot_stack, "staging")["text"]
    run_id = bot_stack.wait_for(lambda: [r for r in run_rows(bot_stack) if r[1] == "running"],
                                what="the run to start")[0][0]
    ts = bot_stack.wait_for(lambda: summary_ts(bot_stack, run_id), what="the summary")
    # The workspace's own URL, from auth.test (the emulator's team domain).
    link = f"https://smokebot-test.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"

    joined = _command(bot_stack, "staging", user_id="U0HUMAN002")
    assert joined["text"] == "staging is already being smoke-tested; you joined that run."
    assert f"<{link}|Follow its summary>" in json.dumps(joined["blocks"])

    status = _command(bot_stack, "status")
    assert status["text"] == "1 running, 0 queued"
    status_blocks = json.dumps(status["blocks"], ensure_ascii=False)
    assert "*Running* (1)" in status_blocks and "*staging* running" in status_blocks

    history = _command(bot_stack, "history staging")
    history_blocks = json.dumps(history["blocks"], ensure_ascii=False)
    assert f"<{link}|thread>" in history_blocks
    assert "/smoketest staging by <@U0HUMAN001>" in history_blocks

    cancelling = _command(bot_stack, "cancel staging")
    assert cancelling["text"] == "Cancelling 1 run(s) of staging."

    def status_of_run() -> str:
        return bot_stack.query("SELECT status FROM runs WHERE id = %s", (run_id,))[0][0]

    bot_stack.wait_for(lambda: status_of_run() == "cancelled", timeout=15,
                       what="the run to end cancelled")
    bot_stack.wait_for(lambda: bot_stack.emulator.message(CHANNEL, ts).text.startswith(
        "Smoke test of staging cancelled"), what="the summary to say cancelled")
    summary = bot_stack.emulator.message(CHANNEL, ts)
    assert ":octagonal_sign: Smoke test: staging cancelled" in message_text(summary)
    audit = bot_stack.query("SELECT actor, allowed, detail->>'run_id' FROM audit_log"
                            " WHERE action = 'cancel'")
    assert audit == [("U0HUMAN001", True, run_id)]

    # One run executed: the joined request left no run of its own (it is audited as a join),
    # and one summary was posted.
    runs = {row[0]: row for row in run_rows(bot_stack)}
    assert list(runs) == [run_id] and runs[run_id][3] is not None
    joins = bot_stack.query("SELECT detail->>'run_id' FROM audit_log WHERE action = 'join'")
    assert joins == [(run_id,)]
    assert len([m for m in bot_stack.emulator.messages(CHANNEL) if not m.thread_ts]) == 1
    assert _command(bot_stack, "status")["text"] == "Nothing is queued or running."
    assert _command(bot_stack, "cancel staging")["text"] == \
        "Nothing is queued or running for staging."


def test_help_and_list_answer_without_running_anything(bot_stack: BotStack) -> None:
    help_reply = _command(bot_stack, "help")
    assert help_reply["text"] == "How to use /smoketest"
    help_text = json.dumps(help_reply["blocks"], ensure_ascii=False)
    for line in ("`/smoketest ENV [filters]`", "`/smoketest history [ENV]`",
                 "`/smoketest status`", "`/smoketest cancel [ENV]`", "`@smokebot rerun`",
                 "Environments: `staging`, `production`"):
        assert line in help_text
    assert _command(bot_stack, "")["text"] == "How to use /smoketest"

    listing = _command(bot_stack, "list")
    assert listing["text"] == "Checks of 2 environments"
    list_text = json.dumps(listing["blocks"], ensure_ascii=False)
    assert "*staging* (2 checks): `health` `version`" in list_text
    assert "*production* (2 checks): `health` `version`" in list_text

    assert _command(bot_stack, "history")["text"] == "No runs yet."
    assert run_rows(bot_stack) == []
