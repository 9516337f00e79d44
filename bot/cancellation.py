"""Cancelling runs on request (`/smoketest cancel [ENV]`): each active run the person may
start from that channel is stopped, under the same rules as starting one, and every decision
is audited. A queued run ends at once, which frees its environment (its job, when a worker
takes it, finds the run no longer queued and does nothing); a running one is asked to stop by
its worker, which reports what ran so far and who cancelled it (noted on the run first)."""

from __future__ import annotations

from bot.records import AuditAction, RunStatus
from bot.services import Services
from bot.slack import render
from bot.slack.gate import authorize_request

__all__ = ["cancel_runs"]


async def cancel_runs(services: Services, environment: str | None, user: str,
                      channel: str) -> render.SlackMessage:
    """Cancels the active runs (of `environment`, or all) that `user` may run from `channel`;
    the reply says what is being cancelled, or why nothing is."""
    active = await services.store.active_runs(environment)
    if not active:
        where = f" for {environment}" if environment else ""
        return render.render_error(f"Nothing is queued or running{where}.")
    cancelled: list[str] = []  # the environments of the runs being cancelled
    refusals: list[str] = []
    for run in active:
        decision = await authorize_request(services, run.environment, user, channel,
                                           action=AuditAction.CANCEL, run_id=run.id)
        if not decision.allowed:
            refusals.append(decision.reason)
            continue
        if run.status is RunStatus.QUEUED:  # no worker has it yet to stop it
            await services.queue.request_cancel(str(run.id))
            await services.store.mark_cancelled(run.id, f"cancelled by <@{user}> before it started")
        else:
            # Noted before the worker is asked: the summary it writes says who cancelled.
            await services.store.note_cancel_request(run.id, f"cancelled by <@{user}>")
            await services.queue.request_cancel(str(run.id))
        cancelled.append(run.environment)
    if not cancelled:
        return render.render_refusal(refusals[0])
    return render.render_cancelling(cancelled)
