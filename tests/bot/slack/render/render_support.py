"""What the render tests share: check results, run views, Block Kit literals, and the check of
every payload against Slack's limits (not a test module)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

from bot.slack.render import RunView, SlackMessage
from bot.slack.render._blocks import FALLBACK_TEXT_MAX
from checks.results import CheckResult, Severity, Status
from tests.support.slack_blockkit import validate_blocks

__all__ = ["CANARY", "FAILING", "FINISHED_CONTEXT", "PASSING", "RUN_ID", "STARTED", "T0",
           "all_text", "assert_valid", "button", "check", "mrkdwn", "plain", "section", "view"]

RUN_ID = "0192a3b4-5c6d-7e8f-9a0b-1c2d3e4f5a6b"
T0 = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)  # epoch 1761687000
STARTED = "Started <!date^1761687000^{date_short_pretty} {time}|2025-10-28 21:30 UTC>"
CANARY = "sk_live_CANARY_4f9d2b7e1a6c8e3d"


def check(check_id: str, category: str, status: Status = Status.PASS, *,
          summary: str = "as expected", name: str | None = None, details: str = "",
          measurements: dict[str, Any] | None = None, evidence: dict[str, Any] | None = None,
          severity: Severity = Severity.CRITICAL, duration_s: float = 0.0,
          attempts: int = 1) -> CheckResult:
    return CheckResult(check_id=check_id, name=name or check_id.replace("-", " ").capitalize(),
                       category=category, kind="http", severity=severity, status=status,
                       summary=summary, details=details, duration_s=duration_s,
                       attempts=attempts, measurements=measurements or {},
                       evidence=evidence or {})


PASSING = (check("tables", "Database Schema"), check("key-hash", "Database Schema"),
           check("health", "Health"))
FAILING = (check("tables", "Database Schema", Status.FAIL,
                 summary="expected 4 tables, got 3: subscriptions is missing"),
           check("key-hash", "Database Schema"),
           check("health", "Health", Status.ERROR,
                 summary="could not connect: connection refused"),
           check("pods", "Health"))


def view(status: str = "passed", results: tuple[CheckResult, ...] = PASSING,
         **changes: Any) -> RunView:
    fields: dict[str, Any] = dict(
        run_id=RUN_ID, environment="staging", status=status,
        trigger="/smoketest staging by <@U0ALICE01>", requested_by="U0ALICE01",
        total=len(results), results=results, categories=("Database Schema", "Health"),
        started_at=T0, finished_at=T0 + timedelta(seconds=75) if status not in (
            "queued", "running") else None)
    fields.update(changes)
    return RunView(**fields)


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text, "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(text)}


# The context line of a finished `view()`: trigger, run, start and how long it took.
FINISHED_CONTEXT = {"type": "context", "elements": [
    mrkdwn("/smoketest staging by <@U0ALICE01>"), mrkdwn("Run `0192a3b4`"), mrkdwn(STARTED),
    mrkdwn("Took 1m 15s")]}


def button(text: str, action_id: str, value: str = RUN_ID,
           style: str | None = None) -> dict[str, Any]:
    made = {"type": "button", "action_id": action_id, "text": plain(text), "value": value}
    return {**made, "style": style} if style else made


def assert_valid(message: SlackMessage) -> None:
    """Slack's own limits (emulator validator) plus ours (fallback text)."""
    assert validate_blocks(message.blocks) == []
    assert 0 < len(message.text) <= FALLBACK_TEXT_MAX
    for block in message.blocks:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3_000
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= 150
        if block["type"] == "context":
            assert len(block["elements"]) <= 10
    assert len(message.blocks) <= 50


def all_text(message: SlackMessage) -> str:
    return json.dumps({"text": message.text, "blocks": message.blocks}, ensure_ascii=False)

