"""Acknowledgements: failing checks people have said are known, until they expire."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from uuid import UUID

from bot.records import Acknowledgement, as_uuid
from bot.store._base import StoreBase
from bot.store._values import aware, clean_text
from checks.errors import UsageError

__all__ = ['AcknowledgementsTable']


class AcknowledgementsTable(StoreBase):
    # --- acknowledgements ---------------------------------------------------------------------

    async def add_acknowledgement(self, environment: str, check_id: str, reason: str,
                                  acknowledged_by: str, *, expires_at: datetime | None = None,
                                  run_id: UUID | str | None = None) -> Acknowledgement:
        """Records that a failing check is known; it shows as known until `expires_at`."""
        if not reason.strip():
            raise UsageError("an acknowledgement needs a reason; expected a few words on why "
                             "the failure is known")
        if expires_at is not None and aware(expires_at) <= datetime.now(timezone.utc):
            raise UsageError(f"the acknowledgement's expiry {expires_at.isoformat()} has "
                             f"passed; expected a time in the future")
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO acknowledgements (environment, check_id, reason, acknowledged_by,"
                " expires_at, run_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (environment, check_id, clean_text(reason), acknowledged_by, expires_at,
                 as_uuid(run_id) if run_id is not None else None))
            row = await cursor.fetchone()
        assert row is not None
        return _acknowledgement(row)

    async def active_acknowledgements(self, environment: str,
                                      now: datetime) -> list[Acknowledgement]:
        """The acknowledgements of `environment` in force at `now`: the newest per check,
        ordered by check id."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT DISTINCT ON (check_id) * FROM acknowledgements"
                " WHERE environment = %(env)s AND (expires_at IS NULL OR expires_at > %(now)s)"
                " ORDER BY check_id, created_at DESC, id DESC",
                {"env": environment, "now": aware(now)})
            return [_acknowledgement(row) for row in await cursor.fetchall()]


def _acknowledgement(row: Mapping[str, Any]) -> Acknowledgement:
    return Acknowledgement(id=row["id"], environment=row["environment"],
                           check_id=row["check_id"], reason=row["reason"],
                           acknowledged_by=row["acknowledged_by"], created_at=row["created_at"],
                           expires_at=row["expires_at"], run_id=row["run_id"])

