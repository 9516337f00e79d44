"""The members of Slack user groups, as authorization asks for them: looked up with
usergroups.users.list and kept for a while, so a burst of clicks costs one Slack call per
group, not one per click. The cache belongs to the process's `Services`, not to this module."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import deadline
from bot.errors import GroupLookupFailed, SlackRefused, SlackUnavailable

__all__ = ["GROUP_CACHE_S", "GroupMembersCache"]

GROUP_CACHE_S = 300.0
LOOKUP_BUDGET_S = 1.0  # of a request's deadline: the run's own calls need the rest


class GroupMembersCache:
    """Each group's members, kept `ttl_s` seconds after Slack listed them. A lookup that
    fails is not kept: the next request asks Slack again."""

    def __init__(self, ttl_s: float = GROUP_CACHE_S, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._members: dict[str, tuple[float, frozenset[str]]] = {}

    async def members(self, slack: AsyncWebClient, group: str) -> frozenset[str]:
        """The user ids in `group`; raises GroupLookupFailed when Slack will not list them."""
        cached = self._members.get(group)
        if cached and self._clock() - cached[0] < self.ttl_s:
            return cached[1]
        found = await _list_members(slack, group)
        self._members[group] = (self._clock(), found)
        return found


async def _list_members(slack: AsyncWebClient, group: str) -> frozenset[str]:
    """One usergroups.users.list call, its failures translated into GroupLookupFailed."""
    try:
        # Asked while a Slack request waits for its answer: never longer than it can wait.
        async with asyncio.timeout(deadline.remaining(LOOKUP_BUDGET_S)):
            response = await slack.usergroups_users_list(usergroup=group)
    except SlackApiError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        problem = (f"HTTP {status}" if status >= 500 or status == 429
                   else str(exc.response.get("error") or "unknown_error"))
        raise GroupLookupFailed(group, problem) from exc
    except SlackRefused as exc:  # a client that translates slack_sdk's errors itself
        raise GroupLookupFailed(group, exc.problem) from exc
    except (SlackUnavailable, aiohttp.ClientError, TimeoutError, OSError) as exc:
        raise GroupLookupFailed(group, "Slack did not answer") from exc
    return frozenset(response.get("users", []))
