"""RunResults built by hand, with fixed times, for the reporter tests."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from checks.results import CheckResult, RunResult, Severity, Status

STARTED = datetime(2025, 10, 28, 21, 37, 4, tzinfo=timezone.utc)
FINISHED = STARTED + timedelta(seconds=12.34)
SCHEMA = "Database Schema"
HEALTH = "Health & Infrastructure"


def result(check_id: str, name: str, category: str, status: Status, summary: str,
           **changes: Any) -> CheckResult:
    fields: dict[str, Any] = {"kind": "http", "severity": Severity.CRITICAL, "attempts": 1}
    fields.update(changes)
    return CheckResult(check_id=check_id, name=name, category=category, status=status,
                       summary=summary, **fields)


def failing_run() -> RunResult:
    """One of each status: pass, fail, error, warn, skip."""
    return RunResult(
        suite="platform", environment="staging", started_at=STARTED, finished_at=FINISHED,
        categories=(SCHEMA, HEALTH), version="week-2-complete", trigger="deploy by @ana",
        results=(
            result("db.tables", "Billing tables exist", SCHEMA, Status.PASS, "4/4 tables found",
                   kind="postgres.tables", duration_s=0.045, measurements={"tables": 4},
                   evidence={"found": ["billing_events", "subscriptions"]}, tags=("db",)),
            result("db.key-hash", "API key hash column", SCHEMA, Status.FAIL,
                   "expected column api_keys.key_hash, got no such column",
                   kind="postgres.columns", duration_s=0.031, attempts=2,
                   details="columns of api_keys:\n  id (bigint)\n  name (text)\n"),
            result("health", "Health endpoint", HEALTH, Status.ERROR,
                   "connection refused: 127.0.0.1:4000 [errno 111]", duration_s=1.5,
                   attempts=3),
            result("health.latency", "Health latency", HEALTH, Status.WARN,
                   "expected latency_ms < 100, got 240", severity=Severity.WARNING,
                   duration_s=0.24, measurements={"latency_ms": 240.0, "status": 200}),
            result("pods", "Pods ready", HEALTH, Status.SKIP,
                   "skipped: depends on 'health', which could not run"),
        ))


def passing_run() -> RunResult:
    return RunResult(
        suite="platform", environment="staging", started_at=STARTED, finished_at=FINISHED,
        categories=(HEALTH,),
        results=(
            result("health", "Health endpoint", HEALTH, Status.PASS, "200 in 45ms",
                   duration_s=0.045),
            result("pods", "Pods ready", HEALTH, Status.PASS, "2/2 pods ready",
                   duration_s=0.8),
        ))


FLAKY_REFUSED = "cannot connect to 127.0.0.1:4000: connection refused"
SLOW_WARNING = "412 ms, over the 300 ms warn_latency"


def remarked_run() -> RunResult:
    """A passing run whose passes include a flaky check (refused once, then passed on its
    retry) and a slow one (over its warn_latency)."""
    return RunResult(
        suite="platform", environment="staging", started_at=STARTED, finished_at=FINISHED,
        categories=(SCHEMA, HEALTH),
        results=(
            result("db.tables", "Billing tables exist", SCHEMA, Status.PASS, "4/4 tables found",
                   kind="postgres.tables", duration_s=0.045),
            result("health", "Health endpoint", HEALTH, Status.FLAKY, "200 OK in 45 ms",
                   duration_s=1.545, attempts=2, evidence={"failed_attempts": [FLAKY_REFUSED]}),
            result("pricing", "Pricing page", HEALTH, Status.SLOW,
                   f"200 OK in {SLOW_WARNING}", duration_s=0.412,
                   evidence={"warning": SLOW_WARNING}),
        ))
