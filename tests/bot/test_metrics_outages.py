"""/metrics answers at once while Redis or PostgreSQL hangs, on the web process and on a
worker's own port: a Redis of this test's own stopped with SIGSTOP (its socket stays open,
nothing answers), and a relay to PostgreSQL that stops forwarding (connections are accepted,
nothing comes back). The gauges read from the hung server are then left out, the failed reads
counted; the others go on; all come back once the server answers again."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.services import Services
from bot.settings import Settings
from bot.web import create_web_app
from bot.worker_main import run_worker_process
from checks.secrets import Secret
from tests.bot.metrics_support import Exposition, scrape
from tests.bot.services_support import SIGNING_SECRET, SUITE, relayed_dsn, slack_emulator
from tests.support.asgi import free_port, serve_asgi
from tests.support.redis_server import PrivateRedis, private_redis
from tests.support.relay import TcpRelay
from tests.support.services import redis_url, unique_prefix

REFRESH_S = 0.2
ANSWER_WITHIN_S = 1.0
WAIT_S = 10.0  # a ceiling for a gauge to go or come back, never a measurement
QUEUE_GAUGES = ("smokebot_queue_depth", "smokebot_queue_oldest_wait_seconds")
OUTBOX_GAUGE = "smokebot_outbox_pending_messages"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path / "redis") as server:
        try:
            yield server
        finally:
            os.kill(server.process.pid, signal.SIGCONT)  # stopped by the test, maybe


def _settings(tmp_path: Path, emulator_token: str, api_url: str, *, database_url: str,
              redis: str) -> Settings:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    return Settings(slack_bot_token=Secret(emulator_token),
                    slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                    database_url=database_url, redis_url=redis,
                    key_prefix=unique_prefix("metrics"), config_path=str(suite),
                    metrics_refresh_s=REFRESH_S)


@contextmanager
def _web(tmp_path: Path, *, database_url: str, redis: str) -> Iterator[str]:
    with slack_emulator() as (emulator, api_url):
        settings = _settings(tmp_path, emulator.bot_token, api_url, database_url=database_url,
                             redis=redis)
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield f"{url}/metrics"


def _quick_scrape(url: str) -> Exposition:
    metrics, took, _ = scrape(url)
    assert took < ANSWER_WITHIN_S, f"/metrics took {took:.2f} s"
    return metrics


def _shows(metrics: Exposition, *names: str) -> bool:
    return all(metrics.value(name) is not None for name in names)


def _until(url: str, what: str, ready: object) -> Exposition:
    """Scrapes until `ready(metrics)`; every scrape on the way answers in time."""
    deadline = time.monotonic() + WAIT_S
    while True:
        metrics = _quick_scrape(url)
        if ready(metrics):  # type: ignore[operator]
            return metrics
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{metrics.text}"
        time.sleep(0.05)


def test_web_metrics_answer_at_once_while_redis_hangs_and_recover(
        pg_dsn: str, tmp_path: Path, redis_server: PrivateRedis) -> None:
    with _web(tmp_path, database_url=pg_dsn, redis=redis_server.url) as url:
        _until(url, "the first reading", lambda m: _shows(m, *QUEUE_GAUGES, OUTBOX_GAUGE))

        os.kill(redis_server.process.pid, signal.SIGSTOP)
        hung = _until(url, "the queue gauges to be left out", lambda m: not _shows(
            m, QUEUE_GAUGES[0]) and (m.value("smokebot_metrics_refresh_failures_total",
                                              source="queue") or 0) >= 1)
        assert not _shows(hung, QUEUE_GAUGES[1])
        assert _shows(hung, OUTBOX_GAUGE)  # PostgreSQL answers: its gauge goes on
        assert hung.value("smokebot_metrics_refresh_failures_total", source="outbox") is None

        os.kill(redis_server.process.pid, signal.SIGCONT)
        _until(url, "the queue gauges to come back", lambda m: _shows(m, *QUEUE_GAUGES))


def test_web_metrics_answer_at_once_while_postgres_hangs_and_recover(
        pg_dsn: str, tmp_path: Path, postgres_relay: TcpRelay) -> None:
    with _web(tmp_path, database_url=relayed_dsn(postgres_relay, pg_dsn),
              redis=redis_url()) as url:
        _until(url, "the first reading", lambda m: _shows(m, *QUEUE_GAUGES, OUTBOX_GAUGE))

        postgres_relay.freeze()
        hung = _until(url, "the outbox gauge to be left out", lambda m: not _shows(
            m, OUTBOX_GAUGE) and (m.value("smokebot_metrics_refresh_failures_total",
                                          source="outbox") or 0) >= 1)
        assert _shows(hung, *QUEUE_GAUGES)  # Redis answers: its gauges go on

        postgres_relay.thaw()
        _until(url, "the outbox gauge to come back", lambda m: _shows(m, OUTBOX_GAUGE))


@pytest.fixture
async def hung_worker(services: Services, pg_dsn: str, redis_server: PrivateRedis,
                      postgres_relay: TcpRelay) -> AsyncIterator[str]:
    """A worker on the private Redis and on PostgreSQL through the relay, its metrics on a
    free loopback port; both servers answer again before it is stopped."""
    port = free_port()
    settings = dataclasses.replace(
        services.settings, database_url=relayed_dsn(postgres_relay, pg_dsn),
        redis_url=redis_server.url, worker_metrics_host="127.0.0.1", worker_metrics_port=port,
        metrics_refresh_s=REFRESH_S)
    stop = asyncio.Event()
    task = asyncio.create_task(run_worker_process(settings, concurrency=1, stop=stop,
                                                  handle_signals=False))
    try:
        yield f"http://127.0.0.1:{port}/metrics"
    finally:
        os.kill(redis_server.process.pid, signal.SIGCONT)
        postgres_relay.thaw()
        stop.set()
        await asyncio.wait_for(task, timeout=30)


async def test_a_workers_metrics_answer_at_once_while_redis_and_postgres_hang(
        hung_worker: str, redis_server: PrivateRedis, postgres_relay: TcpRelay) -> None:
    url = hung_worker

    async def until(what: str, ready: object) -> Exposition:
        # The worker runs in this event loop: give it a turn between scrapes.
        deadline = time.monotonic() + WAIT_S
        while True:
            try:
                metrics = _quick_scrape(url)
            except Exception:  # noqa: BLE001 - not listening yet
                metrics = None
            if metrics is not None and ready(metrics):  # type: ignore[operator]
                return metrics
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            await asyncio.sleep(0.05)

    await until("the first reading", lambda m: _shows(m, *QUEUE_GAUGES, OUTBOX_GAUGE))

    os.kill(redis_server.process.pid, signal.SIGSTOP)
    postgres_relay.freeze()
    hung = await until("both readings to be left out", lambda m: not _shows(
        m, QUEUE_GAUGES[0]) and not _shows(m, OUTBOX_GAUGE))
    assert (hung.value("smokebot_metrics_refresh_failures_total", source="queue") or 0) >= 1
    assert (hung.value("smokebot_metrics_refresh_failures_total", source="outbox") or 0) >= 1
    assert _shows(hung, "smokebot_metrics_refresh_timestamp_seconds")  # when they last were

    os.kill(redis_server.process.pid, signal.SIGCONT)
    postgres_relay.thaw()
    await until("both readings to come back", lambda m: _shows(m, *QUEUE_GAUGES,
                                                                 OUTBOX_GAUGE))
