"""Buttons: Re-run failed, Re-run all, Acknowledge (opens a modal), production confirmation."""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any, TypeVar
from uuid import UUID

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.acknowledgements import open_acknowledge_modal
from bot.runs import request_run
from bot.services import Services
from bot.slack import render
from bot.slack.gate import authorize_request, reply_for_error, reply_for_ticket
from bot.store import TriggerKind
from checks.errors import SmokebotError, UsageError
from checks.results import Status

_Reply = TypeVar("_Reply", render.SlackMessage, render.SlackMessage | None)


def register(app: AsyncApp, services: Services) -> None:
    @app.action("rerun_failed")
    async def rerun_failed(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await _reply(respond, await _guarded(rerun(services, body, only_failed=True)))

    @app.action("rerun_all")
    async def rerun_all(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await _reply(respond, await _guarded(rerun(services, body, only_failed=False)))

    @app.action("confirm_run")
    async def confirm_run(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await _reply(respond, await _guarded(confirmed_run(services, body)), replace=True)

    @app.action("cancel_confirm")
    async def cancel_confirm(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(delete_original=True)

    @app.action("acknowledge")
    async def acknowledge(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()  # views.open must follow within the trigger's 3 s
        try:
            run_id = UUID(body["actions"][0]["value"])
            user, trigger_id = body["user"]["id"], body["trigger_id"]
        except (ValueError, KeyError) as exc:
            await _reply(respond, reply_for_error(UsageError(f"cannot acknowledge: {exc}")))
            return
        refusal = await _guarded(open_acknowledge_modal(
            services, run_id, user=user, channel=body.get("channel", {}).get("id", ""),
            trigger_id=trigger_id))
        if refusal is not None:
            await _reply(respond, refusal)


async def _guarded(work: Awaitable[_Reply]) -> _Reply | render.SlackMessage:
    """The work's reply, or the reply for the SmokebotError it raised."""
    try:
        return await work
    except SmokebotError as exc:
        return reply_for_error(exc)


async def _reply(respond: AsyncRespond, message: render.SlackMessage, *,
                 replace: bool = False) -> None:
    await respond(text=message.text, blocks=message.blocks or None, response_type="ephemeral",
                  replace_original=replace)


async def rerun(services: Services, body: dict[str, Any], *,
                only_failed: bool) -> render.SlackMessage:
    run_id = UUID(body["actions"][0]["value"])
    user, channel = body["user"]["id"], body.get("channel", {}).get("id", "")
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
        rerun_of=run_id, response_url=body.get("response_url"),
        trigger_detail=f"{'Re-run failed' if only_failed else 'Re-run all'} by <@{user}>")
    return await reply_for_ticket(services, ticket)


async def confirmed_run(services: Services, body: dict[str, Any]) -> render.SlackMessage:
    value = json.loads(body["actions"][0]["value"])
    user, channel = body["user"]["id"], body.get("channel", {}).get("id", "")
    environment, filters = value["environment"], tuple(value.get("filters", ()))
    decision = await authorize_request(services, environment, user, channel, action="run",
                                       detail={"filters": list(filters), "confirmed": True})
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    ticket = await request_run(
        services, environment=environment, filters=filters, trigger_kind=TriggerKind.SLASH,
        requested_by=user, channel=channel, response_url=body.get("response_url"),
        trigger_detail=f"/smoketest {environment} {' '.join(filters)} (confirmed)".strip())
    return await reply_for_ticket(services, ticket)
