"""Telling Slack about runs that the worker or a newer deploy ended, not the run itself:
the summary (if one was posted) is updated to say so, with a note in its thread; a run that
never got a summary gets one short message in its channel. Never raises for Slack."""

from __future__ import annotations

import logging
from uuid import UUID

from bot.execution import run_view
from bot.services import Services
from bot.slack import render
from bot.slack.delivery import post_for_run, update_summary
from bot.store import Run, RunStatus, SlackMessageKind
from checks.errors import SmokebotError
from checks.plan import select_checks

__all__ = ["announce_ended"]

log = logging.getLogger("smokebot.slack")


def _planned(services: Services, run: Run) -> int:
    """How many checks the run was to execute; the store only knows those that finished."""
    try:
        suite = services.suites.current()
        return len(select_checks(suite, run.environment, list(run.filters)))
    except SmokebotError:
        return 0


async def announce_ended(services: Services, run_id: str | UUID) -> None:
    """For interrupted, superseded, cancelled or errored runs."""
    try:
        run = await services.store.get_run(run_id)
        if run is None:
            return
        results = tuple(await services.store.results(run.id))
        summary = next((m for m in await services.store.slack_messages(run.id)
                        if m.kind is SlackMessageKind.SUMMARY), None)
        view = run_view(run, total=max(_planned(services, run), len(results)),
                        categories=tuple(dict.fromkeys(r.category for r in results)),
                        results=results)
        if run.status is RunStatus.INTERRUPTED:
            notice = render.render_interrupted(run.environment, str(run.id), run.status_reason)
        else:
            notice = render.render_summary(view)
        # Through the outbox when Slack is down: the ending is announced late, never lost.
        if summary is not None:
            await update_summary(services, summary, render.render_summary(view),
                                 notice=notice if run.status is RunStatus.INTERRUPTED else None)
        elif run.channel:
            await post_for_run(services, run.id, run.channel, notice)
    except Exception as exc:  # noqa: BLE001 - Slack trouble must not stop a reaper or webhook
        log.warning("could not announce how run %s ended: %s", run_id, exc)
