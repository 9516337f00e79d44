"""Telling Slack about runs that the worker or a newer deploy ended, not the run itself: the
summary (if one was posted) is updated to say so, with a note in an interrupted run's thread;
a run that never got a summary gets one message in its channel. Written to the outbox, then
sent by the one deliverer, so the ending is announced late rather than never. Never raises
for Slack."""

from __future__ import annotations

import logging
from uuid import UUID

from bot.errors import StoreError
from bot.pages.links import run_link
from bot.records import Run, SlackMessageKind
from bot.services import Services
from bot.slack.delivery import deliver_run
from bot.slack.outgoing import interruption_messages, notice_message
from bot.slack.render import SlackMessage
from checks.errors import SmokebotError
from checks.plan import select_checks

__all__ = ["announce_ended", "post_in_run_thread"]

log = logging.getLogger("smokebot.slack")


def _planned(services: Services, run: Run) -> int:
    """How many checks the run was to execute; the store only knows those that finished."""
    try:
        suite = services.suites.current()
        return len(select_checks(suite, run.environment, list(run.filters)))
    except SmokebotError:
        return 0


async def announce_ended(services: Services, run_id: str | UUID, *,
                         deliver_now: bool = True) -> None:
    """For interrupted, superseded, cancelled or errored runs. With `deliver_now` False (the
    web process, answering a request) they are delivered in the background: a request never
    waits on Slack, and what the background pass leaves, the workers' outbox loops send."""
    try:
        run = await services.store.get_run(run_id)
        if run is None:
            return
        messages = await services.store.slack_messages(run.id)
        summary = next((m for m in messages if m.kind is SlackMessageKind.SUMMARY), None)
        channel = summary.channel if summary is not None else run.channel
        if channel is None:
            return
        results = await services.store.results(run.id)
        await services.store.outbox_add(run.id, interruption_messages(
            run, channel=channel, summary_posted=summary is not None,
            total=max(_planned(services, run), len(results)), results=results,
            run_url=run_link(services.settings, run.id)))
        if deliver_now:
            await deliver_run(services, run.id)
        else:
            services.in_background(deliver_run(services, run.id), f"delivery of run {run.id}")
    except Exception as exc:  # noqa: BLE001 - Slack trouble must not stop a reaper or webhook
        log.warning("could not announce how run %s ended: %s", run_id, exc)


async def post_in_run_thread(services: Services, run_id: UUID, message: SlackMessage) -> None:
    """A notice in the run's thread (an acknowledgement), through the outbox like every
    message of a run, delivered in the background (this is called while answering Slack).
    Nothing is posted for a run that never got a summary."""
    try:
        summary = next((m for m in await services.store.slack_messages(run_id)
                        if m.kind is SlackMessageKind.SUMMARY), None)
        if summary is None:
            return
        await services.store.outbox_add(run_id, [notice_message(summary.channel, message)])
        services.in_background(deliver_run(services, run_id), f"delivery of run {run_id}")
    except StoreError as exc:
        log.warning("could not post a notice in run %s's thread: %s", run_id, exc)
