"""/readyz and /smoketest answer in time when Redis or PostgreSQL hangs, and work again once
it answers: a Redis of this test's own, stopped with SIGSTOP (its socket stays open, nothing
answers), and a relay to PostgreSQL that stops forwarding (connections are accepted, nothing
comes back) are each named as not answering."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import psycopg
import pytest
import redis

from bot.settings import Settings
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.services_support import SIGNING_SECRET, SUITE, relayed_dsn, slack_emulator
from tests.support.asgi import free_port, serve_asgi
from tests.support.relay import TcpRelay
from tests.support.services import unique_prefix
from tests.support.slack_requests import SlackRequestFactory


@pytest.fixture
def private_redis(tmp_path: object) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed (DEVELOPERS.md: it runs on every machine)")
    port = free_port()
    process = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no",
                                "--dir", str(tmp_path)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        yield process, port
    finally:
        os.kill(process.pid, signal.SIGCONT)
        process.kill()
        process.wait(timeout=5)


@contextmanager
def _web_app(tmp_path: object, *, database_url: str, redis_url: str
             ) -> Iterator[tuple[str, SlackRequestFactory]]:
    """The web app on those servers: its URL and a signer of requests."""
    suite = tmp_path / "smoketest.yaml"  # type: ignore[operator]
    suite.write_text(SUITE, encoding="utf-8")
    with slack_emulator() as (emulator, api_url):
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=database_url, redis_url=redis_url,
                            key_prefix=unique_prefix("ready"), config_path=str(suite))
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url, SlackRequestFactory(SIGNING_SECRET, emulator=emulator)


@pytest.fixture
def web_on_private_redis(pg_dsn: str, tmp_path: object,
                         private_redis: tuple[subprocess.Popen[bytes], int]
                         ) -> Iterator[tuple[str, subprocess.Popen[bytes], SlackRequestFactory]]:
    """The web app on that Redis: its URL, the Redis process, and a signer of requests."""
    process, port = private_redis
    with _web_app(tmp_path, database_url=pg_dsn,
                  redis_url=f"redis://127.0.0.1:{port}/0") as (url, factory):
        yield url, process, factory


def _slash(url: str, factory: SlackRequestFactory, text: str = "staging"
           ) -> tuple[str, float]:
    request = factory.slash_command(text)
    started = time.monotonic()
    response = httpx.post(f"{url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200
    return response.json()["text"], took


def test_readyz_names_a_hung_redis_within_a_second_and_recovers(
        web_on_private_redis: tuple[str, subprocess.Popen[bytes], SlackRequestFactory]) -> None:
    url, process, _ = web_on_private_redis
    assert httpx.get(f"{url}/readyz", timeout=5).json() == {"ready": True}

    os.kill(process.pid, signal.SIGSTOP)
    started = time.monotonic()
    response = httpx.get(f"{url}/readyz", timeout=5)
    took = time.monotonic() - started
    assert response.status_code == 503
    assert re.fullmatch(r"run queue is unavailable: Redis at 127\.0\.0\.1:\d+/0 is not "
                        r"answering: no reply within 0\.8 s; try again shortly",
                        response.json()["problems"]["redis"])
    assert list(response.json()["problems"]) == ["redis"]
    assert took < 1.0
    assert httpx.get(f"{url}/healthz", timeout=1).text == "ok"

    os.kill(process.pid, signal.SIGCONT)
    deadline = time.monotonic() + 10
    while httpx.get(f"{url}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "readyz did not recover"
        time.sleep(0.1)


def test_smoketest_answers_within_budget_when_redis_hangs_and_works_again_after(
        web_on_private_redis: tuple[str, subprocess.Popen[bytes], SlackRequestFactory]) -> None:
    url, process, factory = web_on_private_redis
    os.kill(process.pid, signal.SIGSTOP)
    request = factory.slash_command("staging")
    started = time.monotonic()
    response = httpx.post(f"{url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)
    took = time.monotonic() - started
    assert response.status_code == 200
    assert "is not answering: no reply within 1.0 s; try again shortly" in \
        response.json()["text"]
    assert took < 2.5

    os.kill(process.pid, signal.SIGCONT)
    request = factory.slash_command("staging")
    response = httpx.post(f"{url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)
    assert "Queued a smoke test of staging" in response.json()["text"]


def test_readyz_and_smoketest_answer_in_time_when_postgres_hangs_and_recover(
        pg_dsn: str, tmp_path: object, postgres_relay: TcpRelay) -> None:
    redis_url = "redis://127.0.0.1:6379/0"
    with _web_app(tmp_path, database_url=relayed_dsn(postgres_relay, pg_dsn),
                  redis_url=redis_url) as (url, factory):
        assert httpx.get(f"{url}/readyz", timeout=5).json() == {"ready": True}

        postgres_relay.freeze()  # connections open, and nothing answers
        started = time.monotonic()
        response = httpx.get(f"{url}/readyz", timeout=5)
        assert time.monotonic() - started < 1.0
        assert list(response.json()["problems"]) == ["postgres"]
        assert "is not answering: no reply within 0.8 s" in \
            response.json()["problems"]["postgres"]
        assert httpx.get(f"{url}/healthz", timeout=1).text == "ok"

        # Every try, not only the first: the calls given up on must not hold the next ones.
        for _ in range(3):
            text, took = _slash(url, factory)
            assert took < 2.5
            assert text.startswith(f"history store is unavailable: PostgreSQL at "
                                   f"127.0.0.1:{postgres_relay.port}/")
            assert "is not answering: no reply within" in text
            assert text.endswith("try again shortly")

        postgres_relay.thaw()
        recovered_by = time.monotonic() + 20
        while True:
            text, took = _slash(url, factory)
            assert took < 2.5
            if "Queued a smoke test of staging" in text:
                break
            assert time.monotonic() < recovered_by, f"not recovered: {text}"
            time.sleep(0.2)
    # The runs asked for while PostgreSQL hung were never half-made: one run, the last.
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("SELECT status FROM smokebot.runs").fetchall() == [("queued",)]


def test_the_first_smoketest_answers_in_time_when_postgres_hangs_from_the_start(
        pg_dsn: str, tmp_path: object, postgres_relay: TcpRelay) -> None:
    postgres_relay.freeze()  # before the pool made a connection: connecting hangs too
    with _web_app(tmp_path, database_url=relayed_dsn(postgres_relay, pg_dsn),
                  redis_url="redis://127.0.0.1:6379/0") as (url, factory):
        text, took = _slash(url, factory)
        assert took < 2.5
        assert text.startswith("history store is unavailable: PostgreSQL at ")
        assert text.endswith("try again shortly")
        postgres_relay.thaw()
