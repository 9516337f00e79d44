"""Acknowledging failures: someone says a failing check is known, so later runs show it as
known until the acknowledgement expires. Acknowledge (a button on a failed run's summary)
opens a modal on the run's failures; its submission records one acknowledgement per chosen
check, audits it, and says so in the run's thread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from uuid import UUID

from bot.records import Acknowledgement, AuditAction
from bot.services import Services
from bot.slack import render
from bot.slack.announce import post_in_run_thread
from bot.slack.gate import authorize_request
from checks.errors import UsageError

__all__ = ["open_acknowledge_modal", "record_acknowledgements"]


async def open_acknowledge_modal(services: Services, run_id: UUID, *, user: str, channel: str,
                                 trigger_id: str) -> render.SlackMessage | None:
    """Opens the Acknowledge modal on the run's failed checks. Acknowledging hides a failure,
    so the environment's rules for running apply: returns the refusal (audited) when `user`
    may not, None when the modal is open. Raises UsageError when the run is gone."""
    run = await services.store.get_run(run_id)
    if run is None:
        raise UsageError("that run is no longer in the history store")
    decision = await authorize_request(services, run.environment, user, channel,
                                       action=AuditAction.OPEN_ACKNOWLEDGE, run_id=run_id)
    if not decision.allowed:
        return render.render_refusal(decision.reason)
    failed = [r for r in await services.store.results(run_id) if r.status.is_problem]
    await services.slack.views_open(trigger_id=trigger_id,
                                    view=render.render_ack_modal(str(run_id), failed))
    return None


async def record_acknowledgements(services: Services, run_id: UUID, user: str,
                                  submission: render.AckSubmission) -> list[Acknowledgement]:
    """Records the modal's acknowledgements, one per chosen check, each audited and posted in
    the run's thread. Nothing is recorded for a run the history store no longer has."""
    run = await services.store.get_run(run_id)
    if run is None:
        return []
    expires_at = datetime.now(timezone.utc) + timedelta(days=submission.days)
    recorded = []
    for check_id in submission.check_ids:
        ack = await services.store.add_acknowledgement(
            run.environment, check_id, submission.reason, user, expires_at=expires_at,
            run_id=run_id)
        await services.store.audit(user, AuditAction.ACKNOWLEDGE, environment=run.environment,
                                   allowed=True, run_id=run_id, detail={"check_id": check_id})
        await post_in_run_thread(services, run_id, render.render_acknowledged(ack))
        recorded.append(ack)
    return recorded
