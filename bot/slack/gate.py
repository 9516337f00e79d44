"""What every Slack trigger shares: authorization with its audit entry, and turning a ticket
or an error into the ephemeral reply the user sees."""

from __future__ import annotations

import functools
import logging
from typing import Any

from bot.authz import Decision, authorize
from bot.errors import GroupLookupFailed, QueueUnavailable, StoreUnavailable
from bot.records import RunTicket
from bot.services import Services
from bot.slack import render
from bot.store import SlackMessageKind
from checks.errors import SmokebotError

__all__ = ["authorize_request", "reply_for_error", "reply_for_ticket"]

log = logging.getLogger("smokebot.slack")


async def authorize_request(services: Services, environment: str, user: str, channel: str, *,
                            action: str, detail: dict[str, Any] | None = None) -> Decision:
    """Decides, and records the decision in the audit log."""
    suite = services.suites.current()
    env = suite.environments.get(environment)
    if env is None:
        return Decision(True)  # request_run reports the unknown environment with the choices

    # User groups are listed through the services' cache: one Slack call per group a while.
    members = functools.partial(services.group_members.members, services.slack)
    try:
        decision = await authorize(env.slack, environment, user, channel, members)
    except GroupLookupFailed as exc:
        log.warning("user group lookup failed: %s", exc.reason)
        decision = Decision(False, exc.reason)
    entry = services.store.audit(user, action, environment=environment,
                                 allowed=decision.allowed,
                                 detail={"channel": channel, "reason": decision.reason,
                                         **(detail or {})})
    if decision.allowed:
        # Off the ack path: the run row records who asked, and a PostgreSQL round trip with
        # its commit is a third of the ack's time. Refusals are written before answering.
        services.in_background(entry, "audit entry")
    else:
        await entry
    return decision


def reply_for_error(error: SmokebotError) -> render.SlackMessage:
    if isinstance(error, (StoreUnavailable, QueueUnavailable)):
        log.warning("request refused: %s", error.render())
    return render.render_error(error.render())


async def reply_for_ticket(services: Services, ticket: RunTicket) -> render.SlackMessage:
    run = ticket.run
    if not ticket.joined:
        return render.render_queued(run.environment, run.id)
    link = None
    for message in await services.store.slack_messages(run.id):
        if message.kind is SlackMessageKind.SUMMARY:
            link = render.permalink(message.channel, message.ts)
    return render.render_joined(run.environment, link)
