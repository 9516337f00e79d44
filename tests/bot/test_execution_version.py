"""A run no deploy started, of a suite whose `version:` names its health check: the final Slack
summary and the attached report give the version the target itself reported, and the summary
still reads as a smoke test, not a deploy."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.execution import execute_run
from bot.records import RunRequest, RunStatus, TriggerKind
from bot.services import Services
from bot.slack.delivery import deliver_run
from demo.target import create_app
from tests.bot.services_support import CHANNEL
from tests.support.asgi import serve_asgi
from tests.support.slack_emulator import SlackEmulator

SUITE = """\
suite: unit
version: {{from: health, path: version}}
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    slack: {{channel: {channel}}}
categories:
  - name: Health
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${{base_url}}/api/health
        assert: [status == healthy]
      - id: release
        name: Release notes
        type: http
        url: ${{base_url}}/api/release-notes
"""


@pytest.fixture
def target() -> Iterator[str]:
    with serve_asgi(create_app()) as base_url:
        yield base_url


async def test_the_summary_and_report_give_the_version_the_health_check_read(
        services: Services, emulator: tuple[SlackEmulator, str], target: str,
        tmp_path: Path) -> None:
    emu, _ = emulator
    (tmp_path / "smoketest.yaml").write_text(SUITE.format(base_url=target, channel=CHANNEL),
                                             encoding="utf-8")
    await services.suites.refresh()
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
        channel=CHANNEL))

    ended = await execute_run(str(ticket.run.id), services, worker_id="test-worker")
    assert ended is not None and ended.status is RunStatus.FAILED  # no release notes: a 404
    assert await deliver_run(services, str(ticket.run.id))

    [summary] = emu.messages(CHANNEL)
    assert summary.text.startswith("Smoke test of staging failed")
    context = [element["text"] for block in summary.blocks if block["type"] == "context"
               for element in block["elements"]]
    assert "Version `0.1.0`" in context
    assert "Deploy of" not in json.dumps(summary.blocks)
    [report] = [f for f in emu.files() if f.shares]
    assert "- **Version**: 0.1.0 (read by `health`)\n" in report.content.decode()
