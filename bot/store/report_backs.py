"""Reports back: the verdict each deploy's run owes the deploy's source (migration 0009), one
row per run and target, sent by bot/report_back/.

A row is written with its run (bot/store/_rows.py, in the transaction that records the run)
and is due once the run has ended: `take_due_reports` joins the run, so whichever way a run
ends, the commit that ends it is the one that makes its report due. A row is sent by one
deliverer at a time, the holder of its lease; a lease that ran out (the deliverer died or
stalled) is taken over by the next. `report_attempting` marks the row in doubt before each
attempt and extends the lease; only an answer proving nothing was taken clears the doubt.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, LiteralString
from uuid import UUID

from bot.records import ReportBack, ReportState, ReportTarget, as_uuid
from bot.store._base import StoreBase
from bot.store._values import aware, clean_text, positive

__all__ = ["ReportBacksTable"]

_MAX_ERROR = 500  # a reason to read in `smokebot deliveries`, not a response body

# Due: owed, its time come, its lease free (or ours), and its run over.
_TAKE_DUE: LiteralString = """
WITH due AS (
    SELECT b.id FROM report_backs b JOIN runs r ON r.id = b.run_id
    WHERE b.state = 'pending' AND b.next_attempt_at <= now()
      AND (b.lease_expires_at IS NULL OR b.lease_expires_at <= now()
           OR b.lease_holder = %(holder)s)
      AND r.status NOT IN ('queued', 'running')
      AND (%(run)s::uuid IS NULL OR b.run_id = %(run)s::uuid)
    ORDER BY b.next_attempt_at, b.id
    LIMIT %(limit)s
    FOR UPDATE OF b SKIP LOCKED
)
UPDATE report_backs b SET lease_holder = %(holder)s,
    lease_expires_at = now() + make_interval(secs => %(lease)s::float8)
FROM due WHERE b.id = due.id
RETURNING b.*
"""


class ReportBacksTable(StoreBase):
    async def take_due_reports(self, holder: str, lease_s: float, *, limit: int = 20,
                               run_id: UUID | str | None = None) -> list[ReportBack]:
        """Takes the lease of up to `limit` due reports (of one run, with `run_id`), the
        longest waiting first, and returns them; those another deliverer holds are left."""
        async with self._connection() as conn:
            cursor = await conn.execute(_TAKE_DUE, {
                "holder": holder, "lease": lease_s, "limit": positive(limit),
                "run": as_uuid(run_id) if run_id is not None else None})
            rows = await cursor.fetchall()
        return sorted((_report_back(row) for row in rows),
                      key=lambda report: (report.next_attempt_at, report.id))

    async def report_attempting(self, report_id: int, holder: str, lease_s: float) -> bool:
        """Before an attempt: counts it, marks the report in doubt and extends the lease.
        False when the lease was lost (another deliverer took the report over): do not send.
        A lease that ran out while nobody took it over is still ours: taking one names its
        holder in the same statement, so the holder is who may send."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE report_backs SET in_doubt = true, attempts = attempts + 1,"
                " lease_expires_at = now() + make_interval(secs => %(lease)s::float8)"
                " WHERE id = %(id)s AND state = 'pending' AND lease_holder = %(holder)s"
                " RETURNING id",
                {"id": report_id, "holder": holder, "lease": lease_s})
            return await cursor.fetchone() is not None

    async def report_delivered(self, report_id: int, *, reported: str,
                               remote_id: str | None, status: int | None) -> bool:
        """The source took the report (or an earlier attempt was found there). False when it
        was already final (a deliverer that took over marked it first)."""
        return await self._finish(report_id, ReportState.DELIVERED, {
            "reported": reported, "remote": remote_id, "status": status, "error": None})

    async def report_given_up(self, report_id: int, state: ReportState, reason: str, *,
                              reported: str | None = None,
                              status: int | None = None) -> bool:
        """Never sends it: refused for good or out of tries (FAILED), or nothing to say to
        this source (SKIPPED). `reason` must not contain a token."""
        if state not in (ReportState.FAILED, ReportState.SKIPPED):
            raise ValueError(f"a report is given up as failed or skipped, not {state.value}")
        return await self._finish(report_id, state, {
            "reported": reported, "remote": None, "status": status,
            "error": clean_text(reason)[:_MAX_ERROR]})

    async def _finish(self, report_id: int, state: ReportState,
                      values: Mapping[str, Any]) -> bool:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE report_backs SET state = %(state)s, finished_at = now(),"
                " in_doubt = false, reported = %(reported)s, remote_id = %(remote)s,"
                " last_status = coalesce(%(status)s, last_status), last_error = %(error)s,"
                " lease_holder = NULL, lease_expires_at = NULL"
                " WHERE id = %(id)s AND state = 'pending' RETURNING id",
                {**values, "id": report_id, "state": state.value})
            return await cursor.fetchone() is not None

    async def report_retry_later(self, report_id: int, holder: str, error: str,
                                 at: datetime, *, in_doubt: bool,
                                 status: int | None = None) -> None:
        """The attempt failed for now; `in_doubt` False when the answer proved the report was
        not taken (a rate limit). Gives the lease back. `error` must not contain a token."""
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE report_backs SET last_error = %(error)s, last_status = %(status)s,"
                " next_attempt_at = %(at)s, in_doubt = %(doubt)s, lease_holder = NULL,"
                " lease_expires_at = NULL"
                " WHERE id = %(id)s AND state = 'pending' AND lease_holder = %(holder)s",
                {"id": report_id, "holder": holder, "error": clean_text(error)[:_MAX_ERROR],
                 "status": status, "at": aware(at), "doubt": in_doubt})

    async def release_report(self, report_id: int, holder: str) -> None:
        """Gives the lease back without an attempt (the deliverer is stopping)."""
        async with self._connection() as conn:
            await conn.execute(
                "UPDATE report_backs SET lease_holder = NULL, lease_expires_at = NULL"
                " WHERE id = %s AND lease_holder = %s", (report_id, holder))

    async def report_backs(self, run_id: UUID | str) -> list[ReportBack]:
        """The run's reports, whatever their state."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM report_backs WHERE run_id = %s ORDER BY id", (as_uuid(run_id),))
            return [_report_back(row) for row in await cursor.fetchall()]

    async def recent_report_backs(self, limit: int = 50, *,
                                  source: str | None = None) -> list[ReportBack]:
        """The latest reports, newest first: was a deploy told its verdict, and if not, why."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM report_backs"
                " WHERE (%(source)s::text IS NULL OR source = %(source)s)"
                " ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
                {"source": source or None, "limit": positive(limit)})
            return [_report_back(row) for row in await cursor.fetchall()]


def _report_back(row: Mapping[str, Any]) -> ReportBack:
    return ReportBack(
        id=row["id"], run_id=row["run_id"],
        target=ReportTarget.from_json(row["kind"], row["source"], row["target"]),
        state=ReportState(row["state"]), attempts=row["attempts"], in_doubt=row["in_doubt"],
        created_at=row["created_at"], next_attempt_at=row["next_attempt_at"],
        finished_at=row["finished_at"], reported=row["reported"], remote_id=row["remote_id"],
        last_status=row["last_status"], last_error=row["last_error"])
