"""`smokebot worker`: the worker process wired to the bot's services: executes runs, reaps
runs whose worker died, says so in Slack, and delivers the Slack outbox: each run's messages
right after it, and every worker's outbox loop whatever is left (a retry, a run whose worker
died while delivering). It reports deploys' verdicts back to their sources the same way
(bot/report_back/): right after the run, and from the outbox loop. Every hour it also prunes the
history store down to its retention (bot/store/retention.py; of many workers, one prunes at a
time)."""

from __future__ import annotations

import asyncio
import functools
import logging

from bot.backoff import sleep_unless
from bot.errors import StoreError
from bot.execution import execute_run
from bot.metrics import Metrics, metrics_served, query_gauges_refreshed
from bot.report_back.deliverer import deliver_due_reports, deliver_run_reports
from bot.services import Services
from bot.settings import WORKER_METRICS_PORT, Settings
from bot.slack.announce import announce_ended
from bot.slack.delivery import deliver_due, deliver_run
from bot.store import PruneReport, RetentionPolicy, prune_history
from bot.worker import WorkerOptions, run_worker
from checks.redact import RedactingFilter

__all__ = ["prune_once", "retention_policy", "run_worker_process"]

log = logging.getLogger("smokebot.worker")
OUTBOX_INTERVAL_S = 2.0  # how soon what a delivery left (Slack down, a dead worker) is retried
PRUNE_INTERVAL_S = 3600.0  # retention is in days: an hourly pass keeps each one small
PRUNE_RETRY_S = 300.0  # after a pass that failed (PostgreSQL down, migrations not yet applied)


async def _deliver_outbox(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await deliver_due(services, stop=stop)
        except Exception as exc:  # noqa: BLE001 - one bad entry must not stop delivery
            log.warning("outbox delivery failed: %s", exc)
        try:
            await deliver_due_reports(services, stop=stop)
        except Exception as exc:  # noqa: BLE001 - nor one report the Slack messages, or back
            log.warning("report-back delivery failed: %s", exc)
        await sleep_unless(stop, OUTBOX_INTERVAL_S)


def retention_policy(settings: Settings) -> RetentionPolicy:
    return RetentionPolicy(runs_days=settings.retain_runs_days,
                           deliveries_days=settings.retain_deliveries_days,
                           rejected_days=settings.retain_rejected_days,
                           audit_days=settings.retain_audit_days)


async def prune_once(services: Services, stop: asyncio.Event | None = None
                     ) -> PruneReport | None:
    """One pruning pass, as the worker runs it every hour; logs one line when it deleted
    something. None when it failed (logged): the worker tries again sooner."""
    try:
        report = await prune_history(services.store, retention_policy(services.settings),
                                     stop=stop)
    except StoreError as exc:  # PostgreSQL down, migrations not applied yet
        log.warning("pruning the history store failed: %s", exc.render())
        return None
    if report.total:
        log.info("%s", report.describe())
    return report


async def _prune(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        report = await prune_once(services, stop)
        await sleep_unless(stop, PRUNE_INTERVAL_S if report is not None else PRUNE_RETRY_S)


async def run_worker_process(settings: Settings, *, concurrency: int = 2,
                             stop: asyncio.Event | None = None,
                             handle_signals: bool = True) -> None:
    """Raises CannotListen, before anything opens, when the metrics port it was given cannot
    be bound."""
    metrics = Metrics()
    host, port = settings.worker_metrics_host, settings.worker_metrics_port
    async with metrics_served(metrics, host, WORKER_METRICS_PORT if port is None else port,
                              required=port is not None) as serving:
        if serving is not None:
            log.info("metrics on http://%s:%d/metrics", host, serving)
        await _run_worker_process(settings, metrics, concurrency=concurrency, stop=stop,
                                  handle_signals=handle_signals)


async def _run_worker_process(settings: Settings, metrics: Metrics, *, concurrency: int,
                              stop: asyncio.Event | None, handle_signals: bool) -> None:
    services = await Services.start(settings, metrics=metrics)
    # Runs register their suite's secrets with services.redactor when planned; every log
    # line of this process must be redacted with them, not only with the bot's own secrets.
    log_filter = RedactingFilter(services.redactor)
    handlers = list(logging.getLogger().handlers)
    for handler in handlers:
        handler.addFilter(log_filter)
    stop = stop or asyncio.Event()
    job = functools.partial(_job, services)
    outbox = asyncio.create_task(_deliver_outbox(services, stop))
    pruning = asyncio.create_task(_prune(services, stop))
    try:
        async with query_gauges_refreshed(metrics.query_gauges, services.queue, services.store,
                                          interval_s=settings.metrics_refresh_s):
            await run_worker(
                services.queue, services.store, job,
                options=WorkerOptions(concurrency=concurrency, heartbeat_s=settings.heartbeat_s,
                                      stale_after_s=settings.stale_after_s),
                on_interrupted=functools.partial(_ended_by_worker, services),
                after_run=functools.partial(_deliver, services, stop),
                stop=stop, handle_signals=handle_signals)
    finally:
        stop.set()
        await asyncio.gather(outbox, pruning, return_exceptions=True)
        await services.close()
        for handler in handlers:
            handler.removeFilter(log_filter)


async def _ended_by_worker(services: Services, run_id: str) -> None:
    """A run the worker or the reaper ended, not its job: said in Slack, and counted."""
    await announce_ended(services, run_id)
    try:
        services.metrics.record_run_ended(await services.store.get_run(run_id))
    except StoreError as exc:  # only the count is lost
        log.warning("run %s: not counted in the metrics: %s", run_id, exc.render())


async def _deliver(services: Services, stop: asyncio.Event, run_id: str) -> None:
    """Sends the messages a finished run wrote, off the job's slot: a slow or rate-limiting
    Slack must not hold up the next run. What this leaves, the outbox loop sends. The run's
    report back to its deploy's source, if it owes one, goes the same way."""
    services.in_background(deliver_run(services, run_id, stop=stop), f"delivery of run {run_id}")
    services.in_background(deliver_run_reports(services, run_id, stop=stop),
                           f"report back of run {run_id}")


async def _job(services: Services, run_id: str, *, worker_id: str,
               cancel: asyncio.Event) -> object:
    return await execute_run(run_id, services, worker_id=worker_id, cancel=cancel)
