"""A fake of the Stripe API for what localstripe lacks: a Starlette app the real `stripe`
client talks to over HTTP, on Stripe's own paths, with Stripe's object and error shapes.

    fake = StripeFake()
    fake.add_key(TEST_KEY)                                   # a secret key, test mode
    fake.add_key(RESTRICTED_KEY, permissions={"rak_balance_read"})
    fake.add_product("prod_pro", name="Pro")
    fake.add_price("price_pro_monthly", product="prod_pro", unit_amount=2900,
                   interval="month", lookup_key="pro_monthly", metadata={"credits": "60"})
    with fake.serve() as api_base:                            # http://127.0.0.1:PORT
        stripe.StripeClient(TEST_KEY, base_addresses={"api": api_base})...

What it answers (GET unless said):

- `/v1/balance` (with `livemode` by the key's mode), `/v1/account`
- `/v1/prices/{id}` (a legacy plan id too, as Stripe retrieves plans as prices), `/v1/prices`
  (`lookup_keys[]`, `active`, `product`, `currency`, `type`, `limit`, `starting_after`),
  `expand[]` of `product` / `data.product`; `/v1/plans/{id}` and `/v1/plans` (recurring
  prices in the legacy plan shape)
- `/v1/products/{id}`
- `/v1/webhook_endpoints` (list, POST create: the only answer that carries `secret`),
  `/v1/webhook_endpoints/{id}` (retrieve, POST update: `disabled`, `enabled_events[]`, `url`)

Parameters are read in Stripe's bracket notation from the query string or a form body
(`lookup_keys[]=a`, `lookup_keys[0]=a`, `metadata[credits]=60`). Keys come from
`Authorization: Bearer` or basic auth, as Stripe takes them. Test and live data are apart,
as on Stripe: a key sees only objects of its own mode. Errors are Stripe's JSON
(`{"error": {"type", "message", "code", "param", "doc_url"}}`) with its status codes and
messages: 401 for a missing, unknown or publishable key (the message quotes the key masked,
as Stripe does), 403 for a restricted key without the endpoint's permission (Stripe's
"does not have the required permissions ... Having the 'rak_...' permission would allow this
request to continue."), 404 `resource_missing` ("No such price: 'x'"), 400
`parameter_missing` / `parameter_invalid_integer`, 404 for an unknown URL.

Restricted-key permission names: balance `rak_balance_read`, prices and plans
`rak_plan_read` (the dashboard's Prices row keeps the API's original name), products
`rak_product_read`, webhook endpoints `rak_webhook_read` / `rak_webhook_write`; `/v1/account`
`rak_account_read` is this fake's guess. A `..._write` permission implies its `..._read`.

Faults, for retry and timeout tests: `fail_next(n, status=500)` answers the next n requests
with Stripe's `api_error` JSON (or, with `html=True`, a load balancer's HTML page);
`delay_s` holds every answer that long. Every request is recorded in `requests` (method,
path, parameters, status), never its key.
"""

from __future__ import annotations

import asyncio
import base64
import fnmatch
import itertools
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from tests.support.asgi import serve_asgi

__all__ = ["ACCOUNT_ID", "KeyGrant", "RecordedRequest", "StripeFake", "parse_brackets"]

ACCOUNT_ID = "acct_1SmokeFake0000AB"
API_VERSION = "2025-09-30.clover"  # answered when a request pins none
_KEY = re.compile(r"^(sk|rk|pk)_(test|live)_[A-Za-z0-9]+$")
_SEGMENT = re.compile(r"\[([^\[\]]*)\]")


class _StripeError(Exception):
    """An answer in Stripe's error shape; raised anywhere in a handler."""

    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = (
            status, message, type_, code, param)

    def response(self, request_id: str) -> JSONResponse:
        error: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.code is not None:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param is not None:
            error["param"] = self.param
        if self.type == "invalid_request_error" and self.status != 401:
            error["request_log_url"] = (f"https://dashboard.stripe.com/test/logs/{request_id}"
                                        f"?t={int(time.time())}")
        return JSONResponse({"error": error}, status_code=self.status,
                            headers={"Request-Id": request_id})


