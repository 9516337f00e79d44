"""The demo target's Stripe webhook endpoint over real HTTP, recording into a database of the
test's own with demo/schema.sql loaded: verified with the SDK, the first copy of an event kept,
forged deliveries refused, and the one handler `--degrade stripe-webhooks` breaks."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import psycopg
import pytest

from checks.kinds.stripe._synthetic_events import signature_header
from checks.secrets import Secret
from demo.target import create_app
from demo.webhooks import PATH, StripeWebhooks
from tests.support.asgi import free_port, serve_asgi

# A canary: split, so that it is no secret to a scanner.
SECRET = "whsec_" + "CANARYdemoWebhook0123456789abcdef"


def event(event_id: str, event_type: str = "invoice.payment_succeeded") -> dict[str, Any]:
    return {"id": event_id, "object": "event", "type": event_type, "livemode": False,
            "created": int(time.time()), "api_version": "2024-06-20", "pending_webhooks": 1,
            "data": {"object": {"id": "in_1", "object": "invoice",
                                "metadata": {"smokebot_run": "run1"}}}}


def signed(body: dict[str, Any], secret: str = SECRET,
           timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    """The payload and headers of a delivery, signed as Stripe signs one."""
    payload = json.dumps(body).encode()
    timestamp = int(time.time()) if timestamp is None else timestamp
    return payload, {"Content-Type": "application/json",
                     "Stripe-Signature": signature_header(payload, secret, timestamp)}


def recorded(dsn: str) -> list[tuple[str, str, str | None, str | None, bool]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT id, type, object_id, smokebot_run, livemode "
                            "FROM demo_billing.stripe_events ORDER BY id").fetchall()


def serving(dsn: str, degraded: frozenset[str] = frozenset()) -> AbstractContextManager[str]:
    app = create_app(degraded, stripe_webhooks=StripeWebhooks(Secret(SECRET), dsn))
    return serve_asgi(app)


@pytest.fixture
def endpoint(billing_dsn: str) -> Iterator[str]:
    with serving(billing_dsn) as base_url:
        yield f"{base_url}{PATH}"


def test_a_signed_event_is_recorded_once_and_a_redelivery_acknowledged(
        endpoint: str, billing_dsn: str) -> None:
    payload, headers = signed(event("evt_1"))

    first = httpx.post(endpoint, content=payload, headers=headers)
    again = httpx.post(endpoint, content=payload, headers=headers)

    assert (first.status_code, first.json()) == (200, {"received": True, "duplicate": False})
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    assert recorded(billing_dsn) == [("evt_1", "invoice.payment_succeeded", "in_1", "run1",
                                      False)]


@pytest.mark.parametrize(("secret", "age_s", "message"), [
    ("whsec_" + "another0123456789", 0, "No signatures found matching the expected signature"),
    (SECRET, 600, "Timestamp outside the tolerance zone"),
])
def test_a_forged_delivery_is_refused_with_400_and_not_recorded(
        endpoint: str, billing_dsn: str, secret: str, age_s: int, message: str) -> None:
    payload, headers = signed(event("evt_forged"), secret, int(time.time()) - age_s)

    response = httpx.post(endpoint, content=payload, headers=headers)

    assert response.status_code == 400
    assert response.json()["error"] == "invalid_webhook"
    assert response.json()["message"].startswith(message)
    assert recorded(billing_dsn) == []


def test_an_unsigned_delivery_is_refused(endpoint: str, billing_dsn: str) -> None:
    response = httpx.post(endpoint, json=event("evt_unsigned"))

    assert response.status_code == 400
    assert recorded(billing_dsn) == []


def test_degraded_stripe_webhooks_crash_the_payment_failed_handler_only(
        billing_dsn: str) -> None:
    with serving(billing_dsn, frozenset({"stripe-webhooks"})) as base_url:
        def deliver(body: dict[str, Any]) -> httpx.Response:
            payload, headers = signed(body)
            return httpx.post(f"{base_url}{PATH}", content=payload, headers=headers)

        failed = deliver(event("evt_f", "invoice.payment_failed"))
        paid = deliver(event("evt_p"))
        health = httpx.get(f"{base_url}/api/health").json()

    assert (failed.status_code, failed.text) == (500, "handler for invoice.payment_failed crashed")
    assert paid.status_code == 200
    assert [row[0] for row in recorded(billing_dsn)] == ["evt_p"]
    assert health["status"] == "healthy"  # a webhook handler is not a health component


def test_an_unreachable_database_is_a_503_that_names_no_address() -> None:
    port = free_port()  # nothing listens there
    with serving(f"postgresql://postgres@127.0.0.1:{port}/none") as base_url:
        payload, headers = signed(event("evt_1"))
        response = httpx.post(f"{base_url}{PATH}", content=payload, headers=headers)

    assert response.status_code == 503
    assert response.json() == {"error": "unavailable", "message": "could not record the event: "
                               "the database is unavailable; retry later"}
    assert str(port) not in response.text


def test_the_endpoint_exists_only_with_a_webhook_configuration() -> None:
    with serve_asgi(create_app()) as base_url:
        response = httpx.post(f"{base_url}{PATH}", content=b"{}")

    assert response.status_code == 404


def test_degrading_stripe_webhooks_needs_the_endpoint() -> None:
    with pytest.raises(ValueError) as raised:
        create_app(frozenset({"stripe-webhooks"}))

    assert str(raised.value) == ("cannot degrade stripe-webhooks: the app has no Stripe "
                                 "webhook endpoint; pass stripe_webhooks")


def test_the_configuration_never_shows_the_secret(billing_dsn: str) -> None:
    config = StripeWebhooks(Secret(SECRET), billing_dsn)

    assert SECRET not in repr(config)
    assert SECRET.removeprefix("whsec_") not in f"{config}"
