"""The web process: the Slack app plus the deploy webhooks, on one server."""

from __future__ import annotations

from starlette.applications import Starlette

from bot.services import Services
from bot.settings import Settings
from bot.slack.app import create_asgi_app
from bot.webhooks import webhook_routes

__all__ = ["create_web_app"]


def create_web_app(settings: Settings, *, services: Services | None = None) -> Starlette:
    return create_asgi_app(settings, services=services, extra_routes=webhook_routes())
