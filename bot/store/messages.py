"""The Slack messages that show a run: its summary, failure replies and notices, and
finding the run a thread belongs to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, LiteralString
from uuid import UUID

from bot.records import Run, SlackMessage, SlackMessageKind, as_uuid
from bot.store._base import StoreBase
from bot.store.runs import run_from_row

__all__ = ['SlackMessagesTable']


class SlackMessagesTable(StoreBase):
    # --- Slack messages -----------------------------------------------------------------------

    async def set_slack_message(self, run_id: UUID | str, kind: SlackMessageKind, channel: str,
                                ts: str, *, thread_ts: str | None = None,
                                check_id: str | None = None) -> SlackMessage:
        """Records a message posted for a run. A run has one summary and one failure reply per
        check: recording them again (a re-post) replaces the reference. Notices accumulate."""
        kind = SlackMessageKind(kind)
        params = {"run": as_uuid(run_id), "kind": kind.value, "channel": channel, "ts": ts,
                  "thread": thread_ts, "check": check_id}
        insert = ("INSERT INTO slack_messages (run_id, kind, channel, ts, thread_ts, check_id)"
                  " VALUES (%(run)s, %(kind)s, %(channel)s, %(ts)s, %(thread)s, %(check)s)")
        replace = (" DO UPDATE SET channel = excluded.channel, ts = excluded.ts,"
                   " thread_ts = excluded.thread_ts, updated_at = now()")
        query: LiteralString
        if kind is SlackMessageKind.SUMMARY:
            query = insert + " ON CONFLICT (run_id) WHERE kind = 'summary'" + replace
        elif kind is SlackMessageKind.FAILURE_REPLY:
            query = (insert + " ON CONFLICT (run_id, check_id) WHERE kind = 'failure_reply'"
                     + replace)
        else:
            query = insert
        async with self._connection() as conn:
            cursor = await conn.execute(query + " RETURNING *", params)
            row = await cursor.fetchone()
        assert row is not None
        return _slack_message(row)

    async def slack_messages(self, run_id: UUID | str) -> list[SlackMessage]:
        """The run's messages in the order they were first recorded."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE run_id = %s ORDER BY id", (as_uuid(run_id),))
            return [_slack_message(row) for row in await cursor.fetchall()]

    async def summary_messages(self, run_ids: Iterable[UUID | str]) -> dict[UUID, SlackMessage]:
        """The summary message of each of these runs that has one: links for a history list."""
        ids = [as_uuid(run_id) for run_id in run_ids]
        if not ids:
            return {}
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE kind = 'summary' AND run_id = ANY(%s)", (ids,))
            return {row["run_id"]: _slack_message(row) for row in await cursor.fetchall()}

    async def run_for_thread(self, channel: str, thread_ts: str) -> Run | None:
        """The latest run shown in this Slack thread (its summary is the thread's parent, or
        was posted in it), for `@smokebot rerun` and buttons."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT r.* FROM slack_messages m JOIN runs r ON r.id = m.run_id"
                " WHERE m.channel = %(channel)s AND (m.ts = %(ts)s OR m.thread_ts = %(ts)s)"
                " ORDER BY r.created_at DESC, r.id LIMIT 1", {"channel": channel, "ts": thread_ts})
            row = await cursor.fetchone()
        return run_from_row(row) if row else None


def _slack_message(row: Mapping[str, Any]) -> SlackMessage:
    return SlackMessage(id=row["id"], run_id=row["run_id"], kind=SlackMessageKind(row["kind"]),
                        channel=row["channel"], ts=row["ts"], thread_ts=row["thread_ts"],
                        check_id=row["check_id"], created_at=row["created_at"],
                        updated_at=row["updated_at"])

