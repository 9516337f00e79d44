"""The `/smoketest` command: its answers (help, list, history, status, cancel) and the run it
asks for, under the environment's rules, with the production confirmation in between. Takes
what the Slack listener parsed (the command's text, who, where) and returns the reply; a
SmokebotError it raises is the caller's to turn into a reply."""

from __future__ import annotations

from collections.abc import Sequence

from bot.cancellation import cancel_runs
from bot.records import TriggerKind
from bot.runs import request_run
from bot.services import Services
from bot.slack import render
from bot.slack.commands import CommandKind, parse_command
from bot.slack.gate import authorize_request, reply_for_ticket
from bot.suites import ANSWER_WAIT_S

__all__ = ["answer_smoketest", "request_confirmed_run"]


async def answer_smoketest(services: Services, text: str, *, user: str, channel: str,
                           response_url: str | None = None) -> render.SlackMessage:
    """The reply to `/smoketest TEXT` from `user` in `channel`. A run on a protected
    environment is not started: the reply asks to confirm (`request_confirmed_run`)."""
    command = parse_command(text)
    suite = await services.suites.refresh(wait=ANSWER_WAIT_S)
    if command.kind is CommandKind.HELP:
        return render.render_help(list(suite.environments))
    if command.kind is CommandKind.LIST:
        refusal = services.suites.refusal
        return render.render_list(list(suite.environments), {
            name: [c.id for _, _, _, c in suite.all_checks()
                   if c.environments is None or name in c.environments]
            for name in suite.environments},
            refused=refusal.error.render() if refusal else None,
            in_use_since=refusal.in_use_since if refusal else None)
    if command.kind is CommandKind.HISTORY:
        runs = await services.store.recent_runs(command.environment, limit=10)
        links = await services.store.summary_messages([r.id for r in runs])
        return render.render_history(runs, links)
    if command.kind is CommandKind.STATUS:
        active = await services.store.active_runs()
        return render.render_status([r for r in active if r.status.value == "queued"],
                                    [r for r in active if r.status.value == "running"])
    if command.kind is CommandKind.CANCEL:
        return await cancel_runs(services, command.environment, user, channel)
    assert command.environment is not None
    decision = await authorize_request(services, command.environment, user, channel,
                                       action="run", detail={"filters": list(command.filters)})
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    if decision.needs_confirmation:
        return render.render_confirm_production(command.environment, list(command.filters))
    ticket = await request_run(
        services, environment=command.environment, filters=command.filters,
        trigger_kind=TriggerKind.SLASH, requested_by=user, channel=channel,
        trigger_detail=f"/smoketest {text.strip()}".strip(), response_url=response_url)
    return await reply_for_ticket(services, ticket)


async def request_confirmed_run(services: Services, environment: str, filters: Sequence[str],
                                *, user: str, channel: str,
                                response_url: str | None = None) -> render.SlackMessage:
    """The run `user` confirmed on a protected environment (the confirmation's button): the
    request is authorized and audited again at the click, then started or joined."""
    filters = tuple(filters)
    await services.suites.refresh(wait=ANSWER_WAIT_S)  # the rules of the file as it is now
    decision = await authorize_request(services, environment, user, channel, action="run",
                                       detail={"filters": list(filters), "confirmed": True})
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    ticket = await request_run(
        services, environment=environment, filters=filters, trigger_kind=TriggerKind.SLASH,
        requested_by=user, channel=channel, response_url=response_url,
        trigger_detail=f"/smoketest {environment} {' '.join(filters)} (confirmed)".strip())
    return await reply_for_ticket(services, ticket)
