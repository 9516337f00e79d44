"""An environment with `confirm: true` (production here) confirms every run a person starts:
`/smoketest production`, Re-run failed, Re-run all and `@smokebot rerun` in a run's thread.
Nothing starts until the confirmation's button is clicked, then exactly one run starts; each
step is its own audit action, tied together by the request's id and, once there is one, the
run's."""

from __future__ import annotations

import json
from typing import Any

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import final_summary, run_rows
from tests.support.slack_emulator import EphemeralMessage, Message

ALICE = "U0HUMAN001"  # the one user production allows


def _audit(stack: BotStack) -> list[tuple[Any, ...]]:
    """(actor, action, environment, allowed, run_id, request, rerun_of) of every entry."""
    return stack.query("SELECT actor, action, environment, allowed, run_id::text,"
                       " detail->>'request', detail->>'rerun_of' FROM audit_log ORDER BY id")


def _runs(stack: BotStack) -> list[tuple[Any, ...]]:
    """(id, status, trigger_kind, trigger_detail, filters, rerun_of) of every run."""
    return stack.query("SELECT id::text, status, trigger_kind, trigger_detail, filters,"
                       " rerun_of::text FROM runs ORDER BY created_at, id")


def _as_message(ephemeral: EphemeralMessage) -> dict[str, Any]:
    return {"type": "message", "ts": ephemeral.ts, "text": ephemeral.text,
            "blocks": ephemeral.blocks}


def _told(stack: BotStack, source: str = "response_url") -> EphemeralMessage:
    """The last thing only ALICE saw."""
    return [e for e in stack.emulator.ephemerals(CHANNEL, ALICE) if e.source == source][-1]


def _click(stack: BotStack, action_id: str, ephemeral: EphemeralMessage) -> None:
    click = stack.slack.block_actions(action_id=action_id, message_ts=ephemeral.ts,
                                      message=_as_message(ephemeral))
    assert stack.send(click).status_code == 200


def _settled(stack: BotStack, count: int) -> list[tuple[Any, ...]]:
    """The runs once there are `count` and every one has ended and said so in Slack."""
    def done() -> list[tuple[Any, ...]] | None:
        runs = _runs(stack)
        pending = stack.query("SELECT count(*) FROM outbox_messages"
                              " WHERE delivered_at IS NULL AND gave_up_at IS NULL")[0][0]
        ended = len(runs) == count and all(r[1] not in ("queued", "running") for r in runs)
        return runs if ended and pending == 0 else None
    return stack.wait_for(done, what=f"{count} run(s) to end and be delivered")


def _confirmed_production_run(stack: BotStack) -> tuple[Message, str]:
    """`/smoketest production`, confirmed: its final summary (health fails) and run id."""
    stack.start_worker()
    asked = stack.send(stack.slack.slash_command("production")).json()
    ephemeral = {"type": "message", "ts": "1700000000.000100", "text": asked["text"],
                 "blocks": asked["blocks"]}
    click = stack.slack.block_actions(action_id="confirm_run", message_ts=ephemeral["ts"],
                                      message=ephemeral)
    assert stack.send(click).status_code == 200
    [first] = _settled(stack, 1)
    summary = stack.wait_for(lambda: final_summary(stack), what="the final summary")
    return summary, first[0]


def test_slash_asks_first_and_the_click_starts_one_run_audited_step_by_step(
        bot_stack: BotStack) -> None:
    bot_stack.start_worker()
    asked = bot_stack.send(bot_stack.slack.slash_command("production")).json()
    assert asked["text"] == "Confirm: run the smoke tests on production?"
    request = json.loads(asked["blocks"][1]["elements"][0]["value"])["request"]
    assert run_rows(bot_stack) == []

    ephemeral = {"type": "message", "ts": "1700000000.000100", "text": asked["text"],
                 "blocks": asked["blocks"]}
    click = bot_stack.slack.block_actions(action_id="confirm_run", message_ts=ephemeral["ts"],
                                          message=ephemeral)
    assert bot_stack.send(click).status_code == 200

    [(run_id, status, kind, detail, filters, rerun_of)] = _settled(bot_stack, 1)
    # One space before "(confirmed)" when there are no filters.
    assert (status, kind, detail, filters, rerun_of) == (
        "failed", "slash", "/smoketest production (confirmed)", [], None)
    assert _audit(bot_stack) == [
        (ALICE, "confirm-requested", "production", True, None, request, None),
        (ALICE, "confirmed", "production", True, None, request, None),
        (ALICE, "run", "production", True, run_id, request, None)]


