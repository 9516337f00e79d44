"""The Slack outbox: calls waiting for delivery."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from bot.records import OutboxEntry, as_uuid
from bot.store._base import StoreBase
from bot.store._values import aware, clean_text, jsonb, positive

__all__ = ['OutboxTable']


class OutboxTable(StoreBase):
    # --- Slack outbox -------------------------------------------------------------------------

    async def outbox_put(self, method: str, payload: Mapping[str, Any], *,
                         run_id: UUID | str | None = None, coalesce_key: str | None = None,
                         not_before: datetime | None = None) -> OutboxEntry:
        """Queues a Slack API call that could not be delivered now. `payload` is the call's
        arguments without the token. A pending call with the same `coalesce_key` (e.g.
        "summary:<run id>") is replaced, so only the latest version of a message is sent."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO slack_outbox (run_id, method, payload, coalesce_key, next_attempt_at)"
                " VALUES (%(run)s, %(method)s, %(payload)s, %(key)s, coalesce(%(at)s, now()))"
                " ON CONFLICT (coalesce_key) WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                " DO UPDATE SET run_id = excluded.run_id, method = excluded.method,"
                " payload = excluded.payload, next_attempt_at = excluded.next_attempt_at"
                " RETURNING *",
                {"run": as_uuid(run_id) if run_id is not None else None, "method": method,
                 "payload": jsonb(payload), "key": coalesce_key,
                 "at": aware(not_before) if not_before else None})
            row = await cursor.fetchone()
        assert row is not None
        return _outbox_entry(row)

    async def outbox_due(self, now: datetime, limit: int = 20, *,
                         lease_s: float = 60.0) -> list[OutboxEntry]:
        """Claims the pending calls due at `now`, in due order (then queue order). A claimed call
        is hidden from other callers for `lease_s` seconds: two deliverers never send the same
        call, and one whose deliverer died becomes due again when the lease runs out."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "WITH due AS (SELECT id, next_attempt_at AS due_at FROM slack_outbox"
                "  WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                "  AND next_attempt_at <= %(now)s ORDER BY next_attempt_at, id"
                "  LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE slack_outbox o"
                " SET next_attempt_at = %(now)s + make_interval(secs => %(lease)s::float8)"
                " FROM due WHERE o.id = due.id RETURNING o.*, due.due_at",
                {"now": aware(now), "limit": positive(limit), "lease": lease_s})
            rows = await cursor.fetchall()
        rows.sort(key=lambda row: (row["due_at"], row["id"]))
        return [_outbox_entry(row) for row in rows]

    async def outbox_delivered(self, entry_id: int) -> OutboxEntry | None:
        return await self._update_outbox(
            "UPDATE slack_outbox SET delivered_at = now(), attempts = attempts + 1,"
            " last_error = NULL WHERE id = %(id)s AND delivered_at IS NULL AND gave_up_at IS NULL"
            " RETURNING *", {"id": entry_id})

    async def outbox_failed(self, entry_id: int, error: str,
                            next_attempt_at: datetime | None) -> OutboxEntry | None:
        """Records a failed attempt; retried at `next_attempt_at`, or never if it is None (a
        permanent error such as channel_not_found). `error` must not contain a token."""
        return await self._update_outbox(
            "UPDATE slack_outbox SET attempts = attempts + 1, last_error = %(error)s,"
            " next_attempt_at = coalesce(%(next)s, next_attempt_at),"
            " gave_up_at = CASE WHEN %(next)s::timestamptz IS NULL THEN now() END"
            " WHERE id = %(id)s AND delivered_at IS NULL AND gave_up_at IS NULL RETURNING *",
            {"id": entry_id, "error": clean_text(error),
             "next": aware(next_attempt_at) if next_attempt_at else None})

    async def _update_outbox(self, query: LiteralString,
                             params: Mapping[str, Any]) -> OutboxEntry | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            row = await cursor.fetchone()
        return _outbox_entry(row) if row else None


def _outbox_entry(row: Mapping[str, Any]) -> OutboxEntry:
    return OutboxEntry(id=row["id"], run_id=row["run_id"], method=row["method"],
                       payload=row["payload"], coalesce_key=row["coalesce_key"],
                       attempts=row["attempts"], created_at=row["created_at"],
                       next_attempt_at=row["next_attempt_at"], delivered_at=row["delivered_at"],
                       gave_up_at=row["gave_up_at"], last_error=row["last_error"])

