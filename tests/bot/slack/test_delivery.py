"""The one deliverer, against the real store and the Slack emulator: every message a run owes
Slack arrives once, in order, through rate limits, 5xx answers, posts answered 500 that did
happen, a deliverer that stops mid-run, and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timezone

import pytest

from bot.backoff import Backoff
from bot.queue import RunQueue
from bot.records import OutboxMessage, Run, RunRequest, SlackMessageKind, TriggerKind
from bot.services import Services
from bot.settings import Settings
from bot.slack import delivery
from bot.slack.client import call_slack, create_slack_client
from bot.slack.delivery import deliver_due, deliver_run
from bot.store import Store
from bot.suites import SuiteSource
from checks.results import RunResult
from checks.secrets import Secret
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator

CHANNEL = "C0SMOKE001"


@pytest.fixture
def emulator() -> Iterator[SlackEmulator]:
    emu = SlackEmulator()
    with emu.serve():
        yield emu


@pytest.fixture
async def services(pg_dsn: str, emulator: SlackEmulator) -> AsyncIterator[Services]:
    settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                        slack_api_url=emulator.api_url, database_url=pg_dsn,
                        redis_url=redis_url(), key_prefix=unique_prefix("delivery"))
    store = await Store.open(pg_dsn, "smokebot", wait=True)
    await store.migrate()
    svc = Services(settings=settings, store=store,
                   queue=RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix),
                   slack=create_slack_client(settings), suites=SuiteSource("unused.yaml"))
    yield svc
    await svc.close()


@pytest.fixture(autouse=True)
def quick_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "RETRY_BACKOFF", Backoff((0.0, 0.05, 0.1)))


async def _finished_run(services: Services, messages: list[OutboxMessage], *,
                        live_summary: bool = True) -> Run:
    """A run that ended with `messages` in the outbox; its summary was posted live."""
    store = services.store
    run = await store.create_run(RunRequest(environment="staging",
                                            trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    await store.mark_running(run.id, "test-worker")
    if live_summary:
        posted = await call_slack(services.sender, "chat.postMessage", channel=CHANNEL,
                                  text="staging: running")
        await store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL, posted["ts"])
    now = datetime.now(timezone.utc)
    result = RunResult(suite="t", environment="staging", started_at=now, finished_at=now,
                       results=(), categories=())
    ended = await store.finish_run(run.id, result, messages=lambda _run: messages)
    assert ended is not None
    return ended


def _summary(text: str = "staging: 40 failed") -> OutboxMessage:
    return OutboxMessage(SlackMessageKind.SUMMARY, CHANNEL, {"text": text, "blocks": []})


def _reply(n: int) -> OutboxMessage:
    return OutboxMessage(SlackMessageKind.FAILURE_REPLY, CHANNEL,
                         {"text": f"reply {n}", "blocks": []}, check_id=f"check-{n}")


def _report() -> OutboxMessage:
    return OutboxMessage(SlackMessageKind.REPORT, CHANNEL, {
        "filename": "smoke-staging.md", "title": "Smoke test report: staging",
        "content": "# Smoke test report\n"})


async def _deliver_until_done(services: Services, run: Run, *, passes: int = 50) -> None:
    for _ in range(passes):
        if await deliver_run(services, run.id):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the run's messages were not all delivered")


def _thread_texts(emulator: SlackEmulator, parent_ts: str) -> list[str]:
    return [m.text for m in emulator.thread(CHANNEL, parent_ts)]


async def _summary_ts(services: Services, run: Run) -> str:
    [summary] = [m for m in await services.store.slack_messages(run.id)
                 if m.kind is SlackMessageKind.SUMMARY]
    return summary.ts


async def test_forty_replies_and_the_report_arrive_once_through_429s_and_5xx(
        services: Services, emulator: SlackEmulator) -> None:
    run = await _finished_run(services, [_summary(), *(_reply(n) for n in range(40)),
                                         _report()])
    emulator.inject_periodic(2, 429, retry_after=0)
    # Every 7th call is carried out and then answered 500: the deliverer must look, not repost.
    emulator.inject_periodic(7, 500, after_processing=True)
    await _deliver_until_done(services, run)

    parent = await _summary_ts(services, run)
    replies = [t for t in _thread_texts(emulator, parent) if t.startswith("reply")]
    assert replies == [f"reply {n}" for n in range(40)]  # all, once each, in order
    assert [f.filename for f in emulator.files() if f.shares] == ["smoke-staging.md"]
    assert emulator.message(CHANNEL, parent).text == "staging: 40 failed"
    recorded = [m for m in await services.store.slack_messages(run.id)
                if m.kind is SlackMessageKind.FAILURE_REPLY]
    assert sorted(m.check_id for m in recorded) == sorted(f"check-{n}" for n in range(40))
    assert all(e.delivered_at is not None for e in await services.store.outbox_entries(run.id))
    assert await services.store.outbox_pending_count() == 0


async def test_a_reply_failing_part_way_does_not_post_the_earlier_ones_again(
        services: Services, emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "TRIES_PER_PASS", 1)
    run = await _finished_run(services, [_summary("staging: 3 failed"), _reply(1), _reply(2),
                                         _reply(3)])
    emulator.inject_periodic(3, 503)  # update, reply 1, then reply 2 fails
    assert await deliver_run(services, run.id, patience_s=0) is False
    parent = await _summary_ts(services, run)
    assert _thread_texts(emulator, parent) == ["reply 1"]
    emulator.clear_faults()
    await _deliver_until_done(services, run)
    assert _thread_texts(emulator, parent) == ["reply 1", "reply 2", "reply 3"]


async def test_a_post_that_happened_but_was_answered_500_is_found_not_posted_again(
        services: Services, emulator: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "TRIES_PER_PASS", 1)  # the next pass is another deliverer
    run = await _finished_run(services, [_summary("staging: 1 failed"), _reply(1)])
    emulator.inject_periodic(2, 500, after_processing=True)  # the reply's post
    assert await deliver_run(services, run.id, patience_s=0) is False
    [_, reply] = await services.store.outbox_entries(run.id)
    assert reply.in_doubt and reply.delivered_at is None
    emulator.clear_faults()
    await _deliver_until_done(services, run)
    parent = await _summary_ts(services, run)
    assert _thread_texts(emulator, parent) == ["reply 1"]
    assert emulator.calls("conversations.replies")  # it looked before sending again
    [_, reply] = await services.store.outbox_entries(run.id)
    assert reply.ts == emulator.thread(CHANNEL, parent)[0].ts


async def test_a_summary_never_posted_live_is_posted_with_its_replies_in_its_thread(
        services: Services, emulator: SlackEmulator) -> None:
    run = await _finished_run(services, [_summary("staging: 1 failed"), _reply(1)],
                              live_summary=False)
    emulator.begin_outage()
    assert await deliver_run(services, run.id, patience_s=0) is False  # Slack down: nothing is lost
    emulator.end_outage()
    await _deliver_until_done(services, run)
    [parent] = [m for m in emulator.messages(CHANNEL)]
    assert parent.text == "staging: 1 failed"
    assert _thread_texts(emulator, parent.ts) == ["reply 1"]


async def test_two_deliverers_at_once_post_each_message_once(
        services: Services, emulator: SlackEmulator) -> None:
    run = await _finished_run(services, [_summary(), *(_reply(n) for n in range(10))])
    emulator.inject_periodic(3, 429, retry_after=0)
    for _ in range(20):
        outcomes = await asyncio.gather(deliver_run(services, run.id),
                                        deliver_run(services, run.id), deliver_due(services))
        if outcomes[0] or outcomes[1]:
            break
    await _deliver_until_done(services, run)
    parent = await _summary_ts(services, run)
    assert _thread_texts(emulator, parent) == [f"reply {n}" for n in range(10)]


async def test_a_channel_the_bot_is_not_in_gives_up_the_run_instead_of_retrying(
        services: Services, emulator: SlackEmulator) -> None:
    run = await _finished_run(services, [_summary(), _reply(1), _report()], live_summary=False)
    emulator.set_bot_membership(CHANNEL, False)
    assert await deliver_run(services, run.id, patience_s=0) is False
    entries = await services.store.outbox_entries(run.id)
    assert all(e.gave_up_at is not None and e.last_error == "not_in_channel" for e in entries)
    assert await deliver_due(services) == 0
    assert len(emulator.calls("chat.postMessage")) == 1  # tried once, not again and again


async def test_a_refused_reply_is_given_up_and_the_rest_still_go(
        services: Services, emulator: SlackEmulator) -> None:
    bad = OutboxMessage(SlackMessageKind.FAILURE_REPLY, CHANNEL,
                        {"text": "x", "blocks": [{"type": "no-such-block"}]}, check_id="bad")
    run = await _finished_run(services, [_summary(), bad, _reply(2)])
    await _deliver_until_done(services, run)
    parent = await _summary_ts(services, run)
    assert _thread_texts(emulator, parent) == ["reply 2"]
    bad_entry = (await services.store.outbox_entries(run.id))[1]
    assert bad_entry.gave_up_at is not None and bad_entry.last_error == "invalid_blocks"


async def test_the_report_upload_is_retried_when_its_upload_step_fails(
        services: Services, emulator: SlackEmulator) -> None:
    run = await _finished_run(services, [_summary(), _reply(1), _report()])
    emulator.inject_error("upload_url", 503, times=2)
    emulator.inject_error("files.completeUploadExternal", 500, times=1)
    await _deliver_until_done(services, run)
    shared = [f for f in emulator.files() if f.shares]
    assert [f.filename for f in shared] == ["smoke-staging.md"]
    kinds = [m.kind for m in await services.store.slack_messages(run.id)]
    assert kinds.count(SlackMessageKind.REPORT) == 1
