"""The guard in front of Bolt, through the real web app over HTTP: 1,000 forged and malformed
requests to /slack/events (bad bytes, content types, timestamps, signatures, JSON, sizes, and
malformed bodies signed with the real secret) all get a 4xx, none a 5xx or a dropped
connection, nothing is queued, and the log stays short and holds no body, signature or
response_url. A genuine request still works."""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import psycopg
import pytest

from bot.settings import Settings
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.services_support import SIGNING_SECRET, SUITE, slack_emulator
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_requests import SlackRequestFactory, sign

CANARY_URL = "https://hooks.slack.com/commands/T0/CANARY-response-url"


@pytest.fixture
def web(pg_dsn: str, tmp_path: object) -> Iterator[tuple[str, SlackRequestFactory]]:
    suite = tmp_path / "smoketest.yaml"  # type: ignore[operator]
    suite.write_text(SUITE, encoding="utf-8")
    with slack_emulator() as (emulator, api_url):
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=pg_dsn, redis_url=redis_url(),
                            key_prefix=unique_prefix("guard"), config_path=str(suite))
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url, SlackRequestFactory(SIGNING_SECRET, emulator=emulator)


def _runs(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM smokebot.runs").fetchone()
    return int(row[0]) if row else 0


def _hostile(rng: random.Random, factory: SlackRequestFactory
             ) -> tuple[bytes, dict[str, str]]:
    """One forged or malformed request: a body and its headers."""
    now = int(time.time())
    genuine = factory.slash_command("staging", response_url=CANARY_URL)
    bodies = [
        genuine.body,
        bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 64))),
        b"\xff\xfe\x00 not utf-8 \xc3\x28",
        b'{"type": "event_callback", "event": {',
        b"[1, 2, 3]",
        b"payload=%7Bnot-json",
        urlencode({"payload": json.dumps([1, 2])}).encode(),
        b"[" * 5000,
        b"payload=" + b"%5B" * 5000,
        b"",
    ]
    body = rng.choice(bodies)
    content_type = rng.choice(["application/x-www-form-urlencoded", "application/json",
                               "text/plain", "", "multipart/form-data; boundary=x",
                               "application/json; charset=utf-8"])
    timestamp = rng.choice([str(now), "abc", "1.5", "1e10", "", "-5", str(now - 3600),
                            "9" * 40, f"{now}.0"])
    signed_with_secret = rng.random() < 0.4
    signature = sign(SIGNING_SECRET, timestamp, body) if signed_with_secret else rng.choice(
        ["", "v0=", "v0=" + "0" * 64, "v1=" + "a" * 64, "garbage", genuine.signature or ""])
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
               "X-Slack-Signature": signature}
    for name in list(headers):
        if rng.random() < 0.1:
            del headers[name]
    return body, headers


def test_a_thousand_forged_and_malformed_requests_get_a_4xx_and_queue_nothing(
        web: tuple[str, SlackRequestFactory], pg_dsn: str,
        caplog: pytest.LogCaptureFixture) -> None:
    url, factory = web
    rng = random.Random(20261201)
    statuses: dict[int, int] = {}
    caplog.set_level(logging.INFO)
    with httpx.Client(timeout=10) as client:
        for _ in range(1000):
            body, headers = _hostile(rng, factory)
            response = client.post(f"{url}/slack/events", content=body, headers=headers)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        big = client.post(f"{url}/slack/events", content=b"x" * (2 * 1024 * 1024),
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert big.status_code == 413
    assert all(400 <= status < 500 for status in statuses), statuses
    assert set(statuses) <= {400, 401, 413, 415}, statuses
    assert _runs(pg_dsn) == 0
    text = caplog.text
    assert CANARY_URL not in text and "v0=" not in text
    refusals = [r for r in caplog.records if r.getMessage().startswith("refused ")]
    assert len(refusals) <= 25  # a burst, then counted instead of logged


def test_signed_but_malformed_bodies_are_400_not_500(
        web: tuple[str, SlackRequestFactory]) -> None:
    url, factory = web
    for body, content_type in [(b"\xff\xfe", "application/x-www-form-urlencoded"),
                               (b'{"type": ', "application/json"),
                               (b"[" * 5000, "application/json"),
                               (b"payload=%7B", "application/x-www-form-urlencoded")]:
        signed = factory.sign(body, content_type=content_type)
        response = httpx.post(f"{url}/slack/events", content=signed.body,
                              headers=signed.headers, timeout=10)
        assert response.status_code == 400, (body[:20], response.text)


def test_a_genuine_slash_command_still_queues_a_run(
        web: tuple[str, SlackRequestFactory], pg_dsn: str) -> None:
    url, factory = web
    request = factory.slash_command("staging")
    response = httpx.post(f"{url}/slack/events", content=request.body,
                          headers=request.headers, timeout=10)
    assert response.status_code == 200
    assert "Queued a smoke test of staging" in response.json()["text"]
    assert _runs(pg_dsn) == 1
