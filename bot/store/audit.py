"""The audit log: who did, or was refused, what."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.records import AuditEntry
from bot.store._base import StoreBase
from bot.store._values import jsonb, positive

__all__ = ['AuditTable']


class AuditTable(StoreBase):
    # --- audit log ----------------------------------------------------------------------------

    async def audit(self, actor: str, action: str, *, allowed: bool,
                    environment: str | None = None,
                    detail: Mapping[str, Any] | None = None) -> AuditEntry:
        """Records who did (or was refused) what. `detail` holds facts, never credentials."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO audit_log (actor, action, environment, allowed, detail)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (actor, action, environment, allowed, jsonb(detail or {})))
            row = await cursor.fetchone()
        assert row is not None
        return _audit_entry(row)

    async def recent_audit(self, limit: int = 50,
                           environment: str | None = None) -> list[AuditEntry]:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM audit_log WHERE (%(env)s::text IS NULL OR environment = %(env)s)"
                " ORDER BY at DESC, id DESC LIMIT %(limit)s",
                {"env": environment, "limit": positive(limit)})
            return [_audit_entry(row) for row in await cursor.fetchall()]


def _audit_entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(id=row["id"], at=row["at"], actor=row["actor"], action=row["action"],
                      environment=row["environment"], allowed=row["allowed"],
                      detail=row["detail"])

