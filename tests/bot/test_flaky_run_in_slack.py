"""A run with a flaky and a slow check, executed by the worker against a real flapping server,
the real store and the Slack emulator: the run passes, the summary lists both, and the flaky
check gets a thread reply with its failed attempt and "flaky 2 of the last 3 runs" (two
earlier runs in the store, one of them flaky)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.execution import execute_run
from bot.records import RunCounts, RunRequest, RunStatus, SlackMessageKind, TriggerKind
from bot.services import Services
from bot.slack.delivery import deliver_run
from checks.results import CheckResult, RunResult, Severity, Status
from tests.bot.services_support import CHANNEL
from tests.support.asgi import serve_asgi
from tests.support.slack_emulator import SlackEmulator


@pytest.fixture
def flapping() -> Iterator[str]:
    seen = {"health": 0}

    async def health(request: Request) -> Response:
        seen["health"] += 1
        if seen["health"] == 1:
            return JSONResponse({"status": "starting"}, status_code=503)
        return JSONResponse({"status": "healthy"})

    async def pricing(request: Request) -> Response:
        await asyncio.sleep(0.2)
        return JSONResponse({"plans": 3})

    app = Starlette(routes=[Route("/health", health), Route("/pricing", pricing)])
    with serve_asgi(app) as base_url:
        yield base_url


def _suite(base_url: str) -> str:
    return f"""\
suite: unit
defaults: {{retry_backoff: 10ms}}
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: Health
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${{base_url}}/health
        retries: 1
      - id: pricing
        name: Pricing page
        type: http
        url: ${{base_url}}/pricing
        warn_latency: 50ms
"""


async def _earlier_run(services: Services, status: Status) -> None:
    run = await services.store.create_run(RunRequest(environment="staging",
                                                     trigger_kind=TriggerKind.CLI))
    moment = datetime(2025, 10, 28, 21, 30, tzinfo=timezone.utc)
    await services.store.finish_run(run.id, RunResult(
        suite="unit", environment="staging", started_at=moment, finished_at=moment,
        categories=("Health",), results=(CheckResult(
            check_id="health", name="Health endpoint", category="Health", kind="http",
            severity=Severity.CRITICAL, status=status, summary="-"),)))


async def test_a_flaky_check_passes_and_its_thread_reply_says_how_often_it_was_flaky(
        services: Services, emulator: tuple[SlackEmulator, str], flapping: str,
        tmp_path: Path) -> None:
    emu, _ = emulator
    (tmp_path / "smoketest.yaml").write_text(_suite(flapping), encoding="utf-8")
    await _earlier_run(services, Status.FLAKY)
    await _earlier_run(services, Status.PASS)
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
        channel=CHANNEL))
    run_id = str(ticket.run.id)

    ended = await execute_run(run_id, services, worker_id="test-worker")

    assert ended is not None and ended.status is RunStatus.PASSED
    assert ended.counts == RunCounts(passed=2, flaky=1, slow=1)
    pending = [(e.kind, e.check_id) for e in await services.store.outbox_entries(run_id)
               if e.delivered_at is None]
    # A reply for the flaky check; no report: nothing failed (docs/slack.md).
    assert pending == [(SlackMessageKind.SUMMARY, None),
                       (SlackMessageKind.FAILURE_REPLY, "health")]
    assert await deliver_run(services, run_id)

    [summary] = emu.messages(CHANNEL)
    assert summary.text == ("Smoke test of staging passed: all 2 checks passed "
                            "(1 flaky, 1 slow)")
    listed = next(b["text"]["text"] for b in summary.blocks if b["type"] == "section"
                  and b["text"]["text"].startswith("*Flaky and slow checks*"))
    assert ("• :arrows_counterclockwise: *Health endpoint* `health`: passed on attempt 2 · "
            "first failed: expected status 200, got 503 · flaky 2 of the last 3 runs") in listed
    assert "• :snail: *Pricing page* `pricing`: " in listed
    [reply] = emu.thread(CHANNEL, summary.ts)
    text = str(reply.blocks)
    assert "*Flaky*: passed on a retry; flaky 2 of the last 3 runs" in text
    assert "attempt 1 failed: expected status 200, got 503" in text
