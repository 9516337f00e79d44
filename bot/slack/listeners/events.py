"""Mentions: `@smokebot rerun` in a run's thread re-runs it into the same thread; any other
mention is answered with a short help. Every answer is ephemeral."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp

from bot.mentions import reply_to_mention
from bot.services import Services


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_mention")
    async def mention(event: dict[str, Any]) -> None:
        await reply_to_mention(services, event.get("text", ""), channel=event["channel"],
                               user=event.get("user", ""), thread_ts=event.get("thread_ts"))
