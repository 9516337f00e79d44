"""The replies to `/smoketest` and the buttons (confirmation, help, list, history, status,
cancelling, errors, refusals, joined) and a run's notices (interrupted, not in the channel)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest

from bot.records import DeployFacts, Run, RunCounts, RunStatus, SlackMessageKind, TriggerKind
from bot.records import SlackMessage as StoredSlackMessage
from bot.slack.render import (
    SlackMessage,
    render_cancelling,
    render_confirm_production,
    render_error,
    render_help,
    render_history,
    render_interrupted,
    render_joined,
    render_list,
    render_not_in_channel,
    render_refusal,
    render_status,
)
from checks.results import Verdict
from tests.bot.slack.render.render_support import RUN_ID, T0, assert_valid, button, section

# --- ephemeral replies -------------------------------------------------------------------------

def test_production_confirmation_carries_environment_and_filters_in_the_button() -> None:
    message = render_confirm_production("production", ["database", "health"])
    value = '{"environment":"production","filters":["database","health"]}'
    assert message == SlackMessage(
        text="Confirm: run the smoke tests on production?",
        blocks=[section(":warning: *production* is protected: confirm before the smoke tests "
                        "run on it.\nOnly: `database` `health`"),
                {"type": "actions", "elements": [
                    button("Run on production", "confirm_run", value, "danger"),
                    button("Cancel", "cancel_confirm", "production")]}])
    assert json.loads(value) == {"environment": "production", "filters": ["database", "health"]}
    assert_valid(message)


def test_confirmation_too_big_for_a_button_value_is_an_error_instead() -> None:
    message = render_confirm_production("production", ["f" * 80] * 30)
    assert message.text == "Too many filters to confirm in one click; run fewer at a time."
    assert_valid(message)


def test_help_lists_the_subcommands_and_environments() -> None:
    message = render_help(["staging", "production"])
    text = message.blocks[0]["text"]["text"]
    for usage in ("`/smoketest ENV [filters]`", "`/smoketest list`", "`/smoketest history [ENV]`",
                  "`/smoketest status`", "`/smoketest cancel [ENV]`", "`@smokebot rerun`"):
        assert usage in text
    assert text.endswith("Environments: `staging`, `production`")
    assert_valid(message)


def test_list_shows_each_environments_checks_and_survives_huge_suites() -> None:
    message = render_list(["staging", "production"], {"staging": ["tables", "health"],
                                                      "production": []})
    assert message.blocks == [section("*staging* (2 checks): `tables` `health`\n"
                                      "*production* (0 checks): _none_")]
    envs = [f"env-{i}" for i in range(300)]
    huge = render_list(envs, {e: [f"check-{j:03d}" for j in range(200)] for e in envs})
    assert_valid(huge)
    assert huge.blocks[-1]["text"]["text"].endswith("more environments")


def stored_run(status: RunStatus = RunStatus.PASSED, **changes: Any) -> Run:
    fields: dict[str, Any] = dict(
        id=UUID(RUN_ID), environment="staging", status=status, trigger_kind=TriggerKind.SLASH,
        trigger_detail="/smoketest staging", requested_by="U0ALICE01", filters=(),
        channel="C0SMOKE01", deploy=None, suite=None, created_at=T0, started_at=T0,
        finished_at=T0 + timedelta(seconds=75), heartbeat_at=None, worker_id=None,
        counts=RunCounts(passed=12, failed=1, errors=1), verdict=Verdict.FAILED,
        status_reason=None, rerun_of=None, superseded_by=None, idempotency_key=None)
    fields.update(changes)
    return Run(**fields)


def test_history_shows_verdict_counts_trigger_version_and_thread_link() -> None:
    deploy_run = stored_run(RunStatus.FAILED, trigger_kind=TriggerKind.WEBHOOK,
                            trigger_detail="deployment_status 4242", requested_by="octo-cat",
                            deploy=DeployFacts(version="v1.4.2"))
    summary = StoredSlackMessage(id=1, run_id=UUID(RUN_ID), kind=SlackMessageKind.SUMMARY,
                                 channel="C0SMOKE01", ts="1761687000.000100", thread_ts=None,
                                 check_id=None, created_at=T0, updated_at=T0)
    message = render_history([deploy_run], {UUID(RUN_ID): summary})
    assert message.blocks == [section(
        "*Last 1 run*\n"
        ":x: *staging* failed · 12/14 passed, 2 failed · "
        "<!date^1761687000^{date_short_pretty} {time}|2025-10-28 21:30 UTC> · "
        "deployment_status 4242 · version `v1.4.2` · "
        "<https://slack.com/archives/C0SMOKE01/p1761687000000100|thread>")]
    assert_valid(message)


def test_history_adds_the_requester_and_the_reason_of_an_interrupted_run() -> None:
    run = stored_run(RunStatus.INTERRUPTED, status_reason="worker w-1 died")
    line = render_history([run]).blocks[0]["text"]["text"]
    assert "/smoketest staging by <@U0ALICE01>" in line
    assert line.endswith("(worker w-1 died)")
    assert render_history([]).text == "No runs yet."


def test_status_shows_running_then_queued() -> None:
    running = stored_run(RunStatus.RUNNING, finished_at=None, counts=RunCounts())
    queued = stored_run(RunStatus.QUEUED, environment="production", started_at=None,
                        finished_at=None, counts=RunCounts())
    message = render_status([queued], [running])
    text = message.blocks[0]["text"]["text"]
    assert text.startswith("*Running* (1)\n• :hourglass_flowing_sand: *staging* running · ")
    assert "\n*Queued* (1)\n• :hourglass: *production* queued · " in text
    assert message.text == "1 running, 1 queued"
    assert render_status([], []).text == "Nothing is queued or running."


def test_error_is_escaped_and_says_what_to_do() -> None:
    message = render_error("unknown environment 'stagin'; choose one of: staging, production")
    assert message == SlackMessage(
        text="unknown environment 'stagin'; choose one of: staging, production",
        blocks=[section(":warning: unknown environment 'stagin'; choose one of: "
                        "staging, production")])


def test_joined_links_to_the_running_summary() -> None:
    link = "https://slack.com/archives/C0SMOKE01/p1761687000000100"
    assert render_joined("staging", link).blocks == [section(
        ":arrows_counterclockwise: *staging* is already being smoke-tested; you joined that "
        f"run. <{link}|Follow its summary>.")]
    assert render_joined("staging").blocks[0]["text"]["text"].endswith(
        "Its summary is in the channel.")


def test_interrupted_notice_offers_a_rerun() -> None:
    message = render_interrupted("staging", RUN_ID, "worker w-1 stopped heartbeating")
    assert message.blocks == [
        section(":warning: Run `0192a3b4` of *staging* was interrupted: worker w-1 stopped "
                "heartbeating. The results so far are stored; re-run it to get a verdict."),
        {"type": "actions", "elements": [button("Re-run all", "rerun_all")]}]
    assert_valid(message)


@pytest.mark.parametrize(("problem", "fix"), [
    (None, "I'm not in <#C0SMOKE01>. Invite me with `/invite @smokebot` and try again."),
    ("not_in_channel",
     "I'm not in <#C0SMOKE01>. Invite me with `/invite @smokebot` and try again."),
    ("is_archived", "<#C0SMOKE01> is archived, so I can't post there. Unarchive it, or map the "
                    "environment to another channel in the suite file."),
    ("channel_not_found", "I can't see <#C0SMOKE01>: it does not exist, or it is private and "
                          "I'm not in it. Invite me there with `/invite @smokebot`, or fix the "
                          "channel in the suite file."),
    ("missing_scope", "Slack refused my message to <#C0SMOKE01> (`missing_scope`). Check my "
                      "scopes and that I'm in the channel (`/invite @smokebot`)."),
])
def test_not_in_channel_says_how_to_fix_it(problem: str | None, fix: str) -> None:
    message = render_not_in_channel("C0SMOKE01", problem)
    assert message.blocks == [section(
        f":warning: {fix}\nThe run's results are stored: `/smoketest history` shows them.")]
    assert_valid(message)



def test_refusal_keeps_the_mentions_authorization_wrote_and_escapes_the_rest() -> None:
    message = render_refusal("only members of <!subteam^S0ONCALL1> may test <staging> from "
                             "<#C0SMOKE01>, <@U0ALICE01> & <!channel>.")
    body = ("Not allowed: only members of <!subteam^S0ONCALL1> may test &lt;staging&gt; from "
            "<#C0SMOKE01>, <@U0ALICE01> &amp; &lt;!channel&gt;.")
    assert message == SlackMessage(text=body, blocks=[section(f":warning: {body}")])


def test_cancelling_names_each_environment_once_and_counts_every_run() -> None:
    assert render_cancelling(["staging", "production", "staging"]) == SlackMessage(
        text="Cancelling 3 run(s) of production, staging.", blocks=[])
