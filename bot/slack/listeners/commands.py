"""`/smoketest`: run, help, list, history, status, cancel. Every reply is ephemeral."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.cancellation import cancel_runs
from bot.services import Services
from bot.slack import render
from bot.slack.commands import CommandKind, parse_command
from bot.slack.gate import authorize_request, reply_for_error, reply_for_ticket
from bot.store import TriggerKind
from checks.errors import SmokebotError

log = logging.getLogger("smokebot.slack")


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/smoketest")
    async def smoketest(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            message = await handle_smoketest(services, body)
        except SmokebotError as exc:
            message = reply_for_error(exc)
        await ack(response_type="ephemeral", text=message.text, blocks=message.blocks)


async def handle_smoketest(services: Services, body: dict[str, Any]) -> render.SlackMessage:
    command = parse_command(body.get("text", ""))
    user, channel = body.get("user_id", ""), body.get("channel_id", "")
    suite = services.suites.current()
    if command.kind is CommandKind.HELP:
        return render.render_help(list(suite.environments))
    if command.kind is CommandKind.LIST:
        return render.render_list(list(suite.environments), {
            name: [c.id for _, _, _, c in suite.all_checks()
                   if c.environments is None or name in c.environments]
            for name in suite.environments})
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
    from bot.runs import request_run
    ticket = await request_run(
        services, environment=command.environment, filters=command.filters,
        trigger_kind=TriggerKind.SLASH, requested_by=user, channel=channel,
        trigger_detail=f"/smoketest {body.get('text', '').strip()}".strip(),
        response_url=body.get("response_url"))
    return await reply_for_ticket(services, ticket)
