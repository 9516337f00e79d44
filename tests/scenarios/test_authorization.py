"""Who may run what from where: refusals are ephemeral and audited (allowed=false); user
groups are looked up in Slack; production runs only after its confirmation button."""

from __future__ import annotations

import json

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import final_summary, run_rows

ONCALL = "S0ONCALL01"
OTHER_CHANNEL = "C0RANDOM01"


def _suite(stack: BotStack) -> str:
    return f"""\
suite: scenario
environments:
  staging:
    variables: {{base_url: "{stack.target_url}"}}
    slack: {{channel: {CHANNEL}, allowed_channels: [{CHANNEL}],
             allowed_usergroups: [{ONCALL}]}}
  production:
    variables: {{base_url: "{stack.target_url}"}}
    slack: {{channel: {CHANNEL}, confirm: true, allowed_users: [U0HUMAN001]}}
  sandbox:
    variables: {{base_url: "{stack.target_url}"}}
    slack: {{channel: {CHANNEL}, allowed_usergroups: [S0GONE0001]}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: version
        name: Deployed version
        type: http
        url: ${{base_url}}/api/version
        assert: ["version exists"]
"""


def _audit(stack: BotStack) -> list[tuple[object, ...]]:
    return stack.query("SELECT actor, action, environment, allowed, detail->>'channel',"
                       " detail->>'reason' FROM audit_log ORDER BY id")


def test_channel_and_user_refusals_are_ephemeral_and_audited(bot_stack: BotStack) -> None:
    bot_stack.write_suite(_suite(bot_stack))
    bot_stack.emulator.add_channel(OTHER_CHANNEL, "random")
    bot_stack.emulator.add_usergroup(ONCALL, ["U0HUMAN001", "W0HUMAN003"])

    wrong_channel = bot_stack.send(bot_stack.slack.slash_command(
        "staging", channel_id=OTHER_CHANNEL)).json()
    assert wrong_channel["response_type"] == "ephemeral"
    assert wrong_channel["text"] == (
        f"Not allowed: staging can only be tested from <#{CHANNEL}>.")
    outsider = bot_stack.send(bot_stack.slack.slash_command(
        "staging", user_id="U0OUTSIDE1")).json()
    assert outsider["response_type"] == "ephemeral"
    assert outsider["text"] == (f"Not allowed: only members of <!subteam^{ONCALL}> or the "
                                f"listed users may test staging.")
    member = bot_stack.send(bot_stack.slack.slash_command("staging")).json()
    assert "Queued a smoke test of staging" in member["text"]

    # The allowed request's entry is written off the ack path: wait for it.
    bot_stack.wait_for(lambda: len(_audit(bot_stack)) == 3, what="the third audit entry")
    assert _audit(bot_stack) == [
        ("U0HUMAN001", "run", "staging", False, OTHER_CHANNEL,
         f"staging can only be tested from <#{CHANNEL}>."),
        ("U0OUTSIDE1", "run", "staging", False, CHANNEL,
         f"only members of <!subteam^{ONCALL}> or the listed users may test staging."),
        ("U0HUMAN001", "run", "staging", True, CHANNEL, None),  # a start has no reason
    ]
    lookups = bot_stack.emulator.calls("usergroups.users.list")
    assert [c.params.get("usergroup") for c in lookups] == [ONCALL]  # then cached
    assert [row[1] for row in run_rows(bot_stack)] == ["queued"]


def test_a_user_group_slack_does_not_know_gets_a_clear_refusal(bot_stack: BotStack) -> None:
    bot_stack.write_suite(_suite(bot_stack))
    response = bot_stack.send(bot_stack.slack.slash_command("sandbox"))
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"] == ("Not allowed: could not look up the members of "
                            "<!subteam^S0GONE0001> in Slack (no_such_subteam); ask an admin "
                            "to fix allowed_usergroups in the suite file.")
    assert [row[3] for row in _audit(bot_stack)] == [False]
    assert run_rows(bot_stack) == []


