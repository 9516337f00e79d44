"""A stand-in for the rsolv API that the reference staging report checked by hand.

    GET    /api/health                  health document (see `health_document`)
    GET    /api/version                 {"version": "0.1.0", "commit": "26603507"}
    POST   /api/v1/customers/onboard    {name, email} -> 201 customer with its API key;
                                        422 on a bad body, 409 on an email already taken
    GET    /api/v1/account              Bearer API key -> 200 the customer; 401 otherwise
    DELETE /api/v1/customers/{id}       Bearer API key of that customer -> 204
    POST   /webhooks/stripe             a Stripe-signed event, recorded in PostgreSQL (see
                                        demo/webhooks.py); only with `stripe_webhooks`
    GET    /api/v1/ping                 X-Api-Key: the test key -> 200, rate-limited to 20
                                        requests per 2 s (see demo/rate_limit.py); only with
                                        `ping_key_hash`

Customers live in memory, one store per app (`app.state.customers`). Like the real
platform, the store keeps only the SHA-256 hash of each API key, never the key itself.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from demo.rate_limit import RATE_LIMIT, FixedWindow, key_hash, ping_route
from demo.webhooks import FAILING_EVENT, StripeWebhooks, webhook_route

__all__ = ["AI_PROVIDERS", "COMMIT", "DEGRADABLE", "HEALTH_COMPONENTS", "VERSION",
           "CustomerStore", "create_app", "health_document"]

VERSION = "0.1.0"
COMMIT = "26603507"
AI_PROVIDERS = ("anthropic", "openai", "openrouter")
HEALTH_COMPONENTS = (*AI_PROVIDERS, "database")  # what GET /api/health reports on
STRIPE_WEBHOOKS = "stripe-webhooks"  # degraded: the handler of FAILING_EVENT crashes (500)
DEGRADABLE = (*HEALTH_COMPONENTS, STRIPE_WEBHOOKS, RATE_LIMIT)
NODE = "rsolv@10.42.5.243"
PEER_NODE = "rsolv@10.42.8.103"
API_KEY_PREFIX = "rsk_test_"
TRIAL_FIXES_LIMIT = 5

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class Customer:
    customer_id: int
    name: str
    email: str
    key_hash: str
    subscription_type: str = "trial"
    credit_balance: int = 0
    trial_fixes_limit: int = TRIAL_FIXES_LIMIT


class CustomerStore:
    """The customers of one app instance, found by id or by API key hash."""

    def __init__(self) -> None:
        self._by_id: dict[int, Customer] = {}
        self._next_id = 1

    def __len__(self) -> int:
        return len(self._by_id)

    def email_taken(self, email: str) -> bool:
        return any(c.email.lower() == email.lower() for c in self._by_id.values())

    def add(self, name: str, email: str) -> tuple[Customer, str]:
        """The new customer and its API key; the key is returned once and never stored."""
        api_key = API_KEY_PREFIX + secrets.token_hex(16)
        customer = Customer(self._next_id, name, email, key_hash(api_key))
        self._by_id[customer.customer_id] = customer
        self._next_id += 1
        return customer, api_key

    def by_key(self, api_key: str) -> Customer | None:
        wanted = key_hash(api_key)
        return next((c for c in self._by_id.values()
                     if secrets.compare_digest(c.key_hash, wanted)), None)

    def get(self, customer_id: int) -> Customer | None:
        return self._by_id.get(customer_id)

    def remove(self, customer_id: int) -> None:
        self._by_id.pop(customer_id, None)


def health_document(degraded: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The body of GET /api/health, shaped like the one in the reference report; of
    `degraded`, only HEALTH_COMPONENTS show in it."""
    degraded = degraded & frozenset(HEALTH_COMPONENTS)

    def state(component: str) -> str:
        return "degraded" if component in degraded else "healthy"

    return {
        "node": NODE,
        "status": "degraded" if degraded else "healthy",
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "version": VERSION,
        "service": "rsolv-api",
        "services": {
            "database": state("database"),
            "ai_providers": {name: state(name) for name in AI_PROVIDERS},
        },
        "clustering": {
            "enabled": True,
            "node_count": 2,
            "connected_nodes": [PEER_NODE],
            "current_node": NODE,
        },
    }


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **extra}, status_code=status,
                        headers=headers)


def _bearer_key(request: Request) -> str | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return key.strip() or None


