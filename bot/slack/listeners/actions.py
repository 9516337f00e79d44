"""Buttons: Re-run failed, Re-run all, Acknowledge (opens a modal), and the confirmation's Run
and Cancel (of a run, or a re-run, in an environment that confirms)."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any, TypeVar
from uuid import UUID

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond

from bot.acknowledgements import open_acknowledge_modal
from bot.records import StartRequest, TriggerKind
from bot.reruns import request_rerun
from bot.services import Services
from bot.slack import render
from bot.slack.gate import reply_for_error
from bot.start_requests import cancel_confirmation, start_confirmed
from checks.errors import SmokebotError, UsageError

_Reply = TypeVar("_Reply", render.SlackMessage, render.SlackMessage | None)


def register(app: AsyncApp, services: Services) -> None:
    @app.action("rerun_failed")
    async def rerun_failed(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await _rerun(body, respond, only_failed=True)

    @app.action("rerun_all")
    async def rerun_all(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await _rerun(body, respond, only_failed=False)

    async def _rerun(body: dict[str, Any], respond: AsyncRespond, *, only_failed: bool) -> None:
        run_id = UUID(body["actions"][0]["value"])
        user, channel = _user_and_channel(body)
        await _reply(respond, await _guarded(request_rerun(
            services, run_id, only_failed=only_failed, user=user, channel=channel,
            response_url=body.get("response_url"))))

    @app.action("confirm_run")
    async def confirm_run(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user, channel = _user_and_channel(body)
        try:
            # The button carries the request being confirmed (render_confirm_production).
            request = StartRequest.from_json(body["actions"][0]["value"])
        except UsageError as exc:
            await _reply(respond, reply_for_error(exc), replace=True)
            return
        await _reply(respond, await _guarded(start_confirmed(
            services, request, user=user, channel=channel,
            response_url=body.get("response_url"))), replace=True)

    @app.action("cancel_confirm")
    async def cancel_confirm(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        user, channel = _user_and_channel(body)
        value = body["actions"][0].get("value", "")
        try:
            request = StartRequest.from_json(value)
        except UsageError:  # a confirmation shown before: its Cancel carried the environment
            request = StartRequest(value, TriggerKind.SLASH)
        await cancel_confirmation(services, request, user=user, channel=channel)
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


def _user_and_channel(body: dict[str, Any]) -> tuple[str, str]:
    return body["user"]["id"], body.get("channel", {}).get("id", "")
