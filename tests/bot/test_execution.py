"""Executing a run in the worker, against the real store, Redis and the Slack emulator: the
first summary goes out as the run starts; the run ends in the same transaction that writes
everything it owes Slack; a run that cannot be planned, or whose channel refuses the bot, ends
with what it can say and nothing left to retry."""

from __future__ import annotations

from bot.execution import execute_run
from bot.records import RunRequest, RunStatus, SlackMessageKind, TriggerKind
from bot.services import Services
from bot.slack.delivery import deliver_run
from tests.bot.services_support import CHANNEL
from tests.support.slack_emulator import SlackEmulator


async def _queued(services: Services, *filters: str) -> str:
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
        channel=CHANNEL, filters=filters))
    assert not ticket.joined
    return str(ticket.run.id)


async def test_a_run_ends_together_with_every_message_it_owes_slack(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run_id = await _queued(services)

    ended = await execute_run(run_id, services, worker_id="test-worker")

    assert ended is not None and ended.status is RunStatus.FAILED  # both checks cannot connect
    [summary] = emu.messages(CHANNEL)  # posted as the run started, not yet final
    assert "running" in summary.text or "queued" in summary.text
    pending = [(e.kind, e.check_id) for e in await services.store.outbox_entries(run_id)
               if e.delivered_at is None]
    assert pending == [(SlackMessageKind.SUMMARY, None),
                       (SlackMessageKind.FAILURE_REPLY, "health"),
                       (SlackMessageKind.FAILURE_REPLY, "version"),
                       (SlackMessageKind.REPORT, None)]

    assert await deliver_run(services, run_id)
    [summary] = emu.messages(CHANNEL)
    assert summary.text.startswith("Smoke test of staging failed")
    thread = emu.thread(CHANNEL, summary.ts)
    assert [m.text.split(" (")[0] for m in thread if not m.files] == ["Health endpoint",
                                                                       "Deployed version"]
    assert [f.filename for f in emu.files() if f.shares] == [f"smoke-staging-{run_id[:8]}.md"]
    kinds = sorted(m.kind.value for m in await services.store.slack_messages(run_id))
    assert kinds == ["failure_reply", "failure_reply", "report", "summary"]


async def test_a_run_taken_twice_executes_once(services: Services) -> None:
    run_id = await _queued(services)
    assert await execute_run(run_id, services, worker_id="a") is not None
    assert await execute_run(run_id, services, worker_id="b") is None  # not queued any more


async def test_a_run_that_cannot_be_planned_ends_as_an_error_and_says_so(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run_id = await _queued(services, "no-such-check")

    ended = await execute_run(run_id, services, worker_id="test-worker")

    assert ended is not None and ended.status is RunStatus.ERROR
    assert ended.status_reason is not None
    assert ended.status_reason.startswith("the suite could not be planned: ")
    [message] = emu.messages(CHANNEL)
    assert "could not run" in message.text
    assert all(e.delivered_at is not None for e in await services.store.outbox_entries(run_id))


async def test_a_channel_that_refuses_the_bot_leaves_nothing_to_retry(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    emu.set_bot_membership(CHANNEL, False)
    run_id = await _queued(services)

    ended = await execute_run(run_id, services, worker_id="test-worker")

    assert ended is not None and ended.status is RunStatus.FAILED  # results stored regardless
    entries = await services.store.outbox_entries(run_id)
    assert [(e.kind, e.last_error) for e in entries] == [(SlackMessageKind.SUMMARY,
                                                          "not_in_channel")]
    assert entries[0].gave_up_at is not None
    assert emu.messages(CHANNEL) == []
