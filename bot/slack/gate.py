"""What every Slack trigger shares: authorization with its audit entry, and turning a ticket
or an error into the ephemeral reply the user sees."""

from __future__ import annotations

import logging
import time
from typing import Any

from bot.authz import Decision, authorize
from bot.errors import QueueUnavailable, StoreUnavailable
from bot.runs import RunTicket, slack_link
from bot.services import Services
from bot.slack import render
from bot.store import SlackMessageKind
from checks.errors import SmokebotError

__all__ = ["authorize_request", "reply_for_error", "reply_for_ticket"]

log = logging.getLogger("smokebot.slack")
GROUP_CACHE_S = 300.0
_group_cache: dict[str, tuple[float, frozenset[str]]] = {}


async def authorize_request(services: Services, environment: str, user: str, channel: str, *,
                            action: str, detail: dict[str, Any] | None = None) -> Decision:
    """Decides, and records the decision in the audit log."""
    suite = services.suites.current()
    env = suite.environments.get(environment)
    if env is None:
        return Decision(True)  # request_run reports the unknown environment with the choices

    async def members(group: str) -> frozenset[str]:
        cached = _group_cache.get(group)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_S:
            return cached[1]
        response = await services.slack.usergroups_users_list(usergroup=group)
        found = frozenset(response.get("users", []))
        _group_cache[group] = (time.monotonic(), found)
        return found

    decision = await authorize(env.slack, environment, user, channel, members)
    await services.store.audit(user, action, environment=environment, allowed=decision.allowed,
                               detail={"channel": channel, "reason": decision.reason,
                                       **(detail or {})})
    return decision


def reply_for_error(error: SmokebotError) -> render.SlackMessage:
    if isinstance(error, (StoreUnavailable, QueueUnavailable)):
        log.warning("request refused: %s", error.render())
        return render.render_error(f"{error.render()}")
    return render.render_error(error.render())


async def reply_for_ticket(services: Services, ticket: RunTicket) -> render.SlackMessage:
    run = ticket.run
    if not ticket.joined:
        return render.SlackMessage(
            text=f"Queued a smoke test of {run.environment} (run {str(run.id)[:8]}); "
                 "the summary appears in this channel.", blocks=[])
    link = None
    for message in await services.store.slack_messages(run.id):
        if message.kind is SlackMessageKind.SUMMARY:
            link = slack_link(message.channel, message.ts)
    return render.render_joined(run.environment, link)
