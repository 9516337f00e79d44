"""The Bolt app and the ASGI application that serves it: `/slack/events` for commands,
interactivity and events, plus `/healthz` and `/readyz`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from slack_bolt.adapter.starlette.async_handler import (
    to_async_bolt_request,
    to_starlette_response,
)
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from bot import deadline
from bot.errors import QueueUnavailable, RequestRefused, StoreUnavailable
from bot.guard import RefusalLog, declared_size
from bot.metrics import query_gauges_refreshed
from bot.services import Services
from bot.settings import Settings
from bot.slack.guard import read_slack_request
from bot.slack.listeners import register_all
from bot.suites import SuiteSource
from checks.errors import ConfigError, UsageError
from checks.secrets import Secret

__all__ = ["create_asgi_app", "create_bolt_app", "signing_secret"]

log = logging.getLogger("smokebot.slack")


class _OmitTokenNotices(logging.Filter):
    """Bolt warns that its token "will be unused" beside `client`, and "will be ignored" beside
    `authorize`, whenever a token is set: it reads SLACK_BOT_TOKEN from the environment itself,
    whatever it is given. Both are what we ask for (one client; a token without auth.test)."""

    NOTICES = frozenset({warning_client_prioritized_and_token_skipped(), warning_token_skipped()})

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self.NOTICES


_OMIT_TOKEN_NOTICES = _OmitTokenNotices()  # one instance: adding it again is a no-op


def signing_secret(settings: Settings) -> Secret:
    """SLACK_SIGNING_SECRET, without which no Slack request can be verified."""
    if settings.slack_signing_secret is None:
        raise UsageError("SLACK_SIGNING_SECRET is not set: Slack requests cannot be verified")
    return settings.slack_signing_secret


def create_bolt_app(services: Services) -> AsyncApp:
    settings = services.settings
    bolt_log = logging.getLogger("slack_bolt.AsyncApp")  # the one Bolt would pick by itself
    bolt_log.addFilter(_OMIT_TOKEN_NOTICES)
    app = AsyncApp(
        client=services.slack,
        logger=bolt_log,
        signing_secret=signing_secret(settings).reveal(),
        # Respond when the listener returns instead of polling for ack() every 10 ms; our
        # listeners only parse, enqueue and ack, so they return well within Slack's 3 s.
        process_before_response=True,
        # A single-workspace bot token, authorized without auth.test: no Slack call at start
        # or in the first request's ack path.
        authorize=_authorize_with(settings),
        url_verification_enabled=True,
        ssl_check_enabled=True,
    )
    register_all(app, services)
    return app


def _authorize_with(settings: Settings) -> Any:
    token = settings.slack_bot_token.reveal() if settings.slack_bot_token else None

    async def authorize(enterprise_id: str | None, team_id: str | None,
                        user_id: str | None) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token,
                               user_id=user_id)
    return authorize


READY_TIMEOUT_S = 0.8  # /readyz answers within a second whatever a dependency does


async def _probe(name: str, ping: Callable[[], Awaitable[None]]) -> tuple[str, str | None]:
    try:
        # The store and the queue give up by themselves at the deadline, without waiting
        # for a hung server to acknowledge the cancellation (bot/store/_base.py).
        with deadline.answer_by(READY_TIMEOUT_S):
            await ping()
    except (StoreUnavailable, QueueUnavailable) as exc:
        return name, exc.render()
    return name, None


async def _probe_suite(suites: SuiteSource) -> tuple[str, str | None]:
    """Not ready only while no good suite was ever loaded: a refused edit keeps the last good
    version, with which every command still works."""
    try:
        # The load goes on in its thread if this gives up on it (`refresh` shields it).
        await asyncio.wait_for(suites.refresh(wait=0), READY_TIMEOUT_S)
    except ConfigError as exc:
        return "suite", exc.render()
    except TimeoutError:
        return "suite", f"{suites.path}: still loading the suite file"
    return "suite", None


def create_asgi_app(settings: Settings, *, services: Services | None = None,
                    extra_routes: list[Route] | None = None) -> Starlette:
    """The web process. Services open in the lifespan unless given (tests share theirs)."""
    state: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        own = services is None
        state["services"] = svc = services or await Services.start(settings)
        state["bolt"] = create_bolt_app(svc)
        try:
            # What /metrics shows of the queue and the outbox, read in the background.
            async with query_gauges_refreshed(svc.metrics.query_gauges, svc.queue, svc.store,
                                              interval_s=svc.settings.metrics_refresh_s):
                yield
        finally:
            if own:
                await state["services"].close()

    # One log for every guarded route (the webhooks find it here), rate-limited per route.
    refusals = RefusalLog()
    state["refusals"] = refusals

    async def slack_events(request: Request) -> Any:
        # Verified and checked before Bolt parses anything (bot/slack/guard.py).
        svc: Services = state["services"]
        assert svc.settings.slack_signing_secret is not None  # create_bolt_app checked it
        try:
            body = await read_slack_request(request, svc.settings.slack_signing_secret)
        except RequestRefused as exc:
            refusals.refused(request, exc, declared_size(request))
            return PlainTextResponse(exc.reason, status_code=exc.status)
        with deadline.answer_by(deadline.REQUEST_BUDGET_S):
            bolt_response = await state["bolt"].async_dispatch(
                to_async_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def readyz(_: Request) -> JSONResponse:
        # All asked at once, each given READY_TIMEOUT_S: a hung dependency (a stopped Redis,
        # a PostgreSQL that accepts and never answers) is named, not waited for.
        svc: Services = state["services"]
        answers = await asyncio.gather(_probe("postgres", svc.store.ping),
                                       _probe("redis", svc.queue.ping), _probe_suite(svc.suites))
        problems = {name: problem for name, problem in answers if problem}
        if problems:
            return JSONResponse({"ready": False, "problems": problems}, status_code=503)
        return JSONResponse({"ready": True})

    routes = [Route("/slack/events", slack_events, methods=["POST"]),
              Route("/healthz", healthz), Route("/readyz", readyz), *(extra_routes or [])]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.smokebot = state
    return app
