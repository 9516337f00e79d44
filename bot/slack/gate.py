"""What every Slack trigger shares: authorization with its audit entry, and turning a ticket
or an error into the ephemeral reply the user sees."""

from __future__ import annotations

import functools
import logging
from typing import Any
from uuid import UUID

from bot.authz import Decision, authorize
from bot.errors import GroupLookupFailed, QueueUnavailable, StoreUnavailable
from bot.records import AuditAction, RunTicket
from bot.services import Services
from bot.slack import render
from bot.store import SlackMessageKind
from checks.errors import SmokebotError

__all__ = ["authorize_request", "reply_for_error", "reply_for_ticket"]

log = logging.getLogger("smokebot.slack")


async def authorize_request(services: Services, environment: str, user: str, channel: str, *,
                            action: AuditAction | str, run_id: UUID | None = None,
                            detail: dict[str, Any] | None = None,
                            audit_allowed: bool = True) -> Decision:
    """Decides, and records the decision in the audit log as `action` (about `run_id`). With
    `audit_allowed` False only a refusal is recorded: a request to start a run records what
    it led to instead (bot/start_requests.py)."""
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
    if decision.allowed and not audit_allowed:
        return decision
    entry = services.store.audit(user, action, environment=environment,
                                 allowed=decision.allowed, run_id=run_id,
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
    if ticket.joined:
        return render.render_joined(run.environment, await _summary_link(services, run.id))
    # A re-run's summary goes into its original's thread (bot/slack/live.py): say so.
    thread = await _summary_link(services, run.rerun_of, thread=True) if run.rerun_of else None
    return render.render_queued(run.environment, run.id, thread_link=thread)


async def _summary_link(services: Services, run_id: UUID, *, thread: bool = False) -> str | None:
    """The permalink of the run's summary (of its thread with `thread`), if it was posted."""
    summary = next((m for m in await services.store.slack_messages(run_id)
                    if m.kind is SlackMessageKind.SUMMARY), None)
    if summary is None:
        return None
    workspace = await services.workspace_url()
    if thread:
        return render.permalink(summary.channel, summary.thread_root, workspace_url=workspace)
    return render.permalink(summary.channel, summary.ts, summary.thread_ts,
                            workspace_url=workspace)
