"""One HTTP exchange of a report, with aiohttp's errors translated into ReportFailed at this
edge, and the waits a rate-limited answer asks for.

Redirects are never followed: a report goes where it was addressed, and the token or the
signature with it. Only the first 64 KiB of an answer are read (GitHub's statuses list, an
error's message); nothing of a request (its headers: the token) ever goes into an error.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import aiohttp

from bot.errors import ReportFailed
from checks.release import release

__all__ = ["Answer", "exchange", "header_wait_s", "user_agent"]

MAX_ANSWER_BYTES = 64 * 1024
_LONGEST_WAIT_S = 3600.0  # a Retry-After or reset further away than this is not believed


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (aiohttp's)
    payload: Any  # the body as JSON, or None when it is not JSON


def user_agent() -> str:
    """`smokebot/<version>`: GitHub's API refuses a request without a User-Agent."""
    return f"smokebot/{release()}"


async def exchange(http: aiohttp.ClientSession, method: str, url: str, *,
                   headers: Mapping[str, str], data: bytes | None, timeout_s: float,
                   what: str) -> Answer:
    """One request; raises ReportFailed (not permanent) when no answer came: `maybe_sent`
    False only when the connection was never made. `what` names the other end in errors."""
    try:
        async with http.request(method, url, headers=dict(headers), data=data,
                                allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=timeout_s)) as response:
            raw = bytearray()
            async for chunk in response.content.iter_chunked(8192):
                raw.extend(chunk[:MAX_ANSWER_BYTES - len(raw)])
                if len(raw) >= MAX_ANSWER_BYTES:
                    break
            return Answer(response.status, response.headers, _json(bytes(raw)))
    except aiohttp.ClientConnectorError as exc:
        reason = exc.os_error.strerror if exc.os_error.strerror else type(exc.os_error).__name__
        raise ReportFailed(f"{what}: cannot connect ({reason.lower()})",
                           maybe_sent=False) from None
    except (asyncio.TimeoutError, TimeoutError):
        raise ReportFailed(f"{what}: no answer within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:  # the connection broke: the request may have been taken
        raise ReportFailed(f"{what}: the connection failed ({type(exc).__name__})") from None


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8")) if raw.strip() else None
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def header_wait_s(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """The wait a rate-limited answer asks for: its Retry-After (seconds or an HTTP date),
    else, when none is left, the seconds until `x-ratelimit-reset` (GitHub's primary rate
    limit, in unix seconds); None when it says neither."""
    now = time.time() if now is None else now
    retry_after = (headers.get("retry-after") or "").strip()
    if retry_after:
        if retry_after.isascii() and retry_after.isdigit():
            return min(float(retry_after), _LONGEST_WAIT_S)
        try:
            return min(max(0.0, parsedate_to_datetime(retry_after).timestamp() - now),
                       _LONGEST_WAIT_S)
        except (TypeError, ValueError, IndexError):
            pass
    reset = (headers.get("x-ratelimit-reset") or "").strip()
    if headers.get("x-ratelimit-remaining", "").strip() == "0" and reset.isascii() \
            and reset.isdigit():
        return min(max(0.0, float(reset) - now), _LONGEST_WAIT_S)
    return None
