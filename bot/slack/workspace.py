"""The workspace's own URL (`https://acme.slack.com/`), for the permalinks the bot writes:
asked of auth.test the first time a link is needed and kept for the process. The cache
belongs to the process's `Services`, not to this module. A lookup that fails is not fatal:
links go through slack.com meanwhile, and Slack is asked again a while later."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from slack_sdk.web.async_client import AsyncWebClient

from bot import deadline
from bot.errors import SlackRefused, SlackUnavailable
from bot.slack.client import call_slack

__all__ = ["LOOKUP_BUDGET_S", "RETRY_AFTER_S", "WorkspaceUrl"]

log = logging.getLogger("smokebot.slack")

LOOKUP_BUDGET_S = 1.0  # asked while a request may be waiting: a link is not worth more
RETRY_AFTER_S = 60.0  # after a failed lookup, links go through slack.com this long


class WorkspaceUrl:
    """auth.test's `url`, looked up once; None while it is unknown."""

    def __init__(self, *, retry_after_s: float = RETRY_AFTER_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_after_s = retry_after_s
        self._clock = clock
        self._url: str | None = None
        self._failed_at: float | None = None
        self._lock = asyncio.Lock()

    async def get(self, slack: AsyncWebClient) -> str | None:
        if self._url is not None or not self._may_ask():
            return self._url
        async with self._lock:  # concurrent first links wait for one call
            if self._url is None and self._may_ask():
                self._url = await self._look_up(slack)
                self._failed_at = None if self._url else self._clock()
        return self._url

    def _may_ask(self) -> bool:
        return self._failed_at is None or self._clock() - self._failed_at >= self.retry_after_s

    async def _look_up(self, slack: AsyncWebClient) -> str | None:
        try:
            async with asyncio.timeout(deadline.remaining(LOOKUP_BUDGET_S)):
                response = await call_slack(slack, "auth.test")
        except (SlackRefused, SlackUnavailable, TimeoutError) as exc:
            log.warning("workspace URL unknown (auth.test: %s); links go through slack.com",
                        exc)
            return None
        url = response.get("url")
        return url if isinstance(url, str) and url.startswith("https://") else None
