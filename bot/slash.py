"""The `/smoketest` command: its answers (help, list, history, status, cancel) and the run it
asks for, which goes the way every request to start a run does (bot/start_requests.py: the
environment's rules, then its confirmation, if it asks for one). Takes what the Slack
listener parsed (the command's text, who, where) and returns the reply; a SmokebotError it
raises is the caller's to turn into a reply."""

from __future__ import annotations

from bot.cancellation import cancel_runs
from bot.records import StartRequest, TriggerKind
from bot.services import Services
from bot.slack import render
from bot.slack.commands import CommandKind, parse_command
from bot.slack.gate import reply_for_ticket
from bot.start_requests import ask_to_start
from bot.suites import ANSWER_WAIT_S

__all__ = ["answer_smoketest"]


async def answer_smoketest(services: Services, text: str, *, user: str, channel: str,
                           response_url: str | None = None) -> render.SlackMessage:
    """The reply to `/smoketest TEXT` from `user` in `channel`. A run on a protected
    environment is not started: the reply asks to confirm (`start_confirmed` starts it)."""
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
        workspace = await services.workspace_url() if links else None
        return render.render_history(runs, links, workspace_url=workspace)
    if command.kind is CommandKind.STATUS:
        active = await services.store.active_runs()
        return render.render_status([r for r in active if r.status.value == "queued"],
                                    [r for r in active if r.status.value == "running"])
    if command.kind is CommandKind.CANCEL:
        return await cancel_runs(services, command.environment, user, channel)
    assert command.environment is not None
    outcome = await ask_to_start(
        services, StartRequest(command.environment, TriggerKind.SLASH, command.filters),
        user=user, channel=channel, response_url=response_url)
    if isinstance(outcome, render.SlackMessage):
        return outcome
    return await reply_for_ticket(services, outcome)
