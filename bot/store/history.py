"""What the runs say about one check over time: how often it was flaky in the latest runs of an
environment that ran it ("flaky 3 of the last 10 runs"), and its latest results.

A run that skipped the check (a dependency failed, the run was cancelled, a filter left it
out) did not run it: only runs with a result other than `skip` count."""

from __future__ import annotations

from collections.abc import Iterable
from typing import LiteralString
from uuid import UUID

from bot.records import FlakyHistory, PastResult, RunStatus, as_uuid
from bot.store._base import StoreBase
from bot.store._rows import check_result_from_row
from bot.store._values import positive

__all__ = ["FLAKY_HISTORY_RUNS", "CheckHistoryTable"]

FLAKY_HISTORY_RUNS = 10  # "flaky 3 of the last 10 runs"


class CheckHistoryTable(StoreBase):
    # --- a check's history --------------------------------------------------------------------

    async def flaky_history(self, environment: str, check_ids: Iterable[str], *,
                            runs: int = FLAKY_HISTORY_RUNS,
                            through_run_id: UUID | str | None = None) -> dict[str, FlakyHistory]:
        """For each check, how many of the latest `runs` runs of `environment` that ran it
        found it flaky, keyed by check id (every id asked for: `runs=0` when none ran it).
        `through_run_id` ends the window at that run, included (the run being reported);
        without it, the window ends now."""
        ids = sorted(set(check_ids))
        if not ids:
            return {}
        async with self._connection() as conn:
            cursor = await conn.execute(_FLAKY_HISTORY, {
                "env": environment, "ids": ids, "runs": positive(runs),
                "through": as_uuid(through_run_id) if through_run_id is not None else None})
            rows = await cursor.fetchall()
        return {row["check_id"]: FlakyHistory(check_id=row["check_id"], flaky=row["flaky"],
                                              runs=row["runs"]) for row in rows}

    async def past_results(self, environment: str, check_id: str,
                           limit: int = 20) -> list[PastResult]:
        """The check's results in the latest runs of `environment` that ran it, newest first."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT c.*, r.created_at AS run_created_at, r.status AS run_status"
                " FROM runs r JOIN check_results c ON c.run_id = r.id"
                " WHERE r.environment = %(env)s AND c.check_id = %(check)s"
                " AND c.status <> 'skip'"
                " ORDER BY r.created_at DESC, r.id DESC LIMIT %(limit)s",
                {"env": environment, "check": check_id, "limit": positive(limit)})
            rows = await cursor.fetchall()
        return [PastResult(run_id=row["run_id"], run_created_at=row["run_created_at"],
                           run_status=RunStatus(row["run_status"]),
                           result=check_result_from_row(row)) for row in rows]


# One walk down the environment's runs per check (runs_history_idx), stopping at `runs` results.
_FLAKY_HISTORY: LiteralString = """
SELECT ids.check_id,
       count(latest.status) FILTER (WHERE latest.status = 'flaky')::int AS flaky,
       count(latest.status)::int AS runs
FROM unnest(%(ids)s::text[]) AS ids (check_id)
LEFT JOIN LATERAL (
    SELECT c.status
    FROM runs r JOIN check_results c ON c.run_id = r.id AND c.check_id = ids.check_id
    WHERE r.environment = %(env)s
      AND c.status <> 'skip'
      AND (%(through)s::uuid IS NULL
           OR r.created_at <= (SELECT created_at FROM runs WHERE id = %(through)s::uuid))
    ORDER BY r.created_at DESC, r.id DESC
    LIMIT %(runs)s
) latest ON true
GROUP BY ids.check_id
"""
