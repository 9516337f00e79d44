"""The request guard in front of the deploy webhooks (`bot/guard.py`, `bot/webhooks/routes.py`):
one answer per failure class (400 malformed header or body cut short, 401 unauthenticated, 413
too large, 415 not JSON), checked before anything parses the body, over real HTTP to the real
web app; malformed HTTP that never reaches the app gets uvicorn's 400, never silence; and the
refusal log: one short line per refusal, a burst per route and minute, then a count."""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from starlette.requests import Request

from bot.errors import RequestRefused
from bot.guard import (
    RefusalLog,
    check_header_values,
    read_limited_body,
    require_media_type,
)
from bot.settings import Settings
from bot.web import create_web_app
from bot.webhooks.verify import generic_signature
from checks.secrets import Secret
from tests.bot.webhook_payloads import (
    argocd_headers,
    argocd_notification,
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    to_body,
)
from tests.bot.webhooks.guard_support import SECRETS, SUITE, Served
from tests.support.asgi import free_port, serve_asgi
from tests.support.services import redis_url, unique_prefix


def signed(source: str, body: bytes) -> dict[str, str]:
    """The headers a genuine sender sends with `body`."""
    if source == "github":
        return github_headers(SECRETS["github"], body)
    if source == "argocd":
        return argocd_headers(SECRETS["argocd"])
    return generic_headers(SECRETS["deploy"], body)


GENUINE = {"github": lambda: to_body(github_deployment_status()),
           "argocd": lambda: to_body(argocd_notification()),
           "deploy": lambda: to_body(generic_body(environment="prod"))}


def rejections(dsn: str) -> list[tuple[str, str, dict[str, Any]]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT reason, delivery_id, headers FROM smokebot.webhook_deliveries"
                            " WHERE outcome = 'rejected' ORDER BY id").fetchall()
    return [(row[0], row[1], row[2]) for row in rows]


# --- content types ------------------------------------------------------------------------------

OTHER_CONTENT_TYPES = [
    ("text/plain", "content type 'text/plain'; expected application/json"),
    (None, "content type 'missing'; expected application/json"),
    ("application/json; charset=utf-16", "charset 'utf-16'; expected application/json in UTF-8"),
    ("application/x-www-form-urlencoded", "body is form-encoded; expected JSON (set the "
                                          "webhook's content type to application/json)"),
]


@pytest.mark.parametrize("source", sorted(GENUINE))
async def test_a_genuine_delivery_in_another_content_type_is_415(served: Served,
                                                                 source: str) -> None:
    body = GENUINE[source]()
    for content_type, reason in OTHER_CONTENT_TYPES:
        headers: dict[str, str] = dict(signed(source, body))
        headers.pop("Content-Type")
        if content_type is not None:
            headers["Content-Type"] = content_type

        response = httpx.post(f"{served.url}/webhooks/{source}", content=body, headers=headers)

        assert (response.status_code, response.json()) == (
            415, {"outcome": "rejected", "message": f"rejected: {reason}"})
    assert served.runs_created() == 0


@pytest.mark.parametrize("source", sorted(GENUINE))
async def test_json_with_a_utf8_charset_is_taken(served: Served, source: str) -> None:
    body = GENUINE[source]()
    headers = {**signed(source, body), "Content-Type": "application/json; charset=UTF-8"}

    response = httpx.post(f"{served.url}/webhooks/{source}", content=body, headers=headers)

    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "accepted"


