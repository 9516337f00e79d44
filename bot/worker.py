"""The worker process: takes runs from the queue and executes each under supervision.

For every run it takes, the worker
- skips it unless the store still has it queued (a job the queue hands out twice, or one whose
  run was cancelled, superseded or interrupted meanwhile, is never executed again);
- calls the job function `job(run_id, worker_id=..., cancel=event)`, which claims the run with
  `store.mark_running` (bot/execution.py's `execute_run` does) and stops when `cancel` is set;
- heartbeats every `heartbeat_s` (`store.heartbeat(run_id)`);
- sets `cancel` when someone asks for it (`RunQueue.request_cancel`), when the job outlives
  its timeout, or when the store says the run ended elsewhere; a job that has not stopped
  `cancel_grace_s` later has its task cancelled and the run is ended in the store for it;
- on SIGTERM (or SIGINT) stops taking runs and gives the running ones `shutdown_grace_s` to
  finish; those still running then are cancelled and marked interrupted. A second signal
  stops them at once.

Alongside the jobs, every worker runs the reaper (bot/reaper.py), which ends the runs of
workers that died.

`after_run(run_id)` is called once a job has ended the run by itself: it delivers the messages
the run wrote to the outbox. It runs outside the supervision above (no heartbeat, cancel or
timeout applies to it): a finished run is never cancelled; a worker stopped meanwhile leaves
the rest to another worker's outbox loop.

`on_interrupted(run_id)` is called whenever the worker, not the job, ended a run (reaped,
timed out, forcibly cancelled, stopped by a shutdown, or the job raised): the run's own
summary never said so, and the caller posts it (the store has the status and the reason).
"""

from __future__ import annotations

import asyncio
import enum
import logging
import signal
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from bot.backoff import Backoff, sleep_unless
from bot.errors import QueueUnavailable, StoreUnavailable
from bot.queue import QueuedRun, RunQueue, default_worker_id
from bot.reaper import OnInterrupted, notify_interrupted, run_reaper
from bot.store import Run, RunStatus, Store

__all__ = ["RunJob", "WorkerOptions", "run_worker"]

log = logging.getLogger("smokebot.worker")

HARD_CANCEL_WAIT_S = 5.0  # how long a cancelled task may take to unwind before we move on
STORE_DOWN_BACKOFF = Backoff.constant(2.0)  # a taken run's store check, while PostgreSQL is down


class RunJob(Protocol):
    """Executes one stored run; `execute_run` bound to the bot's services is one."""

    def __call__(self, run_id: str, *, worker_id: str,
                 cancel: asyncio.Event) -> Coroutine[Any, Any, object]: ...


@dataclass(frozen=True)
class WorkerOptions:
    concurrency: int = 2
    heartbeat_s: float = 5.0
    stale_after_s: float = 30.0  # the reaper ends a run whose heartbeat is this old
    reap_interval_s: float = 10.0  # so a dead worker's run is ended within ~45 s
    cancel_poll_s: float = 1.0  # how often a running run's cancel flag is read
    cancel_grace_s: float = 15.0  # a job asked to stop has this long before it is cancelled
    shutdown_grace_s: float = 25.0  # within Kubernetes' default 30 s termination grace
    store_wait_s: float = 60.0  # PostgreSQL down when a run is taken: wait this long for it


class _Ending(enum.Enum):
    """Why the worker, not the job, ended a run."""

    CANCELLED = "cancelled"
    TIMED_OUT = "timed out"
    SHUTDOWN = "shutdown"
    ENDED_ELSEWHERE = "ended elsewhere"