async def _onboard_fields(request: Request) -> tuple[str, str] | JSONResponse:
    """(name, email) from the request body, or the 422 response saying what is wrong."""
    try:
        body = await request.json()
    except ValueError:
        return _error(422, "invalid_request", "expected a JSON body {name, email}")
    if not isinstance(body, dict):
        return _error(422, "invalid_request", "expected a JSON object {name, email}")
    problems: dict[str, str] = {}
    name, email = body.get("name"), body.get("email")
    if not isinstance(name, str) or not name.strip():
        problems["name"] = "required: a non-empty string"
    if not isinstance(email, str) or not _EMAIL.match(email):
        problems["email"] = "required: an email address such as someone@example.com"
    unknown = sorted(set(body) - {"name", "email"})
    for field in unknown:
        problems[field] = "unknown field; expected only name and email"
    if problems:
        fields = ", ".join(problems)
        return _error(422, "invalid_request", f"invalid fields: {fields}", fields=problems)
    assert isinstance(name, str) and isinstance(email, str)
    return name.strip(), email


def create_app(degraded: frozenset[str] = frozenset(), *,
               stripe_webhooks: StripeWebhooks | None = None,
               ping_key_hash: str | None = None) -> Starlette:
    """The demo target; components named in `degraded` (AI providers, or "database") report
    "degraded", and then so does the overall status (still with HTTP 200, like the real one).
    With `stripe_webhooks` it has a Stripe webhook endpoint; degrading "stripe-webhooks" makes
    its handler of invoice.payment_failed crash. With `ping_key_hash` (the SHA-256 of the test
    API key) it has the rate-limited ping; degrading "rate-limit" stops the limit refusing."""
    unknown = sorted(set(degraded) - set(DEGRADABLE))
    if unknown:
        raise ValueError(f"cannot degrade {', '.join(unknown)}: expected any of "
                         f"{', '.join(DEGRADABLE)}")
    degraded = frozenset(degraded)
    if STRIPE_WEBHOOKS in degraded and stripe_webhooks is None:
        raise ValueError(f"cannot degrade {STRIPE_WEBHOOKS}: the app has no Stripe webhook "
                         "endpoint; pass stripe_webhooks")
    if RATE_LIMIT in degraded and ping_key_hash is None:
        raise ValueError(f"cannot degrade {RATE_LIMIT}: the app has no rate-limited endpoint; "
                         "pass ping_key_hash")
    store = CustomerStore()

    async def health(request: Request) -> Response:
        return JSONResponse(health_document(degraded))

    async def version(request: Request) -> Response:
        return JSONResponse({"version": VERSION, "commit": COMMIT})

    async def onboard(request: Request) -> Response:
        fields = await _onboard_fields(request)
        if isinstance(fields, JSONResponse):
            return fields
        name, email = fields
        if store.email_taken(email):
            return _error(409, "email_taken", f"a customer with email {email} already exists")
        customer, api_key = store.add(name, email)
        return JSONResponse({
            "customer_id": customer.customer_id,
            "name": customer.name,
            "email": customer.email,
            "api_key": api_key,
            "subscription_type": customer.subscription_type,
            "credit_balance": customer.credit_balance,
            "trial_fixes_limit": customer.trial_fixes_limit,
        }, status_code=201)

    async def account(request: Request) -> Response:
        key = _bearer_key(request)
        customer = store.by_key(key) if key else None
        if customer is None:
            return _error(401, "unauthorized", "missing or invalid API key; send "
                                               "'Authorization: Bearer <api_key>'")
        return JSONResponse({
            "customer_id": customer.customer_id,
            "email": customer.email,
            "subscription_type": customer.subscription_type,
            "credit_balance": customer.credit_balance,
        })

    async def delete_customer(request: Request) -> Response:
        key = _bearer_key(request)
        caller = store.by_key(key) if key else None
        if caller is None:
            return _error(401, "unauthorized", "missing or invalid API key; send "
                                               "'Authorization: Bearer <api_key>'")
        customer_id = request.path_params["customer_id"]
        if store.get(customer_id) is None:
            return _error(404, "not_found", f"no customer {customer_id}")
        if caller.customer_id != customer_id:
            return _error(403, "forbidden", "an API key can only delete its own customer")
        store.remove(customer_id)
        return Response(status_code=204)

    routes = [
        Route("/api/health", health, methods=["GET"]),
        Route("/api/version", version, methods=["GET"]),
        Route("/api/v1/customers/onboard", onboard, methods=["POST"]),
        Route("/api/v1/account", account, methods=["GET"]),
        Route("/api/v1/customers/{customer_id:int}", delete_customer, methods=["DELETE"]),
    ]
    if stripe_webhooks is not None:
        failing = frozenset({FAILING_EVENT}) if STRIPE_WEBHOOKS in degraded else frozenset()
        routes.append(webhook_route(stripe_webhooks, failing))
    if ping_key_hash is not None:
        routes.append(ping_route(ping_key_hash,
                                 FixedWindow(enforce=RATE_LIMIT not in degraded)))
    app = Starlette(routes=routes)
    app.state.customers = store
    return app
