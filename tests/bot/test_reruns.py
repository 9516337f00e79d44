"""Re-running a run without Slack's payloads: from its buttons (failed checks only, or all)
and from its thread, each under the environment's rules and audited as a `rerun`, against
this machine's PostgreSQL and Redis and the Slack emulator. A mention's answer is the message
told to the person alone (the listener posts it ephemerally)."""

from __future__ import annotations

from uuid import uuid4

import pytest

from bot.records import AuditEntry, Run, RunRequest, SlackMessageKind, TriggerKind
from bot.reruns import request_rerun, request_thread_rerun
from bot.services import Services
from bot.slack import render
from bot.slack.render.replies import render_queued
from checks.errors import UsageError
from checks.results import CheckResult, Severity, Status
from tests.bot.services_support import CHANNEL, audit_log

ALICE = "U0HUMAN001"  # the one user production allows
OUTSIDER = "U0OUTSIDE1"
ELSEWHERE = "C0ELSEWHE1"  # a channel the button is clicked in, not the run's
RESPONSE_URL = "https://hooks.slack.example/actions/T0/1/abc"


def _result(check_id: str, status: Status) -> CheckResult:
    return CheckResult(check_id=check_id, name=f"{check_id.capitalize()} check",
                       category="Health", kind="http", severity=Severity.CRITICAL,
                       status=status, summary="as expected" if status is Status.PASS
                       else "expected 200, got 503")


async def _ended_run(services: Services, environment: str = "staging", *,
                     filters: tuple[str, ...] = (),
                     statuses: dict[str, Status] | None = None) -> Run:
    """A run that has ended (so a re-run starts rather than joins) with these results."""
    run = await services.store.create_run(RunRequest(
        environment=environment, trigger_kind=TriggerKind.SLASH, channel=CHANNEL,
        filters=filters))
    for check_id, status in (statuses or {}).items():
        await services.store.save_result(run.id, _result(check_id, status))
    await services.store.mark_interrupted(run.id, "its worker stopped")
    return run


async def _summary_ts(services: Services, run: Run) -> str:
    """The run's summary, posted in the emulator's channel and recorded, as the worker does."""
    posted = await services.slack.chat_postMessage(channel=CHANNEL, text="Smoke test of staging")
    await services.store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL,
                                           posted["ts"])
    return str(posted["ts"])


async def _audit(services: Services, count: int) -> list[AuditEntry]:
    await audit_log(services, count)
    return list(reversed(await services.store.recent_audit()))


# --- the buttons ---------------------------------------------------------------------------------

async def test_rerun_failed_runs_only_the_failed_and_errored_checks_where_the_run_reported(
        services: Services) -> None:
    original = await _ended_run(services, statuses={
        "health": Status.FAIL, "version": Status.ERROR})

    reply = await request_rerun(services, original.id, only_failed=True, user=ALICE,
                                channel=ELSEWHERE, response_url=RESPONSE_URL)

    [rerun] = await services.store.active_runs()
    assert reply == render_queued("staging", rerun.id)
    assert (rerun.environment, rerun.filters, rerun.rerun_of, rerun.channel, rerun.trigger_kind,
            rerun.trigger_detail, rerun.requested_by) == (
        "staging", ("health", "version"), original.id, CHANNEL, TriggerKind.BUTTON,
        f"Re-run failed by <@{ALICE}>", ALICE)
    assert await services.queue.queued_run_ids() == [str(rerun.id)]
    assert await services.queue.response_url(str(rerun.id)) == RESPONSE_URL
    [entry] = await _audit(services, 1)
    assert (entry.actor, entry.action, entry.environment, entry.allowed, entry.run_id) == (
        ALICE, "rerun", "staging", True, rerun.id)
    assert entry.detail == {
        "channel": ELSEWHERE, "run_id": str(rerun.id), "rerun_of": str(original.id),
        "only_failed": True, "filters": ["health", "version"], "trigger": "button",
        "trigger_detail": f"Re-run failed by <@{ALICE}>", "request": entry.detail["request"]}


