"""The Acknowledge modal's submission: record, audit and post it in the run's thread."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.services import Services
from bot.slack import render
from bot.slack.delivery import post_in_run_thread


def register(app: AsyncApp, services: Services) -> None:
    @app.view("ack_submit")
    async def ack_submit(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
        try:
            submission = render.read_ack_submission(view)
        except ValueError as exc:
            await ack(response_action="errors", errors={"reason": str(exc)})
            return
        await ack()
        await record_acknowledgement(services, UUID(view["private_metadata"]),
                                     body["user"]["id"], submission)


async def record_acknowledgement(services: Services, run_id: UUID, user: str,
                                 submission: render.AckSubmission) -> None:
    run = await services.store.get_run(run_id)
    if run is None:
        return
    expires_at = datetime.now(timezone.utc) + timedelta(days=submission.days)
    for check_id in submission.check_ids:
        ack = await services.store.add_acknowledgement(
            run.environment, check_id, submission.reason, user, expires_at=expires_at,
            run_id=run_id)
        await services.store.audit(user, "acknowledge", environment=run.environment,
                                   allowed=True, detail={"check_id": check_id,
                                                         "run_id": str(run_id)})
        await post_in_run_thread(services, run_id, render.render_acknowledged(ack))
