"""The demo target's Stripe webhook endpoint, written the way Stripe's docs teach.

    POST /webhooks/stripe   a Stripe-signed event -> 200 {"received": true, "duplicate": ...}
                            400 when the signature or its timestamp does not verify
                            503 when the event cannot be recorded (Stripe then retries)

Each delivery is verified with the real SDK (`stripe.Webhook.construct_event`, Stripe's 300 s
tolerance) against the endpoint's signing secret, then recorded in `demo_billing.stripe_events`
(demo/schema.sql). The first copy of an event id is kept; a redelivery is acknowledged again
and changes nothing, as Stripe expects of an endpoint. A delivery that does not verify is
refused and not recorded.

With `failing_types` (what `--degrade stripe-webhooks` sets), the handler of those event
types crashes after verifying: the endpoint answers 500 and records nothing, as an app with a
bug in one handler does.
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from checks.secrets import Secret

__all__ = ["FAILING_EVENT", "HANDLED_EVENTS", "PATH", "StripeWebhooks", "webhook_route"]

PATH = "/webhooks/stripe"
# What the app handles, so what its endpoint subscribes to (demo/billing.py registers it).
HANDLED_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                  "customer.subscription.deleted", "invoice.payment_succeeded",
                  "invoice.payment_failed")
FAILING_EVENT = "invoice.payment_failed"  # the handler `--degrade stripe-webhooks` breaks
CONNECT_TIMEOUT_S = 3

_INSERT = """
INSERT INTO demo_billing.stripe_events (id, type, object_id, smokebot_run, livemode)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"""


@dataclass(frozen=True)
class StripeWebhooks:
    """The endpoint's configuration: its signing secret and the database it records into."""

    secret: Secret
    database_url: str


def webhook_route(config: StripeWebhooks, failing_types: frozenset[str] = frozenset()) -> Route:
    """The `POST /webhooks/stripe` route of the demo target; the handlers of `failing_types`
    crash (500)."""

    async def receive(request: Request) -> Response:
        payload = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("stripe-signature", ""), config.secret.reveal())
        except (ValueError, stripe.SignatureVerificationError) as exc:
            return JSONResponse({"error": "invalid_webhook", "message": str(exc)},
                                status_code=400)
        if event.type in failing_types:
            return PlainTextResponse(f"handler for {event.type} crashed", status_code=500)
        try:
            recorded = await _record(config.database_url, event)
        except psycopg.Error:
            # Not the driver's message: it may name the database's address.
            return JSONResponse({"error": "unavailable",
                                 "message": "could not record the event: the database is "
                                            "unavailable; retry later"},
                                status_code=503)
        return JSONResponse({"received": True, "duplicate": not recorded})

    return Route(PATH, receive, methods=["POST"])


async def _record(database_url: str, event: stripe.Event) -> bool:
    """Inserts the event; False when its id was already recorded."""
    obj = event.data.object.to_dict()
    run = (obj.get("metadata") or {}).get("smokebot_run")
    async with await psycopg.AsyncConnection.connect(
            database_url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
        cursor = await conn.execute(_INSERT, (event.id, event.type, obj.get("id"), run,
                                              bool(event.livemode)))
        return cursor.rowcount == 1
