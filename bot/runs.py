"""Asking for a run: the one function every trigger calls (slash command, button, mention,
deploy webhook). It validates the request against the suite, joins a run already going for
the environment, or records a new one and queues it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from uuid import UUID

from bot.queue import DEFAULT_CLAIM_TTL_S
from bot.services import Services
from bot.store import DeployFacts, Run, RunRequest, TriggerKind
from checks.errors import UsageError
from checks.plan import select_checks

__all__ = ["RunTicket", "request_run"]

log = logging.getLogger("smokebot.runs")
CLAIM_TTL_S = DEFAULT_CLAIM_TTL_S  # refreshed by the worker's heartbeat


@dataclass(frozen=True)
class RunTicket:
    run: Run
    joined: bool  # True: the environment was already being tested; this is that run


async def request_run(services: Services, *, environment: str, filters: tuple[str, ...] = (),
                      trigger_kind: TriggerKind, trigger_detail: str = "",
                      requested_by: str | None = None, channel: str | None = None,
                      deploy: DeployFacts | None = None, rerun_of: UUID | None = None,
                      idempotency_key: str | None = None,
                      response_url: str | None = None) -> RunTicket:
    """Raises UsageError (unknown environment, bad filter: the message lists the choices),
    StoreUnavailable or QueueUnavailable (the caller tells the user to try again).
    `response_url` (a Slack trigger's) is kept for the worker, which tells the requester
    through it when it cannot post in the channel."""
    suite = services.suites.current()
    if environment not in suite.environments:
        raise UsageError(f"unknown environment '{environment}'; expected one of: "
                         f"{', '.join(suite.environments)}")
    select_checks(suite, environment, list(filters))  # a bad filter lists the choices
    store, queue = services.store, services.queue
    run = await store.create_run(RunRequest(
        environment=environment, trigger_kind=trigger_kind, trigger_detail=trigger_detail,
        requested_by=requested_by, filters=filters, channel=channel, deploy=deploy,
        suite=suite.suite, rerun_of=rerun_of, idempotency_key=idempotency_key))
    try:
        holder = await queue.claim_environment(environment, str(run.id), CLAIM_TTL_S)
    except Exception:
        await store.mark_error(run.id, "the run queue (Redis) is unavailable")
        raise
    if holder is not None and holder != str(run.id):
        existing = await store.get_run(holder)
        if existing is not None and existing.is_active:
            await store.mark_superseded(run.id, existing.id, reason="joined the run already going")
            return RunTicket(existing, joined=True)
        # The claim outlived its run (a crash between finish and release): take it over.
        await queue.release_environment(environment, holder)
        holder = await queue.claim_environment(environment, str(run.id), CLAIM_TTL_S)
    try:
        # Before the job exists: a worker may take it at once and need the URL.
        await queue.remember_response_url(str(run.id), response_url)
        await queue.enqueue(str(run.id), environment)
    except Exception:
        await queue.release_environment(environment, str(run.id))
        await store.mark_error(run.id, "the run queue (Redis) is unavailable")
        raise
    return RunTicket(run, joined=False)


