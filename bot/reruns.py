"""Re-running a finished run: from its summary's buttons (Re-run failed, Re-run all) or by
`@smokebot rerun` in its thread. A re-run is a request to start a run like any other
(bot/start_requests.py): the environment's rules and its confirmation apply, it is audited as
a `rerun` with the original's id, and it reports where the original did. Takes what the Slack
listener parsed (the run id or thread, who, where) and returns the reply; a SmokebotError it
raises is the caller's to turn into a reply."""

from __future__ import annotations

from uuid import UUID

from bot.records import StartRequest, TriggerKind
from bot.services import Services
from bot.slack import render
from bot.slack.gate import reply_for_ticket
from bot.start_requests import ask_to_start
from checks.errors import UsageError

__all__ = ["request_rerun", "request_thread_rerun"]


async def request_rerun(services: Services, run_id: UUID, *, only_failed: bool, user: str,
                        channel: str, response_url: str | None = None) -> render.SlackMessage:
    """Re-runs `run_id` with its filters, or only its failed and errored checks. Raises
    UsageError when the run is gone."""
    original = await services.store.get_run(run_id)
    if original is None:
        raise UsageError("that run is no longer in the history store")
    outcome = await ask_to_start(
        services, StartRequest(original.environment, TriggerKind.BUTTON, rerun_of=run_id,
                               only_failed=only_failed),
        user=user, channel=channel, response_url=response_url)
    if isinstance(outcome, render.SlackMessage):
        return outcome
    return await reply_for_ticket(services, outcome)


async def request_thread_rerun(services: Services, channel: str, thread_ts: str,
                               user: str) -> render.SlackMessage | None:
    """Re-runs the run whose thread `thread_ts` is, into that thread. Returns what to tell
    the person, or None when there is nothing to say: the re-run's summary appears there."""
    run = await services.store.run_for_thread(channel, thread_ts)
    if run is None:
        return render.render_mention_help()
    outcome = await ask_to_start(
        services, StartRequest(run.environment, TriggerKind.MENTION, rerun_of=run.id),
        user=user, channel=channel)
    if isinstance(outcome, render.SlackMessage):
        return outcome
    return await reply_for_ticket(services, outcome) if outcome.joined else None
