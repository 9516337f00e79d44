"""/readyz and /smoketest answer in time when Redis hangs: a Redis of this test's own, stopped
with SIGSTOP (its socket stays open, nothing answers), is named as not answering, and the
probe is ready again once Redis resumes."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest
import redis

from bot.settings import Settings
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.services_support import SIGNING_SECRET, SUITE, slack_emulator
from tests.support.asgi import free_port, serve_asgi
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


@pytest.fixture
def web_on_private_redis(pg_dsn: str, tmp_path: object,
                         private_redis: tuple[subprocess.Popen[bytes], int]
                         ) -> Iterator[tuple[str, subprocess.Popen[bytes], SlackRequestFactory]]:
    """The web app on that Redis: its URL, the Redis process, and a signer of requests."""
    process, port = private_redis
    suite = tmp_path / "smoketest.yaml"  # type: ignore[operator]
    suite.write_text(SUITE, encoding="utf-8")
    with slack_emulator() as (emulator, api_url):
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=pg_dsn, redis_url=f"redis://127.0.0.1:{port}/0",
                            key_prefix=unique_prefix("ready"), config_path=str(suite))
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url, process, SlackRequestFactory(SIGNING_SECRET, emulator=emulator)


def test_readyz_names_a_hung_redis_within_a_second_and_recovers(
        web_on_private_redis: tuple[str, subprocess.Popen[bytes], SlackRequestFactory]) -> None:
    url, process, _ = web_on_private_redis
    assert httpx.get(f"{url}/readyz", timeout=5).json() == {"ready": True}

    os.kill(process.pid, signal.SIGSTOP)
    started = time.monotonic()
    response = httpx.get(f"{url}/readyz", timeout=5)
    took = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["problems"] == {"redis": "redis did not answer within 0.8 s"}
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
    assert "Redis did not answer within 1 s; try again shortly" in response.json()["text"]
    assert took < 2.5

    os.kill(process.pid, signal.SIGCONT)
    request = factory.slash_command("staging")
    response = httpx.post(f"{url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)
    assert "Queued a smoke test of staging" in response.json()["text"]
