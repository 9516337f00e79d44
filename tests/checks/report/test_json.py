from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

from checks.redact import Redactor
from checks.report import render_json
from tests.checks.report.runs import HEALTH, SCHEMA, failing_run, passing_run


def _check(**fields: object) -> dict[str, object]:
    base: dict[str, object] = {"kind": "http", "severity": "critical", "details": "",
                               "duration_s": 0.0, "attempts": 1, "measurements": {},
                               "evidence": {}, "tags": []}
    ordered = ("id", "name", "kind", "category", "severity", "status", "summary", "details",
               "duration_s", "attempts", "measurements", "evidence", "tags")
    merged = {**base, **fields}
    return {key: merged[key] for key in ordered}


def test_json_document_of_a_failing_run() -> None:
    document = json.loads(render_json(failing_run(), Redactor()))
    assert document == {
        "schema_version": 1,
        "suite": "platform",
        "environment": "staging",
        "version": "week-2-complete",
        "version_from": None,
        "trigger": "deploy by @ana",
        "started_at": "2025-10-28T21:37:04.000Z",
        "finished_at": "2025-10-28T21:37:16.340Z",
        "duration_s": 12.34,
        "verdict": "failed",
        "counts": {"total": 5, "pass": 1, "fail": 1, "error": 1, "skip": 1, "warn": 1,
                   "flaky": 0, "slow": 0},
        "categories": [
            {"name": SCHEMA,
             "counts": {"total": 2, "pass": 1, "fail": 1, "error": 0, "skip": 0, "warn": 0,
                        "flaky": 0, "slow": 0},
             "checks": [
                 _check(id="db.tables", name="Billing tables exist", kind="postgres.tables",
                        category=SCHEMA, status="pass", summary="4/4 tables found",
                        duration_s=0.045, measurements={"tables": 4},
                        evidence={"found": ["billing_events", "subscriptions"]}, tags=["db"]),
                 _check(id="db.key-hash", name="API key hash column", kind="postgres.columns",
                        category=SCHEMA, status="fail",
                        summary="expected column api_keys.key_hash, got no such column",
                        details="columns of api_keys:\n  id (bigint)\n  name (text)\n",
                        duration_s=0.031, attempts=2),
             ]},
            {"name": HEALTH,
             "counts": {"total": 3, "pass": 0, "fail": 0, "error": 1, "skip": 1, "warn": 1,
                   "flaky": 0, "slow": 0},
             "checks": [
                 _check(id="health", name="Health endpoint", category=HEALTH, status="error",
                        summary="connection refused: 127.0.0.1:4000 [errno 111]",
                        duration_s=1.5, attempts=3),
                 _check(id="health.latency", name="Health latency", category=HEALTH,
                        severity="warning", status="warn",
                        summary="expected latency_ms < 100, got 240", duration_s=0.24,
                        measurements={"latency_ms": 240.0, "status": 200}),
                 _check(id="pods", name="Pods ready", category=HEALTH, status="skip",
                        summary="skipped: depends on 'health', which could not run"),
             ]},
        ],
    }


def test_json_keys_come_in_the_documented_order() -> None:
    text = render_json(passing_run(), Redactor())
    document = json.loads(text)
    assert list(document) == ["schema_version", "suite", "environment", "version",
                              "version_from", "trigger", "started_at", "finished_at",
                              "duration_s", "verdict", "counts", "categories"]
    assert document["version"] is None and document["trigger"] is None
    assert document["verdict"] == "passed"
    assert text.endswith("}\n")


def test_evidence_that_json_cannot_hold_is_written_as_text() -> None:
    run = passing_run()
    evidence = {"when": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc),
                "amount": Decimal("5.10"), "raw": b"\x00ok", 7: {"nan": float("nan")},
                "set": {"b", "a"}}
    run = replace(run, results=(
        run.results[0].with_changes(evidence=evidence),))
    text = render_json(run, Redactor())
    check = json.loads(text)["categories"][0]["checks"][0]
    assert check["evidence"] == {"when": "2025-01-02T03:04:05+00:00", "amount": "5.10",
                                 "raw": "\x00ok", "7": {"nan": "nan"}, "set": ["a", "b"]}
    assert "NaN" not in text


def test_the_documented_example_is_what_render_json_writes() -> None:
    doc = (Path(__file__).parents[3] / "docs" / "json-report.md").read_text(encoding="utf-8")
    example = re.search(r"```json\n(.*?)\n```", doc, re.S)
    assert example is not None
    run = failing_run()
    run = replace(run, categories=(SCHEMA,), results=run.results[:2])
    assert json.loads(example.group(1)) == json.loads(render_json(run, Redactor()))