# --- headers ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "value", "reason"), [
    ("X-Hub-Signature-256", b"sha256=\xe9\xe9", "header 'x-hub-signature-256' is not printable "
                                                "ASCII"),
    ("X-GitHub-Delivery", "d" * 5000, "header 'x-github-delivery' is 5000 bytes; expected at most "
                                      "4096"),
    ("User-Agent", b"GitHub-Hookshot/\xff", "header 'user-agent' is not printable ASCII"),
])
async def test_a_malformed_header_is_400_and_not_recorded(
        served: Served, header: str, value: str | bytes, reason: str) -> None:
    body = GENUINE["github"]()
    headers: dict[str, str | bytes] = {**github_headers(SECRETS["github"], body), header: value}

    response = httpx.post(f"{served.url}/webhooks/github", content=body, headers=headers)

    assert (response.status_code, response.json()["message"]) == (400, f"rejected: {reason}")
    [(recorded_reason, delivery_id, recorded_headers)] = rejections(served.dsn)
    assert recorded_reason == reason
    assert header.lower() not in recorded_headers
    if header != "X-GitHub-Delivery":
        assert delivery_id == "72d3162e-cc78-11e3-81ab-4c9367dc0958"
    else:
        assert delivery_id is None


async def test_a_timestamp_in_other_digits_is_400_not_a_crash(served: Served) -> None:
    # "²" passes str.isdigit(); it used to reach int() and the ASCII signing: a 500.
    body = GENUINE["deploy"]()
    headers: dict[str, str | bytes] = {**generic_headers(SECRETS["deploy"], body),
                                       "X-Smokebot-Timestamp": "\u00b2".encode("latin-1")}

    response = httpx.post(f"{served.url}/webhooks/deploy", content=body, headers=headers)

    assert (response.status_code, response.json()["message"]) == (
        400, "rejected: header 'x-smokebot-timestamp' is not printable ASCII")


async def test_a_signed_request_with_a_stale_timestamp_is_401(served: Served) -> None:
    body, stale = GENUINE["deploy"](), int(time.time()) - 3600
    headers = {**generic_headers(SECRETS["deploy"], body, timestamp=stale),
               "X-Smokebot-Signature": generic_signature(SECRETS["deploy"], stale, body)}

    response = httpx.post(f"{served.url}/webhooks/deploy", content=body, headers=headers)

    assert response.status_code == 401
    assert response.json()["message"].startswith("rejected: stale request: ")


# --- bodies -------------------------------------------------------------------------------------

async def test_with_the_store_down_a_forgery_is_still_401_and_one_log_line(
        tmp_path: Path, caplog: pytest.LogCaptureFixture,
        monkeypatch: pytest.MonkeyPatch) -> None:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    settings = Settings(
        slack_bot_token=Secret("xoxb-guard-tests-0000000000"),
        slack_signing_secret=Secret("signing-secret-guard-tests-0000"),
        slack_api_url="http://127.0.0.1:9/api/", redis_url=redis_url(),
        database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere",
        config_path=str(suite), key_prefix=unique_prefix("guard"),
        webhook_secrets={name: Secret(value) for name, value in SECRETS.items()})
    monkeypatch.setattr(logging.getLogger("uvicorn"), "propagate", True)
    body = GENUINE["argocd"]()
    caplog.set_level(logging.INFO)
    with serve_asgi(create_web_app(settings), lifespan="on", log_config=None) as url:
        caplog.clear()
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            forged = await asyncio.gather(*[
                client.post("/webhooks/argocd", content=body, headers=argocd_headers("guess"))
                for _ in range(30)])
            genuine = await client.post("/webhooks/argocd", content=body,
                                        headers=argocd_headers(SECRETS["argocd"]))

    assert {r.status_code for r in forged} == {401}
    assert genuine.status_code == 503  # not the sender's fault: GitHub and others retry
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("smokebot")]
    refusals = [line for line in lines if line.startswith("refused ")]
    assert len(refusals) == 20  # the burst; the other ten are counted
    assert refusals[0].startswith(
        "refused POST /webhooks/argocd from 127.0.0.1 (%d bytes): 401 X-Smokebot-Token does not "
        "match the shared webhook secret (not recorded: " % len(body))
    [not_processed] = [line for line in lines if "webhook not processed" in line]
    assert not_processed.startswith("argocd webhook not processed: history store is unavailable")


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_over_the_limit_is_413_before_the_signature_is_checked(
        served: Served, declared: bool) -> None:
    body = b'{"environment":"' + b"9" * (1024 * 1024) + b'"}'

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 128 * 1024):
            yield body[start:start + 128 * 1024]

    response = httpx.post(f"{served.url}/webhooks/argocd", content=body if declared else chunks(),
                          headers=argocd_headers("not-the-token"))

    assert response.status_code == 413


