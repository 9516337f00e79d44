"""Records and SQL the store's tests share (not a test module)."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg

from bot.migrations import discover_migrations
from bot.store import (
    RunRequest,
    TriggerKind,
)
from checks.results import CheckResult, RunResult, Severity, Status

__all__ = ["T0", "TABLES", "VERSIONS", "result", "run_result", "slash", "sql_rows"]

TABLES = ["acknowledgements", "audit_log", "check_results", "outbox_leases", "outbox_messages",
          "report_backs", "runs", "schema_migrations", "slack_messages", "webhook_deliveries"]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
VERSIONS = [m.version for m in discover_migrations()]


async def sql_rows(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """Reads (or changes) the test database directly, as an operator would with psql."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(query, params or None)  # type: ignore[arg-type]
        return await cursor.fetchall() if cursor.description else []


def result(check_id: str, status: Status = Status.PASS, *, category: str = "api",
           **changes: object) -> CheckResult:
    return CheckResult(check_id=check_id, name=f"check {check_id}", category=category,
                       kind="http", severity=Severity.CRITICAL, status=status,
                       summary=f"{check_id}: {status.value}", **changes)  # type: ignore[arg-type]


def run_result(*results: CheckResult, cancelled: bool = False) -> RunResult:
    now = datetime.now(timezone.utc)
    return RunResult(suite="shop", environment="staging", started_at=now, finished_at=now,
                     results=results, categories=("api",), cancelled=cancelled)


def slash(environment: str = "staging", **changes: object) -> RunRequest:
    fields: dict[str, object] = {"trigger_detail": f"/smoketest {environment}",
                                 "requested_by": "U024BE7LH", "channel": "C0SMOKE", **changes}
    return RunRequest(environment=environment, trigger_kind=TriggerKind.SLASH,
                      **fields)  # type: ignore[arg-type]
