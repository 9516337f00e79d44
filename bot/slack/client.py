"""The Slack Web API client smokebot uses: retries 429 after Retry-After and 5xx with backoff."""

from __future__ import annotations

from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.web.async_client import AsyncWebClient

from bot.settings import Settings

__all__ = ["create_slack_client"]


def create_slack_client(settings: Settings, *, retries: int = 3) -> AsyncWebClient:
    """No call is made here: the app starts without reaching Slack."""
    backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
    token = settings.slack_bot_token.reveal() if settings.slack_bot_token else None
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url,
        timeout=10,
        retry_handlers=[
            AsyncRateLimitErrorRetryHandler(max_retry_count=retries),
            AsyncServerErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
            AsyncConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        ],
    )
