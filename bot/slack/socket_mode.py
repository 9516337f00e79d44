"""Socket Mode: the Bolt app on a websocket that Slack hands out, instead of `/slack/events`.

Slack's SDK opens its first connection in a loop that never ends: a token Slack rejects is
retried every 10 s, each time with a traceback. So the first `apps.connections.open` is ours:
a rejected token stops the process with one line (SettingError, exit 2); an unreachable or
failing Slack is retried with backoff, one short line per try. Once connected, the SDK keeps
the connection and reconnects by itself.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.backoff import Backoff, sleep_unless
from bot.errors import SettingError, SlackRefused, SlackUnavailable
from bot.services import Services
from bot.settings import Settings
from bot.slack.app import create_bolt_app
from bot.slack.client import call_slack
from checks.secrets import Secret

__all__ = ["CONNECT_BACKOFF", "app_token", "open_connection_url", "serve_socket_mode"]

log = logging.getLogger("smokebot.slack")

CONNECT_BACKOFF = Backoff.exponential(first_s=1.0, cap_s=30.0, jitter=0.2)
# ok=false answers that say Slack is in trouble, not that the token is wrong.
_SLACK_TROUBLE = frozenset({"internal_error", "fatal_error", "service_unavailable",
                            "request_timeout", "ratelimited"})
_HINTS = {
    "not_allowed_token_type": "expected an app-level token (xapp-…), not a bot or user token",
    "missing_scope": "the app-level token needs the connections:write scope",
}
_DEFAULT_HINT = "expected a valid app-level token (xapp-…) with the connections:write scope"


def app_token(settings: Settings) -> Secret:
    """SLACK_APP_TOKEN, which Socket Mode connects with."""
    if settings.slack_app_token is None:
        raise SettingError("SLACK_APP_TOKEN is not set: Socket Mode needs an app-level token "
                           "(xapp-…)")
    return settings.slack_app_token


async def serve_socket_mode(services: Services, *, stop: asyncio.Event) -> None:
    """Connects, then serves Slack's requests until `stop` is set. Raises SettingError when
    Slack rejects the app token."""
    token = app_token(services.settings)
    url = await open_connection_url(services.settings, token, stop=stop)
    if url is None:
        return
    # The SDK's own logger, with connection failures told in one line (see _OneLineFailures).
    sdk_log = logging.getLogger("slack_sdk.socket_mode")
    sdk_log.addFilter(_ONE_LINE_FAILURES)
    handler = AsyncSocketModeHandler(create_bolt_app(services), token.reveal(), logger=sdk_log)
    handler.client.wss_uri = url  # the SDK connects there instead of asking again
    # Raced with `stop`: the SDK's connect loop would otherwise outlast a SIGTERM.
    connecting = asyncio.ensure_future(handler.connect_async())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({connecting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if connecting.done():
            connecting.result()
            log.info("connected to Slack over Socket Mode")
            await stopping
    finally:
        for task in (connecting, stopping):
            task.cancel()
        await asyncio.gather(connecting, stopping, return_exceptions=True)
        await handler.close_async()


async def open_connection_url(settings: Settings, token: Secret, *,
                              stop: asyncio.Event | None = None,
                              backoff: Backoff = CONNECT_BACKOFF) -> str | None:
    """A websocket URL from `apps.connections.open`, retried while Slack cannot answer; None
    when `stop` is set first. Raises SettingError when Slack rejects the token."""
    # No retry handlers: the SDK's default one would retry (and log) beside this loop.
    client = AsyncWebClient(token=token.reveal(), base_url=settings.slack_api_url, timeout=10,
                            retry_handlers=[])
    attempt = 0
    while True:
        retry_after: float | None = None
        try:
            answer = await call_slack(client, "apps.connections.open")
            return str(answer["url"])
        except SlackRefused as exc:
            if exc.problem.startswith("HTTP "):  # no Slack answer at all: a wrong address
                raise SettingError(f"SLACK_API_URL={settings.slack_api_url!r} answered "
                                   f"apps.connections.open with {exc.problem}; expected "
                                   f"Slack's Web API (https://slack.com/api/)") from None
            if exc.problem not in _SLACK_TROUBLE:
                hint = _HINTS.get(exc.problem, _DEFAULT_HINT)
                raise SettingError(f"SLACK_APP_TOKEN was rejected by Slack ({exc.problem}): "
                                   f"{hint}") from None
            problem = exc.render()
        except SlackUnavailable as exc:
            problem, retry_after = exc.render(), exc.retry_after_s
        delay = max(backoff.delay(attempt), retry_after or 0.0)
        log.warning("cannot connect to Slack over Socket Mode (%s); retrying in %.1f s",
                    problem, delay)
        if await sleep_unless(stop, delay):
            return None
        attempt += 1


class _OneLineFailures(logging.Filter):
    """The SDK logs a failed (re)connection with its traceback; a network failure needs none."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, (aiohttp.ClientError, OSError, asyncio.TimeoutError)):
            record.exc_info, record.exc_text = None, None
        return True


_ONE_LINE_FAILURES = _OneLineFailures()  # one instance: adding it again is a no-op
