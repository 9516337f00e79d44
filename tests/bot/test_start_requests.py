"""One path for every request to start a run (bot/start_requests.py), without Slack's
payloads: in an environment that confirms, a re-run from a button or a thread is not started
but answered with the confirmation, which carries the re-run; the click starts it once; each
decision is its own audit action with the run's id, and the run's trail finds them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.records import (
    AuditEntry,
    Run,
    RunRequest,
    RunTicket,
    SlackMessageKind,
    StartRequest,
    TriggerKind,
)
from bot.reruns import request_rerun, request_thread_rerun
from bot.services import Services
from bot.slack import render
from bot.start_requests import ask_to_start, start_confirmed
from checks.errors import UsageError
from checks.results import CheckResult, Severity, Status
from tests.bot.services_support import CHANNEL, SUITE, audit_log, open_services
from tests.support.slack_emulator import SlackEmulator

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"
CONFIRMING_SUITE = SUITE.replace("allowed_users: [U0HUMAN001]}",
                                 "allowed_users: [U0HUMAN001], confirm: true}")


@pytest.fixture
async def services(pg_dsn: str, tmp_path: Path,
                   emulator: tuple[SlackEmulator, str]) -> AsyncIterator[Services]:
    async with open_services(pg_dsn, tmp_path, *emulator) as svc:
        (tmp_path / "smoketest.yaml").write_text(CONFIRMING_SUITE, encoding="utf-8")
        yield svc


async def _ended_production_run(services: Services) -> Run:
    """An ended production run where `health` failed and `version` passed."""
    run = await services.store.create_run(RunRequest(
        environment="production", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    for check_id, status in (("health", Status.FAIL), ("version", Status.PASS)):
        await services.store.save_result(run.id, CheckResult(
            check_id=check_id, name=check_id, category="Health", kind="http",
            severity=Severity.CRITICAL, status=status, summary="checked"))
    await services.store.mark_interrupted(run.id, "its worker stopped")
    return run


async def _entries(services: Services, count: int) -> list[AuditEntry]:
    await audit_log(services, count)
    return list(reversed(await services.store.recent_audit()))


def _value(message: render.SlackMessage) -> StartRequest:
    """The request the confirmation's Run button carries."""
    return StartRequest.from_json(message.blocks[1]["elements"][0]["value"])


async def test_rerun_failed_in_a_confirming_environment_asks_first_and_the_click_starts_it(
        services: Services) -> None:
    original = await _ended_production_run(services)

    asked = await request_rerun(services, original.id, only_failed=True, user=ALICE,
                                channel=CHANNEL)

    request = _value(asked)
    assert (request.environment, request.trigger, request.rerun_of, request.only_failed) == (
        "production", TriggerKind.BUTTON, original.id, True)
    assert asked == render.render_confirm_production(
        "production", ["health"], value=request.to_json(), rerun_of=str(original.id),
        only_failed=True)
    assert asked.text == f"Confirm: re-run the failed checks of run {str(original.id)[:8]} on " \
                         "production?"
    assert await services.store.active_runs() == []

    reply = await start_confirmed(services, request, user=ALICE, channel=CHANNEL)

    [rerun] = await services.store.active_runs()
    assert reply.text.startswith("Queued a ")
    assert (rerun.filters, rerun.rerun_of, rerun.trigger_kind, rerun.trigger_detail) == (
        ("health",), original.id, TriggerKind.BUTTON, f"Re-run failed by <@{ALICE}> (confirmed)")
    entries = await _entries(services, 3)
    assert [(e.action, e.allowed, e.run_id, e.detail["request"]) for e in entries] == [
        ("confirm-requested", True, None, request.request_id),
        ("confirmed", True, None, request.request_id),
        ("rerun", True, rerun.id, request.request_id)]
    assert {e.detail["rerun_of"] for e in entries} == {str(original.id)}


async def test_a_mention_rerun_in_a_confirming_environment_answers_with_the_confirmation(
        services: Services) -> None:
    original = await _ended_production_run(services)
    posted = await services.slack.chat_postMessage(channel=CHANNEL, text="Smoke test")
    await services.store.set_slack_message(original.id, SlackMessageKind.SUMMARY, CHANNEL,
                                           posted["ts"])

    asked = await request_thread_rerun(services, CHANNEL, posted["ts"], ALICE)

    assert asked is not None
    request = _value(asked)
    assert (request.trigger, request.rerun_of, request.only_failed) == (
        TriggerKind.MENTION, original.id, False)
    assert asked.text == f"Confirm: re-run all the checks of run {str(original.id)[:8]} on " \
                         "production?"
    assert await services.store.active_runs() == []
    assert await audit_log(services, 1) == [(ALICE, "confirm-requested", "production", True)]


async def test_a_confirmation_of_a_run_already_going_joins_it_audited_with_its_run(
        services: Services) -> None:
    going = await services.store.create_run(RunRequest(
        environment="production", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    request = StartRequest("production", TriggerKind.SLASH, request_id="r-9")

    await start_confirmed(services, request, user=ALICE, channel=CHANNEL)

    assert [r.id for r in await services.store.active_runs()] == [going.id]
    entries = await _entries(services, 2)
    assert [(e.action, e.run_id, e.detail["request"]) for e in entries] == [
        ("confirmed", None, "r-9"), ("join", going.id, "r-9")]
    assert [e.action for e in await services.store.run_audit(going.id)] == ["confirmed", "join"]


async def test_an_environment_without_confirm_starts_at_once_audited_as_run(
        services: Services) -> None:
    ticket = await ask_to_start(services, StartRequest("staging", TriggerKind.SLASH,
                                                       ("health",)), user=ALICE,
                                channel=CHANNEL)
    assert isinstance(ticket, RunTicket) and not ticket.joined
    [entry] = await _entries(services, 1)
    assert (entry.action, entry.run_id, entry.detail["filters"]) == (
        "run", ticket.run.id, ["health"])


async def test_a_rerun_refused_at_the_click_is_a_refused_confirmed(services: Services) -> None:
    original = await _ended_production_run(services)
    request = StartRequest("production", TriggerKind.BUTTON, rerun_of=original.id)

    reply = await start_confirmed(services, request, user=OUTSIDER, channel=CHANNEL)

    assert reply == render.render_refusal("only the listed users may test production.")
    assert await services.store.active_runs() == []
    [entry] = await _entries(services, 1)
    assert (entry.actor, entry.action, entry.allowed, entry.detail["reason"]) == (
        OUTSIDER, "confirmed", False, "only the listed users may test production.")


def test_a_start_request_survives_its_button_and_old_confirmations_still_read() -> None:
    request = StartRequest("production", TriggerKind.BUTTON,
                           rerun_of="0192a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b", only_failed=True)
    assert StartRequest.from_json(request.to_json()) == request
    old = StartRequest.from_json('{"environment":"production","filters":["health"]}')
    assert (old.environment, old.trigger, old.filters, old.rerun_of) == (
        "production", TriggerKind.SLASH, ("health",), None)
    with pytest.raises(UsageError, match="this confirmation cannot be read"):
        StartRequest.from_json("production")


async def test_a_bad_filter_is_said_before_asking_to_confirm(services: Services) -> None:
    with pytest.raises(UsageError, match="nosuch"):
        await ask_to_start(services, StartRequest("production", TriggerKind.SLASH, ("nosuch",)),
                           user=ALICE, channel=CHANNEL)
    assert await services.store.recent_audit() == []
