"""Re-running a finished run: from its summary's buttons (Re-run failed, Re-run all) or by
`@smokebot rerun` in its thread. The re-run tests the same environment under the same rules
as any run, is audited as a `rerun`, and remembers which run it repeats. Takes what the Slack
listener parsed (the run id or thread, who, where) and returns the reply; a SmokebotError it
raises is the caller's to turn into a reply."""

from __future__ import annotations

from uuid import UUID

from bot.records import TriggerKind
from bot.runs import request_run
from bot.services import Services
from bot.slack import render
from bot.slack.gate import authorize_request, reply_for_ticket
from checks.errors import UsageError
from checks.results import Status

__all__ = ["request_rerun", "request_thread_rerun"]


async def request_rerun(services: Services, run_id: UUID, *, only_failed: bool, user: str,
                        channel: str, response_url: str | None = None) -> render.SlackMessage:
    """Re-runs `run_id` with its filters, or only its failed and errored checks; the re-run
    reports where the original did. Raises UsageError when the run is gone."""
    original = await services.store.get_run(run_id)
    if original is None:
        raise UsageError("that run is no longer in the history store")
    filters = original.filters
    if only_failed:
        failed = [r.check_id for r in await services.store.results(run_id)
                  if r.status in (Status.FAIL, Status.ERROR)]
        if not failed:
            return render.render_error("Nothing failed in that run; use Re-run all.")
        filters = tuple(failed)
    decision = await authorize_request(services, original.environment, user, channel,
                                       action="rerun", detail={"rerun_of": str(run_id)})
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    ticket = await request_run(
        services, environment=original.environment, filters=filters,
        trigger_kind=TriggerKind.BUTTON, requested_by=user, channel=original.channel or channel,
        rerun_of=run_id, response_url=response_url,
        trigger_detail=f"{'Re-run failed' if only_failed else 'Re-run all'} by <@{user}>")
    return await reply_for_ticket(services, ticket)


async def request_thread_rerun(services: Services, channel: str, thread_ts: str,
                               user: str) -> str | None:
    """Re-runs the run whose thread `thread_ts` is, into that thread. Returns the text to say
    in the thread, or None when there is nothing to say: the re-run's summary appears there."""
    run = await services.store.run_for_thread(channel, thread_ts)
    if run is None:
        return "This thread is not a smoke test run's; mention me in a run's thread to re-run it."
    decision = await authorize_request(services, run.environment, user, channel, action="rerun",
                                       detail={"rerun_of": str(run.id), "via": "mention"})
    if not decision.allowed:
        return f"Not allowed: {decision.reason}"
    ticket = await request_run(
        services, environment=run.environment, filters=run.filters,
        trigger_kind=TriggerKind.MENTION, requested_by=user, channel=channel, rerun_of=run.id,
        trigger_detail=f"@smokebot rerun by <@{user}>")
    if ticket.joined:
        return f"{run.environment} is already being tested; its summary will show here."
    return None
