"""The run queue: carries run ids from the triggers to the workers through Redis.

Built on saq (why: docs/queue.md); nothing outside this module imports it. Besides the queue
itself, Redis holds two small things per run, under the queue's key prefix:

    {prefix}:cancel:{run_id}       a cancellation request, which the run's worker watches
    {prefix}:response_url:{run_id} the slash command's response_url (Slack keeps it 30 min)

and, through the same connection pool, `{prefix}:traffic:{environment}`: the lock that runs one
traffic probe at a time per environment (bot/traffic_gate.py).

PostgreSQL (bot/store/) stays the truth about a run's state, and decides which run an
environment has: a job is only "run this id". A job that comes back (a retry, a duplicate
enqueue) or that outlived its run (superseded while it waited) is harmless because the worker
runs only a run the store still has queued.

A job may wait for a time (`enqueue(..., not_before_s=...)`: a deploy's coalescing window). saq
keeps it in Redis as a scheduled job, so it survives a restart of the process that queued it;
the consumers move it to the queue when its time comes.

Every Redis error is translated into QueueUnavailable here. The client opens new connections
as needed, so the queue works again by itself once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from redis import asyncio as aioredis
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry
from saq.job import TERMINAL_STATUSES, Job, Status
from saq.queue.redis import RedisQueue

from bot import deadline
from bot.backoff import Backoff, sleep_unless
from bot.errors import QueueUnavailable

__all__ = ["DEFAULT_JOB_TIMEOUT_S", "QueueDepth", "QueuedRun", "RunQueue"]

log = logging.getLogger("smokebot.queue")

DEFAULT_JOB_TIMEOUT_S = 900.0  # a smoke test that takes 15 minutes is stuck, not slow
CANCEL_FLAG_TTL_S = 24 * 3600.0
RESPONSE_URL_TTL_S = 30 * 60.0  # Slack accepts posts to a response_url for 30 minutes
# saq's own timeout only backs ours up: the worker stops a job itself at `timeout_s`, then
# gives it a grace period; saq sweeps a job that outlived all that (a worker that vanished).
SAQ_TIMEOUT_MARGIN_S = 300
SAQ_JOB_TTL_S = 3600  # how long saq keeps a finished job's record
JOB_FUNCTION = "run_smoke_test"
SCHEDULE_INTERVAL_S = 0.5  # how often a consumer looks for scheduled jobs whose time has come
REDIS_DOWN_BACKOFF = Backoff.exponential(first_s=0.5, factor=2.0, cap_s=5.0)  # consumer's waits


@dataclass(frozen=True)
class QueuedRun:
    """One job as a worker receives it."""

    run_id: str
    environment: str
    timeout_s: float


@dataclass(frozen=True)
class QueueDepth:
    """How many runs wait for a worker, and since when the longest waiting one has (epoch
    seconds; None when none waits). A scheduled run (a deploy's coalescing window) waits by
    design: it is counted apart, and its wait starts when its time comes."""

    waiting: int
    scheduled: int
    oldest_waiting_since: float | None


JobHandler = Callable[[QueuedRun], Awaitable[None]]


class RunQueue:
    """Create with `RunQueue.from_url(redis_url, prefix=...)`; no connection is made until the
    first call, so a process starts while Redis is down."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, where: str,
                 job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> None:
        if not prefix or any(c in prefix for c in " *?[]"):
            raise ValueError(f"invalid queue key prefix {prefix!r}")
        self._redis = redis
        self._prefix = prefix
        self._where = where
        self.job_timeout_s = job_timeout_s
        self._saq = RedisQueue(redis, name=f"{prefix}:runs")

    @classmethod
    def from_url(cls, url: str, *, prefix: str,
                 job_timeout_s: float = DEFAULT_JOB_TIMEOUT_S) -> RunQueue:
        redis = aioredis.Redis.from_url(
            url, socket_connect_timeout=3, socket_timeout=10, health_check_interval=30,
            # A pooled connection that Redis dropped (a restart) is replaced on the next try.
            retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2),
            retry_on_error=[RedisConnectionError, RedisTimeoutError])
        return cls(redis, prefix=prefix, where=_describe_server(url),
                   job_timeout_s=job_timeout_s)

    @property
    def prefix(self) -> str:
        return self._prefix

    @property
    def redis(self) -> aioredis.Redis:
        """The connection pool, shared with the traffic gate (bot/traffic_gate.py)."""
        return self._redis

    @property
    def where(self) -> str:
        """host:port/db of the server, without credentials, for error messages."""
        return self._where

    async def close(self) -> None:
        try:
            await self._redis.aclose()
        except RedisError:  # already gone: nothing to close
            pass

    async def ping(self) -> None:
        """Raises QueueUnavailable unless Redis answers; for readiness probes."""
        async with self._reaching_redis():
            await self._redis.ping()

    # --- the queue ----------------------------------------------------------------------------

    async def enqueue(self, run_id: str, environment: str, *,
                      not_before_s: float | None = None) -> bool:
        """Queues a stored run for a worker; with `not_before_s` (epoch seconds, as
        `time.time()`), no worker takes it before then (to the second above, and within a
        second after). False if that run is already in the queue, waiting or scheduled."""
        job = Job(function=JOB_FUNCTION, key=run_id, retries=1, ttl=SAQ_JOB_TTL_S,
                  timeout=int(self.job_timeout_s) + SAQ_TIMEOUT_MARGIN_S,
                  scheduled=math.ceil(not_before_s) if not_before_s else 0,
                  kwargs={"run_id": run_id, "environment": environment,
                          "timeout_s": self.job_timeout_s})
        async with self._reaching_redis():
            return await self._saq.enqueue(job) is not None

    async def queued_run_ids(self) -> list[str]:
        """Runs waiting for a worker: those ready, first to be taken first, then those
        scheduled for later, soonest first."""
        async with self._reaching_redis():
            job_ids = [*await self._redis.lrange(self._saq.namespace("queued"), 0, -1),
                       *await self._scheduled_job_ids()]
        return [self._saq.job_key_from_id(job_id.decode()) for job_id in job_ids]

    async def depth(self) -> QueueDepth:
        """Four bounded reads whatever the queue holds (LLEN, ZCOUNT, LINDEX and one job), for
        the metrics: never a scan of the queue."""
        async with self._reaching_redis():
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.llen(self._saq.namespace("queued"))
                pipe.zcount(self._saq.namespace("incomplete"), 1, "+inf")
                pipe.lindex(self._saq.namespace("queued"), 0)  # saq takes jobs from the left
                waiting, scheduled, first = await pipe.execute()
            job = await self._saq.job(self._saq.job_key_from_id(first.decode())) if first else None
        since = None
        if waiting:
            # A job moved to the queue when its scheduled time came waits from then on; a job
            # gone between the reads (just taken) has waited no time worth reporting.
            since = max(job.queued / 1000, float(job.scheduled)) if job else time.time()
        return QueueDepth(waiting=int(waiting), scheduled=int(scheduled),
                          oldest_waiting_since=since)

    async def _scheduled_job_ids(self) -> list[bytes]:
        # saq's "incomplete" set scores a job by its time until it is moved to the queue (0 then).
        return list(await self._redis.zrangebyscore(self._saq.namespace("incomplete"), 1, "+inf"))

    async def stranded(self, run_ids: list[str], *, taken_before_s: float) -> list[str]:
        """Those of `run_ids` (runs the store still has queued) that no worker will start:
        no job (a Redis restarted without persistence forgot it), a job that ended, or a job
        a worker took over `taken_before_s` ago without starting the run (it died then)."""
        if not run_ids:
            return []
        async with self._reaching_redis():
            jobs = await self._saq.jobs(run_ids)
            waiting = {*await self._redis.lrange(self._saq.namespace("queued"), 0, -1),
                       *await self._scheduled_job_ids()}
        taken_before = _now_ms() - taken_before_s * 1000

        def stranded(job: Job | None) -> bool:
            if job is None or job.status in TERMINAL_STATUSES:
                return True
            if job.id.encode() in waiting:
                return False
            # Taken by a worker: fine while it is recent and the worker marked it active.
            return job.status is not Status.ACTIVE or job.started < taken_before

        return [run_id for run_id, job in zip(run_ids, jobs) if stranded(job)]

    async def withdraw(self, run_id: str, reason: str) -> bool:
        """Takes a run's job out of the queue, waiting or scheduled: a queued run that will not
        be run, or the job of a worker that died. Not for stopping a live run (its worker does
        not watch this; use `request_cancel`). False if the job had already ended or was never
        queued."""
        async with self._reaching_redis():
            job = await self._saq.job(run_id)
            if job is None or job.status in TERMINAL_STATUSES:
                return False
            await self._saq.abort(job, error=reason)
            if job.status is not Status.ABORTED:
                # A worker had taken it and is gone: end the abort for it, which also lets
                # the same run id be queued again.
                await self._saq.finish_abort(job)
            return True

    async def consume(self, handler: JobHandler, *, concurrency: int, stop: asyncio.Event,
                      worker_id: str | None = None, sweep_interval_s: float = 30.0) -> None:
        """Takes jobs and hands each to `handler`, at most `concurrency` at once, until `stop`
        is set; then waits for the running handlers (which watch `stop` themselves). Moves
        scheduled jobs to the queue as their time comes.

        Redis being down is logged and waited out, never raised: the worker outlives it.
        """
        worker = worker_id or default_worker_id()
        slots = asyncio.Semaphore(concurrency)
        running: set[asyncio.Task[None]] = set()
        sweeper = asyncio.create_task(self._sweep_loop(stop, sweep_interval_s))
        scheduler = asyncio.create_task(self._schedule_loop(stop, SCHEDULE_INTERVAL_S))
        failures = 0  # in a row: Redis unreachable since the last job taken
        try:
            while not stop.is_set():
                await slots.acquire()
                job = None
                try:
                    if not stop.is_set():
                        job = await self._take(timeout_s=1.0)
                        failures = 0
                except QueueUnavailable as exc:
                    log.warning("%s; waiting for Redis", exc)
                    await sleep_unless(stop, REDIS_DOWN_BACKOFF.delay(failures))
                    failures += 1
                if job is not None and stop.is_set():
                    await self._put_back(job)  # taken as the worker began to stop
                    job = None
                if job is None:
                    slots.release()
                    continue
                task = asyncio.create_task(self._process(job, handler, worker),
                                           name=f"run {job.key}")
                running.add(task)
                task.add_done_callback(running.discard)
                task.add_done_callback(lambda _: slots.release())
            if running:
                await asyncio.wait(running)
        finally:
            for upkeep in (sweeper, scheduler):
                upkeep.cancel()
            await asyncio.gather(sweeper, scheduler, return_exceptions=True)

    async def _take(self, timeout_s: float) -> Job | None:
        async with self._reaching_redis():
            return await self._saq.dequeue(timeout=timeout_s)

    async def _put_back(self, job: Job) -> None:
        try:
            async with self._reaching_redis():
                await self._saq.retry(job, error=None)
        except QueueUnavailable as exc:
            # It stays in saq's active list; the reaper or saq's sweep deals with it.
            log.warning("run %s: could not put its job back: %s", job.key, exc)

    async def _process(self, job: Job, handler: JobHandler, worker_id: str) -> None:
        kwargs = job.kwargs or {}
        queued = QueuedRun(run_id=str(kwargs.get("run_id", job.key)),
                           environment=str(kwargs.get("environment", "")),
                           timeout_s=float(kwargs.get("timeout_s", self.job_timeout_s)))
        try:
            job.started = _now_ms()
            job.attempts += 1
            job.worker_id = worker_id
            async with self._reaching_redis():
                await job.update(status=Status.ACTIVE)
        except QueueUnavailable as exc:
            log.warning("run %s: could not mark its job active (%s); running it anyway",
                        queued.run_id, exc)
        status, error = Status.COMPLETE, None
        try:
            await handler(queued)
        except Exception as exc:  # a broken handler fails its job, never the worker
            log.exception("run %s: the job failed", queued.run_id)
            status, error = Status.FAILED, f"{type(exc).__name__}: {exc}"
        try:
            async with self._reaching_redis():
                await job.finish(status, error=error)
        except QueueUnavailable as exc:
            # saq's sweep ends the job record later; the run itself is in the store.
            log.warning("run %s: could not record the end of its job (%s)", queued.run_id, exc)

    async def _sweep_loop(self, stop: asyncio.Event, interval_s: float) -> None:
        """saq's sweep ends jobs stuck past their timeout, a backstop to the reaper. It also
        aborts a job taken by a worker that has not yet marked it active (a few ms): harmless
        here, as the worker does not watch saq's aborts, but it is why the first sweep waits
        an interval instead of racing this worker's first dequeue."""
        while not stop.is_set():
            await sleep_unless(stop, interval_s)
            if stop.is_set():
                return
            try:
                async with self._reaching_redis():
                    swept = await self._saq.sweep(lock=max(1, int(interval_s)))
                if swept:
                    log.info("saq swept %d stuck job(s)", len(swept))
            except QueueUnavailable as exc:
                log.warning("%s; sweep skipped", exc)

    async def _schedule_loop(self, stop: asyncio.Event, interval_s: float) -> None:
        """Moves the scheduled jobs whose time has come to the queue. saq's script does it
        atomically, and at most once a second across all consumers (its lock)."""
        while not stop.is_set():
            try:
                async with self._reaching_redis():
                    await self._saq.schedule(lock=1)
            except QueueUnavailable:
                pass  # the consumer's own loop logs the outage
            await sleep_unless(stop, interval_s)


    # --- cancellation and Slack's response_url ------------------------------------------------

    async def request_cancel(self, run_id: str) -> None:
        """Asks the run's worker to stop it; it reports what ran so far."""
        async with self._reaching_redis():
            await self._redis.set(self._cancel_key(run_id), b"1", px=_ms(CANCEL_FLAG_TTL_S))

    async def cancel_requested(self, run_id: str) -> bool:
        async with self._reaching_redis():
            return bool(await self._redis.exists(self._cancel_key(run_id)))

    async def remember_response_url(self, run_id: str, url: str | None) -> None:
        if not url:
            return
        async with self._reaching_redis():
            await self._redis.set(self._response_url_key(run_id), url.encode(),
                                  px=_ms(RESPONSE_URL_TTL_S))

    async def response_url(self, run_id: str) -> str | None:
        async with self._reaching_redis():
            url = await self._redis.get(self._response_url_key(run_id))
        return url.decode() if url else None

    # --- keys and errors ----------------------------------------------------------------------

    def _cancel_key(self, run_id: str) -> str:
        return f"{self._prefix}:cancel:{run_id}"

    def _response_url_key(self, run_id: str) -> str:
        return f"{self._prefix}:response_url:{run_id}"

    @asynccontextmanager
    async def _reaching_redis(self) -> AsyncIterator[None]:
        # Within a request's deadline: a stopped Redis keeps its socket open and never
        # answers, and the socket timeout (10 s) is longer than Slack waits.
        budget = deadline.remaining()
        limit = asyncio.timeout(budget)
        try:
            async with limit:
                yield
        except TimeoutError as exc:
            if not limit.expired():
                raise QueueUnavailable(
                    f"run queue is unavailable: cannot reach Redis at {self._where} "
                    f"({redis_failure_reason(exc)}); try again shortly") from exc
            raise QueueUnavailable(
                f"run queue is unavailable: Redis at {self._where} is not answering: no reply "
                f"within {budget:.1f} s; try again shortly") from None
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise QueueUnavailable(
                f"run queue is unavailable: cannot reach Redis at {self._where} "
                f"({redis_failure_reason(exc)}); try again shortly") from exc


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def _now_ms() -> int:
    return int(time.time() * 1000)


def redis_failure_reason(exc: BaseException) -> str:
    """Why Redis could not be reached, in a few words (never a password: redis's messages name
    host and port only)."""
    if isinstance(exc, RedisTimeoutError | TimeoutError):
        return "timed out"
    text = str(exc).strip()
    errno = re.match(r"Error (-?\d+) connecting", text)
    if errno:
        return os.strerror(abs(int(errno.group(1)))).lower()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def _describe_server(url: str) -> str:
    """host:port/db of a Redis URL, without its credentials."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    database = parts.path.lstrip("/") or "0"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{database}"
