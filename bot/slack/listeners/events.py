"""`@smokebot rerun` in a run's thread re-runs that run into the same thread."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay

from bot.reruns import request_thread_rerun
from bot.services import Services
from bot.slack.gate import reply_for_error
from checks.errors import SmokebotError

_RERUN = re.compile(r"\bre-?run\b", re.IGNORECASE)


def register(app: AsyncApp, services: Services) -> None:
    @app.event("app_mention")
    async def mention(event: dict[str, Any], say: AsyncSay) -> None:
        thread_ts = event.get("thread_ts")
        if not thread_ts or not _RERUN.search(event.get("text", "")):
            return
        channel, user = event["channel"], event.get("user", "")
        try:
            text = await request_thread_rerun(services, channel, thread_ts, user)
        except SmokebotError as exc:
            text = reply_for_error(exc).text
        if text:
            await say(text=text, thread_ts=thread_ts)
