"""Prometheus metrics through real flows: a run executed by a real worker process (in this
test's event loop) against a real target, the store, Redis and the Slack emulator, scraped
over HTTP from the worker's own metrics port; the queue and outbox gauges read from the real
Redis and PostgreSQL. No label holds a run id or a user id, no secret is ever exposed."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.errors import CannotListen, SettingError
from bot.execution import execute_run
from bot.metrics import Metrics, SlackOutcome, refresh_query_gauges
from bot.records import RunRequest, RunStatus, TriggerKind
from bot.services import Services
from bot.settings import Settings
from bot.worker_main import run_worker_process
from tests.bot.metrics_support import Exposition, read_exposition
from tests.bot.services_support import CHANNEL, SIGNING_SECRET
from tests.support.asgi import free_port, serve_asgi
from tests.support.slack_emulator import SlackEmulator

CANARY = "metrics-canary-7f3a9c1e5b"
WAIT_S = 20.0  # a ceiling for the worker to get somewhere, never a measurement


@pytest.fixture
def target() -> Iterator[str]:
    """health answers, payments is down, search fails once and then answers."""
    seen = {"search": 0}

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "healthy"})

    async def payments(request: Request) -> Response:
        return JSONResponse({"error": "down"}, status_code=500)

    async def search(request: Request) -> Response:
        seen["search"] += 1
        return JSONResponse({}, status_code=503 if seen["search"] == 1 else 200)

    app = Starlette(routes=[Route("/health", health), Route("/payments", payments),
                            Route("/search", search)])
    with serve_asgi(app) as base_url:
        yield base_url


def _suite(base_url: str) -> str:
    return f"""\