async def run_worker(queue: RunQueue, store: Store, job: RunJob, *,
                     options: WorkerOptions = WorkerOptions(),
                     on_interrupted: OnInterrupted | None = None,
                     after_run: OnInterrupted | None = None,
                     stop: asyncio.Event | None = None, worker_id: str | None = None,
                     handle_signals: bool = True) -> None:
    """Runs until SIGTERM/SIGINT (with `handle_signals`) or until `stop` is set."""
    stop = stop or asyncio.Event()
    supervisor = _Supervisor(queue, store, job, options, on_interrupted, stop,
                             worker_id or default_worker_id(), after_run=after_run)
    removers = _handle_signals(stop, supervisor.hurry) if handle_signals else []
    log.info("worker %s started: %d run(s) at once, queue %r", supervisor.worker_id,
             options.concurrency, queue.prefix)
    reaper = asyncio.create_task(run_reaper(
        store, queue, on_interrupted, interval_s=options.reap_interval_s,
        stale_after_s=options.stale_after_s, stop=stop))
    try:
        await queue.consume(supervisor.handle, concurrency=options.concurrency, stop=stop,
                            worker_id=supervisor.worker_id)
    finally:
        stop.set()
        await asyncio.gather(reaper, return_exceptions=True)
        for remove in removers:
            remove()
        log.info("worker %s stopped", supervisor.worker_id)


def _handle_signals(stop: asyncio.Event,
                    hurry: Callable[[], None]) -> list[Callable[[], object]]:
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if stop.is_set():
            log.warning("%s again: stopping the running runs now", signum.name)
            hurry()
            return
        log.warning("%s: taking no more runs; running ones get to finish", signum.name)
        stop.set()

    removers: list[Callable[[], object]] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal, signum)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
            continue
        removers.append(partial(loop.remove_signal_handler, signum))
    return removers


