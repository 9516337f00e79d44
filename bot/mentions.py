"""`@smokebot ...`: what a mention asks for, and the answer, which only the person who
mentioned the bot sees (chat.postEphemeral, in the thread when the mention was in one).
`rerun` in a run's thread re-runs that run (bot/reruns.py); anything else gets a short help."""

from __future__ import annotations

import logging
import re

from bot.errors import SlackRefused, SlackUnavailable
from bot.reruns import request_thread_rerun
from bot.services import Services
from bot.slack import render
from bot.slack.client import call_slack
from bot.slack.gate import reply_for_error
from checks.errors import SmokebotError

__all__ = ["answer_mention", "reply_to_mention"]

log = logging.getLogger("smokebot.slack")
_RERUN = re.compile(r"\bre-?run\b", re.IGNORECASE)


async def answer_mention(services: Services, text: str, *, channel: str, user: str,
                         thread_ts: str | None) -> render.SlackMessage | None:
    """What to tell `user`, or None when the thread will show it (a re-run's summary)."""
    if thread_ts and _RERUN.search(text):
        return await request_thread_rerun(services, channel, thread_ts, user)
    return render.render_mention_help()


async def reply_to_mention(services: Services, text: str, *, channel: str, user: str,
                           thread_ts: str | None) -> None:
    """Answers the mention privately. Never raises for Slack: the answer is best effort."""
    try:
        message = await answer_mention(services, text, channel=channel, user=user,
                                       thread_ts=thread_ts)
    except SmokebotError as exc:
        message = reply_for_error(exc)
    if message is None:
        return
    try:
        await call_slack(services.slack, "chat.postEphemeral", channel=channel, user=user,
                         text=message.text, blocks=message.blocks or None, thread_ts=thread_ts)
    except (SlackRefused, SlackUnavailable) as exc:
        log.warning("could not answer a mention in %s: %s", channel, exc.render())
