"""Suites and lookups the scenario tests share (not a test module)."""

from __future__ import annotations

import json
from typing import Any

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.support.relay import TcpRelay
from tests.support.slack_emulator import Message

__all__ = ["TcpRelay", "final_summary", "message_text", "outbox_drained", "run_rows", "slow_suite",
           "summary_ts"]

FINAL_WORDS = ("passed", "failed", "cancelled", "interrupted", "could not run")


def slow_suite(stack: BotStack, *, seconds: float = 40, extra_env: str = "",
               extra_checks: str = "") -> str:
    """staging: one failing check (degraded openai) and one that answers after `seconds`."""
    return f"""\
suite: scenario
defaults: {{timeout: 5s}}
environments:
  staging:
    variables: {{base_url: "{stack.target_url}", aux_url: "{stack.aux_url}"}}
    slack: {{channel: {CHANNEL}}}
{extra_env}categories:
  - name: Health & Infrastructure
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${{base_url}}/api/health
        assert: ["services.ai_providers.* == healthy"]
      - id: slow
        name: Slow endpoint
        type: http
        timeout: {seconds + 30:g}s
        url: ${{aux_url}}/slow?seconds={seconds:g}
{extra_checks}"""


def message_text(message: Message | dict[str, Any]) -> str:
    """A message's text and blocks as one string, for `in` assertions."""
    if isinstance(message, dict):
        return json.dumps(message, ensure_ascii=False)
    return message.text + "\n" + json.dumps(message.blocks, ensure_ascii=False)


def summary_ts(stack: BotStack, run_id: str) -> str | None:
    rows = stack.query("SELECT ts FROM slack_messages WHERE run_id = %s AND kind = 'summary'",
                       (run_id,))
    return rows[0][0] if rows else None


def final_summary(stack: BotStack, channel: str = CHANNEL) -> Message | None:
    """The first top-level message of the channel once it shows a verdict."""
    for message in stack.emulator.messages(channel):
        headline = message.text.lower()
        if any(f" {word}" in headline.split(":", 1)[0] for word in FINAL_WORDS):
            return message
    return None


def run_rows(stack: BotStack) -> list[tuple[Any, ...]]:
    """(id, status, trigger_kind, started_at, status_reason) of every run, oldest first."""
    return stack.query("SELECT id::text, status, trigger_kind, started_at, status_reason "
                       "FROM runs ORDER BY created_at, id")




def outbox_drained(stack: BotStack) -> bool:
    """Every message the runs owe Slack has been delivered (or given up): what a test counts
    after this is final, not racing the deliverer."""
    return stack.query("SELECT count(*) FROM outbox_messages"
                       " WHERE delivered_at IS NULL AND gave_up_at IS NULL") == [(0,)]
