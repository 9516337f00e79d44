"""The guard in front of Bolt: a request to `/slack/events` is read within a size limit and
its headers, signature, timestamp and body checked before anything parses it, so a malformed or
forged request gets one clear 4xx (never a 5xx, never a dropped connection) and Bolt only ever
sees genuine, well-formed Slack requests.

Refusals are logged as one short line (route, reason, size, address): never the body, the
signature or a `response_url`, which would let whoever reads the log post into the channel.
Past a burst, refusals are only counted, and the count is logged once a minute.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.requests import ClientDisconnect, Request

from bot.errors import RequestRefused
from checks.secrets import Secret

__all__ = ["MAX_SLACK_BODY_BYTES", "RefusalLog", "read_slack_request"]

log = logging.getLogger("smokebot.slack")

# Slack's largest payload, a view submission, is bounded by its 250 kB view limit.
MAX_SLACK_BODY_BYTES = 512 * 1024
TIMESTAMP_WINDOW_S = 5 * 60  # Slack: refuse a request further off than five minutes
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
_SIGNATURE = re.compile(r"^v0=[0-9a-f]{64}$")
_FORM = "application/x-www-form-urlencoded"
_JSON = "application/json"


async def read_slack_request(request: Request, signing_secret: Secret, *,
                             now: Callable[[], float] = time.time) -> bytes:
    """The raw body of a genuine, well-formed Slack request. Raises RequestRefused with its
    status (400 malformed, 401 unauthenticated, 413 too large, 415 not a Slack content type)."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in (_FORM, _JSON):
        raise RequestRefused(f"content type {media_type or 'missing'!r}; expected {_FORM} or "
                             f"{_JSON}", status=415)
    body = await _read_limited(request, MAX_SLACK_BODY_BYTES)
    _verify(request, body, signing_secret, now())
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRefused("body is not UTF-8", status=400) from None
    if media_type == _JSON:
        _json_object(text, "body")
    else:
        fields = parse_qsl(text, keep_blank_values=True)
        payload = next((value for name, value in fields if name == "payload"), None)
        if payload is not None:
            _json_object(payload, "payload")
    return body


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise RequestRefused("Content-Length is not a number", status=400)
        if int(declared) > limit:
            raise RequestRefused(f"body of {int(declared)} bytes; at most {limit}", status=413)
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestRefused(f"body over {limit} bytes", status=413)
            chunks.append(chunk)
    except ClientDisconnect:
        raise RequestRefused("the client went away mid-body", status=400) from None
    return b"".join(chunks)


def _verify(request: Request, body: bytes, signing_secret: Secret, now: float) -> None:
    timestamp = request.headers.get("x-slack-request-timestamp", "")
    signature = request.headers.get("x-slack-signature", "")
    if not _TIMESTAMP.match(timestamp):
        raise RequestRefused("X-Slack-Request-Timestamp missing or not whole seconds",
                             status=401)
    if abs(now - int(timestamp)) > TIMESTAMP_WINDOW_S:
        raise RequestRefused("X-Slack-Request-Timestamp more than five minutes away",
                             status=401)
    if not _SIGNATURE.match(signature):
        raise RequestRefused("X-Slack-Signature missing or malformed", status=401)
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    expected = "v0=" + hmac.new(signing_secret.reveal().encode("utf-8"), base,
                                hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise RequestRefused("signature does not match", status=401)


def _json_object(text: str, what: str) -> None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise RequestRefused(f"{what} is not valid JSON", status=400) from None
    if not isinstance(value, dict):
        raise RequestRefused(f"{what} is not a JSON object", status=400)


@dataclass
class RefusalLog:
    """Logs refusals as one line each up to `burst` a minute, then counts them; the count of
    the unlogged ones is logged with the next line after the minute is over."""

    burst: int = 20
    clock: Callable[[], float] = time.monotonic
    refused_total: int = 0
    _window_start: float = field(default=-1e18)
    _in_window: int = 0
    _unlogged: int = 0

    def refused(self, request: Request, exc: RequestRefused, size: int | None) -> None:
        self.refused_total += 1
        now = self.clock()
        if now - self._window_start >= 60:
            if self._unlogged:
                log.warning("refused %d more Slack requests in the last minute (not logged)",
                            self._unlogged)
            self._window_start, self._in_window, self._unlogged = now, 0, 0
        self._in_window += 1
        if self._in_window > self.burst:
            self._unlogged += 1
            return
        client = request.client.host if request.client else "?"
        log.warning("refused %s %s from %s (%s bytes): %d %s", request.method,
                    request.url.path, client, size if size is not None else "?", exc.status,
                    exc.reason)