@dataclass(frozen=True)
class KeyGrant:
    livemode: bool
    kind: str  # sk, rk, pk
    permissions: frozenset[str] | None = None  # None: everything (a secret key)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: dict[str, Any]
    status: int


@dataclass
class _Fault:
    remaining: int
    status: int
    html: bool


def parse_brackets(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding: `a[b]=1` -> {"a": {"b": "1"}}, `a[]=x&a[]=y` and `a[0]=x` ->
    lists."""
    root: dict[str, Any] = {}
    for name, value in pairs:
        head = name.split("[", 1)[0]
        segments = [head, *_SEGMENT.findall(name[len(head):])]
        node = root
        for index, segment in enumerate(segments):
            last = index == len(segments) - 1
            if segment == "":  # `a[]`: the next free index
                segment = str(len(node))
            if last:
                node[segment] = value
            else:
                node = node.setdefault(segment, {})
                if not isinstance(node, dict):
                    raise _StripeError(400, f"Invalid value for {name}.", param=head,
                                       code="parameter_invalid_string")
    return _listify(root)


def _listify(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _listify(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _masked(key: str) -> str:
    """How Stripe quotes a key in a 401: its prefix, asterisks, its last four characters."""
    prefix = key[:8] if _KEY.match(key) else ""
    return prefix + "*" * max(len(key) - len(prefix) - 4, 0) + key[-4:]


def _masked_restricted(key: str) -> str:
    """How Stripe quotes a restricted key in a 403: its prefix, asterisks, its last six."""
    return key[:8] + "*" * max(len(key) - 14, 0) + key[-6:]


class StripeFake:
    """The fake's state; test code changes it between calls (under `lock`, via the methods)."""

    def __init__(self, *, account_id: str = ACCOUNT_ID, account_name: str = "Rsolv",
                 country: str = "US", default_currency: str = "usd") -> None:
        self.lock = threading.Lock()
        self._account_args = (account_id, account_name, country, default_currency)
        self._generation = 0
        self.reset()

    def reset(self) -> None:
        """Back to a fresh fake (no keys, objects, faults or recorded requests), so one
        server can serve a module's tests; an answer still held by `delay_s` from before is
        not recorded."""
        account_id, account_name, country, default_currency = self._account_args
        with self.lock:
            self._generation += 1
            self.account: dict[str, Any] = {
                "id": account_id, "object": "account",
                "business_profile": {"mcc": "5734", "name": account_name,
                                     "support_email": "support@rsolv.dev",
                                     "url": "https://rsolv.dev"},
                "business_type": "company",
                "capabilities": {"card_payments": "active", "transfers": "active"},
                "charges_enabled": True, "country": country, "created": 1_690_000_000,
                "default_currency": default_currency, "details_submitted": True,
                "email": "billing@rsolv.dev", "metadata": {}, "payouts_enabled": True,
                "settings": {"dashboard": {"display_name": account_name,
                                           "timezone": "Etc/UTC"}},
                "type": "standard",
            }
            self.balance: dict[str, Any] = {
                "available": [{"amount": 0, "currency": default_currency,
                               "source_types": {"card": 0}}],
                "pending": [{"amount": 0, "currency": default_currency,
                             "source_types": {"card": 0}}]}
            self.keys: dict[str, KeyGrant] = {}
            self.products: dict[str, dict[str, Any]] = {}
            self.prices: dict[str, dict[str, Any]] = {}
            self.webhook_endpoints: dict[str, dict[str, Any]] = {}
            self.requests: list[RecordedRequest] = []
            self.delay_s = 0.0
            self._faults: list[_Fault] = []
            self._created = itertools.count(1_700_000_000)

    # ---------------------------------------------------------------- arranging

    def add_key(self, key: str, *, permissions: set[str] | None = None,
                livemode: bool | None = None) -> str:
        """A key the fake accepts, its mode from its prefix. `permissions` (restricted keys
        only) are what it may do, e.g. {"rak_balance_read", "rak_webhook_read"}. `livemode`
        overrides the prefix: an emulator that answers in the other mode."""
        match = _KEY.match(key)
        if match is None:
            raise ValueError("expected a key shaped like sk_test_..., rk_live_..., pk_test_...")
        kind = match.group(1)
        if permissions is not None and kind != "rk":
            raise ValueError("only restricted (rk_) keys have permissions")
        live = match.group(2) == "live" if livemode is None else livemode
        grant = KeyGrant(livemode=live, kind=kind,
                         permissions=frozenset(permissions or ()) if kind == "rk" else None)
        with self.lock:
            self.keys[key] = grant
        return key

    def add_product(self, id: str, *, name: str = "Product", active: bool = True,
                    livemode: bool = False, metadata: dict[str, str] | None = None
                    ) -> dict[str, Any]:
        created = next(self._created)
        product = {
            "id": id, "object": "product", "active": active, "created": created,
            "default_price": None, "description": None, "images": [], "livemode": livemode,
            "marketing_features": [], "metadata": dict(metadata or {}), "name": name,
            "package_dimensions": None, "shippable": None, "statement_descriptor": None,
            "tax_code": None, "type": "service", "unit_label": None, "updated": created,
            "url": None,
        }
        with self.lock:
            self.products[id] = product
        return product

    def add_price(self, id: str, *, product: str, unit_amount: int | None,
                  currency: str = "usd", interval: str | None = "month",
                  interval_count: int = 1, active: bool = True, lookup_key: str | None = None,
                  nickname: str | None = None, metadata: dict[str, str] | None = None,
                  livemode: bool = False) -> dict[str, Any]:
        """A price; `interval=None` makes it one-time. An id not starting with `price_` is
        what a legacy plan's custom id looks like, and retrieves the same way."""
        recurring = None if interval is None else {
            "aggregate_usage": None, "interval": interval, "interval_count": interval_count,
            "meter": None, "trial_period_days": None, "usage_type": "licensed"}
        price = {
            "id": id, "object": "price", "active": active, "billing_scheme": "per_unit",
            "created": next(self._created), "currency": currency, "custom_unit_amount": None,
            "livemode": livemode, "lookup_key": lookup_key, "metadata": dict(metadata or {}),
            "nickname": nickname, "product": product, "recurring": recurring,
            "tax_behavior": "unspecified", "tiers_mode": None, "transform_quantity": None,
            "type": "one_time" if interval is None else "recurring",
            "unit_amount": unit_amount,
            "unit_amount_decimal": None if unit_amount is None else str(unit_amount),
        }
        with self.lock:
            self.prices[id] = price
        return price

    def add_webhook_endpoint(self, url: str, *, enabled_events: list[str],
                             status: str = "enabled", api_version: str | None = None,
                             livemode: bool = False, id: str | None = None,
                             description: str | None = None) -> dict[str, Any]:
        endpoint = {
            "id": id or f"we_{secrets.token_hex(12)}", "object": "webhook_endpoint",
            "api_version": api_version, "application": None, "created": next(self._created),
            "description": description, "enabled_events": list(enabled_events),
            "livemode": livemode, "metadata": {}, "status": status, "url": url,
        }
        with self.lock:
            self.webhook_endpoints[endpoint["id"]] = endpoint
        return endpoint

    def fail_next(self, count: int, status: int = 500, *, html: bool = False) -> None:
        """The next `count` requests answer `status`: Stripe's api_error JSON, or a load
        balancer's HTML page with `html=True`."""
        with self.lock:
            self._faults.append(_Fault(count, status, html))

    def calls(self, path: str | None = None) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if path is None or fnmatch.fnmatch(r.path, path)]

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serves the fake on loopback; yields its api_base (`http://127.0.0.1:PORT`)."""
        with serve_asgi(self.app(), timeout_graceful_shutdown=1) as url:
            yield url

    # ---------------------------------------------------------------- the app

    def app(self) -> Starlette:
        routes = [
            Route("/v1/balance", self._balance, methods=["GET"]),
            Route("/v1/account", self._account, methods=["GET"]),
            Route("/v1/prices", self._list_prices, methods=["GET"]),
            Route("/v1/prices/{id:path}", self._price, methods=["GET"]),
            Route("/v1/plans", self._list_plans, methods=["GET"]),
            Route("/v1/plans/{id:path}", self._plan, methods=["GET"]),
            Route("/v1/products/{id:path}", self._product, methods=["GET"]),
            Route("/v1/webhook_endpoints", self._webhook_endpoints, methods=["GET", "POST"]),
            Route("/v1/webhook_endpoints/{id:path}", self._webhook_endpoint,
                  methods=["GET", "POST"]),
            Route("/{rest:path}", self._unknown, methods=["GET", "POST", "DELETE"]),
        ]
        return Starlette(routes=routes)

    async def _answer(self, request: Request, handler: Any, permission: str | None) -> Response:
        request_id = f"req_{secrets.token_hex(7)}"
        generation = self._generation
        params: dict[str, Any] = {}
        try:
            pairs = list(request.query_params.multi_items())
            if request.method == "POST":  # Stripe's bodies are always form-encoded
                body = (await request.body()).decode("utf-8", "replace")
                pairs += parse_qsl(body, keep_blank_values=True)
            params = parse_brackets(pairs)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
                if generation != self._generation:  # reset meanwhile: not this test's answer
                    return Response(status_code=503)
            fault = self._take_fault()
            if fault is not None:
                response = self._fault_response(fault, request_id)
            else:
                grant = self._authenticate(request, permission)
                body = handler(request, params, grant)
                version = request.headers.get("stripe-version", API_VERSION)
                response = JSONResponse(body, headers={"Request-Id": request_id,
                                                       "Stripe-Version": version})
        except _StripeError as error:
            response = error.response(request_id)
        with self.lock:
            if generation == self._generation:
                self.requests.append(RecordedRequest(request.method, request.url.path, params,
                                                     response.status_code))
        return response

    def _take_fault(self) -> _Fault | None:
        with self.lock:
            while self._faults and self._faults[0].remaining <= 0:
                self._faults.pop(0)
            if not self._faults:
                return None
            self._faults[0].remaining -= 1
            return self._faults[0]

    @staticmethod
    def _fault_response(fault: _Fault, request_id: str) -> Response:
        if fault.html:
            return HTMLResponse(f"<html><body><h1>{fault.status} Service Unavailable</h1>"
                                "</body></html>", status_code=fault.status)
        return _StripeError(fault.status, "An unknown error occurred",
                            type_="api_error").response(request_id)

    def _authenticate(self, request: Request, permission: str | None) -> KeyGrant:
        key = _key_of(request)
        if not key:
            raise _StripeError(401, "You did not provide an API key. You need to provide your "
                               "API key in the Authorization header, using Bearer auth (e.g. "
                               "'Authorization: Bearer YOUR_SECRET_KEY'). See "
                               "https://stripe.com/docs/api#authentication for details, or we "
                               "can help at https://support.stripe.com/.")
        with self.lock:
            grant = self.keys.get(key)
        if grant is None:
            raise _StripeError(401, f"Invalid API Key provided: {_masked(key)}")
        if grant.kind == "pk":
            raise _StripeError(401, "This API call cannot be made with a publishable API key. "
                               "Please use a secret API key. You can find a list of your API "
                               "keys at https://dashboard.stripe.com/account/apikeys.")
        if grant.permissions is not None and permission is not None:
            allowed = grant.permissions | {p.replace("_write", "_read")
                                           for p in grant.permissions}
            if permission not in allowed:
                raise _StripeError(403, f"The provided key '{_masked_restricted(key)}' does "
                                   "not have the required permissions for this endpoint on "
                                   f"account '{self.account['id']}'. Having the "
                                   f"'{permission}' permission would allow this request to "
                                   "continue.")
        return grant

    # ---------------------------------------------------------------- endpoints

    async def _balance(self, request: Request) -> Response:
        def body(_: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            return {"object": "balance", **self.balance, "livemode": grant.livemode}
        return await self._answer(request, body, "rak_balance_read")

    async def _account(self, request: Request) -> Response:
        def body(_: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            return dict(self.account)
        return await self._answer(request, body, "rak_account_read")

    async def _price(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            price = self._find(self.prices, req.path_params["id"], "price", grant)
            return self._expanded(price, _expand(params), "")
        return await self._answer(request, body, "rak_plan_read")

    async def _list_prices(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            prices = self._visible(self.prices, grant)
            lookup_keys = params.get("lookup_keys")
            if lookup_keys is not None:
                wanted = lookup_keys if isinstance(lookup_keys, list) else [lookup_keys]
                prices = [p for p in prices if p["lookup_key"] in wanted]
            for name in ("product", "currency", "type"):
                if name in params:
                    prices = [p for p in prices if p[name] == params[name]]
            if "active" in params:
                prices = [p for p in prices if p["active"] == _boolean(params, "active")]
            page = _page(prices, params, "/v1/prices")
            expand = _expand(params)
            page["data"] = [self._expanded(p, expand, "data.") for p in page["data"]]
            return page
        return await self._answer(request, body, "rak_plan_read")

    async def _plan(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            price = self._find(self.prices, req.path_params["id"], "plan", grant)
            if price["recurring"] is None:  # a one-time price is no plan
                raise _missing("plan", req.path_params["id"])
            return _as_plan(price)
        return await self._answer(request, body, "rak_plan_read")

    async def _list_plans(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            plans = [_as_plan(p) for p in self._visible(self.prices, grant)
                     if p["recurring"] is not None]
            return _page(plans, params, "/v1/plans")
        return await self._answer(request, body, "rak_plan_read")

    async def _product(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            return dict(self._find(self.products, req.path_params["id"], "product", grant))
        return await self._answer(request, body, "rak_product_read")

    async def _webhook_endpoints(self, request: Request) -> Response:
        if request.method == "POST":
            return await self._answer(request, self._create_endpoint, "rak_webhook_write")

        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            endpoints = self._visible(self.webhook_endpoints, grant)
            return _page(endpoints, params, "/v1/webhook_endpoints")
        return await self._answer(request, body, "rak_webhook_read")

    def _create_endpoint(self, _: Request, params: dict[str, Any],
                         grant: KeyGrant) -> dict[str, Any]:
        for name in ("url", "enabled_events"):
            if not params.get(name):
                raise _StripeError(400, f"Missing required param: {name}.", param=name,
                                   code="parameter_missing")
        events = params["enabled_events"]
        endpoint = self.add_webhook_endpoint(
            params["url"], enabled_events=events if isinstance(events, list) else [events],
            api_version=params.get("api_version"), livemode=grant.livemode,
            description=params.get("description"))
        return {**endpoint, "secret": f"whsec_{secrets.token_urlsafe(24)}"}

    async def _webhook_endpoint(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            endpoint = self._find(self.webhook_endpoints, req.path_params["id"],
                                  "webhook_endpoint", grant)
            if req.method == "POST":
                with self.lock:
                    if "disabled" in params:
                        endpoint["status"] = "disabled" if _boolean(params, "disabled") \
                            else "enabled"
                    if "enabled_events" in params:
                        endpoint["enabled_events"] = list(params["enabled_events"])
                    if "url" in params:
                        endpoint["url"] = params["url"]
            return dict(endpoint)
        permission = "rak_webhook_write" if request.method == "POST" else "rak_webhook_read"
        return await self._answer(request, body, permission)

    async def _unknown(self, request: Request) -> Response:
        def body(req: Request, params: dict[str, Any], grant: KeyGrant) -> dict[str, Any]:
            raise _StripeError(404, f"Unrecognized request URL ({req.method}: "
                               f"{req.url.path}). Please see https://stripe.com/docs or we "
                               "can help at https://support.stripe.com/.")
        return await self._answer(request, body, None)

    # ---------------------------------------------------------------- lookups

    def _visible(self, table: dict[str, dict[str, Any]], grant: KeyGrant) -> list[dict[str, Any]]:
        with self.lock:
            rows = [dict(row) for row in table.values() if row["livemode"] == grant.livemode]
        return sorted(rows, key=lambda row: row["created"], reverse=True)  # newest first

    def _find(self, table: dict[str, dict[str, Any]], id: str, noun: str,
              grant: KeyGrant) -> dict[str, Any]:
        with self.lock:
            row = table.get(id)
        if row is None or row["livemode"] != grant.livemode:
            raise _missing(noun, id)
        return row

    def _expanded(self, price: dict[str, Any], expand: list[str], prefix: str) -> dict[str, Any]:
        price = dict(price)
        if f"{prefix}product" in expand:
            with self.lock:
                product = self.products.get(price["product"])
            if product is not None:
                price["product"] = dict(product)
        return price


def _key_of(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().partition(":")[0]
        except ValueError:
            return ""
    return ""


def _missing(noun: str, id: str) -> _StripeError:
    return _StripeError(404, f"No such {noun}: '{id}'", code="resource_missing", param=noun)


def _boolean(params: dict[str, Any], name: str) -> bool:
    value = params[name]
    if value not in ("true", "false"):
        raise _StripeError(400, f"Invalid boolean: {value}", param=name,
                           code="parameter_invalid_boolean")
    return value == "true"


def _expand(params: dict[str, Any]) -> list[str]:
    expand = params.get("expand", [])
    return expand if isinstance(expand, list) else [expand]


def _page(rows: list[dict[str, Any]], params: dict[str, Any], url: str) -> dict[str, Any]:
    """Stripe's list object: `limit` (1-100, default 10) after `starting_after`."""
    raw_limit = params.get("limit", "10")
    if not str(raw_limit).isdigit() or not 1 <= int(raw_limit) <= 100:
        raise _StripeError(400, f"Invalid integer: {raw_limit}", param="limit",
                           code="parameter_invalid_integer")
    limit = int(raw_limit)
    after = params.get("starting_after")
    if after is not None:
        ids = [row["id"] for row in rows]
        if after not in ids:
            raise _StripeError(400, f"No such object: '{after}'", param="starting_after",
                               code="resource_missing")
        rows = rows[ids.index(after) + 1:]
    return {"object": "list", "data": rows[:limit], "has_more": len(rows) > limit, "url": url}


def _as_plan(price: dict[str, Any]) -> dict[str, Any]:
    """A recurring price as the legacy Plans API shows it."""
    recurring = price["recurring"]
    return {
        "id": price["id"], "object": "plan", "active": price["active"],
        "amount": price["unit_amount"], "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"], "created": price["created"],
        "currency": price["currency"], "interval": recurring["interval"],
        "interval_count": recurring["interval_count"], "livemode": price["livemode"],
        "metadata": dict(price["metadata"]), "meter": None, "nickname": price["nickname"],
        "product": price["product"], "tiers_mode": None, "transform_usage": None,
        "trial_period_days": None, "usage_type": recurring["usage_type"],
    }
