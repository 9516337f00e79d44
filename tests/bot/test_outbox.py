"""Delivering the Slack outbox: a summary queued while Slack was down arrives once, with its
thread replies; a reply that fails after the summary went through is queued on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta, timezone

import pytest

from bot.queue import RunQueue
from bot.services import Services
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.slack.delivery import deliver_outbox_once
from bot.store import RunRequest, SlackMessageKind, Store, TriggerKind
from bot.suites import SuiteSource
from checks.secrets import Secret
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator

CHANNEL = "C0SMOKE001"


@pytest.fixture
def emulator() -> Iterator[tuple[SlackEmulator, str]]:
    emu = SlackEmulator()
    with emu.serve() as api_url:
        yield emu, api_url


@pytest.fixture
async def services(pg_dsn: str, emulator: tuple[SlackEmulator, str],
                   tmp_path: object) -> AsyncIterator[Services]:
    emu, api_url = emulator
    settings = Settings(slack_bot_token=Secret(emu.bot_token), slack_api_url=api_url,
                        database_url=pg_dsn, redis_url=redis_url(),
                        key_prefix=unique_prefix("outbox"))
    store = await Store.open(pg_dsn, "smokebot", wait=True)
    await store.migrate()
    svc = Services(settings=settings, store=store,
                   queue=RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix),
                   slack=create_slack_client(settings, retries=0),
                   suites=SuiteSource("unused.yaml"))
    yield svc
    await svc.close()


def _soon() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=10)


async def test_a_reply_failing_after_the_summary_is_queued_alone_and_nothing_is_posted_twice(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run = await services.store.create_run(RunRequest(environment="staging",
                                                     trigger_kind=TriggerKind.SLASH,
                                                     channel=CHANNEL))
    too_many_blocks = [{"type": "divider"}] * 51  # Slack refuses this: invalid_blocks
    await services.store.outbox_put("chat.postMessage", {
        "channel": CHANNEL, "text": "summary", "blocks": [],
        "_replies": [{"text": "reply one"}, {"text": "reply two", "blocks": too_many_blocks}]},
        run_id=run.id)

    assert await deliver_outbox_once(services) == 1
    summary = [m for m in emu.messages(CHANNEL) if not m.thread_ts]
    assert [m.text for m in summary] == ["summary"]
    assert [m.text for m in emu.thread(CHANNEL, summary[0].ts)] == ["reply one"]
    recorded = await services.store.slack_messages(run.id)
    assert [(m.kind, m.ts) for m in recorded] == [(SlackMessageKind.SUMMARY, summary[0].ts)]

    # The failed reply is an entry of its own, due a little later; it fails for good
    # (Slack refused it), and the summary is not posted again.
    retried = await services.store.outbox_due(_soon())
    assert [(e.method, e.payload["text"], e.payload["thread_ts"]) for e in retried] == [
        ("chat.postMessage", "reply two", summary[0].ts)]
    await services.store.outbox_failed(retried[0].id, "lease returned", _soon() - timedelta(
        seconds=20))  # make it due now for the next delivery
    assert await deliver_outbox_once(services) == 0
    assert [m.text for m in emu.messages(CHANNEL) if not m.thread_ts] == ["summary"]
    assert await services.store.outbox_due(_soon()) == []  # given up, not retried forever
