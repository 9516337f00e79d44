"""A rate-limited API on loopback for the `ratelimit` kind's tests: a fixed-window limiter per
bucket and client identity (the `X-Api-Key` header; none is a 401), speaking one header family
or misbehaving in one way, chosen by the path.

    GET /{mode}/{bucket}?limit=10&window=1

Modes:
    retry-after        429 with Retry-After in seconds, nothing else
    retry-after-date   429 with Retry-After as an HTTP date (and the response's own Date)
    x-ratelimit        X-RateLimit-Limit/-Remaining/-Reset (a Unix time) on every response
    draft06            RateLimit-Limit/-Remaining/-Reset and RateLimit-Policy: 10;w=1
    draft07            RateLimit: limit=10, remaining=9, reset=1 and RateLimit-Policy: 10;w=1
    draft08            RateLimit: default;r=9;t=1 and RateLimit-Policy: default;q=10;w=1
    draft10            RateLimit: "default";r=9;t=1, RateLimit-Policy: "default";q=10;w=1
    never              never throttles
    malformed          throttles, saying Retry-After: soon and X-RateLimit-Remaining: lots
    remaining-up       X-RateLimit-*, whose Remaining goes up by 2 at request `up_at`
    never-recovers     throttles at the limit and for ever after, saying Retry-After: 1
    storm              503 from request `storm_at` on
    echo-key           Retry-After, and the client's key echoed in a header and the body

`limit` is what the server enforces (a test that wants "too late" asks more than it expects).
Every request's headers are recorded, with the time it came, for the tests to read.

`probe(url, **params)` runs the kind against it with the test identity `KEY`, under a traffic
policy of its own (`policy(...)`) unless given one; `bucket()` names a fresh limiter.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.kinds.base import CheckContext
from checks.kinds.ratelimit import RateLimitCheck, RateLimitParams
from checks.redact import Redactor
from checks.results import Outcome
from checks.traffic import LocalGate, TrafficPolicy
from tests.support.asgi import serve_asgi

__all__ = ["KEY", "Seen", "ThrottlingServer", "bucket", "params", "policy", "probe"]

KEY = "test-key-" + "CANARYrl7Qm2Xv9Lp4Zt"  # split: not a secret to scanners


@dataclass(frozen=True)
class Seen:
    path: str
    headers: dict[str, str]
    at: float  # time.monotonic()


@dataclass
class _Window:
    started: float
    count: int = 0
    total: int = 0  # every request of the bucket, across windows


@dataclass
class ThrottlingServer:
    seen: list[Seen] = field(default_factory=list)
    _windows: dict[tuple[str, str, str], _Window] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def requests_to(self, bucket: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path.endswith(f"/{bucket}")]

    @contextmanager
    def serve(self) -> Iterator[str]:
        app = Starlette(routes=[Route("/{mode}/{bucket}", self._handle,
                                      methods=["GET", "POST"])])
        # The app writes Date itself (uvicorn's is cached per second and would come twice).
        with serve_asgi(app, date_header=False, server_header=False) as url:
            yield url

    async def _handle(self, request: Request) -> Response:
        mode, bucket = request.path_params["mode"], request.path_params["bucket"]
        now = time.monotonic()
        with self._lock:
            self.seen.append(Seen(request.url.path, dict(request.headers), now))
        key = request.headers.get("x-api-key")
        if not key:
            return JSONResponse({"error": "an X-Api-Key header is required"}, status_code=401,
                                headers=_date())
        query = request.query_params
        limit = int(query.get("limit", "10"))
        window_s = float(query.get("window", "1"))
        with self._lock:
            window = self._windows.get((mode, bucket, key))
            if window is None or (mode != "never-recovers" and now - window.started >= window_s):
                window = _Window(started=now, total=window.total if window else 0)
                self._windows[(mode, bucket, key)] = window
            window.count += 1
            window.total += 1
            count, total = window.count, window.total
            reset_in = max(0.0, window_s - (now - window.started))
        throttled = count > limit and mode != "never"
        if mode == "storm" and total >= int(query.get("storm_at", "4")):
            return JSONResponse({"error": "overloaded"}, status_code=503, headers=_date())
        headers = _date()
        headers.update(_family(mode, limit, count, reset_in, window_s, total, query))
        if throttled:
            headers.update(_throttled(mode, reset_in))
        if mode == "echo-key":
            headers["X-RateLimit-Client"] = key
        body = {"n": total, "throttled": throttled}
        if mode == "echo-key":
            body["key"] = key
        return JSONResponse(body, status_code=429 if throttled else 200, headers=headers)


def _date(moment: datetime | None = None) -> dict[str, str]:
    return {"Date": format_datetime(moment or datetime.now(timezone.utc), usegmt=True)}


def _family(mode: str, limit: int, count: int, reset_in: float, window_s: float, total: int,
            query: Mapping[str, str]) -> dict[str, str]:
    remaining = max(0, limit - count)
    reset = math.ceil(reset_in)
    window = math.ceil(window_s)
    if mode in ("x-ratelimit", "remaining-up"):
        if mode == "remaining-up" and total >= int(query.get("up_at", "5")):
            remaining += 2
        return {"X-RateLimit-Limit": str(limit), "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": str(math.ceil(time.time() + reset_in))}
    if mode == "draft06":
        return {"RateLimit-Limit": str(limit), "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(reset), "RateLimit-Policy": f"{limit};w={window}"}
    if mode == "draft07":
        return {"RateLimit": f"limit={limit}, remaining={remaining}, reset={reset}",
                "RateLimit-Policy": f"{limit};w={window}"}
    if mode == "draft08":
        return {"RateLimit": f"default;r={remaining};t={reset}",
                "RateLimit-Policy": f"default;q={limit};w={window}"}
    if mode == "draft10":
        return {"RateLimit": f'"default";r={remaining};t={reset}',
                "RateLimit-Policy": f'"default";q={limit};w={window}'}
    return {}


def _throttled(mode: str, reset_in: float) -> dict[str, str]:
    if mode in ("retry-after", "draft06", "echo-key"):
        return {"Retry-After": str(math.ceil(reset_in))}
    if mode == "retry-after-date":
        # Rounded up to the second, as an HTTP date can only say whole seconds.
        at = datetime.fromtimestamp(math.ceil(time.time() + reset_in), timezone.utc)
        return {"Retry-After": format_datetime(at, usegmt=True)}
    if mode == "malformed":
        return {"Retry-After": "soon", "X-RateLimit-Remaining": "lots"}
    if mode == "never-recovers":
        return {"Retry-After": "1"}
    return {}


# ------------------------------------------------------------------------------ probing it

def bucket() -> str:
    return uuid.uuid4().hex[:10]


def params(url: str, **fields: Any) -> RateLimitParams:
    values = {"url": url, "headers": {"X-Api-Key": KEY}, "expected_limit": 10,
              "tolerance": 1, "max_requests": 30, **fields}
    return RateLimitParams.model_validate(values)


def policy(**changes: Any) -> TrafficPolicy:
    """A policy with a gate of its own, so tests in other modules never wait for it."""
    return TrafficPolicy(**{"environment": "test", "run_id": "run1234", "gate": LocalGate(),
                            **changes})


async def probe(url: str, *, traffic: TrafficPolicy | None = None,
                progress: Any = None, **fields: Any) -> Outcome:
    ctx = CheckContext(environment="test", redactor=Redactor(), check_id="api-limit",
                       traffic=traffic or policy(),
                       progress=progress or (lambda text, fraction=None: None))
    return await RateLimitCheck().run(params(url, **fields), ctx)
