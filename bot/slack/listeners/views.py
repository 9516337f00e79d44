"""The Acknowledge modal's submission: read it, answer Slack, record it. A wrong input is
answered with every input's own message under that input; the modal stays open."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.acknowledgements import record_acknowledgements
from bot.errors import AckInputError
from bot.services import Services
from bot.slack import render


def register(app: AsyncApp, services: Services) -> None:
    @app.view(render.ACK_CALLBACK_ID)
    async def ack_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            submission = render.read_ack_submission(view)
        except AckInputError as exc:
            await ack(response_action="errors", errors=exc.errors)
            return
        await ack()
        await record_acknowledgements(services, UUID(view["private_metadata"]),
                                      body["user"]["id"], submission)
