"""The Acknowledge modal's submission through the real Bolt app (signed requests, dispatched
in-process): every wrong input is answered under its own block and nothing is recorded; a
right one is acknowledged with an empty 200 and recorded."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest
from slack_bolt.async_app import AsyncApp
from slack_bolt.request.async_request import AsyncBoltRequest

from bot.records import Run, RunRequest, TriggerKind
from bot.services import Services
from bot.slack import render
from bot.slack.app import create_bolt_app
from checks.results import CheckResult, Severity, Status
from tests.bot.services_support import (
    CHANNEL,
    SIGNING_SECRET,
    audit_log,
)
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SignedRequest, SlackRequestFactory

FAILED = CheckResult(check_id="health", name="Health endpoint", category="Health", kind="http",
                     severity=Severity.CRITICAL, status=Status.FAIL, summary="got 503")


@pytest.fixture
def bolt(services: Services) -> AsyncApp:
    return create_bolt_app(services)


@pytest.fixture
async def run(services: Services) -> Run:
    created = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    await services.store.save_result(created.id, FAILED)
    return created


async def _send(bolt: AsyncApp, request: SignedRequest) -> tuple[int, str]:
    response = await bolt.async_dispatch(AsyncBoltRequest(body=request.body.decode(),
                                                          headers=request.headers))
    return response.status, response.body


def _submission(emulator: tuple[SlackEmulator, str], run: Run,
                values: dict[str, dict[str, Any]]) -> SignedRequest:
    modal = render.render_ack_modal(str(run.id), [FAILED])
    return SlackRequestFactory(SIGNING_SECRET, emulator=emulator[0]).view_submission(
        modal, values=values)


async def test_two_bad_inputs_are_answered_each_under_its_own_block_and_nothing_is_recorded(
        bolt: AsyncApp, services: Services, run: Run,
        emulator: tuple[SlackEmulator, str]) -> None:
    nothing_chosen = {"type": "checkboxes", "selected_options": []}
    status, body = await _send(bolt, _submission(emulator, run, {
        "checks": {"checks": nothing_chosen}, "reason": {"reason": "   "},
        "expiry": {"expiry": "7"}}))
    assert status == 200
    assert json.loads(body) == {"response_action": "errors", "errors": {
        "checks": "Choose at least one failure to acknowledge.",
        "reason": "Say why this failure is known or expected."}}
    assert await services.store.active_acknowledgements(
        "staging", datetime.now(timezone.utc)) == []
    assert await services.store.recent_audit() == []


async def test_a_right_submission_is_acked_empty_and_recorded(
        bolt: AsyncApp, services: Services, run: Run,
        emulator: tuple[SlackEmulator, str]) -> None:
    chosen = {"type": "checkboxes", "selected_options": [
        {"text": {"type": "plain_text", "text": "Health endpoint (health)", "emoji": True},
         "value": "health"}]}
    status, body = await _send(bolt, _submission(emulator, run, {
        "checks": {"checks": chosen}, "reason": {"reason": "known upstream outage"},
        "expiry": {"expiry": "1"}}))
    assert (status, body) == (200, "")
    [ack] = await services.store.active_acknowledgements("staging", datetime.now(timezone.utc))
    assert (ack.check_id, ack.reason, ack.acknowledged_by, ack.run_id) == (
        "health", "known upstream outage", "U0HUMAN001", run.id)
    assert await audit_log(services, 1) == [("U0HUMAN001", "acknowledge", "staging", True)]
