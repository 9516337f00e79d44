"""The synthetic Stripe events `stripe.webhook_delivery` sends, and how Stripe signs them.

An event is what a webhook carries (`id`, `object: event`, `api_version`, `created`, `type`,
`livemode: false`, `pending_webhooks`, `request`, `data.object`, and for `*.updated` events
`data.previous_attributes`). `data.object` is a subscription for `customer.subscription.*`, an
invoice for `invoice.*`, a customer for `customer.*`, and for any other type the fields every
Stripe object has. Every object is about the run: ids `sub_smokebot_<run>`,
`in_smokebot_<run>_<n>`, customer `cus_smokebot_<run>` (or one the suite names), and
`metadata.smokebot_run: <run>`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

__all__ = ["DEFAULT_API_VERSION", "DEFAULT_EVENTS", "build_event", "event_id",
           "signature_header"]

DEFAULT_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                  "customer.subscription.deleted", "invoice.payment_succeeded",
                  "invoice.payment_failed")
DEFAULT_API_VERSION = "2024-06-20"  # the objects below have this version's shape
_DAY = 86_400


def event_id(run_id: str, n: int | str) -> str:
    """`evt_smokebot_<run>_<n>`: what a later check of the run looks the event up by."""
    return f"evt_smokebot_{run_id}_{n}"


def signature_header(payload: bytes, secret: str, timestamp: int) -> str:
    """Stripe's `Stripe-Signature` value: `t=<timestamp>,v1=<hex HMAC-SHA256 of "t.body">`."""
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class _Subject:
    """Who the synthetic objects are about; every id carries the run."""

    run_id: str
    customer: str

    @property
    def metadata(self) -> dict[str, str]:
        return {"smokebot_run": self.run_id}

    @property
    def subscription(self) -> str:
        return f"sub_smokebot_{self.run_id}"


def _price(created: int) -> dict[str, Any]:
    return {"id": "price_smokebot", "object": "price", "active": True, "currency": "usd",
            "unit_amount": 1000, "type": "recurring", "product": "prod_smokebot",
            "recurring": {"interval": "month", "interval_count": 1}, "livemode": False,
            "created": created, "metadata": {}}


def _subscription(action: str, subject: _Subject, created: int) -> dict[str, Any]:
    status = {"deleted": "canceled", "trial_will_end": "trialing"}.get(action, "active")
    ended = created if action == "deleted" else None
    return {
        "id": subject.subscription, "object": "subscription", "customer": subject.customer,
        "status": status, "livemode": False, "created": created, "currency": "usd",
        "current_period_start": created, "current_period_end": created + 30 * _DAY,
        "cancel_at_period_end": False, "canceled_at": ended, "ended_at": ended,
        "collection_method": "charge_automatically", "latest_invoice": None,
        "items": {"object": "list", "has_more": False, "total_count": 1,
                  "url": f"/v1/subscription_items?subscription={subject.subscription}",
                  "data": [{"id": f"si_smokebot_{subject.run_id}", "object": "subscription_item",
                            "price": _price(created), "quantity": 1, "created": created,
                            "subscription": subject.subscription, "metadata": {}}]},
        "metadata": subject.metadata,
    }


def _invoice(action: str, subject: _Subject, created: int, n: int | str) -> dict[str, Any]:
    paid = action in ("payment_succeeded", "paid")
    failed = action == "payment_failed"
    invoice_id = f"in_smokebot_{subject.run_id}_{n}"
    return {
        "id": invoice_id, "object": "invoice", "customer": subject.customer,
        "subscription": subject.subscription, "livemode": False, "created": created,
        "status": "paid" if paid else "open", "paid": paid, "attempted": paid or failed,
        "attempt_count": 1 if paid or failed else 0, "currency": "usd",
        "amount_due": 1000, "amount_paid": 1000 if paid else 0,
        "amount_remaining": 0 if paid else 1000, "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "next_payment_attempt": created + 3 * _DAY if failed else None,
        "period_start": created, "period_end": created + 30 * _DAY,
        "lines": {"object": "list", "has_more": False, "total_count": 1,
                  "url": f"/v1/invoices/{invoice_id}/lines",
                  "data": [{"id": f"il_smokebot_{subject.run_id}_{n}", "object": "line_item",
                            "amount": 1000, "currency": "usd", "quantity": 1,
                            "price": _price(created), "subscription": subject.subscription,
                            "period": {"start": created, "end": created + 30 * _DAY},
                            "metadata": {}}]},
        "subscription_details": {"metadata": subject.metadata},
        "metadata": subject.metadata,
    }


def _data_object(event_type: str, subject: _Subject, created: int,
                 n: int | str) -> dict[str, Any]:
    resource, _, action = event_type.rpartition(".")
    if resource == "customer.subscription":
        return _subscription(action, subject, created)
    if resource == "invoice":
        return _invoice(action, subject, created, n)
    if resource == "customer":
        return {"id": subject.customer, "object": "customer", "livemode": False,
                "created": created, "email": f"smokebot+{subject.run_id}@example.com",
                "metadata": subject.metadata}
    # Types without a shape of their own here: the fields every Stripe object has.
    return {"id": f"{resource.replace('.', '_')}_smokebot_{subject.run_id}_{n}",
            "object": resource, "livemode": False, "created": created,
            "metadata": subject.metadata}


def build_event(event_type: str, *, run_id: str, n: int | str, created: int,
                api_version: str = DEFAULT_API_VERSION,
                customer: str | None = None) -> dict[str, Any]:
    """A Stripe event as a webhook carries it, about objects that name the run."""
    subject = _Subject(run_id, customer or f"cus_smokebot_{run_id}")
    data: dict[str, Any] = {"object": _data_object(event_type, subject, created, n)}
    if event_type.endswith(".updated"):
        data["previous_attributes"] = {"metadata": {}}
    return {"id": event_id(run_id, n), "object": "event", "api_version": api_version,
            "created": created, "type": event_type, "livemode": False,
            "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None},
            "data": data}
