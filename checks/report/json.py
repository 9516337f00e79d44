"""The JSON report: one document per run for machines (dashboards, CI artifacts, the store).
Its shape is a contract, documented in docs/json-report.md; change it only with
`SCHEMA_VERSION`."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

from checks.redact import Redactor
from checks.report._redact import redact_run
from checks.report._summary import grouped
from checks.report._text import as_utc
from checks.results import CheckResult, RunResult, Status

__all__ = ["SCHEMA_VERSION", "render_json"]

SCHEMA_VERSION = 1


def _timestamp(moment: datetime) -> str:
    return as_utc(moment).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _counts(results: list[CheckResult]) -> dict[str, int]:
    counts = {"total": len(results)}
    counts.update({s.value: sum(r.status is s for r in results) for s in Status})
    return counts


def _plain(value: Any) -> Any:
    """Evidence holds whatever a check read (dates, decimals, bytes, sets); JSON gets their
    text, string keys, and no NaN (which is not JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _check(result: CheckResult) -> dict[str, Any]:
    return {
        "id": result.check_id,
        "name": result.name,
        "kind": result.kind,
        "category": result.category,
        "severity": result.severity.value,
        "status": result.status.value,
        "summary": result.summary,
        "details": result.details,
        "duration_s": round(result.duration_s, 3),
        "attempts": result.attempts,
        "measurements": _plain(result.measurements),
        "evidence": _plain(result.evidence),
        "tags": list(result.tags),
    }


def render_json(run: RunResult, redactor: Redactor) -> str:
    safe = redact_run(run, redactor)
    document = {
        "schema_version": SCHEMA_VERSION,
        "suite": safe.suite,
        "environment": safe.environment,
        "version": safe.version,
        "version_from": safe.version_from,
        "trigger": safe.trigger,
        "started_at": _timestamp(safe.started_at),
        "finished_at": _timestamp(safe.finished_at),
        "duration_s": round(safe.duration_s, 3),
        "verdict": safe.verdict.value,
        "counts": _counts(list(safe.results)),
        "categories": [{"name": name, "counts": _counts(results),
                        "checks": [_check(r) for r in results]}
                       for name, results in grouped(safe)],
    }
    # Redact again after conversion: `str()` of an unknown object in the evidence is new text.
    text = json.dumps(redactor.redact_obj(document), indent=2, ensure_ascii=False)
    return redactor.redact(text) + "\n"