def test_production_runs_only_after_its_confirmation_button(bot_stack: BotStack) -> None:
    bot_stack.write_suite(_suite(bot_stack))
    bot_stack.start_worker()
    asked = bot_stack.send(bot_stack.slack.slash_command("production")).json()
    assert asked["response_type"] == "ephemeral"
    assert asked["text"] == "Confirm: run the smoke tests on production?"
    assert run_rows(bot_stack) == []

    refused = bot_stack.send(bot_stack.slack.slash_command(
        "production", user_id="U0OTHER002")).json()
    assert refused["text"] == "Not allowed: only the listed users may test production."

    ephemeral = {"type": "message", "ts": "1700000000.000100", "text": asked["text"],
                 "blocks": asked["blocks"]}
    click = bot_stack.slack.block_actions(action_id="confirm_run", message_ts=ephemeral["ts"],
                                          message=ephemeral)
    value = json.loads(click.payload["actions"][0]["value"])
    assert value == {"environment": "production", "filters": [], "trigger": "slash",
                     "request": value["request"]}
    assert bot_stack.send(click).status_code == 200
    replies = [c for c in bot_stack.emulator.calls("response_url") if c.status == 200]
    assert replies and "Queued a smoke test of production" in replies[-1].params["text"]

    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="production's summary")
    assert summary.text.startswith("Smoke test of production passed")
    assert [(row[1], row[2]) for row in run_rows(bot_stack)] == [("passed", "slash")]
    assert [(a[0], a[1], a[2], a[3]) for a in _audit(bot_stack)] == [
        ("U0HUMAN001", "confirm-requested", "production", True),
        ("U0OTHER002", "run", "production", False),
        ("U0HUMAN001", "confirmed", "production", True),
        ("U0HUMAN001", "run", "production", True)]


def test_only_someone_allowed_to_run_an_environment_may_cancel_its_run(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(_suite(bot_stack))
    bot_stack.emulator.add_channel(OTHER_CHANNEL, "random")
    bot_stack.emulator.add_usergroup(ONCALL, ["U0HUMAN001"])
    assert "Queued" in bot_stack.send(bot_stack.slack.slash_command("staging")).json()["text"]

    for user, channel in (("U0OUTSIDE1", CHANNEL), ("U0HUMAN001", OTHER_CHANNEL)):
        refused = bot_stack.send(bot_stack.slack.slash_command(
            "cancel staging", user_id=user, channel_id=channel)).json()
        assert refused["response_type"] == "ephemeral"
        assert refused["text"].startswith("Not allowed: ")
    assert [row[1] for row in run_rows(bot_stack)] == ["queued"]

    allowed = bot_stack.send(bot_stack.slack.slash_command("cancel staging")).json()
    assert allowed["text"] == "Cancelling 1 run(s) of staging."
    assert [row[1] for row in run_rows(bot_stack)] == ["cancelled"]
    assert [(a[0], a[3], a[4]) for a in _audit(bot_stack) if a[1] == "cancel"] == [
        ("U0OUTSIDE1", False, CHANNEL), ("U0HUMAN001", False, OTHER_CHANNEL),
        ("U0HUMAN001", True, CHANNEL)]


def test_only_those_who_may_run_an_environment_may_acknowledge_its_failures(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(_suite(bot_stack).replace(
        "url: ${base_url}/api/version", "url: ${base_url}/api/version\n"
        "        status: 418"))  # fails, so the final summary has an Acknowledge button
    bot_stack.emulator.add_usergroup(ONCALL, ["U0HUMAN001"])
    bot_stack.start_worker()
    assert "Queued" in bot_stack.send(bot_stack.slack.slash_command("staging")).json()["text"]
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")

    click = bot_stack.slack.block_actions(action_id="acknowledge", message_ts=summary.ts,
                                          channel_id=CHANNEL, user_id="U0OUTSIDE1")
    assert bot_stack.send(click).status_code == 200

    def told() -> list[object]:
        return [e for e in bot_stack.emulator.ephemerals(CHANNEL, "U0OUTSIDE1")
                if e.source == "response_url"]

    refusal = bot_stack.wait_for(told, what="the refusal")[0]
    assert refusal.text == (f"Not allowed: only members of <!subteam^{ONCALL}> or the listed "
                            f"users may test staging.")
    assert bot_stack.emulator.views() == []  # no modal opened
    bot_stack.wait_for(lambda: any(row[:4] == ("U0OUTSIDE1", "open-acknowledge", "staging", False)
                                   for row in _audit(bot_stack)), what="the audited refusal")
