"""The Slack outbox: every message a run owes Slack after its live progress, one row each, in
the order they must be posted (bot/slack/delivery.py sends them).

A stream (a run: "run:<id>") is delivered by one deliverer at a time, the holder of its lease;
a lease that ran out (its deliverer died or stalled) is taken over by the next. Each row is
marked delivered, and recorded in `slack_messages`, in one transaction before the next row is
sent. `in_doubt` is set before each call and cleared only when Slack's answer proved nothing
was posted; the deliverer looks for a row still in doubt in Slack before sending it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from bot.records import OutboxEntry, OutboxMessage, SlackMessage, SlackMessageKind, as_uuid
from bot.store._base import StoreBase
from bot.store._rows import (
    insert_outbox_messages,
    run_stream,
    slack_message_from_row,
    slack_message_upsert,
)
from bot.store._values import aware, clean_text, jsonb, positive

__all__ = ["OutboxTable", "insert_outbox_messages", "run_stream"]

_PENDING = "delivered_at IS NULL AND gave_up_at IS NULL"


class OutboxTable(StoreBase):
    async def outbox_add(self, run_id: UUID | str, messages: Sequence[OutboxMessage]) -> None:
        """Queues messages for a run (its first summary, a notice, a late announcement); one
        round trip, all or none (psycopg pipelines executemany: one implicit transaction)."""
        async with self._connection() as conn:
            await insert_outbox_messages(conn, as_uuid(run_id), messages)

    async def outbox_due_streams(self, limit: int = 20) -> list[str]:
        """Streams whose next message is due now and whose lease is free, longest waiting
        first. A stream's next message is its first pending one: the ones after it wait."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT n.stream FROM (SELECT DISTINCT ON (stream) stream, next_attempt_at"
                "  FROM outbox_messages WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                "  ORDER BY stream, id) n"
                " LEFT JOIN outbox_leases l ON l.stream = n.stream AND l.expires_at > now()"
                " WHERE l.stream IS NULL AND n.next_attempt_at <= now()"
                " ORDER BY n.next_attempt_at LIMIT %s", (positive(limit),))
            return [row["stream"] for row in await cursor.fetchall()]

    async def outbox_take(self, stream: str, holder: str,
                          lease_s: float) -> list[OutboxEntry] | None:
        """Takes (or extends) the stream's lease and returns its pending messages in order;
        None when another deliverer holds it. One statement, so one round trip. The first
        pending message must be due: a message waiting out a backoff holds back the ones
        after it."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "WITH lease AS (INSERT INTO outbox_leases (stream, holder, expires_at)"
                "  VALUES (%(stream)s, %(holder)s,"
                "          now() + make_interval(secs => %(lease)s::float8))"
                "  ON CONFLICT (stream) DO UPDATE SET holder = excluded.holder,"
                "  expires_at = excluded.expires_at"
                "  WHERE outbox_leases.expires_at <= now() OR outbox_leases.holder = %(holder)s"
                "  RETURNING stream)"
                " SELECT lease.stream AS leased, m.* FROM lease LEFT JOIN outbox_messages m"
                "  ON m.stream = lease.stream AND m.delivered_at IS NULL AND m.gave_up_at IS NULL"
                " ORDER BY m.id", {"stream": stream, "holder": holder, "lease": lease_s})
            rows = await cursor.fetchall()
        if not rows:
            return None
        return [_outbox_entry(row) for row in rows if row["id"] is not None]

    async def outbox_release(self, stream: str, holder: str) -> bool:
        """Gives the lease back unless a message came in meanwhile (then keeps it: take the
        stream again). True when released."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "DELETE FROM outbox_leases WHERE stream = %(stream)s AND holder = %(holder)s"
                " AND NOT EXISTS (SELECT 1 FROM outbox_messages WHERE stream = %(stream)s"
                f"  AND {_PENDING} AND next_attempt_at <= now())"
                " RETURNING stream", {"stream": stream, "holder": holder})
            return await cursor.fetchone() is not None

    async def outbox_abandon(self, stream: str, holder: str) -> None:
        """Gives the lease back whatever is pending (a message waits out a backoff, or the
        deliverer stops)."""
        async with self._connection() as conn:
            await conn.execute("DELETE FROM outbox_leases WHERE stream = %s AND holder = %s",
                               (stream, holder))

    async def outbox_attempting(self, entry_id: int, stream: str, holder: str,
                                lease_s: float) -> bool:
        """Before a call: marks the message in doubt and extends the lease. False when the
        lease was lost (another deliverer took the stream over): do not send."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "WITH lease AS (UPDATE outbox_leases"
                "  SET expires_at = now() + make_interval(secs => %(lease)s::float8)"
                "  WHERE stream = %(stream)s AND holder = %(holder)s AND expires_at > now()"
                "  RETURNING stream)"
                " UPDATE outbox_messages SET in_doubt = true, attempts = attempts + 1"
                f" WHERE id = %(id)s AND {_PENDING} AND EXISTS (SELECT 1 FROM lease)"
                " RETURNING id",
                {"id": entry_id, "stream": stream, "holder": holder, "lease": lease_s})
            return await cursor.fetchone() is not None

    async def outbox_delivered(self, entry: OutboxEntry, ts: str, *,
                               thread_ts: str | None) -> SlackMessage | None:
        """Marks the message delivered with Slack's `ts` and records it among the run's Slack
        messages, in one statement. None if it was already marked (by a deliverer that took
        over) or belongs to no run."""
        rows = slack_message_upsert(
            SlackMessageKind(entry.kind),
            "SELECT run_id, kind, channel, %(ts)s, %(thread)s, check_id FROM done"
            " WHERE run_id IS NOT NULL")
        async with self._connection() as conn:
            cursor = await conn.execute(
                "WITH done AS (UPDATE outbox_messages SET delivered_at = now(), ts = %(ts)s,"
                " in_doubt = false, last_error = NULL"
                f" WHERE id = %(id)s AND {_PENDING} RETURNING run_id, kind, channel, check_id) "
                + rows + " RETURNING *", {"id": entry.id, "ts": ts, "thread": thread_ts})
            row = await cursor.fetchone()
        return slack_message_from_row(row) if row else None

    async def outbox_retry_later(self, entry_id: int, error: str, at: datetime, *,
                                 in_doubt: bool) -> None:
        """The call failed for now; `in_doubt` False when Slack's answer proved nothing was
        posted (429, a refusal). `error` must not contain a token."""
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE outbox_messages SET last_error = %(error)s, next_attempt_at = %(at)s,"
                f" in_doubt = %(doubt)s WHERE id = %(id)s AND {_PENDING}",
                {"id": entry_id, "error": clean_text(error), "at": aware(at),
                 "doubt": in_doubt})

    async def outbox_give_up(self, entry_ids: Sequence[int], error: str) -> None:
        """Never sends these (Slack refused them for good: the bot is not in the channel)."""
        if not entry_ids:
            return
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE outbox_messages SET gave_up_at = now(), last_error = %(error)s,"
                f" in_doubt = false WHERE id = ANY(%(ids)s) AND {_PENDING}",
                {"ids": list(entry_ids), "error": clean_text(error)})

    async def outbox_note(self, entry_id: int, payload: Mapping[str, Any]) -> None:
        """Replaces a pending message's payload (a report remembers its uploaded file's id)."""
        async with self._connection() as conn:
            await conn.execute(
                f"UPDATE outbox_messages SET payload = %s WHERE id = %s AND {_PENDING}",
                (jsonb(payload), entry_id))

    async def outbox_entries(self, run_id: UUID | str) -> list[OutboxEntry]:
        """Every outbox message of the run, delivered or not, in order."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM outbox_messages WHERE run_id = %s ORDER BY id",
                (as_uuid(run_id),))
            return [_outbox_entry(row) for row in await cursor.fetchall()]

    async def outbox_pending_count(self, at_most: int | None = None) -> int:
        """Messages not yet delivered nor given up; with `at_most`, counted no further (the
        metrics' gauge: a bounded read of the pending index however far Slack fell behind)."""
        async with self._connection() as conn:
            cursor = await conn.execute(  # LIMIT NULL: no limit
                f"SELECT count(*) AS n FROM (SELECT 1 FROM outbox_messages WHERE {_PENDING}"
                " LIMIT %s) pending", (None if at_most is None else positive(at_most),))
            row = await cursor.fetchone()
        return int(row["n"]) if row else 0


def _outbox_entry(row: Mapping[str, Any]) -> OutboxEntry:
    return OutboxEntry(id=row["id"], stream=row["stream"], run_id=row["run_id"],
                       kind=SlackMessageKind(row["kind"]), check_id=row["check_id"],
                       channel=row["channel"], payload=row["payload"], attempts=row["attempts"],
                       in_doubt=row["in_doubt"], created_at=row["created_at"],
                       next_attempt_at=row["next_attempt_at"], delivered_at=row["delivered_at"],
                       ts=row["ts"], gave_up_at=row["gave_up_at"], last_error=row["last_error"])