# --- what never reaches the app -----------------------------------------------------------------

def _exchange(url: str, data: bytes) -> bytes:
    """Sends raw bytes and reads until the server closes (or 5 s pass)."""
    parts = urlsplit(url)
    received = b""
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(data)
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    return received


def _head(path: str, *lines: bytes) -> bytes:
    return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\n" + b"".join(line + b"\r\n" for line in lines)
            + b"Connection: close\r\n\r\n")


MALFORMED_HTTP = [
    _head("/webhooks/deploy", b"Content-Length: abc") + b"{}",
    _head("/webhooks/deploy", b"Content-Length: 2", b"Content-Length: 3") + b"{}",
    _head("/webhooks/deploy", b"X-Smokebot-Timestamp: 17\x0000", b"Content-Length: 2") + b"{}",
    _head("/webhooks/github", b"X-Big: " + b"b" * 70_000, b"Content-Length: 2") + b"{}",
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 not HTTP at all\r\n\r\n",  # a TLS hello
    b"POST /webhooks/github HTTP/9.9\r\nHost: x\r\n\r\n",  # h11 takes it: the app's 415
]


async def test_malformed_http_gets_a_4xx_not_silence(served: Served,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    for request_bytes in MALFORMED_HTTP:
        answer = await asyncio.to_thread(_exchange, served.url, request_bytes)

        assert re.match(rb"HTTP/1\.1 4\d\d ", answer), (request_bytes[:60], answer[:80])
    assert served.runs_created() == 0
    assert all(r.levelno < logging.ERROR for r in caplog.records)
    assert httpx.get(f"{served.url}/healthz").status_code == 200


async def test_a_client_that_goes_away_mid_body_is_a_clean_refusal(
        served: Served, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    parts = urlsplit(served.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=5) as sock:
        sock.sendall(_head("/webhooks/deploy", b"Content-Length: 4000") + b'{"environment":')
        await asyncio.sleep(0.2)  # the app is reading the body by now

    deadline = time.monotonic() + 10
    while not rejections(served.dsn) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    [(reason, _, _)] = rejections(served.dsn)
    assert reason == "the client went away mid-body"
    lines = [r.getMessage() for r in caplog.records if r.name.startswith(("smokebot", "uvicorn"))]
    assert lines == ["refused POST /webhooks/deploy from 127.0.0.1 (4000 bytes): 400 the client "
                     "went away mid-body"]
    assert "Traceback" not in caplog.text


async def test_other_paths_and_methods_are_never_a_5xx(served: Served) -> None:
    for method, path, status in [
            ("GET", "/webhooks/github", 405), ("PUT", "/webhooks/deploy", 405),
            ("POST", "/webhooks/gitlab", 404), ("POST", "/webhooks", 404),
            ("GET", "/healthz", 200), ("POST", "/healthz", 405), ("GET", "/readyz", 200),
            ("GET", "/%ff%fe", 404)]:
        response = httpx.request(method, f"{served.url}{path}", content=b"[" * 10_000,
                                 headers={"Content-Type": "application/json"})

        assert response.status_code == status, (method, path)


# --- the guard's pieces, on starlette's own Request --------------------------------------------

def _request(headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]] | None = None,
             path: str = "/webhooks/github") -> Request:
    queue = list(messages or [{"type": "http.request", "body": b"", "more_body": False}])

    async def receive() -> dict[str, Any]:
        return queue.pop(0)

    scope = {"type": "http", "method": "POST", "path": path, "headers": headers,
             "client": ("127.0.0.1", 50000), "query_string": b"", "server": ("127.0.0.1", 80),
             "scheme": "http", "root_path": ""}
    return Request(scope, receive)


