"""Workers and the reaper against the real Redis and PostgreSQL: real worker processes
(tests/bot/worker_jobs.py) for enqueue, SIGKILL and SIGTERM; in-process workers for the rest."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import psycopg
import pytest
from redis import asyncio as aioredis
from saq.job import Status

from bot.queue import RunQueue
from bot.reaper import reap_once, requeue_lost
from bot.store import Run, RunRequest, RunStatus, Store, TriggerKind
from bot.worker import RunJob, WorkerOptions, run_worker
from tests.bot.queue_support import isolated_queue
from tests.bot.worker_jobs import events_key, make_job
from tests.support.services import redis_url

ROOT = Path(__file__).resolve().parents[2]
FAST = {"heartbeat_s": 0.2, "cancel_poll_s": 0.05, "cancel_grace_s": 0.3,
        "shutdown_grace_s": 0.5, "reap_interval_s": 60.0}
WAIT_S = 30.0  # a ceiling for waiting on another process, never a measurement


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[Store]:
    async with Store.open(pg_dsn) as opened:
        await opened.migrate()
        yield opened


@pytest.fixture
async def queue() -> AsyncIterator[RunQueue]:
    async with isolated_queue() as opened:
        yield opened


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url())
    yield client
    await client.aclose()


async def queued_run(store: Store, queue: RunQueue, environment: str = "staging") -> str:
    """A run as a trigger makes it: stored as the environment's active run, and queued."""
    ticket = await store.start_or_join(RunRequest(environment=environment,
                                                  trigger_kind=TriggerKind.SLASH,
                                                  trigger_detail=f"/smoketest {environment}"))
    assert not ticket.joined
    assert await queue.enqueue(str(ticket.run.id), environment)
    return str(ticket.run.id)


async def next_event(redis: aioredis.Redis, queue: RunQueue) -> str:
    popped = await redis.blpop([events_key(queue.prefix)], timeout=WAIT_S)
    assert popped is not None, "the worker recorded nothing"
    return popped[1].decode()


async def settled(store: Store, run_id: str, status: RunStatus) -> Run:
    """The run once it has `status` (or as it is when the ceiling is reached)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        run = await store.get_run(run_id)
        assert run is not None
        if run.status is status or time.monotonic() > deadline:
            return run
        await asyncio.sleep(0.05)


async def age_heartbeat(dsn: str, run_id: str, seconds: int) -> None:
    """Moves the run's last heartbeat into the past instead of waiting that long."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute("UPDATE smokebot.runs SET heartbeat_at = now() - make_interval("
                           "secs => %s) WHERE id = %s", (seconds, run_id))


