"""`/smoketest`: run, help, list, history, status, cancel. Every reply is ephemeral."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import Services
from bot.slack.gate import reply_for_error
from bot.slash import answer_smoketest
from checks.errors import SmokebotError


def register(app: AsyncApp, services: Services) -> None:
    @app.command("/smoketest")
    async def smoketest(ack: AsyncAck, body: dict[str, Any]) -> None:
        try:
            message = await answer_smoketest(
                services, body.get("text", ""), user=body.get("user_id", ""),
                channel=body.get("channel_id", ""), response_url=body.get("response_url"))
        except SmokebotError as exc:
            message = reply_for_error(exc)
        await ack(response_type="ephemeral", text=message.text, blocks=message.blocks)
