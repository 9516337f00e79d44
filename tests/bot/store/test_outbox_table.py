"""The Slack outbox: leases, in-doubt marks, delivery records."""

from __future__ import annotations

from bot.records import OutboxMessage
from bot.store import (
    RunRequest,
    SlackMessageKind,
    Store,
)

# --- Slack outbox -----------------------------------------------------------------------------

async def test_outbox_lease_lets_one_deliverer_at_a_time_send_a_runs_messages_in_order(
        store: Store) -> None:
    run = await store.create_run(RunRequest(environment="staging", trigger_kind="slash",
                                            channel="C0SMOKE"))
    messages = [OutboxMessage(SlackMessageKind.SUMMARY, "C0SMOKE", {"text": "s"}),
                OutboxMessage(SlackMessageKind.FAILURE_REPLY, "C0SMOKE", {"text": "r"},
                              check_id="health")]
    await store.outbox_add(run.id, messages)
    stream = f"run:{run.id}"
    assert await store.outbox_due_streams() == [stream]
    taken = await store.outbox_take(stream, "a", 30)
    assert [e.kind for e in taken or []] == [SlackMessageKind.SUMMARY,
                                             SlackMessageKind.FAILURE_REPLY]
    assert await store.outbox_take(stream, "b", 30) is None  # held: b sends nothing
    assert await store.outbox_due_streams() == []
    assert await store.outbox_attempting(taken[0].id, stream, "b", 30) is False
    assert await store.outbox_attempting(taken[0].id, stream, "a", 30) is True
    recorded = await store.outbox_delivered(taken[0], "1.1", thread_ts=None)
    assert recorded is not None and recorded.kind is SlackMessageKind.SUMMARY
    assert await store.outbox_delivered(taken[0], "1.1", thread_ts=None) is None  # once
    assert await store.outbox_release(stream, "a") is False  # a message is still pending
    await store.outbox_abandon(stream, "a")
    [left] = await store.outbox_take(stream, "b", 30) or []
    assert left.check_id == "health" and not left.in_doubt
    await store.outbox_give_up([left.id], "not_in_channel")
    assert await store.outbox_pending_count() == 0
    assert await store.outbox_release(stream, "b") is True
    assert await store.outbox_take(stream, "a", 30) == []  # free again, nothing pending
