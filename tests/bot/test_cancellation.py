"""`/smoketest cancel`: which runs stop, under which rules, and what the person is told,
against this machine's PostgreSQL and Redis."""

from __future__ import annotations

from bot.cancellation import cancel_runs
from bot.records import Run, RunRequest, RunStatus, TriggerKind
from bot.services import Services
from bot.slack import render
from tests.bot.services_support import CHANNEL, audit_log

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"


async def _queued(services: Services, environment: str) -> Run:
    return await services.store.create_run(RunRequest(
        environment=environment, trigger_kind=TriggerKind.SLASH, channel=CHANNEL))


async def _status(services: Services, run: Run) -> tuple[RunStatus, str | None]:
    found = await services.store.get_run(run.id)
    assert found is not None
    return found.status, found.status_reason


async def test_a_queued_run_ends_at_once(services: Services) -> None:
    run = await _queued(services, "staging")
    reply = await cancel_runs(services, "staging", OUTSIDER, CHANNEL)
    assert reply == render.SlackMessage(text="Cancelling 1 run(s) of staging.", blocks=[])
    assert await _status(services, run) == (
        RunStatus.CANCELLED, f"cancelled by <@{OUTSIDER}> before it started")
    assert await services.queue.cancel_requested(str(run.id))
    assert await services.store.active_runs("staging") == []
    assert await audit_log(services, 1) == [(OUTSIDER, "cancel", "staging", True)]


async def test_a_running_run_is_asked_to_stop_by_its_worker(services: Services) -> None:
    run = await _queued(services, "staging")
    await services.store.mark_running(run.id, "worker-1")
    reply = await cancel_runs(services, None, ALICE, CHANNEL)
    assert reply.text == "Cancelling 1 run(s) of staging."
    assert await services.queue.cancel_requested(str(run.id))
    assert (await _status(services, run))[0] is RunStatus.RUNNING  # the worker ends it


async def test_only_the_runs_the_person_may_start_are_cancelled(services: Services) -> None:
    staging = await _queued(services, "staging")
    production = await _queued(services, "production")
    reply = await cancel_runs(services, None, OUTSIDER, CHANNEL)
    assert reply.text == "Cancelling 1 run(s) of staging."
    assert (await _status(services, staging))[0] is RunStatus.CANCELLED
    assert await _status(services, production) == (RunStatus.QUEUED, None)
    assert not await services.queue.cancel_requested(str(production.id))
    assert sorted(await audit_log(services, 2)) == [
        (OUTSIDER, "cancel", "production", False), (OUTSIDER, "cancel", "staging", True)]


async def test_nothing_allowed_to_cancel_is_a_refusal_that_says_why(services: Services) -> None:
    production = await _queued(services, "production")
    reply = await cancel_runs(services, "production", OUTSIDER, CHANNEL)
    assert reply == render.render_refusal("only the listed users may test production.")
    assert await _status(services, production) == (RunStatus.QUEUED, None)
    assert await audit_log(services, 1) == [(OUTSIDER, "cancel", "production", False)]


async def test_nothing_active_says_so_for_the_environment_asked_about(
        services: Services) -> None:
    assert (await cancel_runs(services, "staging", ALICE, CHANNEL)).text == \
        "Nothing is queued or running for staging."
    assert (await cancel_runs(services, None, ALICE, CHANNEL)).text == \
        "Nothing is queued or running."
    assert await services.store.recent_audit() == []


async def test_who_cancelled_a_running_run_is_noted_for_its_summary(services: Services) -> None:
    run = await _queued(services, "staging")
    await services.store.mark_running(run.id, "worker-1")
    await cancel_runs(services, "staging", ALICE, CHANNEL)
    assert await _status(services, run) == (RunStatus.RUNNING, f"cancelled by <@{ALICE}>")
