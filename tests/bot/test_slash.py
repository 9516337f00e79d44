"""`/smoketest` without Slack's payloads: each answer, the run a command starts or joins, the
confirmation a protected environment asks for and the run it confirms, each decision audited,
against this machine's PostgreSQL and Redis and the Slack emulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.records import (
    AuditEntry,
    RunRequest,
    RunStatus,
    SlackMessageKind,
    StartRequest,
    TriggerKind,
)
from bot.services import Services
from bot.slack import render
from bot.slack.render.replies import render_queued
from bot.slash import answer_smoketest
from bot.start_requests import start_confirmed
from checks.errors import UsageError
from tests.bot.services_support import (
    CHANNEL,
    SUITE,
    audit_log,
    open_services,
)
from tests.support.slack_emulator import SlackEmulator

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"
RESPONSE_URL = "https://hooks.slack.example/commands/T0/1/abc"
ENVIRONMENTS = ["staging", "production", "guarded", "sandbox"]
# As the support suite, but production asks for a confirmation before it runs.
CONFIRMING_SUITE = SUITE.replace("allowed_users: [U0HUMAN001]}",
                                 "allowed_users: [U0HUMAN001], confirm: true}")


@pytest.fixture
async def services(pg_dsn: str, tmp_path: Path,
                   emulator: tuple[SlackEmulator, str]) -> AsyncIterator[Services]:
    assert CONFIRMING_SUITE != SUITE
    async with open_services(pg_dsn, tmp_path, *emulator) as svc:
        # Before the suite is first read, so the services load this one.
        (tmp_path / "smoketest.yaml").write_text(CONFIRMING_SUITE, encoding="utf-8")
        yield svc


async def _audit(services: Services, count: int) -> list[AuditEntry]:
    await audit_log(services, count)
    return list(reversed(await services.store.recent_audit()))


# --- answers that start nothing ---------------------------------------------------------------

async def test_help_and_list_answer_from_the_suite(services: Services) -> None:
    help_reply = await answer_smoketest(services, "help", user=ALICE, channel=CHANNEL)
    list_reply = await answer_smoketest(services, "list", user=ALICE, channel=CHANNEL)
    assert help_reply == render.render_help(ENVIRONMENTS)
    assert list_reply == render.render_list(
        ENVIRONMENTS, {env: ["health", "version"] for env in ENVIRONMENTS})
    assert await services.store.active_runs() == []


async def test_status_and_history_show_the_stored_runs(services: Services) -> None:
    run = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    status = await answer_smoketest(services, "status", user=ALICE, channel=CHANNEL)
    history = await answer_smoketest(services, "history staging", user=ALICE, channel=CHANNEL)
    assert status == render.render_status([run], [])
    assert history == render.render_history([run], {})


async def test_a_wrong_command_is_a_usage_error_that_lists_the_environments(
        services: Services) -> None:
    with pytest.raises(UsageError, match="unknown environment 'nowhere'; expected one of: "
                                         "staging, production, guarded, sandbox"):
        await answer_smoketest(services, "nowhere", user=ALICE, channel=CHANNEL)
    assert await services.store.active_runs() == []


# --- runs ---------------------------------------------------------------------------------------

async def test_a_run_is_queued_with_who_asked_and_the_reply_says_so(services: Services) -> None:
    reply = await answer_smoketest(services, "  staging health ", user=ALICE, channel=CHANNEL,
                                   response_url=RESPONSE_URL)

    [run] = await services.store.active_runs()
    assert reply == render_queued("staging", run.id)
    assert reply.text == (f"Queued a smoke test of staging (run {str(run.id)[:8]}); the summary "
                          "appears in this channel.")
    assert (run.status, run.trigger_kind, run.trigger_detail, run.requested_by, run.channel,
            run.filters) == (RunStatus.QUEUED, TriggerKind.SLASH, "/smoketest staging health",
                             ALICE, CHANNEL, ("health",))
    assert await services.queue.queued_run_ids() == [str(run.id)]
    assert await services.queue.response_url(str(run.id)) == RESPONSE_URL
    [entry] = await _audit(services, 1)
    assert (entry.actor, entry.action, entry.environment, entry.allowed) == (
        ALICE, "run", "staging", True)
    assert entry.run_id == run.id
    assert entry.detail == {"channel": CHANNEL, "run_id": str(run.id), "filters": ["health"],
                            "trigger": "slash", "trigger_detail": "/smoketest staging health",
                            "request": entry.detail["request"]}


async def test_a_second_request_joins_the_run_and_links_its_summary(
        services: Services) -> None:
    await answer_smoketest(services, "staging", user=ALICE, channel=CHANNEL)
    [run] = await services.store.active_runs()
    posted = await services.slack.chat_postMessage(channel=CHANNEL, text="Smoke test of staging")
    await services.store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL,
                                           posted["ts"])

    again = await answer_smoketest(services, "staging", user=OUTSIDER, channel=CHANNEL)

    assert again == render.render_joined("staging", render.permalink(
        CHANNEL, posted["ts"], workspace_url="https://smokebot-test.slack.com/"))
    assert [r.id for r in await services.store.active_runs()] == [run.id]
    assert await services.queue.queued_run_ids() == [str(run.id)]


async def test_someone_production_does_not_allow_is_refused_and_nothing_starts(
        services: Services) -> None:
    reply = await answer_smoketest(services, "production", user=OUTSIDER, channel=CHANNEL)
    assert reply == render.render_refusal("only the listed users may test production.")
    assert await services.store.active_runs() == []
    assert await audit_log(services, 1) == [(OUTSIDER, "run", "production", False)]


async def test_a_protected_environment_asks_to_confirm_before_anything_starts(
        services: Services) -> None:
    reply = await answer_smoketest(services, "production health", user=ALICE, channel=CHANNEL)
    [entry] = await _audit(services, 1)
    request = StartRequest("production", TriggerKind.SLASH, ("health",),
                           request_id=entry.detail["request"])
    assert reply == render.render_confirm_production("production", ["health"],
                                                     value=request.to_json())
    assert await services.store.active_runs() == []
    assert (entry.actor, entry.action, entry.environment, entry.allowed, entry.run_id) == (
        ALICE, "confirm-requested", "production", True, None)


async def test_the_confirmed_run_is_authorized_again_audited_as_confirmed_and_queued(
        services: Services) -> None:
    request = StartRequest("production", TriggerKind.SLASH, ("health",), request_id="r1")
    reply = await start_confirmed(services, request, user=ALICE, channel=CHANNEL,
                                  response_url=RESPONSE_URL)

    [run] = await services.store.active_runs()
    assert reply == render_queued("production", run.id)
    assert (run.trigger_kind, run.trigger_detail, run.requested_by, run.filters) == (
        TriggerKind.SLASH, "/smoketest production health (confirmed)", ALICE, ("health",))
    assert await services.queue.response_url(str(run.id)) == RESPONSE_URL
    confirmed, started = await _audit(services, 2)
    assert [(e.actor, e.action, e.environment, e.allowed, e.run_id, e.detail["request"])
            for e in (confirmed, started)] == [
        (ALICE, "confirmed", "production", True, None, "r1"),
        (ALICE, "run", "production", True, run.id, "r1")]
    assert started.detail["confirmed"] is True


async def test_a_confirmation_clicked_by_someone_not_allowed_is_refused(
        services: Services) -> None:
    reply = await start_confirmed(services, StartRequest("production", TriggerKind.SLASH),
                                  user=OUTSIDER, channel=CHANNEL)
    assert reply == render.render_refusal("only the listed users may test production.")
    assert await services.store.active_runs() == []
    assert await audit_log(services, 1) == [(OUTSIDER, "confirmed", "production", False)]