@pytest.mark.parametrize("declared", [b"abc", "\u00b2".encode("latin-1"), b"-1", b"1" * 30])
async def test_a_content_length_that_is_not_a_number_is_400(declared: bytes) -> None:
    with pytest.raises(RequestRefused) as refused:
        await read_limited_body(_request([(b"content-length", declared)]), 1024)

    assert (refused.value.status, refused.value.reason) == (400, "Content-Length is not a number")


async def test_a_disconnect_mid_body_is_400() -> None:
    request = _request([], [{"type": "http.request", "body": b"{", "more_body": True},
                            {"type": "http.disconnect"}])

    with pytest.raises(RequestRefused) as refused:
        await read_limited_body(request, 1024)

    assert (refused.value.status, refused.value.reason) == (400, "the client went away mid-body")


async def test_a_streamed_body_is_refused_as_soon_as_it_passes_the_limit() -> None:
    request = _request([], [{"type": "http.request", "body": b"x" * 600, "more_body": True},
                            {"type": "http.request", "body": b"x" * 600, "more_body": True}])

    with pytest.raises(RequestRefused) as refused:
        await read_limited_body(request, 1024)

    assert (refused.value.status, refused.value.reason) == (
        413, "body is over 1024 bytes; expected at most 1024 (1 KiB)")


def test_header_values_must_be_printable_ascii_and_short() -> None:
    check_header_values({"user-agent": "curl/8.5.0\twith a tab", "x-empty": ""})
    for headers, reason in (({"x-a": "caf\u00e9"}, "header 'x-a' is not printable ASCII"),
                            ({"x-a": "a\x7f"}, "header 'x-a' is not printable ASCII"),
                            ({"x-a": "a" * 4097}, "header 'x-a' is 4097 bytes; expected at most "
                                                  "4096")):
        with pytest.raises(RequestRefused) as refused:
            check_header_values(headers)
        assert (refused.value.status, refused.value.reason) == (400, reason)


def test_a_quoted_content_type_is_short_and_printable() -> None:
    with pytest.raises(RequestRefused) as refused:
        require_media_type({"content-type": "text/" + "x" * 500}, ("application/json",))

    assert refused.value.reason == (f"content type 'text/{'x' * 55}...'; expected "
                                    f"application/json")


# --- the refusal log ----------------------------------------------------------------------------

class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_refusal_log_writes_a_burst_per_route_then_counts(
        caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    refusals = RefusalLog(burst=3, clock=clock)
    github, deploy = _request([], path="/webhooks/github"), _request([], path="/webhooks/deploy")
    forged = RequestRefused("X-Hub-Signature-256 does not match the request", status=401)
    caplog.set_level(logging.INFO, logger="smokebot.guard")

    for _ in range(10):
        refusals.refused(github, forged, 120)
    refusals.refused(deploy, RequestRefused("body is over 1 MiB", status=413), None)
    clock.now += 61
    refusals.refused(github, forged, 120)

    assert [r.getMessage() for r in caplog.records] == [
        *["refused POST /webhooks/github from 127.0.0.1 (120 bytes): 401 X-Hub-Signature-256 "
          "does not match the request"] * 3,
        "refused POST /webhooks/deploy from 127.0.0.1 (? bytes): 413 body is over 1 MiB",
        "refused 7 more requests to POST /webhooks/github in the last minute (not logged)",
        "refused POST /webhooks/github from 127.0.0.1 (120 bytes): 401 X-Hub-Signature-256 "
        "does not match the request"]
    assert refusals.counts == {("POST /webhooks/github", 401): 11,
                               ("POST /webhooks/deploy", 413): 1}
    assert refusals.refused_total == 12


def test_a_refusal_line_stays_one_short_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="smokebot.guard")
    reason = "unknown field 'a\nFAKE LOG LINE'" + "x" * 500

    RefusalLog().refused(_request([]), RequestRefused(reason), 10)

    [line] = [r.getMessage() for r in caplog.records]
    assert "\n" not in line and len(line) < 320
    assert line.startswith("refused POST /webhooks/github from 127.0.0.1 (10 bytes): 400 "
                           "unknown field 'a?FAKE LOG LINE'xxx")
    assert line.endswith("...")