def test_rerun_failed_asks_first_then_reruns_the_failed_checks_once(
        bot_stack: BotStack) -> None:
    summary, first = _confirmed_production_run(bot_stack)
    before = len(_audit(bot_stack))

    click = bot_stack.slack.block_actions(action_id="rerun_failed", message_ts=summary.ts)
    assert bot_stack.send(click).status_code == 200
    asked = _told(bot_stack)
    assert asked.text == f"Confirm: re-run the failed checks of run {first[:8]} on production?"
    assert "Only: `health`" in json.dumps(asked.blocks)
    assert len(_runs(bot_stack)) == 1, "nothing starts before the confirmation"

    _click(bot_stack, "confirm_run", asked)
    rerun = _settled(bot_stack, 2)[1]
    assert rerun[2:] == ("button", f"Re-run failed by <@{ALICE}> (confirmed)", ["health"], first)
    assert _told(bot_stack).text.startswith("Queued a ")  # the click's answer
    trail = _audit(bot_stack)[before:]
    request = trail[0][5]
    assert trail == [
        (ALICE, "confirm-requested", "production", True, None, request, first),
        (ALICE, "confirmed", "production", True, None, request, first),
        (ALICE, "rerun", "production", True, rerun[0], request, first)]


def test_rerun_all_asks_first_and_a_cancelled_confirmation_starts_nothing(
        bot_stack: BotStack) -> None:
    summary, first = _confirmed_production_run(bot_stack)
    before = len(_audit(bot_stack))

    rerun_all = bot_stack.slack.block_actions(action_id="rerun_all", message_ts=summary.ts)
    assert bot_stack.send(rerun_all).status_code == 200
    asked = _told(bot_stack)
    assert asked.text == f"Confirm: re-run all the checks of run {first[:8]} on production?"
    _click(bot_stack, "cancel_confirm", asked)
    assert len(_runs(bot_stack)) == 1
    cancelled = bot_stack.wait_for(lambda: _audit(bot_stack)[before:][1:], what="the cancel")
    assert cancelled == [(ALICE, "confirm-cancelled", "production", True, None,
                          _audit(bot_stack)[before][5], first)]

    again = bot_stack.slack.block_actions(action_id="rerun_all", message_ts=summary.ts)
    assert bot_stack.send(again).status_code == 200
    assert len(_runs(bot_stack)) == 1
    _click(bot_stack, "confirm_run", _told(bot_stack))
    rerun = _settled(bot_stack, 2)[1]
    assert rerun[2:] == ("button", f"Re-run all by <@{ALICE}> (confirmed)", [], first)
    actions = [(a[1], a[4]) for a in _audit(bot_stack)[before:]]
    assert actions == [("confirm-requested", None), ("confirm-cancelled", None),
                       ("confirm-requested", None), ("confirmed", None), ("rerun", rerun[0])]


def test_a_mention_rerun_asks_first_in_the_thread_to_that_person_alone(
        bot_stack: BotStack) -> None:
    summary, first = _confirmed_production_run(bot_stack)
    posts = len(bot_stack.emulator.calls("chat.postMessage"))
    before = len(_audit(bot_stack))

    mention = bot_stack.slack.app_mention("<@U0SMOKEBOT> rerun", thread_ts=summary.ts)
    assert bot_stack.send(mention).status_code == 200
    asked = _told(bot_stack, "chat.postEphemeral")
    assert (asked.thread_ts, asked.text) == (
        summary.ts, f"Confirm: re-run all the checks of run {first[:8]} on production?")
    assert len(bot_stack.emulator.calls("chat.postMessage")) == posts
    assert len(_runs(bot_stack)) == 1, "nothing starts before the confirmation"

    _click(bot_stack, "confirm_run", asked)
    rerun = _settled(bot_stack, 2)[1]
    assert rerun[2:] == ("mention", f"@smokebot rerun by <@{ALICE}> (confirmed)", [], first)
    trail = _audit(bot_stack)[before:]
    assert [(a[1], a[4], a[6]) for a in trail] == [
        ("confirm-requested", None, first), ("confirmed", None, first),
        ("rerun", rerun[0], first)]
    assert len({a[5] for a in trail}) == 1, "one request id ties the three together"
    # The re-run's summary is in the original's thread.
    assert bot_stack.query("SELECT thread_ts FROM slack_messages WHERE run_id = %s"
                           " AND kind = 'summary'", (rerun[0],)) == [(summary.ts,)]
