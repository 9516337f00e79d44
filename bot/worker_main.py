"""`smokebot worker`: the worker process wired to the bot's services: executes runs, reaps
runs whose worker died, says so in Slack, and delivers the Slack outbox."""

from __future__ import annotations

import asyncio
import functools
import logging

from bot.execution import execute_run, run_view
from bot.services import Services
from bot.settings import Settings
from bot.slack import render
from bot.slack.delivery import deliver_outbox_once, post_in_run_thread
from bot.store import SlackMessageKind
from bot.worker import WorkerOptions, run_worker

__all__ = ["announce_interrupted", "run_worker_process"]

log = logging.getLogger("smokebot.worker")
OUTBOX_INTERVAL_S = 5.0


async def announce_interrupted(services: Services, run_id: str) -> None:
    """The worker (not the run) ended this run: show it on the summary and in the thread."""
    run = await services.store.get_run(run_id)
    if run is None:
        return
    results = tuple(await services.store.results(run.id))
    summary = next((m for m in await services.store.slack_messages(run.id)
                    if m.kind is SlackMessageKind.SUMMARY), None)
    view = run_view(run, total=len(results), categories=tuple(dict.fromkeys(
        r.category for r in results)), results=results)
    notice = render.render_interrupted(run.environment, str(run.id), run.status_reason)
    try:
        if summary is not None:
            message = render.render_summary(view)
            await services.slack.chat_update(channel=summary.channel, ts=summary.ts,
                                             text=message.text, blocks=message.blocks)
            await post_in_run_thread(services, run.id, notice)
        elif run.channel:
            await services.slack.chat_postMessage(channel=run.channel, text=notice.text,
                                                  blocks=notice.blocks)
    except Exception as exc:  # Slack trouble must not stop the reaper; the store has it
        log.warning("could not announce interrupted run %s: %s", run_id, exc)


async def _deliver_outbox(services: Services, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await deliver_outbox_once(services)
        except Exception as exc:  # noqa: BLE001 - one bad entry must not stop delivery
            log.warning("outbox delivery failed: %s", exc)
        try:
            await asyncio.wait_for(stop.wait(), OUTBOX_INTERVAL_S)
        except TimeoutError:
            pass


async def run_worker_process(settings: Settings, *, concurrency: int = 2,
                             stop: asyncio.Event | None = None,
                             handle_signals: bool = True) -> None:
    services = await Services.start(settings)
    stop = stop or asyncio.Event()
    job = functools.partial(_job, services)
    outbox = asyncio.create_task(_deliver_outbox(services, stop))
    try:
        await run_worker(
            services.queue, services.store, job,
            options=WorkerOptions(concurrency=concurrency, heartbeat_s=settings.heartbeat_s,
                                  stale_after_s=settings.stale_after_s),
            on_interrupted=functools.partial(announce_interrupted, services),
            stop=stop, handle_signals=handle_signals)
    finally:
        stop.set()
        await asyncio.gather(outbox, return_exceptions=True)
        await services.close()


async def _job(services: Services, run_id: str, *, worker_id: str,
               cancel: asyncio.Event) -> object:
    return await execute_run(run_id, services, worker_id=worker_id, cancel=cancel)
