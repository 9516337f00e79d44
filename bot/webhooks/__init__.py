"""Deploy webhooks: one endpoint per source in the registry (`sources.py`: GitHub deployment
statuses, Argo CD notifications, a generic signed webhook), each delivery verified, parsed into
a DeployNotice and mapped to a smokebot environment.

The routes are imported on first use: the registry is read by modules the routes themselves
import (settings, suites), so importing it must not pull in the web app.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.errors import WebhookRejected
from bot.webhooks.notice import DeployNotice, MalformedPayload, PayloadTooLarge, Unauthenticated
from bot.webhooks.sources import DeploySource, deploy_sources, register_source

if TYPE_CHECKING:
    from bot.webhooks.routes import MAX_BODY_BYTES, webhook_routes

__all__ = ["MAX_BODY_BYTES", "DeployNotice", "DeploySource", "MalformedPayload",
           "PayloadTooLarge", "Unauthenticated", "WebhookRejected", "deploy_sources",
           "register_source", "webhook_routes"]

_FROM_ROUTES = ("MAX_BODY_BYTES", "webhook_routes")


def __getattr__(name: str) -> Any:
    if name in _FROM_ROUTES:
        from bot.webhooks import routes
        return getattr(routes, name)
    raise AttributeError(f"module 'bot.webhooks' has no attribute {name!r}")