def worker_process(queue: RunQueue, dsn: str, behaviour: str, log: Path,
                   **options: float) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.bot.worker_jobs", "--redis", redis_url(),
         "--prefix", queue.prefix, "--dsn", dsn, "--behaviour", behaviour,
         "--options", json.dumps({**FAST, **options})],
        cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def ended(process: subprocess.Popen[bytes]) -> int:
    try:
        return process.wait(WAIT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


class InProcessWorker:
    """run_worker in the test's own event loop, stopped by an event rather than a signal."""

    def __init__(self, queue: RunQueue, store: Store, job: RunJob, **options: float) -> None:
        self.stop = asyncio.Event()
        self.interrupted: list[str] = []

        async def on_interrupted(run_id: str) -> None:
            self.interrupted.append(run_id)

        self.task = asyncio.create_task(run_worker(
            queue, store, job, options=WorkerOptions(**{**FAST, **options}),  # type: ignore[arg-type]
            on_interrupted=on_interrupted, stop=self.stop, worker_id="test-worker",
            handle_signals=False))

    async def close(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.task, WAIT_S)


@pytest.fixture
async def in_process(queue: RunQueue, store: Store
                     ) -> AsyncIterator[Callable[..., InProcessWorker]]:
    started: list[InProcessWorker] = []

    def start(job: RunJob, **options: float) -> InProcessWorker:
        started.append(InProcessWorker(queue, store, job, **options))
        return started[-1]

    yield start
    for worker in started:
        await worker.close()


def job_for(behaviour: str, store: Store, redis: aioredis.Redis, queue: RunQueue) -> RunJob:
    return make_job(behaviour, store, redis, queue.prefix)


# --- a real worker process --------------------------------------------------------------------

async def test_a_worker_process_runs_an_enqueued_run_and_frees_its_environment(
        store: Store, queue: RunQueue, redis: aioredis.Redis, pg_dsn: str,
        tmp_path: Path) -> None:
    run_id = await queued_run(store, queue)
    process = worker_process(queue, pg_dsn, "finish", tmp_path / "worker.log")
    try:
        assert await next_event(redis, queue) == f"started {run_id}"
        assert await next_event(redis, queue) == f"finished {run_id}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert ended(process) == 0
    run = await store.get_run(run_id)
    assert run is not None
    assert (run.status, run.worker_id) == (RunStatus.PASSED, "test-worker")
    assert await queue.queued_run_ids() == []


async def test_a_sigkilled_workers_run_is_reaped_and_never_executed_again(
        store: Store, queue: RunQueue, redis: aioredis.Redis, pg_dsn: str,
        tmp_path: Path) -> None:
    run_id = await queued_run(store, queue)
    victim = worker_process(queue, pg_dsn, "hold", tmp_path / "victim.log")
    try:
        assert await next_event(redis, queue) == f"started {run_id}"
    finally:
        victim.send_signal(signal.SIGKILL)
        ended(victim)
    assert (await store.get_run(run_id)).status is RunStatus.RUNNING  # type: ignore[union-attr]

    await age_heartbeat(pg_dsn, run_id, 31)
    told: list[str] = []

    async def on_interrupted(rid: str) -> None:
        told.append(rid)

    assert await reap_once(store, queue, on_interrupted) == [run_id]
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.INTERRUPTED
    assert run.status_reason is not None and run.status_reason.startswith(
        "its worker (test-worker) stopped responding; last heartbeat 20")
    assert told == [run_id]
    job = await queue._saq.job(run_id)
    assert job is not None and job.status.value == "aborted"
    assert await reap_once(store, queue, on_interrupted) == []  # reported once
    assert told == [run_id]

    # The queue hands the dead worker's job out again (as a library retry would): a new worker
    # must not execute it; the run after it shows the worker went past it.
    assert await queue.enqueue(run_id, "staging")
    sentinel = await queued_run(store, queue, "production")
    survivor = worker_process(queue, pg_dsn, "finish", tmp_path / "survivor.log")
    try:
        assert await next_event(redis, queue) == f"started {sentinel}"
        assert await next_event(redis, queue) == f"finished {sentinel}"
    finally:
        survivor.send_signal(signal.SIGTERM)
        assert ended(survivor) == 0
    assert (await store.get_run(run_id)).status is RunStatus.INTERRUPTED  # type: ignore[union-attr]
    assert await redis.llen(events_key(queue.prefix)) == 0


async def test_sigterm_lets_a_running_run_finish_within_the_grace_period(
        store: Store, queue: RunQueue, redis: aioredis.Redis, pg_dsn: str,
        tmp_path: Path) -> None:
    run_id = await queued_run(store, queue)
    process = worker_process(queue, pg_dsn, "slow", tmp_path / "worker.log",
                             shutdown_grace_s=30.0)
    try:
        assert await next_event(redis, queue) == f"started {run_id}"
    finally:
        process.send_signal(signal.SIGTERM)
    assert ended(process) == 0
    assert await next_event(redis, queue) == f"finished {run_id}"
    assert (await settled(store, run_id, RunStatus.PASSED)).status is RunStatus.PASSED


async def test_sigterm_marks_a_run_still_going_after_the_grace_period_interrupted(
        store: Store, queue: RunQueue, redis: aioredis.Redis, pg_dsn: str,
        tmp_path: Path) -> None:
    run_id = await queued_run(store, queue)
    process = worker_process(queue, pg_dsn, "stubborn", tmp_path / "worker.log")
    try:
        assert await next_event(redis, queue) == f"started {run_id}"
    finally:
        process.send_signal(signal.SIGTERM)
    assert ended(process) == 0
    assert await next_event(redis, queue) == f"cut-short {run_id}"
    assert await next_event(redis, queue) == f"interrupted {run_id}"
    run = await store.get_run(run_id)
    assert run is not None and run.status is RunStatus.INTERRUPTED
    assert run.status_reason == "its worker (test-worker) was stopped before the run finished"


# --- supervision, in process ------------------------------------------------------------------

async def test_a_cancel_request_stops_a_running_run_which_reports_itself_cancelled(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    worker = in_process(job_for("hold", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    await queue.request_cancel(run_id)
    assert await next_event(redis, queue) == f"cancelled {run_id}"
    run = await settled(store, run_id, RunStatus.CANCELLED)
    assert (run.status, run.verdict.value if run.verdict else None) == (
        RunStatus.CANCELLED, "cancelled")
    await worker.close()
    assert worker.interrupted == []  # the run's own summary said it


async def test_a_run_that_ignores_its_cancel_is_cut_short_and_marked_cancelled(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    worker = in_process(job_for("stubborn", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    await queue.request_cancel(run_id)
    assert await next_event(redis, queue) == f"cut-short {run_id}"
    run = await settled(store, run_id, RunStatus.CANCELLED)
    assert run.status is RunStatus.CANCELLED
    assert run.status_reason == ("cancelled on request; it did not stop within 0.3 s, "
                                 "so it was cut short")
    await worker.close()
    assert worker.interrupted == [run_id]


async def test_a_run_cut_short_still_says_who_cancelled_it(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    worker = in_process(job_for("stubborn", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    assert await store.note_cancel_request(run_id, "cancelled by <@U0BOB0001>")  # cancel_runs
    await queue.request_cancel(run_id)
    assert await next_event(redis, queue) == f"cut-short {run_id}"
    run = await settled(store, run_id, RunStatus.CANCELLED)
    assert run.status_reason == ("cancelled by <@U0BOB0001>; it did not stop within 0.3 s, "
                                 "so it was cut short")
    await worker.close()


async def test_a_run_cancelled_while_queued_starts_already_cancelled(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    await queue.request_cancel(run_id)  # a button click racing the worker
    in_process(job_for("hold", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    assert await next_event(redis, queue) == f"cancelled {run_id}"


async def test_a_run_past_its_timeout_is_stopped_and_marked_timed_out(
        store: Store, redis: aioredis.Redis) -> None:
    async with isolated_queue(job_timeout_s=0.5) as queue:
        run_id = await queued_run(store, queue)
        worker = InProcessWorker(queue, store, job_for("stubborn", store, redis, queue))
        try:
            assert await next_event(redis, queue) == f"started {run_id}"
            assert await next_event(redis, queue) == f"cut-short {run_id}"
            run = await settled(store, run_id, RunStatus.ERROR)
            assert (run.status, run.status_reason) == (RunStatus.ERROR,
                                                       "timed out after 0.5 s")
        finally:
            await worker.close()
        assert worker.interrupted == [run_id]


async def test_a_run_that_heeds_its_timeout_ends_as_cancelled_by_itself(
        store: Store, redis: aioredis.Redis) -> None:
    async with isolated_queue(job_timeout_s=0.5) as queue:
        run_id = await queued_run(store, queue)
        worker = InProcessWorker(queue, store, job_for("hold", store, redis, queue))
        try:
            assert await next_event(redis, queue) == f"started {run_id}"
            assert await next_event(redis, queue) == f"cancelled {run_id}"
        finally:
            await worker.close()
        assert (await store.get_run(run_id)).status is RunStatus.CANCELLED  # type: ignore[union-attr]


async def test_a_running_run_heartbeats(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    in_process(job_for("hold", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    first = await store.get_run(run_id)
    assert first is not None and first.heartbeat_at is not None
    deadline = time.monotonic() + WAIT_S
    while (run := await store.get_run(run_id)) and run.heartbeat_at == first.heartbeat_at:
        assert time.monotonic() < deadline, "no heartbeat"
        await asyncio.sleep(0.05)
    assert run is not None and run.heartbeat_at is not None
    assert run.heartbeat_at > first.heartbeat_at
    await queue.request_cancel(run_id)
    assert await next_event(redis, queue) == f"cancelled {run_id}"


async def test_a_run_ended_elsewhere_is_stopped_by_its_worker(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)
    in_process(job_for("hold", store, redis, queue))
    assert await next_event(redis, queue) == f"started {run_id}"
    # A reaper that thought the worker dead (a long pause) ended the run: the worker learns it
    # from its next heartbeat and stops the job, which cannot change the run any more.
    await store.mark_interrupted(run_id, "its worker stopped responding")
    assert await next_event(redis, queue) == f"cancelled {run_id}"
    assert (await store.get_run(run_id)).status is RunStatus.INTERRUPTED  # type: ignore[union-attr]


async def test_a_job_that_raises_ends_its_run_in_error_without_its_message(
        store: Store, queue: RunQueue, in_process: Callable[..., InProcessWorker]) -> None:
    run_id = await queued_run(store, queue)

    async def broken(rid: str, *, worker_id: str, cancel: asyncio.Event) -> None:
        await store.mark_running(rid, worker_id)
        raise RuntimeError("token=xoxb-canary-123 rejected")

    worker = in_process(broken)
    run = await settled(store, run_id, RunStatus.ERROR)
    assert run.status_reason == ("the run failed inside the worker (RuntimeError); the "
                                 "worker's log has the details")
    await worker.close()
    assert worker.interrupted == [run_id]


async def test_a_run_no_longer_queued_is_not_executed(
        store: Store, queue: RunQueue, redis: aioredis.Redis,
        in_process: Callable[..., InProcessWorker]) -> None:
    gone = await queued_run(store, queue)
    await store.mark_cancelled(gone, "cancelled before it started")
    after = await queued_run(store, queue, "production")
    calls: list[str] = []
    inner = job_for("finish", store, redis, queue)

    def counting(rid: str, *, worker_id: str,
                 cancel: asyncio.Event) -> Coroutine[Any, Any, object]:
        calls.append(rid)
        return inner(rid, worker_id=worker_id, cancel=cancel)

    in_process(counting, concurrency=1)
    assert await next_event(redis, queue) == f"started {after}"
    assert calls == [after]


# --- the reaper -------------------------------------------------------------------------------

async def test_concurrent_reapers_end_each_stale_run_once_and_spare_live_ones(
        store: Store, queue: RunQueue, pg_dsn: str) -> None:
    stale = [await queued_run(store, queue, f"env{i}") for i in range(2)]
    live = await queued_run(store, queue, "live")
    for run_id in [*stale, live]:
        assert await store.mark_running(run_id, "w1") is not None
    for run_id in stale:
        await age_heartbeat(pg_dsn, run_id, 45)
    await age_heartbeat(pg_dsn, live, 20)
    told: list[str] = []

    async def on_interrupted(rid: str) -> None:
        told.append(rid)

    reaped = await asyncio.gather(*(reap_once(store, queue, on_interrupted)
                                    for _ in range(4)))
    assert sorted(r for batch in reaped for r in batch) == sorted(stale)
    assert sorted(told) == sorted(stale)
    assert (await store.get_run(live)).status is RunStatus.RUNNING  # type: ignore[union-attr]
    # A reaped run no longer holds its environment: the next request starts a run there.
    for i in range(2):
        assert not (await store.start_or_join(RunRequest(f"env{i}", TriggerKind.SLASH))).joined
    assert (await store.start_or_join(RunRequest("live", TriggerKind.SLASH))).joined


async def test_a_failing_report_hook_does_not_stop_the_reaper(
        store: Store, queue: RunQueue, pg_dsn: str) -> None:
    stale = [await queued_run(store, queue, f"env{i}") for i in range(2)]
    for run_id in stale:
        await store.mark_running(run_id, "w1")
        await age_heartbeat(pg_dsn, run_id, 45)

    async def slack_down(rid: str) -> None:
        raise ConnectionError("Slack is down")

    assert sorted(await reap_once(store, queue, slack_down)) == sorted(stale)


async def test_runs_no_worker_will_start_are_queued_again(
        store: Store, queue: RunQueue, pg_dsn: str) -> None:
    def request(environment: str) -> RunRequest:
        return RunRequest(environment=environment, trigger_kind=TriggerKind.SLASH)

    forgotten = str((await store.create_run(request("staging"))).id)  # Redis restarted empty
    fresh = str((await store.create_run(request("production"))).id)  # being queued right now
    taken = await queued_run(store, queue, "dev")
    assert await queue._take(timeout_s=1) is not None  # a worker took it, then died
    busy = await queued_run(store, queue, "busy")  # a live worker just took it
    job = await queue._take(timeout_s=1)
    assert job is not None and job.key == busy
    job.started = int(time.time() * 1000)
    await job.update(status=Status.ACTIVE)
    waiting = await queued_run(store, queue, "qa")  # just waiting its turn
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("UPDATE smokebot.runs SET created_at = now() - interval '3 minutes'"
                           " WHERE id = ANY(%s)", ([forgotten, taken, busy, waiting],))

    assert sorted(await requeue_lost(store, queue)) == sorted([forgotten, taken])
    assert (await queue.queued_run_ids())[0] == waiting
    assert sorted((await queue.queued_run_ids())[1:]) == sorted([forgotten, taken])
    assert fresh not in await queue.queued_run_ids()
    assert await requeue_lost(store, queue) == []
