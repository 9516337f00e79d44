"""The run queue against the machine's real Redis, each test under a key prefix of its own."""

from __future__ import annotations

import asyncio
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
    assert bot.queue.__all__ == ["DEFAULT_CLAIM_TTL_S", "DEFAULT_JOB_TIMEOUT_S", "QueuedRun",
                                 "RunQueue"]


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


# --- environment claims -----------------------------------------------------------------------

async def test_exactly_one_of_fifty_concurrent_claims_wins_and_the_others_see_the_winner(
        queue: RunQueue) -> None:
    contenders = [run_id() for _ in range(50)]
    holders = await asyncio.gather(*(queue.claim_environment("staging", rid, 60)
                                     for rid in contenders))
    winners = [rid for rid, holder in zip(contenders, holders) if holder is None]
    assert len(winners) == 1
    assert sorted(h for h in holders if h is not None) == [winners[0]] * 49
    assert await queue.environment_holder("staging") == winners[0]


async def test_a_second_request_joins_the_run_that_holds_the_environment(queue: RunQueue) -> None:
    running, second = run_id(), run_id()
    assert await queue.claim_environment("staging", running, 60) is None
    assert await queue.claim_environment("staging", second, 60) == running
    assert await queue.claim_environment("production", second, 60) is None  # per environment


async def test_the_holder_claiming_again_extends_its_claim(queue: RunQueue) -> None:
    holder = run_id()
    assert await queue.claim_environment("staging", holder, 5) is None
    assert await queue.claim_environment("staging", holder, 600) is None
    assert 5_000 < await pttl(queue, "claim:staging") <= 600_000


async def test_only_the_holder_refreshes_or_releases_the_claim(queue: RunQueue) -> None:
    holder, other = run_id(), run_id()
    await queue.claim_environment("staging", holder, 5)
    assert await queue.refresh_claim("staging", other, 600) is False
    assert await pttl(queue, "claim:staging") <= 5_000
    assert await queue.refresh_claim("staging", holder, 600) is True
    assert await pttl(queue, "claim:staging") > 5_000
    assert await queue.release_environment("staging", other) is False
    assert await queue.environment_holder("staging") == holder
    assert await queue.release_environment("staging", holder) is True
    assert await queue.environment_holder("staging") is None
    assert await queue.claim_environment("staging", other, 60) is None


async def test_a_finished_run_releasing_late_leaves_the_next_runs_claim_alone(
        queue: RunQueue) -> None:
    finished, lapsed_and_reclaimed = run_id(), run_id()
    await queue.claim_environment("staging", finished, 60)
    await queue.release_environment("staging", finished)
    await queue.claim_environment("staging", lapsed_and_reclaimed, 60)
    assert await queue.release_environment("staging", finished) is False
    assert await queue.environment_holder("staging") == lapsed_and_reclaimed


async def test_claims_of_runs_waiting_in_the_queue_are_kept_alive(queue: RunQueue) -> None:
    waiting, not_queued = run_id(), run_id()
    await queue.claim_environment("staging", waiting, 5)
    await queue.claim_environment("production", not_queued, 5)
    await queue.enqueue(waiting, "staging")
    assert await queue.refresh_queued_claims(600) == 1
    assert await pttl(queue, "claim:staging") > 5_000
    assert await pttl(queue, "claim:production") <= 5_000


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
             lambda: queue.queued_run_ids(),
             lambda: queue.claim_environment("staging", run_id(), 60),
             lambda: queue.refresh_claim("staging", run_id(), 60),
             lambda: queue.release_environment("staging", run_id()),
             lambda: queue.request_cancel(run_id()), lambda: queue.cancel_requested(run_id()),
             lambda: queue.withdraw(run_id(), "x"), lambda: queue.response_url(run_id()),
             lambda: queue.remember_response_url(run_id(), "https://hooks.slack.com/x"),
             lambda: queue.environment_holder("staging"),
             lambda: queue.refresh_queued_claims()]
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
            assert await queue.claim_environment("staging", "run-1", 60) is None
        with pytest.raises(QueueUnavailable):
            await queue.claim_environment("staging", "run-2", 60)
        with private_redis(port):  # a restart without persistence: empty, and new sockets
            assert await queue.claim_environment("staging", "run-2", 60) is None
            assert await queue.enqueue("run-2", "staging") is True
            assert await queue.queued_run_ids() == ["run-2"]
    finally:
        await queue.close()
