"""The web process: the Slack app, the deploy webhooks, the run pages and /metrics, on one
server."""

from __future__ import annotations

from uuid import UUID

from starlette.applications import Starlette

from bot.metrics import metrics_routes
from bot.pages import page_routes
from bot.services import Services
from bot.settings import Settings
from bot.slack.app import create_asgi_app
from bot.webhooks.routes import webhook_routes

__all__ = ["create_web_app"]


def create_web_app(settings: Settings, *, services: Services | None = None) -> Starlette:
    state: dict[str, Starlette] = {}

    async def on_superseded(run_id: UUID) -> None:
        from bot.slack.announce import announce_ended
        await announce_ended(state["app"].state.smokebot["services"], run_id,
                             deliver_now=False)

    app = create_asgi_app(settings, services=services,
                          extra_routes=[*webhook_routes(on_superseded=on_superseded),
                                        *page_routes(), *metrics_routes()])
    state["app"] = app
    return app
