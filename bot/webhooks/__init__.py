"""Deploy webhooks: GitHub deployment statuses, Argo CD notifications and a generic signed
webhook, each verified, parsed into a DeployNotice and mapped to a smokebot environment."""

from __future__ import annotations

from bot.webhooks.notice import (
    DeployNotice,
    MalformedPayload,
    PayloadTooLarge,
    Unauthenticated,
    WebhookRejected,
)
from bot.webhooks.routes import MAX_BODY_BYTES, webhook_routes

__all__ = ["MAX_BODY_BYTES", "DeployNotice", "MalformedPayload", "PayloadTooLarge",
           "Unauthenticated", "WebhookRejected", "webhook_routes"]
