"""The request guard's shared pieces, for every route that takes requests from outside
(`/slack/events` in `bot/slack/guard.py`, the deploy webhooks in `bot/webhooks/routes.py`):
header checks, the content type, a body read within a size limit, and the refusal log.

Each check raises RequestRefused (`bot.errors`) with the one answer for its failure class: 400
for a malformed header or a body cut short, 413 for a body over the limit, 415 for a content
type the route does not take. Reasons never quote the body, a signature or a token.
"""

from __future__ import annotations

import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from starlette.requests import ClientDisconnect, Request

from bot.errors import RequestRefused

__all__ = ["MAX_HEADER_VALUE_BYTES", "RefusalLog", "check_header_values", "declared_size",
           "media_type", "read_limited_body", "require_media_type", "well_formed_header"]

log = logging.getLogger("smokebot.guard")

MAX_HEADER_VALUE_BYTES = 4096
_DIGITS = re.compile(r"[0-9]{1,18}")  # str.isdigit() would take "²", which int() refuses
_PRINTABLE = re.compile(r"[\t\x20-\x7e]*")
_MAX_LOGGED_REASON = 240


def declared_size(request: Request) -> int | None:
    """The Content-Length the client declared, when it is a number."""
    declared = request.headers.get("content-length", "")
    return int(declared) if _DIGITS.fullmatch(declared) else None


def well_formed_header(value: str) -> bool:
    """Printable ASCII and at most MAX_HEADER_VALUE_BYTES long (starlette decodes header
    bytes as latin-1, so any byte a client sent shows here)."""
    return len(value) <= MAX_HEADER_VALUE_BYTES and _PRINTABLE.fullmatch(value) is not None


def check_header_values(headers: Mapping[str, str]) -> None:
    """Every header value well formed, or RequestRefused 400 naming the first that is not."""
    for name, value in headers.items():
        if not _PRINTABLE.fullmatch(value):
            raise RequestRefused(f"header {_quoted(name)} is not printable ASCII", status=400)
        if len(value) > MAX_HEADER_VALUE_BYTES:
            raise RequestRefused(f"header {_quoted(name)} is {len(value)} bytes; expected at "
                                 f"most {MAX_HEADER_VALUE_BYTES}", status=400)


def media_type(headers: Mapping[str, str]) -> tuple[str, str | None]:
    """The Content-Type's media type, lowercase, and its charset if it names one."""
    media, *parameters = headers.get("content-type", "").split(";")
    charset = None
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return media.strip().lower(), charset


def require_media_type(headers: Mapping[str, str], accepted: Collection[str], *,
                       hints: Mapping[str, str] | None = None) -> str:
    """The media type when it is one of `accepted` (with no charset or UTF-8's), else
    RequestRefused 415; `hints` maps a media type to the reason to give instead."""
    media, charset = media_type(headers)
    expected = " or ".join(sorted(accepted))
    if media not in accepted:
        reason = (hints or {}).get(media) or (f"content type {_quoted(media or 'missing')}; "
                                              f"expected {expected}")
        raise RequestRefused(reason, status=415)
    if charset not in (None, "utf-8", "utf8"):
        raise RequestRefused(f"charset {_quoted(charset)}; expected {expected} in UTF-8",
                             status=415)
    return media


async def read_limited_body(request: Request, limit: int) -> bytes:
    """The body, read as it arrives: 413 as soon as it passes `limit` (or declares it will),
    400 for a Content-Length that is not a number or a client that goes away mid-body."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not _DIGITS.fullmatch(declared.strip()):
            raise RequestRefused("Content-Length is not a number", status=400)
        if int(declared) > limit:
            raise RequestRefused(f"body is {int(declared)} bytes; expected at most {limit} "
                                 f"({_size(limit)})", status=413)
    received = bytearray()
    try:
        async for chunk in request.stream():
            received += chunk
            if len(received) > limit:
                raise RequestRefused(f"body is over {limit} bytes; expected at most {limit} "
                                     f"({_size(limit)})", status=413)
    except ClientDisconnect:
        raise RequestRefused("the client went away mid-body", status=400) from None
    return bytes(received)


def _size(limit: int) -> str:
    for unit, scale in (("MiB", 1024 * 1024), ("KiB", 1024)):
        if limit >= scale and limit % scale == 0:
            return f"{limit // scale} {unit}"
    return f"{limit} bytes"


@dataclass
class _Window:
    start: float
    logged: int = 0
    unlogged: int = 0


@dataclass
class RefusalLog:
    """Logs refusals as one short line each, up to `burst` a minute per route, then only
    counts them; the count of the unlogged ones is logged with the route's next line after its
    minute is over. `counts` is the counter metric: refusals by route and status."""

    burst: int = 20
    clock: Callable[[], float] = time.monotonic
    counts: Counter[tuple[str, int]] = field(default_factory=Counter)
    _windows: dict[str, _Window] = field(default_factory=dict)

    @property
    def refused_total(self) -> int:
        return sum(self.counts.values())

    def refused(self, request: Request, exc: RequestRefused, size: int | None) -> None:
        # The route is the method and a path our router matched, so the keys stay few.
        route = f"{request.method} {request.url.path}"
        self.counts[route, exc.status] += 1
        now = self.clock()
        window = self._windows.get(route)
        if window is None or now - window.start >= 60:
            if window is not None and window.unlogged:
                log.warning("refused %d more requests to %s in the last minute (not logged)",
                            window.unlogged, route)
            window = self._windows[route] = _Window(start=now)
        if window.logged >= self.burst:
            window.unlogged += 1
            return
        window.logged += 1
        # The address may come from X-Forwarded-For (uvicorn trusts a proxy on loopback).
        client = _loggable(request.client.host, 64) if request.client else "?"
        log.warning("refused %s from %s (%s bytes): %d %s", route, client,
                    size if size is not None else "?", exc.status,
                    _loggable(exc.reason, _MAX_LOGGED_REASON))


def _loggable(text: str, limit: int) -> str:
    # One short line whatever a reason quotes: printable ASCII, no newlines.
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


def _quoted(value: str) -> str:
    # A header's name or value in a reason: the sender's text, so printable and short.
    return repr(_loggable(value, 60))