async def test_rerun_all_repeats_the_runs_own_filters(services: Services) -> None:
    original = await _ended_run(services, filters=("version",),
                                statuses={"version": Status.FAIL})
    reply = await request_rerun(services, original.id, only_failed=False, user=ALICE,
                                channel=CHANNEL)
    [rerun] = await services.store.active_runs()
    assert reply == render_queued("staging", rerun.id)
    assert (rerun.filters, rerun.trigger_detail) == (("version",), f"Re-run all by <@{ALICE}>")


async def test_rerun_failed_of_a_run_where_nothing_failed_starts_nothing_and_audits_nothing(
        services: Services) -> None:
    original = await _ended_run(services, statuses={"health": Status.PASS})
    reply = await request_rerun(services, original.id, only_failed=True, user=ALICE,
                                channel=CHANNEL)
    assert reply == render.render_error("Nothing failed in that run; use Re-run all.")
    assert await services.store.active_runs() == []
    assert await services.store.recent_audit() == []


async def test_a_rerun_someone_the_environment_does_not_allow_is_refused_and_audited(
        services: Services) -> None:
    original = await _ended_run(services, "production", statuses={"health": Status.FAIL})
    reply = await request_rerun(services, original.id, only_failed=False, user=OUTSIDER,
                                channel=CHANNEL)
    assert reply == render.render_refusal("only the listed users may test production.")
    assert await services.store.active_runs() == []
    assert await audit_log(services, 1) == [(OUTSIDER, "rerun", "production", False)]


async def test_a_rerun_of_a_run_the_store_no_longer_has_is_a_usage_error(
        services: Services) -> None:
    with pytest.raises(UsageError, match="that run is no longer in the history store"):
        await request_rerun(services, uuid4(), only_failed=False, user=ALICE, channel=CHANNEL)
    assert await services.store.active_runs() == []


# --- the thread ----------------------------------------------------------------------------------

async def test_a_mention_in_a_runs_thread_reruns_it_and_says_nothing_more(
        services: Services) -> None:
    original = await _ended_run(services, filters=("health",))
    thread_ts = await _summary_ts(services, original)

    said = await request_thread_rerun(services, CHANNEL, thread_ts, ALICE)

    assert said is None  # the re-run's summary appears in the thread
    [rerun] = await services.store.active_runs()
    assert (rerun.filters, rerun.rerun_of, rerun.channel, rerun.trigger_kind,
            rerun.trigger_detail, rerun.requested_by) == (
        ("health",), original.id, CHANNEL, TriggerKind.MENTION,
        f"@smokebot rerun by <@{ALICE}>", ALICE)
    [entry] = await _audit(services, 1)
    assert (entry.actor, entry.action, entry.environment, entry.allowed, entry.run_id) == (
        ALICE, "rerun", "staging", True, rerun.id)
    assert (entry.detail["rerun_of"], entry.detail["trigger"]) == (str(original.id), "mention")


async def test_a_mention_while_the_environment_is_being_tested_joins_and_says_so(
        services: Services) -> None:
    original = await _ended_run(services)
    thread_ts = await _summary_ts(services, original)
    going = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))

    said = await request_thread_rerun(services, CHANNEL, thread_ts, ALICE)

    assert said == render.render_joined("staging")
    assert [r.id for r in await services.store.active_runs()] == [going.id]


async def test_a_mention_outside_a_runs_thread_says_where_to_mention(
        services: Services) -> None:
    said = await request_thread_rerun(services, CHANNEL, "1700000000.000100", ALICE)
    assert said == render.render_mention_help()
    assert await services.store.active_runs() == []
    assert await services.store.recent_audit() == []


async def test_a_mention_by_someone_the_environment_does_not_allow_is_refused_in_the_thread(
        services: Services) -> None:
    original = await _ended_run(services, "production")
    thread_ts = await _summary_ts(services, original)
    said = await request_thread_rerun(services, CHANNEL, thread_ts, OUTSIDER)
    assert said == render.render_refusal("only the listed users may test production.")
    assert await services.store.active_runs() == []
    assert await audit_log(services, 1) == [(OUTSIDER, "rerun", "production", False)]
