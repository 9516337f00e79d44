"""The run queue against the machine's real Redis, each test under a key prefix of its own."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from redis import asyncio as aioredis

import bot.queue
from bot.errors import QueueUnavailable
from bot.queue import QueuedRun, RunQueue
from checks.errors import SmokebotError
from tests.bot.queue_support import isolated_queue, private_redis
from tests.support.asgi import free_port
from tests.support.services import redis_url


@pytest.fixture
async def queue() -> AsyncIterator[RunQueue]:
    async with isolated_queue() as opened:
        yield opened


def run_id() -> str:
    return str(uuid.uuid4())


async def pttl(queue: RunQueue, key: str) -> int:
    redis = aioredis.from_url(redis_url())
    try:
        return int(await redis.pttl(f"{queue.prefix}:{key}"))
    finally:
        await redis.aclose()


def test_public_surface_is_the_documented_list() -> None:
    assert bot.queue.__all__ == ["DEFAULT_JOB_TIMEOUT_S", "QueueDepth", "QueuedRun", "RunQueue"]


# --- the queue --------------------------------------------------------------------------------

async def test_enqueued_runs_wait_in_order_and_a_run_is_queued_once(queue: RunQueue) -> None:
    first, second = run_id(), run_id()
    assert await queue.enqueue(first, "staging") is True
    assert await queue.enqueue(second, "production") is True
    assert await queue.enqueue(first, "staging") is False  # a trigger delivered twice
    assert await queue.queued_run_ids() == [first, second]


async def test_a_consumer_hands_each_run_to_the_handler_with_its_environment_and_timeout() -> None:
    async with isolated_queue(job_timeout_s=42) as queue:
        ids = [run_id() for _ in range(3)]
        for index, rid in enumerate(ids):
            await queue.enqueue(rid, f"env{index}")
        received: list[QueuedRun] = []
        stop = asyncio.Event()

        async def handler(queued: QueuedRun) -> None:
            received.append(queued)
            if len(received) == len(ids):
                stop.set()

        await asyncio.wait_for(queue.consume(handler, concurrency=1, stop=stop), 30)
        assert received == [QueuedRun(rid, f"env{i}", 42.0) for i, rid in enumerate(ids)]
        assert await queue.queued_run_ids() == []


async def test_a_handler_that_raises_fails_its_job_and_the_consumer_goes_on(
        queue: RunQueue) -> None:
    broken, fine = run_id(), run_id()
    await queue.enqueue(broken, "staging")
    await queue.enqueue(fine, "staging")
    handled: list[str] = []
    stop = asyncio.Event()

    async def handler(queued: QueuedRun) -> None:
        handled.append(queued.run_id)
        if queued.run_id == broken:
            raise RuntimeError("boom")
        stop.set()

    await asyncio.wait_for(queue.consume(handler, concurrency=1, stop=stop), 30)
    assert handled == [broken, fine]
    job = await queue._saq.job(broken)
    assert job is not None and job.status.value == "failed" and job.error == "RuntimeError: boom"


async def test_withdrawing_a_queued_run_takes_it_out_of_the_queue(queue: RunQueue) -> None:
    kept, dropped = run_id(), run_id()
    await queue.enqueue(kept, "staging")
    await queue.enqueue(dropped, "staging")
    assert await queue.withdraw(dropped, "cancelled before it started") is True
    assert await queue.queued_run_ids() == [kept]
    assert await queue.withdraw(dropped, "again") is False
    assert await queue.withdraw(run_id(), "never queued") is False


# --- scheduled runs -----------------------------------------------------------------------------

async def consume_until(queue: RunQueue, count: int, timeout_s: float = 30
                        ) -> list[tuple[str, float]]:
    """The first `count` runs a consumer hands out, with the time each was handed out."""
    received: list[tuple[str, float]] = []
    stop = asyncio.Event()

    async def handler(queued: QueuedRun) -> None:
        received.append((queued.run_id, time.time()))
        if len(received) == count:
            stop.set()

    await asyncio.wait_for(queue.consume(handler, concurrency=2, stop=stop), timeout_s)
    return received


async def test_a_scheduled_run_is_handed_out_only_once_its_time_has_come(
        queue: RunQueue) -> None:
    later, now = run_id(), run_id()
    not_before = time.time() + 1.5
    assert await queue.enqueue(later, "staging", not_before_s=not_before) is True
    assert await queue.enqueue(later, "staging", not_before_s=not_before) is False
    assert await queue.enqueue(now, "production") is True
    assert await queue.queued_run_ids() == [now, later]  # ready first, then scheduled

    received = await consume_until(queue, 2)

    assert [rid for rid, _ in received] == [now, later]
    assert received[1][1] >= not_before
    assert received[1][1] < not_before + 3, "taken within a second or two of its time"
    assert await queue.queued_run_ids() == []


async def test_a_scheduled_run_survives_the_process_that_queued_it() -> None:
    async with isolated_queue() as queue:
        rid = run_id()
        web = RunQueue.from_url(redis_url(), prefix=queue.prefix)
        await web.enqueue(rid, "staging", not_before_s=time.time() + 0.5)
        await web.close()  # the web process restarts while the run waits out its window

        assert [r for r, _ in await consume_until(queue, 1)] == [rid]


async def test_a_withdrawn_scheduled_run_is_never_handed_out(queue: RunQueue) -> None:
    superseded, kept = run_id(), run_id()
    await queue.enqueue(superseded, "staging", not_before_s=time.time() + 0.5)
    assert await queue.withdraw(superseded, "superseded by a newer deploy") is True
    assert await queue.queued_run_ids() == []
    await queue.enqueue(kept, "staging", not_before_s=time.time() + 1)

    assert [r for r, _ in await consume_until(queue, 1)] == [kept]
    job = await queue._saq.job(superseded)
    assert job is not None and job.status.value == "aborted"


async def test_a_run_waiting_for_its_time_is_not_stranded(queue: RunQueue) -> None:
    scheduled, forgotten = run_id(), run_id()
    await queue.enqueue(scheduled, "staging", not_before_s=time.time() + 600)
    assert await queue.stranded([scheduled, forgotten], taken_before_s=120) == [forgotten]


# --- cancellation and response_url ------------------------------------------------------------

async def test_a_cancel_request_is_seen_for_that_run_only(queue: RunQueue) -> None:
    cancelled, other = run_id(), run_id()
    assert await queue.cancel_requested(cancelled) is False
    await queue.request_cancel(cancelled)
    assert await queue.cancel_requested(cancelled) is True
    assert await queue.cancel_requested(other) is False


async def test_the_response_url_of_a_run_is_remembered_for_slacks_thirty_minutes(
        queue: RunQueue) -> None:
    rid = run_id()
    url = "https://hooks.slack.com/commands/T1/2/abc"
    await queue.remember_response_url(rid, url)
    await queue.remember_response_url(run_id(), None)  # buttons and webhooks have none
    assert await queue.response_url(rid) == url
    assert await queue.response_url(run_id()) is None
    assert 1_790_000 < await pttl(queue, f"response_url:{rid}") <= 1_800_000


# --- Redis away -------------------------------------------------------------------------------

async def test_every_call_raises_queue_unavailable_when_redis_is_unreachable() -> None:
    port = free_port()  # nothing listens there
    queue = RunQueue.from_url(f"redis://:hunter2-canary@127.0.0.1:{port}/3", prefix="q_down")
    calls = [lambda: queue.ping(), lambda: queue.enqueue(run_id(), "staging"),
             lambda: queue.enqueue(run_id(), "staging", not_before_s=time.time() + 5),
             lambda: queue.queued_run_ids(),
             lambda: queue.stranded([run_id()], taken_before_s=120),
             lambda: queue.request_cancel(run_id()), lambda: queue.cancel_requested(run_id()),
             lambda: queue.withdraw(run_id(), "x"), lambda: queue.response_url(run_id()),
             lambda: queue.remember_response_url(run_id(), "https://hooks.slack.com/x")]
    try:
        for call in calls:
            with pytest.raises(QueueUnavailable) as caught:
                await call()
            message = caught.value.render()
            assert message == (f"run queue is unavailable: cannot reach Redis at "
                               f"127.0.0.1:{port}/3 (connection refused); try again shortly")
            assert "hunter2-canary" not in repr(caught.value.__cause__)
            assert isinstance(caught.value, SmokebotError)
    finally:
        await queue.close()


async def test_a_consumer_waits_out_a_redis_outage_instead_of_failing() -> None:
    queue = RunQueue.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix="q_down")
    stop = asyncio.Event()

    async def handler(queued: QueuedRun) -> None:
        raise AssertionError("no job can come from a Redis that is down")

    consumer = asyncio.create_task(queue.consume(handler, concurrency=2, stop=stop))
    await asyncio.sleep(1.5)  # a few failed dequeues: the consumer must survive them
    assert not consumer.done()
    stop.set()
    await asyncio.wait_for(consumer, 10)
    await queue.close()


async def test_the_queue_works_again_by_itself_when_redis_comes_back() -> None:
    port = free_port()
    queue = RunQueue.from_url(f"redis://127.0.0.1:{port}/0", prefix="q_back")
    try:
        with private_redis(port):
            assert await queue.enqueue("run-1", "staging") is True
        with pytest.raises(QueueUnavailable):
            await queue.enqueue("run-2", "staging")
        with private_redis(port):  # a restart without persistence: empty, and new sockets
            assert await queue.queued_run_ids() == []
            assert await queue.enqueue("run-2", "staging") is True
            assert await queue.queued_run_ids() == ["run-2"]
    finally:
        await queue.close()
