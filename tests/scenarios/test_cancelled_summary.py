"""A cancelled run's summary tells the whole truth, end to end: who cancelled it, that the
check it stopped never ran (not PASS), the re-run buttons; and a re-run from them says its
summary goes into this run's thread (a link in the workspace), where it then appears."""

from __future__ import annotations

import json

from tests.scenarios.conftest import CHANNEL, SUITE, BotStack
from tests.scenarios.scenario_support import run_rows, slow_suite, summary_ts


def test_cancelled_run_names_who_cancelled_and_offers_reruns_into_its_thread(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(slow_suite(bot_stack, seconds=30))
    bot_stack.start_worker()
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    run_id = bot_stack.wait_for(lambda: [r for r in run_rows(bot_stack) if r[1] == "running"],
                                what="the run to start")[0][0]
    ts = bot_stack.wait_for(lambda: summary_ts(bot_stack, run_id), what="the summary")
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT 1 FROM check_results WHERE run_id = %s AND check_id = 'health'", (run_id,)),
        what="the quick check's result")

    cancel = bot_stack.send(bot_stack.slack.slash_command("cancel staging", user_id="U0HUMAN002"))
    assert cancel.json()["text"] == "Cancelling 1 run(s) of staging."
    summary = bot_stack.wait_for(
        lambda: (m := bot_stack.emulator.message(CHANNEL, ts)).text.startswith(
            "Smoke test of staging cancelled") and m, timeout=20, what="the cancelled summary")

    assert summary.text == ("Smoke test of staging cancelled: stopped after 1 of 2 checks, "
                            "1 failed: cancelled by <@U0HUMAN002>")
    sections = [b["text"]["text"] for b in summary.blocks if b["type"] == "section"]
    assert sections[0] == (":octagonal_sign: *SMOKE TESTS CANCELLED*: stopped after 1 of 2 "
                           "checks, 1 failed: cancelled by <@U0HUMAN002>")
    assert sections[1] == (
        "```\n"
        "Category                 Checks  Passed  Failed  Skipped  Status\n"
        "------------------------------------------------------------------\n"
        "Health &amp; Infrastructure       2       0       1        1  FAIL\n"
        "------------------------------------------------------------------\n"
        "TOTAL                         2       0       1        1  FAIL\n"
        "```")
    assert sections[3] == "*Skipped checks* (not run)\n• `slow`: cancelled before it finished"
    [actions] = [b for b in summary.blocks if b["type"] == "actions"]
    assert [(e["action_id"], e["value"]) for e in actions["elements"]] == [
        ("rerun_failed", run_id), ("rerun_all", run_id), ("acknowledge", run_id)]
    assert bot_stack.query("SELECT status_reason FROM runs WHERE id = %s", (run_id,)) == [
        ("cancelled by <@U0HUMAN002>",)]

    # Re-run all, from the cancelled summary: its reply says where the summary goes.
    bot_stack.write_suite(SUITE.format(base_url=bot_stack.target_url, channel=CHANNEL))
    click = bot_stack.slack.block_actions(action_id="rerun_all", message_ts=ts)
    assert bot_stack.send(click).status_code == 200
    replies = bot_stack.wait_for(lambda: [c.params for c in bot_stack.emulator.calls(
        "response_url") if c.status == 200], what="the re-run's reply")
    link = f"https://smokebot-test.slack.com/archives/{CHANNEL}/p{ts.replace('.', '')}"
    assert replies[-1]["text"].startswith("Queued a re-run of staging (run ")
    assert replies[-1]["text"].endswith(f"its summary appears in <{link}|the original run's "
                                        f"thread>.")
    rerun = bot_stack.wait_for(
        lambda: [m for m in bot_stack.emulator.thread(CHANNEL, ts)
                 if m.text.startswith("Smoke test of staging failed")],
        what="the re-run's summary, in the cancelled run's thread")[0]
    assert "Re-run all by <@U0HUMAN001>" in json.dumps(rerun.blocks)
