"""Acknowledging failures: the modal opens on a run's failed checks under the environment's
rules, and its submission records, audits and announces one acknowledgement per check,
against this machine's PostgreSQL and the Slack emulator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest

from bot.acknowledgements import open_acknowledge_modal, record_acknowledgements
from bot.records import Run, RunRequest, SlackMessageKind, TriggerKind
from bot.services import Services
from bot.slack import render
from checks.errors import UsageError
from checks.results import CheckResult, Severity, Status
from tests.bot.services_support import CHANNEL, audit_log
from tests.support.slack_emulator import SlackEmulator

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"


def _result(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id=check_id, name=f"{check_id.capitalize()} check",
                       category="Health", kind="http", severity=Severity.CRITICAL,
                       status=status, summary="as expected" if status is Status.PASS
                       else "expected 200, got 503")


async def _failed_run(services: Services, environment: str = "staging") -> Run:
    run = await services.store.create_run(RunRequest(
        environment=environment, trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    for result in (_result("health", Status.FAIL), _result("version", Status.PASS),
                   _result("db", Status.ERROR)):
        await services.store.save_result(run.id, result)
    return run


async def _posted_summary(services: Services, run: Run) -> str:
    """The run's summary, posted in the emulator's channel and recorded, as the worker does."""
    posted = await services.slack.chat_postMessage(channel=CHANNEL, text="Smoke test of staging")
    await services.store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL,
                                           posted["ts"])
    return str(posted["ts"])


# --- the modal -------------------------------------------------------------------------------

async def test_the_modal_opens_on_the_runs_failed_checks_and_the_click_is_audited(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run = await _failed_run(services)
    refusal = await open_acknowledge_modal(services, run.id, user=ALICE, channel=CHANNEL,
                                           trigger_id=emu.issue_trigger(ALICE))
    assert refusal is None
    [opened] = emu.views()
    assert opened.view["callback_id"] == render.ACK_CALLBACK_ID
    assert opened.view["private_metadata"] == str(run.id)
    options = opened.view["blocks"][1]["element"]["options"]
    assert [o["value"] for o in options] == ["health", "db"]
    assert await audit_log(services, 1) == [(ALICE, "open-acknowledge", "staging", True)]


async def test_someone_the_environment_does_not_allow_is_refused_and_no_modal_opens(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run = await _failed_run(services, "production")
    refusal = await open_acknowledge_modal(services, run.id, user=OUTSIDER, channel=CHANNEL,
                                           trigger_id=emu.issue_trigger(OUTSIDER))
    assert refusal == render.render_refusal("only the listed users may test production.")
    assert emu.views() == []
    assert await audit_log(services, 1) == [(OUTSIDER, "open-acknowledge", "production", False)]


async def test_a_run_the_store_no_longer_has_is_a_usage_error(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    with pytest.raises(UsageError, match="that run is no longer in the history store"):
        await open_acknowledge_modal(services, uuid4(), user=ALICE, channel=CHANNEL,
                                     trigger_id=emu.issue_trigger(ALICE))
    assert emu.views() == []


# --- the submission ----------------------------------------------------------------------------

async def test_each_chosen_check_is_recorded_audited_and_announced_in_the_thread(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run = await _failed_run(services)
    summary_ts = await _posted_summary(services, run)
    submission = render.AckSubmission(("health", "db"), "upstream outage, INC-42", 7)

    recorded = await record_acknowledgements(services, run.id, ALICE, submission)

    assert [(a.environment, a.check_id, a.reason, a.acknowledged_by, a.run_id)
            for a in recorded] == [("staging", "health", "upstream outage, INC-42", ALICE, run.id),
                                   ("staging", "db", "upstream outage, INC-42", ALICE, run.id)]
    week = datetime.now(timezone.utc) + timedelta(days=7)
    assert all(a.expires_at is not None and abs((a.expires_at - week).total_seconds()) < 60
               for a in recorded)
    active = await services.store.active_acknowledgements("staging", datetime.now(timezone.utc))
    assert sorted(a.check_id for a in active) == ["db", "health"]
    assert await audit_log(services, 2) == [(ALICE, "acknowledge", "staging", True)] * 2
    expected = [f"<@{ALICE}> acknowledged health: upstream outage, INC-42",
                f"<@{ALICE}> acknowledged db: upstream outage, INC-42"]
    for _ in range(100):  # delivered in the background: the listener answered Slack first
        thread = [m.text for m in emu.thread(CHANNEL, summary_ts)]
        if len(thread) >= len(expected):
            break
        await asyncio.sleep(0.05)
    assert thread == expected


async def test_nothing_is_recorded_for_a_run_the_store_no_longer_has(
        services: Services) -> None:
    submission = render.AckSubmission(("health",), "known", 1)
    assert await record_acknowledgements(services, uuid4(), ALICE, submission) == []
    assert await services.store.active_acknowledgements(
        "staging", datetime.now(timezone.utc)) == []
    assert await services.store.recent_audit() == []
