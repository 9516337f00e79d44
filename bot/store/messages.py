"""The Slack messages that show a run (its summary, failure replies, mention, report and
notices, each with the ts Slack gave it) and finding the run a thread belongs to."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

from bot.records import SlackMessage, SlackMessageKind, as_uuid
from bot.store._base import StoreBase
from bot.store._rows import record_slack_message, slack_message_from_row

__all__ = ["SlackMessagesTable", "record_slack_message", "slack_message_from_row"]


class SlackMessagesTable(StoreBase):
    # --- Slack messages -----------------------------------------------------------------------

    async def set_slack_message(self, run_id: UUID | str, kind: SlackMessageKind, channel: str,
                                ts: str, *, thread_ts: str | None = None,
                                check_id: str | None = None) -> SlackMessage:
        """Records a message posted for a run. A run has one summary and one failure reply per
        check: recording them again (a re-post) replaces the reference. Notices accumulate."""
        async with self._connection() as conn:
            return await record_slack_message(conn, as_uuid(run_id), SlackMessageKind(kind),
                                              channel, ts, thread_ts=thread_ts,
                                              check_id=check_id)

    async def slack_messages(self, run_id: UUID | str) -> list[SlackMessage]:
        """The run's messages in the order they were first recorded."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE run_id = %s ORDER BY id", (as_uuid(run_id),))
            return [slack_message_from_row(row) for row in await cursor.fetchall()]

    async def summary_messages(self, run_ids: Iterable[UUID | str]) -> dict[UUID, SlackMessage]:
        """The summary message of each of these runs that has one: links for a history list."""
        ids = [as_uuid(run_id) for run_id in run_ids]
        if not ids:
            return {}
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE kind = 'summary' AND run_id = ANY(%s)", (ids,))
            return {row["run_id"]: slack_message_from_row(row) for row in await cursor.fetchall()}


