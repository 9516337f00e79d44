"""The `stripe.price` kind: a price the app sells is there, active, and what the app thinks
it is.

    - id: pro-price
      type: stripe.price
      key: ${secrets.stripe_key}
      lookup_key: pro_monthly            # or price: price_1P... (a legacy plan id works too)
      unit_amount: 2900                  # in the currency's smallest unit
      currency: usd
      interval: month
      assert: [metadata.credits == 60, product.name == Pro]

One request: `GET /v1/prices/{id}` or `GET /v1/prices?lookup_keys[]=...`, with the product
expanded, so its `active` (and `assert` on `product.*`) need no second call. `assert` lines
use the assertion language on the price object. A price that does not exist, is archived,
costs another amount, or whose product is archived or deleted fails naming the price and
what was expected; Stripe being unreachable is an error.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from checks.assertions import AssertionList, evaluate
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.stripe._client import (
    ProblemKind,
    StripeParams,
    StripeProblem,
    as_document,
    attempt,
    expected_mode,
    open_stripe,
)
from checks.results import Outcome

__all__ = ["PriceCheck", "PriceParams", "price_failures"]

Interval = Literal["day", "week", "month", "year"]


class PriceParams(StripeParams):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    price: str | None = Field(None, min_length=1)  # price_..., or a legacy plan's id
    lookup_key: str | None = Field(None, min_length=1)
    active: bool = True
    unit_amount: int | None = Field(None, ge=0)
    currency: str | None = Field(None, pattern=r"^[A-Za-z]{3}$")
    interval: Interval | None = None
    interval_count: int | None = Field(None, ge=1)
    product_active: bool = True
    assertions: AssertionList = Field(default_factory=list, alias="assert")

    @field_validator("currency")
    @classmethod
    def _lower(cls, value: str | None) -> str | None:
        return value.lower() if value is not None else None  # Stripe answers in lower case

    @model_validator(mode="after")
    def _one_way_to_find_it(self) -> PriceParams:
        if (self.price is None) == (self.lookup_key is None):
            raise ValueError("set exactly one of 'price' (an id such as price_1P..., or a "
                             "legacy plan id) or 'lookup_key'")
        return self

    @property
    def subject(self) -> str:
        return f"price {self.price}" if self.price else f"the price with lookup_key " \
                                                         f"'{self.lookup_key}'"


def price_failures(price: dict[str, Any], params: PriceParams, mode: str) -> list[str]:
    """What is wrong with the price (product expanded) for these params."""
    failures: list[str] = []
    if bool(price.get("active")) != params.active:
        state = "active" if price.get("active") else "archived (inactive)"
        failures.append(f"is {state}, expected {'active' if params.active else 'archived'}")
    if bool(price.get("livemode")) != (mode == "live"):
        failures.append(f"is a {'live' if price.get('livemode') else 'test'}-mode price, "
                        f"expected {mode} mode")
    if params.unit_amount is not None and price.get("unit_amount") != params.unit_amount:
        failures.append(f"unit_amount: expected {params.unit_amount}, got "
                        f"{_shown(price.get('unit_amount'))}")
    if params.currency is not None and price.get("currency") != params.currency:
        failures.append(f"currency: expected {params.currency}, got "
                        f"{_shown(price.get('currency'))}")
    failures += _recurring_failures(price.get("recurring"), params)
    failures += _product_failures(price.get("product"), params)
    failures += evaluate(params.assertions, price)
    return failures


def _recurring_failures(recurring: Any, params: PriceParams) -> list[str]:
    if params.interval is None and params.interval_count is None:
        return []
    if not isinstance(recurring, dict):
        every = f"every {params.interval}" if params.interval else "on a schedule"
        return [f"is a one-time price, expected a recurring one billed {every}"]
    failures = []
    if params.interval is not None and recurring.get("interval") != params.interval:
        failures.append(f"recurring.interval: expected {params.interval}, got "
                        f"{_shown(recurring.get('interval'))}")
    if params.interval_count is not None and \
            recurring.get("interval_count") != params.interval_count:
        failures.append(f"recurring.interval_count: expected {params.interval_count}, got "
                        f"{_shown(recurring.get('interval_count'))}")
    return failures


def _product_failures(product: Any, params: PriceParams) -> list[str]:
    if not params.product_active:
        return []
    if not isinstance(product, dict):  # not expanded: nothing to judge it by
        return [f"product {product} could not be read with the price"]
    name = f" ({product['name']})" if product.get("name") else ""
    if product.get("deleted"):
        return [f"product {product.get('id')} is deleted, expected an active product"]
    if not product.get("active"):
        return [f"product {product.get('id')}{name} is archived (inactive), expected active"]
    return []


def _shown(value: Any) -> str:
    return "nothing" if value is None else str(value)


class PriceCheck(CheckKind[PriceParams]):
    Params = PriceParams

    async def run(self, params: PriceParams, ctx: CheckContext) -> Outcome:
        mode = expected_mode(params, ctx)
        started = time.perf_counter()
        async with open_stripe(params, ctx) as client:
            if params.price is not None:
                found: Any = await attempt(client.v1.prices.retrieve_async(
                    params.price, {"expand": ["product"]}), params.subject, params, ctx)
            else:
                found = await attempt(client.v1.prices.list_async(
                    {"lookup_keys": [params.lookup_key or ""], "expand": ["data.product"],
                     "limit": 1}), params.subject, params, ctx)
        measurements = {"response_ms": round((time.perf_counter() - started) * 1000)}
        if isinstance(found, StripeProblem):
            if found.kind is not ProblemKind.MISSING:
                raise found.error()
            return Outcome.failed(f"{params.subject} does not exist in {mode} mode (Stripe: "
                                  f"{found.said})",
                                  measurements=measurements,
                                  evidence={"expected_mode": mode, "found": False})
        if params.price is None:
            if not found.data:
                return Outcome.failed(f"no price has lookup_key '{params.lookup_key}' in "
                                      f"{mode} mode", measurements=measurements,
                                      evidence={"expected_mode": mode, "found": False})
            found = found.data[0]
        price = as_document(found)
        failures = price_failures(price, params, mode)
        evidence = {"expected_mode": mode, "found": True, **_evidence(price)}
        label = _label(price, params)
        details = "\n".join([*failures, *_lines(price)])
        if failures:
            return Outcome.failed(f"{label} {'; '.join(failures)}", details=details,
                                  measurements=measurements, evidence=evidence)
        return Outcome.ok(f"{label}: {_description(price)}", details=details,
                          measurements=measurements, evidence=evidence)

    def describe(self, params: PriceParams) -> str:
        what = [str(part) for part in (params.unit_amount, params.currency, params.interval)
                if part is not None]
        return f"Stripe {params.subject}" + (f" ({' '.join(what)})" if what else "")


def _label(price: dict[str, Any], params: PriceParams) -> str:
    if params.lookup_key is not None:
        return f"price {price.get('id')} (lookup_key {params.lookup_key})"
    return f"price {price.get('id')}"


def _product(price: dict[str, Any]) -> dict[str, Any]:
    product = price.get("product")
    return product if isinstance(product, dict) else {"id": product}


def _description(price: dict[str, Any]) -> str:
    """`active, 2900 usd per month, product prod_1 (Pro) active`."""
    recurring = price.get("recurring")
    if isinstance(recurring, dict):
        count = recurring.get("interval_count") or 1
        per = (f" every {count} {recurring.get('interval')}s" if count != 1
               else f" per {recurring.get('interval')}")
    else:
        per = " once"
    product = _product(price)
    name = f" ({product['name']})" if product.get("name") else ""
    state = "active" if product.get("active") else "inactive"
    active = "active" if price.get("active") else "archived"
    return (f"{active}, {_shown(price.get('unit_amount'))} {price.get('currency')}{per}, "
            f"product {product.get('id')}{name} {state}")


def _evidence(price: dict[str, Any]) -> dict[str, Any]:
    product = _product(price)
    recurring = price.get("recurring") if isinstance(price.get("recurring"), dict) else None
    return {"price": price.get("id"), "lookup_key": price.get("lookup_key"),
            "active": price.get("active"), "livemode": price.get("livemode"),
            "unit_amount": price.get("unit_amount"), "currency": price.get("currency"),
            "interval": recurring.get("interval") if recurring else None,
            "interval_count": recurring.get("interval_count") if recurring else None,
            "metadata": dict(price.get("metadata") or {}),
            "product": {"id": product.get("id"), "name": product.get("name"),
                        "active": product.get("active")}}


def _lines(price: dict[str, Any]) -> list[str]:
    evidence = _evidence(price)
    product = evidence["product"]
    lines = [f"price: {evidence['price']} (lookup_key: {evidence['lookup_key'] or 'none'})",
             f"active: {str(evidence['active']).lower()}, livemode: "
             f"{str(evidence['livemode']).lower()}",
             f"unit_amount: {_shown(evidence['unit_amount'])} {evidence['currency']}",
             f"recurring: every {evidence['interval_count']} {evidence['interval']}"
             if evidence["interval"] else "recurring: no (one-time)",
             f"product: {product['id']} ({product.get('name') or 'no name'}), active: "
             f"{str(product.get('active')).lower()}"]
    if evidence["metadata"]:
        lines.append("metadata: " + ", ".join(f"{k}={v}" for k, v in evidence["metadata"].items()))
    return lines
