"""The guard in front of Bolt: a request to `/slack/events` is read within a size limit and
its headers, signature, timestamp and body checked before anything parses it, so a malformed or
forged request gets one clear 4xx (never a 5xx, never a dropped connection) and Bolt only ever
sees genuine, well-formed Slack requests.

The size-limited reader, the content-type check and the refusal log (one short line per
refusal: route, reason, size, address; never the body, the signature or a `response_url`, which
would let whoever reads the log post into the channel) are shared with the deploy webhooks, in
`bot/guard.py`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable
from urllib.parse import parse_qsl

from starlette.requests import Request

from bot.errors import RequestRefused
from bot.guard import read_limited_body, require_media_type
from checks.secrets import Secret

__all__ = ["MAX_SLACK_BODY_BYTES", "read_slack_request"]

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
    media_type = require_media_type(request.headers, (_FORM, _JSON))
    body = await read_limited_body(request, MAX_SLACK_BODY_BYTES)
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
