"""The deploy webhooks' guard under fire, through the real web app over real HTTP (uvicorn on a
loopback port, its services on this test's own PostgreSQL database and Redis key prefix; see
conftest.py): for each route, 1,000 forged and malformed requests from a seeded generator.
About half are signed with the real secret and carry a broken body (wrong types, control
characters and lone surrogates, invalid UTF-8, truncated or deeply nested JSON, NaN, huge
numbers, non-objects); the rest have forged or missing signatures and tokens, bad timestamps,
wrong content types, non-ASCII or oversized headers, or an oversized body.

Every one gets an answer below 500 (a 4xx, or 200/202 "ignored" for a genuine non-deploy), no
connection is dropped, no run is created or queued, the refusal counter counts each refusal,
and the log stays short and never shows a canary planted in bodies, signatures, tokens and
headers, nor a webhook secret. (Before the guard, this generator found 17 to 52 answers of 500
per route: "²" timestamps, NUL and lone surrogates reaching the store, huge integers.)"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from bot.webhooks.verify import generic_signature, github_signature
from tests.bot.webhook_payloads import (
    argocd_notification,
    generic_body,
    github_deployment_status,
    github_headers,
    to_body,
)
from tests.bot.webhooks.guard_support import SECRETS, Served

CANARY = "fuzz-CANARY-4e1b9d0c"
REQUESTS_PER_ROUTE = 1000
BATCH = 8  # concurrent requests on one keep-alive client (client and server share a GIL)
MIB = 1024 * 1024
BURST = 20  # RefusalLog's lines per route and minute


# --- the generator --------------------------------------------------------------------------

Body = bytes | Callable[[], AsyncIterator[bytes]]  # a callable: sent chunked, no length


@dataclass(frozen=True)
class Hostile:
    body: Body
    headers: dict[str, str | bytes]
    kind: str


@dataclass(frozen=True)
class Route:
    """What the generator needs to know about one endpoint."""

    source: str
    genuine: Callable[[], dict[str, Any]]  # a payload that, signed, would start a run
    text_fields: tuple[str, ...]  # read as text by the parser on every delivery
    number_fields: tuple[str, ...]  # of those, where a number is fine too


ROUTES = {
    "github": Route("github", lambda: github_deployment_status(version="2.8.1"),
                    ("deployment_status.state", "deployment_status.environment",
                     "deployment.sha", "deployment.ref", "repository.full_name",
                     "deployment_status.log_url", "deployment.creator.login",
                     "deployment_status.environment_url", "deployment.id"),
                    ("deployment.id",)),
    "argocd": Route("argocd", argocd_notification,
                    ("application", "revision", "sync_status", "health_status",
                     "operation_phase", "finished_at", "target_revision", "version",
                     "initiated_by", "app_url"), ()),
    "deploy": Route("deploy", generic_body,
                    ("environment", "version", "commit", "ref", "deployer", "url", "link"),
                    ("version",)),
}

JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON",
              "application/json;charset=UTF-8"]
OTHER_TYPES = ["text/plain", "", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/json; charset=utf-16",
               "application/jsonx", "application/xml", "*/*", "application/json, text/plain"]
WRONG_VALUES: list[Any] = [7, -1.5, True, False, [], [CANARY], {}, {"v": CANARY}]
NOT_TEXT = [CANARY + "\u0000", "\ud800" + CANARY, CANARY + "\x1b[31m", "a\nb" + CANARY,
            CANARY + "x" * 3000, "\udfff", "\x7f"]
RAW_NUMBERS = [b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999", b"9" * 5000]
BAD_BYTES = [b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc0\xaf", b"\x80"]


def _set(payload: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        payload = payload[part]
    payload[last] = value


def _with_raw(payload: dict[str, Any], path: str, raw: bytes) -> bytes:
    _set(payload, path, "__RAW__")
    return to_body(payload).replace(b'"__RAW__"', raw, 1)


def _nested(rng: random.Random) -> bytes:
    depth = rng.choice([600, 900, 3000, 100_000])
    return rng.choice([b"[" * depth, b'{"a":' * depth, b"[" * depth + b"]" * depth,
                       b'{"a":' * depth + b"1" + b"}" * depth])


def broken_body(rng: random.Random, route: Route) -> tuple[str, bytes]:
    """A body that no parser may take as a deploy: (its kind, its bytes)."""
    # A copy sharing nothing: the helpers reuse nested dicts within a payload and across calls.
    payload = json.loads(to_body(route.genuine()))
    field = rng.choice(route.text_fields)
    kind = rng.choice(["wrong type", "not text", "raw number", "nested field", "duplicate key",
                       "invalid utf-8", "truncated", "not an object", "nested", "bom", "empty",
                       "random bytes", "parent not an object"])
    if kind == "wrong type":
        choices = [v for v in WRONG_VALUES if field not in route.number_fields
                   or isinstance(v, bool) or not isinstance(v, int | float)]
        _set(payload, field, copy.deepcopy(rng.choice(choices)))
        return kind, to_body(payload)
    if kind == "not text":
        _set(payload, field, rng.choice(NOT_TEXT))
        return kind, to_body(payload)
    if kind == "raw number":
        raw = rng.choice(RAW_NUMBERS if field in route.number_fields
                         else [*RAW_NUMBERS, b"42", b"-0", b"1.5e308"])
        return kind, _with_raw(payload, field, raw)
    if kind == "nested field":
        depth = rng.choice([50, 500, 900])
        return kind, _with_raw(payload, field, b"[" * depth + b'"' + CANARY.encode() + b'"'
                               + b"]" * depth)
    if kind == "duplicate key":  # the last one wins, and it is of the wrong type
        body = to_body(payload)
        return kind, body[:-1] + b',"' + field.split(".")[0].encode() + b'":[7]}'
    if kind == "invalid utf-8":
        body = to_body(payload)
        at = rng.randrange(len(body))
        return kind, body[:at] + rng.choice(BAD_BYTES) + body[at:]
    if kind == "truncated":
        body = to_body(payload)
        return kind, body[:rng.randrange(len(body))]
    if kind == "not an object":
        return kind, rng.choice([b"[1,2]", b'"' + CANARY.encode() + b'"', b"42", b"null",
                                 b"true", b"[]", b"[{}]", b"-0.0"])
    if kind == "nested":
        return kind, _nested(rng)
    if kind == "bom":
        return kind, b"\xef\xbb\xbf" + to_body(payload)
    if kind == "empty":
        return kind, rng.choice([b"", b" \n\t ", b"\x00"])
    if kind == "random bytes":
        return kind, rng.randbytes(rng.randint(1, 300))
    parent = field.split(".")[0] if "." in field else None
    if parent is None:  # a flat body: a wrong type at the top instead
        return kind, to_body([payload])
    payload[parent] = rng.choice([7, "text", [payload[parent]], True])
    return kind, to_body(payload)


def _forged_signature(rng: random.Random, body: bytes, header_prefix: str = "sha256=") -> Any:
    other = to_body({"environment": "prod", "version": "0.0.1"})
    return rng.choice([None, "", header_prefix, header_prefix + "0" * 64, "sha1=" + "a" * 40,
                       github_signature("not-the-secret", body),
                       github_signature("not-the-secret", other), CANARY,
                       header_prefix + CANARY, b"sha256=\xe9\xb2" + CANARY.encode(),
                       header_prefix + "a" * 5000])


def _chunked(body: bytes) -> Callable[[], AsyncIterator[bytes]]:
    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 256 * 1024):
            yield body[start:start + 256 * 1024]
    return chunks


def hostile(rng: random.Random, route: Route) -> Hostile:
    """One forged or malformed request to `route`."""
    secret = SECRETS[route.source]
    roll = rng.random()
    if roll < 0.01:  # over the limit, declared or streamed
        kind, body = "oversize", b'{"environment":"' + b"9" * MIB + b'"}'
        signed = rng.random() < 0.5
    elif roll < 0.12:  # a genuine body under a forged signature or token
        kind, body, signed = "forged", to_body(route.genuine()), False
    else:
        kind, body = broken_body(rng, route)
        signed = rng.random() < 0.55
    content_type = rng.choice(JSON_TYPES) if (signed and rng.random() < 0.85) or \
        rng.random() < 0.5 else rng.choice(OTHER_TYPES)
    headers: dict[str, str | bytes | None] = {"Content-Type": content_type,
                                              "User-Agent": "fuzz/1.0"}
    now = int(time.time())
    if route.source == "github":
        headers.update(github_headers(secret if signed else "forged", body,
                                      event="deployment_status"))
        headers["Content-Type"] = content_type
        if not signed:
            headers["X-Hub-Signature-256"] = _forged_signature(rng, body)
        if rng.random() < 0.15:
            headers["X-GitHub-Event"] = rng.choice(["ping", "push", "", CANARY, "Ping"])
        if rng.random() < 0.15:
            headers["X-GitHub-Delivery"] = rng.choice(
                [None, "", f"{CANARY}-{uuid.uuid4()}", "d" * 5000, b"\xe9\xe9" + CANARY.encode()])
        else:
            headers["X-GitHub-Delivery"] = str(uuid.uuid4())
    elif route.source == "deploy":
        timestamp: str | bytes = str(now) if rng.random() < 0.8 else rng.choice(
            [str(now - 3600), str(now + 3600), "abc", "", "-5", "1e10", "9" * 40, f"{now}.0",
             b"\xb2\xb3", "\u00b2", "\u0661\u0662"])
        headers["X-Smokebot-Timestamp"] = timestamp
        if signed and isinstance(timestamp, str) and timestamp.isascii():
            headers["X-Smokebot-Signature"] = generic_signature(secret, timestamp, body)
        else:
            headers["X-Smokebot-Signature"] = _forged_signature(rng, body)
        if rng.random() < 0.1:
            headers["Idempotency-Key"] = rng.choice([CANARY * 30, b"\xe9" + CANARY.encode(),
                                                     f"{CANARY}-{uuid.uuid4()}"])
    else:
        headers["X-Smokebot-Token"] = secret if signed else rng.choice(
            [None, "", CANARY, secret[:-1], secret + "x", secret.upper(), b"\xe9" + b"x" * 10,
             "t" * 5000])
    for name, value in (("X-Forwarded-For", b"10.0.0.\xb9"), ("User-Agent", "u" * 5000),
                        ("X-Fuzz-Plant", CANARY), ("X-Request-Id", f"{CANARY}\xe9")):
        if rng.random() < 0.04:
            headers[name] = value
    if rng.random() < 0.03:
        headers.pop("Content-Type")
    sent: Body = _chunked(body) if kind == "oversize" and rng.random() < 0.5 else body
    return Hostile(sent, {k: _wire(v) for k, v in headers.items() if v is not None}, kind)


def _wire(value: str | bytes) -> str | bytes:
    # Non-ASCII header text as the bytes a client would put on the wire.
    if isinstance(value, bytes) or value.isascii():
        return value
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8")


# --- the test -------------------------------------------------------------------------------

@dataclass
class Tally:
    statuses: Counter[int]
    kinds: Counter[str]
    dropped: list[str]
    accepted: list[str]


async def _send(client: httpx.AsyncClient, path: str, request: Hostile, tally: Tally) -> None:
    content = request.body() if callable(request.body) else request.body
    try:
        response = await client.post(path, content=content, headers=request.headers)
    except httpx.TransportError as exc:
        tally.dropped.append(f"{request.kind}: {type(exc).__name__}")
        return
    tally.statuses[response.status_code] += 1
    tally.kinds[f"{request.kind} -> {response.status_code}"] += 1
    if response.status_code < 300 and response.json().get("outcome") != "ignored":
        tally.accepted.append(f"{request.kind}: {response.text[:300]}")


@pytest.mark.parametrize("source", sorted(ROUTES))
async def test_a_thousand_forged_and_malformed_deliveries_get_a_4xx_and_start_nothing(
        served: Served, source: str, caplog: pytest.LogCaptureFixture) -> None:
    route, path = ROUTES[source], f"/webhooks/{source}"
    rng = random.Random(f"webhook-fuzz-{source}-20261201")
    requests = [hostile(rng, route) for _ in range(REQUESTS_PER_ROUTE)]
    tally = Tally(Counter(), Counter(), [], [])
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.WARNING, logger="httpx")  # the client's line per request
    limits = httpx.Limits(max_connections=BATCH, max_keepalive_connections=BATCH)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=served.url, limits=limits, timeout=30) as client:
        for start in range(0, len(requests), BATCH):
            await asyncio.gather(*[_send(client, path, request, tally)
                                   for request in requests[start:start + BATCH]])
    elapsed = time.monotonic() - started
    print(f"\n{path}: {len(requests)} requests in {elapsed:.1f} s; "
          f"statuses {dict(sorted(tally.statuses.items()))}")
    for line, count in sorted(tally.kinds.items()):
        print(f"  {count:5d}  {line}")

    assert tally.dropped == []
    assert sum(tally.statuses.values()) == REQUESTS_PER_ROUTE
    assert set(tally.statuses) <= {200, 202, 400, 401, 413, 415}, tally.statuses
    assert tally.accepted == []
    assert {400, 401, 413, 415} <= set(tally.statuses)  # the generator reaches each answer
    assert served.runs_created() == 0
    assert await served.queue.queued_run_ids() == []
    # The counter metric counts every refusal; the log shows a burst of them.
    counts = served.app.state.smokebot["refusals"].counts
    assert sum(n for (route_key, _), n in counts.items() if route_key == f"POST {path}") == \
        sum(n for status, n in tally.statuses.items() if status >= 400)
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    lines = [r.getMessage() for r in server_records]
    assert [line for line in lines if line.startswith("refused POST")] == lines[:BURST]
    assert len(lines) <= BURST and all(len(line) <= 400 for line in lines), lines
    assert all(r.levelno < logging.ERROR for r in server_records), lines
    text = caplog.text
    assert "canary" not in text.lower() and "Traceback" not in text
    assert not re.search(r"[0-9a-f]{40}", text)  # no signature or digest, not even a forged one
    assert text.isascii()