class _Supervisor:
    def __init__(self, queue: RunQueue, store: Store, job: RunJob, options: WorkerOptions,
                 on_interrupted: OnInterrupted | None, stop: asyncio.Event,
                 worker_id: str, *, after_run: OnInterrupted | None = None) -> None:
        self.queue, self.store, self.job, self.options = queue, store, job, options
        self.on_interrupted, self.stop, self.worker_id = on_interrupted, stop, worker_id
        self.after_run = after_run
        self._hurry = asyncio.Event()

    def hurry(self) -> None:
        self._hurry.set()

    async def handle(self, queued: QueuedRun) -> None:
        if not await self._still_queued(queued.run_id):
            return
        cancel = asyncio.Event()
        if await self._cancel_flag(queued.run_id):
            cancel.set()  # cancelled while queued: the job reports it as cancelled at once
        task = asyncio.create_task(self.job(queued.run_id, worker_id=self.worker_id,
                                            cancel=cancel), name=f"job {queued.run_id}")
        ending = await self._supervise(queued, task, cancel)
        failure = None if task.cancelled() or not task.done() else task.exception()
        if ending is None and failure is None:
            await notify_interrupted(self.after_run, queued.run_id)
            return
        if failure is not None:
            log.error("run %s failed in the worker: %s", queued.run_id,
                      type(failure).__name__, exc_info=failure)
        await self._end(queued, ending, failure)

    # --- before: never execute a run twice ----------------------------------------------------

    async def _still_queued(self, run_id: str) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.options.store_wait_s
        attempt = 0
        while True:
            try:
                run = await self.store.get_run(run_id)
                break
            except StoreUnavailable as exc:
                if loop.time() >= deadline or self.stop.is_set():
                    # The job's own mark_running stays the guard; it will say what is wrong.
                    log.warning("run %s: cannot check it in the store (%s); running the job",
                                run_id, exc)
                    return True
                log.warning("run %s: waiting for the store: %s", run_id, exc)
                await sleep_unless(self.stop, STORE_DOWN_BACKOFF.delay(attempt))
                attempt += 1
        if run is None:
            log.warning("run %s: not in the store; its job is dropped", run_id)
            return False
        if run.status is not RunStatus.QUEUED:
            log.info("run %s is %s, not queued: not executing it again", run_id,
                     run.status.value)
            return False
        return True

    # --- during: heartbeat, cancellation, timeout, shutdown -----------------------------------

    async def _supervise(self, queued: QueuedRun, task: asyncio.Task[object],
                         cancel: asyncio.Event) -> _Ending | None:
        """Waits for the job; returns why the worker ended it, None if it ended by itself."""
        opts = self.options
        loop = asyncio.get_running_loop()
        started = loop.time()
        next_beat = started + opts.heartbeat_s
        deadline = started + queued.timeout_s
        why: _Ending | None = None
        hard_stop_at: float | None = None
        shutdown_at: float | None = None
        while not task.done():
            await asyncio.wait({task}, timeout=min(opts.cancel_poll_s, opts.heartbeat_s))
            if task.done():
                break
            now = loop.time()
            if now >= next_beat:
                next_beat = now + opts.heartbeat_s
                # A job that just finished its run is no longer "running" either: not a loss.
                if why is None and await self._beat(queued) is False and not task.done():
                    # The reaper (after a long pause here) or a cancel ended it: stop.
                    log.warning("run %s was ended elsewhere; stopping it", queued.run_id)
                    why, hard_stop_at = _Ending.ENDED_ELSEWHERE, now + opts.cancel_grace_s
                    cancel.set()
            if why is None and await self._cancel_flag(queued.run_id):
                log.info("run %s: cancel requested", queued.run_id)
                why, hard_stop_at = _Ending.CANCELLED, now + opts.cancel_grace_s
                cancel.set()
            if why is None and now >= deadline:
                log.warning("run %s: timed out after %g s; stopping it", queued.run_id,
                            queued.timeout_s)
                why, hard_stop_at = _Ending.TIMED_OUT, now + opts.cancel_grace_s
                cancel.set()
            if self.stop.is_set() and shutdown_at is None:
                shutdown_at = now + opts.shutdown_grace_s
            if self._hurry.is_set() or (shutdown_at is not None and now >= shutdown_at):
                await _cancel_task(task, queued.run_id)
                return _Ending.SHUTDOWN
            if hard_stop_at is not None and now >= hard_stop_at:
                log.warning("run %s: did not stop within %g s of being asked; cancelling it",
                            queued.run_id, opts.cancel_grace_s)
                await _cancel_task(task, queued.run_id)
                return why
        return None

    async def _beat(self, queued: QueuedRun) -> bool | None:
        """False when the run has ended without its job; True while it goes on (or has not
        been claimed by its job yet); None when the store cannot say."""
        try:
            if await self.store.heartbeat(queued.run_id):
                return True
            run = await self.store.get_run(queued.run_id)
        except StoreUnavailable as exc:
            log.warning("run %s: heartbeat not recorded: %s", queued.run_id, exc)
            return None
        return run is not None and run.status is RunStatus.QUEUED

    async def _cancel_flag(self, run_id: str) -> bool:
        try:
            return await self.queue.cancel_requested(run_id)
        except QueueUnavailable:
            return False  # the heartbeat logs the outage; a cancel is read once Redis is back

    # --- after: end what the job could not ------------------------------------------------------

    async def _end(self, queued: QueuedRun, ending: _Ending | None,
                   failure: BaseException | None) -> None:
        run_id = queued.run_id
        ended: Run | None = None
        try:
            if ending is _Ending.CANCELLED:
                asked = await self.store.get_run(run_id)  # who asked, noted by cancel_runs
                who = (asked.status_reason if asked is not None and asked.status_reason
                       else "cancelled on request")
                ended = await self.store.mark_cancelled(
                    run_id, f"{who}; it did not stop within "
                            f"{self.options.cancel_grace_s:g} s, so it was cut short")
            elif ending is _Ending.TIMED_OUT:
                ended = await self.store.mark_error(
                    run_id, f"timed out after {queued.timeout_s:g} s")
            elif ending is _Ending.SHUTDOWN:
                ended = await self.store.mark_interrupted(
                    run_id, f"its worker ({self.worker_id}) was stopped before the run "
                            f"finished")
            elif ending is None and failure is not None:
                ended = await self.store.mark_error(
                    run_id, f"the run failed inside the worker ({type(failure).__name__}); "
                            f"the worker's log has the details")
        except StoreUnavailable as exc:
            # The run keeps its stale heartbeat: the reaper ends it once the store is back.
            log.warning("run %s: could not record how it ended: %s", run_id, exc)
        if ended is not None:
            await notify_interrupted(self.on_interrupted, run_id)


async def _cancel_task(task: asyncio.Task[object], run_id: str) -> None:
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=HARD_CANCEL_WAIT_S)
    if not done:
        log.error("run %s: its task ignored cancellation; leaving it behind", run_id)