suite: unit
defaults: {{retry_backoff: 10ms, timeout: 5s}}
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    secrets: {{api_key: {{env: SMOKEBOT_METRICS_TEST_KEY}}}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: Health
    checks:
      - id: health
        type: http
        url: ${{base_url}}/health?key=${{secrets.api_key}}
        headers: {{X-Api-Key: "${{secrets.api_key}}"}}
      - id: payments
        type: http
        url: ${{base_url}}/payments
      - id: search
        type: http
        url: ${{base_url}}/search
        retries: 1
"""


async def _until(what: str, condition: object, *, timeout_s: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition() if callable(condition) else condition
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


@asynccontextmanager
async def _worker(services: Services) -> AsyncIterator[str]:
    """A worker process's run loop on the test's services, with its metrics on a free
    loopback port; yields the metrics URL once it answers."""
    port = free_port()
    settings = dataclasses.replace(services.settings, worker_metrics_host="127.0.0.1",
                                   worker_metrics_port=port, metrics_refresh_s=0.2)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker_process(settings, concurrency=1, stop=stop,
                                                  handle_signals=False))
    url = f"http://127.0.0.1:{port}/metrics"

    async def serving() -> bool:
        try:
            async with httpx.AsyncClient(timeout=1) as client:
                return (await client.get(url)).status_code == 200
        except httpx.TransportError:
            assert not task.done(), task.exception()
            return False

    try:
        await _until("the worker's metrics port", serving)
        yield url
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=WAIT_S)


@pytest.fixture
async def worker(services: Services, tmp_path: Path, target: str,
                 monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """`_worker` on the suite of `_suite`, its secret from the environment."""
    monkeypatch.setenv("SMOKEBOT_METRICS_TEST_KEY", CANARY)
    (tmp_path / "smoketest.yaml").write_text(_suite(target), encoding="utf-8")
    async with _worker(services) as url:
        yield url


async def _scrape_async(url: str) -> Exposition:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return read_exposition(response.text)


async def test_a_run_through_the_worker_moves_the_run_check_slack_and_queue_metrics(
        services: Services, emulator: tuple[SlackEmulator, str], worker: str) -> None:
    emu, _ = emulator
    # The report's share is rate-limited once: the deliverer tries it again after Retry-After.
    emu.inject_rate_limit("files.completeUploadExternal", times=1, retry_after=0)
    before = time.time()
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
        channel=CHANNEL))
    run_id = str(ticket.run.id)
    assert await services.queue.enqueue(run_id, "staging")

    async def ended() -> bool:
        run = await services.store.get_run(run_id)
        return run is not None and not run.is_active

    await _until("the run to end", ended)
    await _until("its messages to be delivered", _drained(services))
    drained_at = time.time()

    async def read_since() -> bool:  # the worker's background reads after that
        metrics = await _scrape_async(worker)
        return all((metrics.value("smokebot_metrics_refresh_timestamp_seconds", source=source)
                    or 0) > drained_at for source in ("queue", "outbox"))
    await _until("the query gauges to be read again", read_since)
    metrics = await _scrape_async(worker)
    after = time.time()

    run = await services.store.get_run(run_id)
    assert run is not None and run.status is RunStatus.FAILED
    assert metrics.value("smokebot_runs_total", environment="staging", trigger="slash",
                         verdict="failed") == 1
    assert metrics.label_values("smokebot_runs_total", "verdict") == {"failed"}
    assert metrics.value("smokebot_run_duration_seconds_count", environment="staging") == 1
    for check, result in (("health", "pass"), ("payments", "fail"), ("search", "flaky")):
        assert metrics.value("smokebot_check_results_total", environment="staging",
                             check=check, kind="http", result=result) == 1, check
    assert metrics.value("smokebot_check_results_total") == 3
    assert metrics.value("smokebot_check_duration_seconds_count", kind="http") == 3
    assert metrics.value("smokebot_check_duration_seconds_bucket", kind="http",
                         le="+Inf") == 3
    for check in ("health", "search"):  # flaky passed too
        last = metrics.value("smokebot_check_last_success_timestamp_seconds",
                             environment="staging", check=check)
        assert last is not None and before - 1 <= last <= after, check
    assert metrics.value("smokebot_check_last_success_timestamp_seconds",
                         check="payments") is None

    # Slack: the live summary, the final one, two failure replies, the report in two calls
    # and the upload between them; the share's 429 is a call, and a retry of the deliverer's.
    assert metrics.value("smokebot_slack_api_calls_total", method="chat.postMessage",
                         outcome="ok") == 3
    assert metrics.value("smokebot_slack_api_calls_total",
                         method="files.completeUploadExternal",
                         outcome=SlackOutcome.RATE_LIMITED.value) == 1
    assert metrics.value("smokebot_slack_api_calls_total",
                         method="files.completeUploadExternal", outcome="ok") == 1
    assert metrics.value("smokebot_slack_api_calls_total", method="files.upload",
                         outcome="ok") == 1
    assert metrics.value("smokebot_slack_delivery_retries_total", kind="report",
                         reason="rate_limited") == 1
    assert metrics.value("smokebot_slack_delivery_retries_total") == 1
    assert (metrics.value("smokebot_slack_api_call_duration_seconds_count")
            == metrics.value("smokebot_slack_api_calls_total"))

    # The query gauges, read in the background from this test's Redis and PostgreSQL.
    assert metrics.value("smokebot_queue_depth", state="waiting") == 0
    assert metrics.value("smokebot_queue_depth", state="scheduled") == 0
    assert metrics.value("smokebot_queue_oldest_wait_seconds") == 0
    for source in ("queue", "outbox"):
        refreshed = metrics.value("smokebot_metrics_refresh_timestamp_seconds", source=source)
        assert refreshed is not None and after - 5 <= refreshed <= after, source
    assert metrics.value("smokebot_metrics_refresh_failures_total") is None

    # What must never be there.
    assert metrics.identifiers_in_labels() == []
    for secret in (run_id, CANARY, emu.bot_token, SIGNING_SECRET, "U0HUMAN001"):
        assert secret not in metrics.text


def _drained(services: Services) -> object:
    async def drained() -> bool:
        return await services.store.outbox_pending_count() == 0
    return drained


async def test_the_queue_and_outbox_gauges_read_what_redis_and_postgres_hold(
        services: Services) -> None:
    # A run executed but not delivered: its four messages wait in the outbox.
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    assert await execute_run(str(ticket.run.id), services) is not None
    queue = services.queue
    assert await queue.enqueue("first-waiting", "staging")
    await asyncio.sleep(0.3)
    assert await queue.enqueue("second-waiting", "staging")
    assert await queue.enqueue("scheduled", "staging", not_before_s=time.time() + 600)
    metrics = Metrics()

    await refresh_query_gauges(metrics.query_gauges, queue, services.store)

    read = read_exposition(metrics.exposition().decode())
    assert read.value("smokebot_queue_depth", state="waiting") == 2
    assert read.value("smokebot_queue_depth", state="scheduled") == 1
    oldest = read.value("smokebot_queue_oldest_wait_seconds")
    assert oldest is not None and 0.3 <= oldest < 10  # the first one, not the scheduled one
    assert read.value("smokebot_outbox_pending_messages") == 4

    # A reading older than its refresh allows is left out, not shown as if current.
    metrics.query_gauges.stale_after_s = 0.1
    await asyncio.sleep(0.2)
    stale = read_exposition(metrics.exposition().decode())
    assert stale.value("smokebot_queue_depth") is None
    assert stale.value("smokebot_outbox_pending_messages") is None
    assert stale.value("smokebot_metrics_refresh_timestamp_seconds", source="queue") is not None


async def test_executing_a_run_counts_it_in_the_services_metrics(services: Services) -> None:
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.WEBHOOK, channel=CHANNEL))
    await execute_run(str(ticket.run.id), services)
    again = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.CLI, filters=("no-such-check",)))
    await execute_run(str(again.run.id), services)  # cannot be planned: an error

    read = read_exposition(services.metrics.exposition().decode())
    assert read.value("smokebot_runs_total", environment="staging", trigger="webhook",
                      verdict="failed") == 1
    assert read.value("smokebot_runs_total", environment="staging", trigger="cli",
                      verdict="error") == 1
    # The planned run's two checks could not connect; the other run ran none.
    assert read.value("smokebot_check_results_total", result="error") == 2
    assert read.value("smokebot_check_results_total") == 2


async def test_a_run_whose_worker_died_is_counted_by_the_worker_that_reaps_it(
        services: Services, pg_dsn: str) -> None:
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.BUTTON, channel=CHANNEL))
    assert await services.store.mark_running(ticket.run.id, "a-worker-that-died") is not None
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("UPDATE smokebot.runs SET heartbeat_at = now() - interval '1 hour'")

    async with _worker(services) as url:  # its reaper looks as it starts
        async def reaped() -> bool:
            metrics = await _scrape_async(url)
            return metrics.value("smokebot_runs_total") is not None
        await _until("the reaped run to be counted", reaped)
        metrics = await _scrape_async(url)

    assert metrics.value("smokebot_runs_total", environment="staging", trigger="button",
                         verdict="interrupted") == 1
    assert metrics.value("smokebot_runs_total") == 1
    assert metrics.value("smokebot_check_results_total") is None  # it ran none here


def test_a_slack_method_no_call_of_ours_makes_is_counted_as_other() -> None:
    metrics = Metrics()
    metrics.observe_slack_call("chat.postMessage", SlackOutcome.OK, 0.01)
    metrics.observe_slack_call(f"chat.postMessage?token={CANARY}", SlackOutcome.OK, 0.01)
    metrics.slack_retry("https://slack.com/api/../U0HUMAN001", "rate_limited")

    read = read_exposition(metrics.exposition().decode())
    assert read.label_values("smokebot_slack_api_calls_total", "method") == {
        "chat.postMessage", "other"}
    assert read.label_values("smokebot_slack_api_retries_total", "method") == {"other"}
    assert CANARY not in read.text and "U0HUMAN001" not in read.text


def test_each_metrics_object_has_a_registry_of_its_own() -> None:
    first, second = Metrics(), Metrics()
    first.observe_slack_call("auth.test", SlackOutcome.OK, 0.01)
    assert read_exposition(second.exposition().decode()).value(
        "smokebot_slack_api_calls_total") is None


def test_the_worker_metrics_port_setting_is_read_and_checked() -> None:
    assert Settings.from_env({}).worker_metrics_port is None  # 9464, if free
    assert Settings.from_env({"SMOKEBOT_WORKER_METRICS_PORT": "0"}).worker_metrics_port == 0
    assert Settings.from_env({"SMOKEBOT_WORKER_METRICS_PORT": "9100",
                              "SMOKEBOT_WORKER_METRICS_HOST": "127.0.0.1",
                              "SMOKEBOT_METRICS_REFRESH": "5"}) == dataclasses.replace(
        Settings.from_env({}), worker_metrics_port=9100, worker_metrics_host="127.0.0.1",
        metrics_refresh_s=5.0)
    with pytest.raises(SettingError, match=r"SMOKEBOT_WORKER_METRICS_PORT='http': expected a "
                                           r"port number from 1 to 65535, or 0 for none "
                                           r"\(default 9464\)"):
        Settings.from_env({"SMOKEBOT_WORKER_METRICS_PORT": "http"})


async def test_a_worker_told_a_port_that_is_taken_refuses_to_start_and_says_which(
        services: Services) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        settings = dataclasses.replace(services.settings, worker_metrics_host="127.0.0.1",
                                       worker_metrics_port=port)
        with pytest.raises(CannotListen) as refused:
            await run_worker_process(settings, stop=asyncio.Event(), handle_signals=False)
    assert refused.value.render().startswith(
        f"cannot serve the worker's metrics on 127.0.0.1:{port}: address already in use; ")
    assert refused.value.exit_code == 2


def test_the_public_surface_is_the_documented_list() -> None:
    import bot.metrics
    assert bot.metrics.__all__ == ["FILE_UPLOAD", "METRICS_PATH", "OUTBOX_COUNT_CAP", "Metrics",
                                   "QueryGauges", "SlackOutcome", "metrics_routes",
                                   "metrics_served", "query_gauges_refreshed",
                                   "refresh_query_gauges"]
