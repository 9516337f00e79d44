"""`@smokebot rerun` in a run's thread re-runs that run into the same thread."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncSay

from bot.runs import request_run
from bot.services import Services
from bot.slack.gate import authorize_request, reply_for_error
from bot.store import TriggerKind
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
            text = await rerun_thread(services, channel, thread_ts, user)
        except SmokebotError as exc:
            text = reply_for_error(exc).text
        if text:
            await say(text=text, thread_ts=thread_ts)


async def rerun_thread(services: Services, channel: str, thread_ts: str, user: str) -> str:
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
    return ""  # the re-run's summary appears in this thread at once
