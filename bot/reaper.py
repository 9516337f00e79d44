"""The reaper: ends runs whose worker died, so none is left "running" for ever.

A live worker heartbeats its runs every few seconds (bot/worker.py). A run still "running"
whose heartbeat is older than `stale_after_s` (30 s) lost its worker (SIGKILL, OOM, a lost
machine): the reaper marks it interrupted (which frees its environment for the next request),
takes its job out of the queue and calls `on_interrupted(run_id)` so the channel hears about
it. Every worker runs the reaper every `interval_s` (10 s), so a dead worker's run is ended
within about 45 s. Several reapers at once are harmless: the store ends a run only if it is
still running with a stale heartbeat (UPDATE ... WHERE status = 'running' ... RETURNING), so
one reaper reports it.

It also queues again the runs that the store has had queued for two minutes but that no worker
will start: Redis restarted without persistence and forgot them, a deploy's run was recorded
while Redis was down, or a worker took one and died before starting it. Runs must not wait for
ever.

We do not wait for the queue library to notice: saq only sweeps a job once its timeout (over
15 minutes here) has passed. See docs/queue.md.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.backoff import sleep_unless
from bot.errors import QueueUnavailable, StoreUnavailable
from bot.queue import RunQueue
from bot.store import RunStatus, Store

__all__ = ["DEFAULT_STALE_AFTER_S", "OnInterrupted", "reap_once", "requeue_lost",
           "run_reaper"]

log = logging.getLogger("smokebot.reaper")

DEFAULT_STALE_AFTER_S = 30.0
LOST_AFTER_S = 120.0  # beyond the trigger's store-then-Redis gap and a worker's store wait
OnInterrupted = Callable[[str], Awaitable[object]]


async def reap_once(store: Store, queue: RunQueue, on_interrupted: OnInterrupted | None, *,
                    stale_after_s: float = DEFAULT_STALE_AFTER_S) -> list[str]:
    """Ends every run whose worker stopped heartbeating; returns the ids this call ended.

    Raises StoreUnavailable when PostgreSQL cannot be reached. Redis being down only leaves
    the dead job's record to saq's sweep."""
    reaped = []
    for run in await store.stale_running_runs(stale_after_s):
        seen = run.heartbeat_at.isoformat(timespec="seconds") if run.heartbeat_at else "never"
        reason = (f"its worker ({run.worker_id or 'unknown'}) stopped responding; "
                  f"last heartbeat {seen}")
        ended = await store.mark_interrupted(run.id, reason, only_if_stale_s=stale_after_s)
        if ended is None:
            continue  # it heartbeated meanwhile, finished, or another reaper got there first
        run_id = str(run.id)
        log.warning("run %s of %s interrupted: %s", run_id, run.environment, reason)
        try:
            await queue.withdraw(run_id, "interrupted: its worker stopped responding")
        except QueueUnavailable as exc:
            log.warning("run %s: its job was not withdrawn (saq sweeps it): %s", run_id, exc)
        reaped.append(run_id)
        await notify_interrupted(on_interrupted, run_id)
    return reaped


async def requeue_lost(store: Store, queue: RunQueue, *,
                       older_than_s: float = LOST_AFTER_S) -> list[str]:
    """Queues again the runs the store has had queued for over `older_than_s` that no worker
    will start (see `RunQueue.stranded`); returns their ids. Harmless if a worker does start
    one after all: a worker runs a run only while the store has it queued."""
    now = datetime.now(UTC)
    waiting = {str(run.id): run for run in await store.active_runs()
               if run.status is RunStatus.QUEUED
               and (now - run.created_at).total_seconds() > older_than_s}
    requeued = []
    for run_id in await queue.stranded(list(waiting), taken_before_s=older_than_s):
        environment = waiting[run_id].environment
        await queue.withdraw(run_id, "stranded: queued again")
        if await queue.enqueue(run_id, environment):
            log.warning("run %s of %s was stranded in the queue; queued it again", run_id,
                        environment)
            requeued.append(run_id)
    return requeued


async def run_reaper(store: Store, queue: RunQueue, on_interrupted: OnInterrupted | None, *,
                     interval_s: float = 10.0, stale_after_s: float = DEFAULT_STALE_AFTER_S,
                     stop: asyncio.Event) -> None:
    """Reaps every `interval_s` until `stop` is set, and queues again the runs lost to the
    queue; outages are logged and waited out."""
    while not stop.is_set():
        try:
            await reap_once(store, queue, on_interrupted, stale_after_s=stale_after_s)
        except StoreUnavailable as exc:
            log.warning("reaper: %s", exc)
        try:
            await requeue_lost(store, queue)
        except (StoreUnavailable, QueueUnavailable) as exc:
            log.warning("reaper: %s", exc)
        await sleep_unless(stop, interval_s)


async def notify_interrupted(on_interrupted: OnInterrupted | None, run_id: str) -> None:
    """Calls the caller's hook; its failure (Slack down) is logged, never raised."""
    if on_interrupted is None:
        return
    try:
        await on_interrupted(run_id)
    except Exception:  # the hook is the caller's: its failure must not stop the reaper
        log.exception("run %s: reporting the interruption failed", run_id)
