"""The audit log: who did, or was refused, what (`bot.records.AuditAction`), and a run's
trail of entries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID

from bot.records import AuditAction, AuditEntry
from bot.store._base import StoreBase
from bot.store._values import jsonb, positive

__all__ = ['AuditTable', 'audit_entry']


class AuditTable(StoreBase):
    # --- audit log ----------------------------------------------------------------------------

    async def audit(self, actor: str, action: AuditAction | str, *, allowed: bool,
                    environment: str | None = None, run_id: UUID | None = None,
                    detail: Mapping[str, Any] | None = None) -> AuditEntry:
        """Records who did (or was refused) what. `detail` holds facts, never credentials;
        the run id is also written into it, where entries before migration 0006 had it."""
        facts = {**(detail or {}), **({"run_id": str(run_id)} if run_id else {})}
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO audit_log (actor, action, environment, allowed, run_id, detail)"
                " VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (actor, action.value if isinstance(action, AuditAction) else action,
                 environment, allowed, run_id, jsonb(facts)))
            row = await cursor.fetchone()
        assert row is not None
        return audit_entry(row)

    async def recent_audit(self, limit: int = 50,
                           environment: str | None = None) -> list[AuditEntry]:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM audit_log WHERE (%(env)s::text IS NULL OR environment = %(env)s)"
                " ORDER BY at DESC, id DESC LIMIT %(limit)s",
                {"env": environment, "limit": positive(limit)})
            return [audit_entry(row) for row in await cursor.fetchall()]

    async def run_audit(self, run_id: UUID) -> list[AuditEntry]:
        """The run's trail, oldest first: the entries about it (started, joined, cancelled,
        acknowledged), the confirmation that led to it (entries sharing its request id), and
        the re-runs asked of it."""
        async with self._connection() as conn:
            cursor = await conn.execute(_RUN_TRAIL, {"run": run_id, "text": str(run_id)})
            return [audit_entry(row) for row in await cursor.fetchall()]

    async def audited_environments(self) -> list[str]:
        """The environments the audit log or the runs name, sorted."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT environment FROM audit_log WHERE environment IS NOT NULL"
                " UNION SELECT environment FROM runs ORDER BY 1")
            return [row["environment"] for row in await cursor.fetchall()]

    async def audited_run_ids(self, prefix: str) -> list[UUID]:
        """The runs (of the audit log or the runs table) whose id starts with `prefix`."""
        pattern = prefix.lower().replace("\\", "").replace("%", "").replace("_", "") + "%"
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT run_id AS id FROM audit_log WHERE run_id::text LIKE %(p)s"
                " UNION SELECT id FROM runs WHERE id::text LIKE %(p)s ORDER BY 1 LIMIT 10",
                {"p": pattern})
            return [row["id"] for row in await cursor.fetchall()]


# A confirmation's entries carry no run (it had not started): they are found by the request id
# that the run's own entry shares.
_RUN_TRAIL = """
WITH own AS (
    SELECT * FROM audit_log WHERE run_id = %(run)s OR detail->>'rerun_of' = %(text)s
), requests AS (
    SELECT DISTINCT detail->>'request' AS request FROM audit_log
    WHERE run_id = %(run)s AND detail ? 'request'
)
SELECT * FROM own
UNION
SELECT a.* FROM audit_log a JOIN requests r ON a.detail->>'request' = r.request
ORDER BY at, id
"""


def audit_entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(id=row["id"], at=row["at"], actor=row["actor"], action=row["action"],
                      environment=row["environment"], allowed=row["allowed"],
                      detail=row["detail"], run_id=row.get("run_id"))
