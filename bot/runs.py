"""Asking for a run: the one function every person-facing trigger calls (slash command,
button, mention). It validates the request against the suite, then the store decides in one
transaction whether it joins the run already going for the environment or starts one
(`Store.start_or_join`); a started run is queued. Deploys supersede instead of joining
(bot/deploys.py)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from bot import deadline
from bot.errors import QueueUnavailable
from bot.records import AuditAction, RunTicket
from bot.services import Services
from bot.store import DeployFacts, RunRequest, TriggerKind
from checks.errors import UsageError
from checks.plan import select_checks

__all__ = ["RunTicket", "request_run"]

log = logging.getLogger("smokebot.runs")
QUEUE_BUDGET_S = 1.0  # of a Slack request's budget (bot/deadline.py), what Redis gets


async def request_run(services: Services, *, environment: str, filters: tuple[str, ...] = (),
                      trigger_kind: TriggerKind, trigger_detail: str = "",
                      requested_by: str | None = None, channel: str | None = None,
                      deploy: DeployFacts | None = None, rerun_of: UUID | None = None,
                      idempotency_key: str | None = None, confirmed: bool = False,
                      response_url: str | None = None, audit_start: AuditAction | None = None,
                      audit_detail: Mapping[str, Any] | None = None) -> RunTicket:
    """Raises UsageError (unknown environment, bad filter: the message lists the choices),
    DuplicateRun (the idempotency key was used), StoreUnavailable or QueueUnavailable (the
    caller tells the user to try again). `response_url` (a Slack trigger's) is kept for the
    worker of a started run, which tells the requester through it when it cannot post in the
    channel; a joined run's requester hears from the reply alone. A join is audited as such;
    a started run as `audit_start` when given, both with `audit_detail` (Store.start_or_join).
    `confirmed`: the production confirmation button asked for it (the run records it, for the
    traffic probes of a production environment)."""
    suite = services.suites.current()
    if environment not in suite.environments:
        raise UsageError(f"unknown environment '{environment}'; expected one of: "
                         f"{', '.join(suite.environments)}")
    select_checks(suite, environment, list(filters))  # a bad filter lists the choices
    store, queue = services.store, services.queue
    ticket = await store.start_or_join(RunRequest(
        environment=environment, trigger_kind=trigger_kind, trigger_detail=trigger_detail,
        requested_by=requested_by, filters=filters, channel=channel, deploy=deploy,
        suite=suite.suite, rerun_of=rerun_of, idempotency_key=idempotency_key,
        confirmed=confirmed),
        audit_start=audit_start, audit_detail=audit_detail)
    if ticket.joined:
        return ticket
    run_id = str(ticket.run.id)
    try:
        # Part of the budget only, so that what follows still has time when Redis hangs.
        with deadline.answer_by(QUEUE_BUDGET_S):
            # Before the job exists: a worker may take it at once and need the URL.
            await queue.remember_response_url(run_id, response_url)
            await queue.enqueue(run_id, environment)
    except QueueUnavailable:
        # Ended, so that the environment is free for the retry the user is asked to make.
        await store.mark_error(run_id, "the run queue (Redis) is unavailable")
        raise
    return ticket
