"""The demo target's rate-limited endpoint, what the suite's `ratelimit` check probes:

    GET /api/v1/ping    X-Api-Key: the test key -> 200 {"pong": true}; 401 without it;
                        429 once the key spent its window's quota

A fixed window per key: LIMIT requests, the window starting at the key's first request once
the last one ended. Every answer to the key carries the limit's state twice, as
`X-RateLimit-Limit/-Remaining/-Reset` (seconds) and as the IETF draft's structured fields
(`RateLimit-Policy: "default";q=20;w=2`, `RateLimit: "default";r=7;t=2`); a 429 adds
`Retry-After`. Degrading "rate-limit" keeps counting but never refuses, as a limiter left
out of the release's router would.

Like the customer store, the app holds only the SHA-256 hash of the test key.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.secrets import Secret

__all__ = ["API_KEY_VARIABLE", "LIMIT", "RATE_LIMIT", "WINDOW_S", "FixedWindow", "Quota",
           "api_key_secret", "key_hash", "ping_route"]

API_KEY_VARIABLE = "DEMO_API_KEY"  # what the suite's `secrets:` read
RATE_LIMIT = "rate-limit"  # the component `--degrade` breaks
LIMIT = 20
WINDOW_S = 2.0
POLICY = "default"

_TEST_KEY = re.compile(r"^rsk_test_[A-Za-z0-9]+$")


def api_key_secret(environ: Mapping[str, str] = os.environ) -> Secret:
    """The environment's test API key, made fresh when it holds none; ValueError naming the
    variable (never its value) when it has the wrong shape."""
    key = environ.get(API_KEY_VARIABLE) or "rsk_test_" + secrets.token_hex(16)
    if not _TEST_KEY.match(key):
        raise ValueError(f"${API_KEY_VARIABLE} must hold a test API key, rsk_test_ and letters "
                         "or digits; unset it to have one made")
    return Secret(key)


def key_hash(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Quota:
    allowed: bool
    remaining: int
    reset_s: float  # until the window ends

    @property
    def reset_whole_s(self) -> int:
        """Whole seconds, rounded up: a client that waits this long finds a new window."""
        return max(1, math.ceil(self.reset_s))


class FixedWindow:
    """LIMIT requests per key in a window of WINDOW_S that starts at the key's first request."""

    def __init__(self, limit: int = LIMIT, window_s: float = WINDOW_S, *, enforce: bool = True,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._enforce = enforce
        self._clock = clock
        self._windows: dict[str, tuple[float, int]] = {}  # key -> (start, requests counted)

    def hit(self, key: str) -> Quota:
        now = self._clock()
        start, used = self._windows.get(key, (now, 0))
        if now >= start + self.window_s:
            start, used = now, 0
        reset_s = start + self.window_s - now
        if used >= self.limit and self._enforce:
            return Quota(False, 0, reset_s)
        used += 1
        self._windows[key] = (start, used)
        return Quota(True, max(0, self.limit - used), reset_s)


def _headers(limiter: FixedWindow, quota: Quota) -> dict[str, str]:
    reset = str(quota.reset_whole_s)
    return {
        "X-RateLimit-Limit": str(limiter.limit),
        "X-RateLimit-Remaining": str(quota.remaining),
        "X-RateLimit-Reset": reset,
        "RateLimit-Policy": f'"{POLICY}";q={limiter.limit};w={math.ceil(limiter.window_s)}',
        "RateLimit": f'"{POLICY}";r={quota.remaining};t={reset}',
    }


def ping_route(api_key_hash: str, limiter: FixedWindow) -> Route:
    """GET /api/v1/ping for the one test key whose SHA-256 is `api_key_hash`."""

    async def ping(request: Request) -> Response:
        key = request.headers.get("x-api-key", "")
        if not key or not secrets.compare_digest(key_hash(key), api_key_hash):
            return JSONResponse({"error": "unauthorized",
                                 "message": "missing or invalid API key; send 'X-Api-Key'"},
                                status_code=401)
        quota = limiter.hit(api_key_hash)
        headers = _headers(limiter, quota)
        if not quota.allowed:
            return JSONResponse({"error": "rate_limited",
                                 "message": f"more than {limiter.limit} requests in "
                                            f"{limiter.window_s:g} s; retry later"},
                                status_code=429,
                                headers={**headers, "Retry-After": str(quota.reset_whole_s)})
        return JSONResponse({"pong": True}, headers=headers)

    return Route("/api/v1/ping", ping, methods=["GET"])
