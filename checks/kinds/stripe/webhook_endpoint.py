"""The `stripe.webhook_endpoint` kind: Stripe has an endpoint registered for our URL, enabled,
in the expected mode, subscribed to every event we handle.

    - id: stripe-webhook
      type: stripe.webhook_endpoint
      key: ${secrets.stripe_key}
      url: ${base_url}/webhooks/stripe        # or url_pattern: "https://*.rsolv.dev/webhooks/*"
      events: [customer.subscription.created, customer.subscription.deleted, invoice.paid]
      api_version: "2024-06-20"               # optional

Lists the account's endpoints (`GET /v1/webhook_endpoints`, every page). An endpoint that
subscribes to `*` has every event; `events: ["*"]` asks for exactly that. When several
endpoints match a pattern, one that meets everything is enough; otherwise the failure names
each one's problems, the missing events by name.
"""

from __future__ import annotations

import fnmatch
import time
from typing import Any

from pydantic import Field, model_validator

from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.stripe._client import (
    StripeParams,
    all_pages,
    as_document,
    expected_mode,
    fetch,
    open_stripe,
)
from checks.results import Outcome

__all__ = ["WebhookEndpointCheck", "WebhookEndpointParams", "endpoint_problems"]

MAX_ENDPOINTS = 1000  # Stripe allows 16 per account; a fake or a bug must not page forever
URLS_IN_SUMMARY = 3


class WebhookEndpointParams(StripeParams):
    url: str | None = Field(None, min_length=1)
    url_pattern: str | None = Field(None, min_length=1)  # a glob: `*` is any run of characters
    events: list[str] = Field(default_factory=list)
    api_version: str | None = None

    @model_validator(mode="after")
    def _one_url(self) -> WebhookEndpointParams:
        if (self.url is None) == (self.url_pattern is None):
            raise ValueError("set exactly one of 'url' (the endpoint's exact URL) or "
                             "'url_pattern' (a glob such as https://*.rsolv.dev/webhooks)")
        return self

    def matches(self, url: str) -> bool:
        if self.url is not None:
            return url == self.url
        return fnmatch.fnmatchcase(url, self.url_pattern or "")

    @property
    def wanted(self) -> str:
        return self.url if self.url is not None else f"matching {self.url_pattern}"


def endpoint_problems(endpoint: dict[str, Any], params: WebhookEndpointParams,
                      mode: str) -> list[str]:
    """What is wrong with one endpoint for these params; empty when it meets everything."""
    problems: list[str] = []
    if endpoint.get("status") != "enabled":
        problems.append(f"is {endpoint.get('status') or 'not enabled'}, expected enabled")
    if bool(endpoint.get("livemode")) != (mode == "live"):
        actual = "live" if endpoint.get("livemode") else "test"
        problems.append(f"is a {actual}-mode endpoint, expected {mode} mode")
    missing = missing_events(endpoint.get("enabled_events") or [], params.events)
    if missing:
        problems.append(f"does not subscribe to {', '.join(missing)}")
    if params.api_version is not None and endpoint.get("api_version") != params.api_version:
        actual = endpoint.get("api_version") or "the account's default (none set)"
        problems.append(f"uses API version {actual}, expected {params.api_version}")
    return problems


def missing_events(enabled: list[str], wanted: list[str]) -> list[str]:
    if "*" in enabled:
        return []
    have = set(enabled)
    return [event for event in dict.fromkeys(wanted) if event not in have]


class WebhookEndpointCheck(CheckKind[WebhookEndpointParams]):
    Params = WebhookEndpointParams

    async def run(self, params: WebhookEndpointParams, ctx: CheckContext) -> Outcome:
        mode = expected_mode(params, ctx)
        started = time.perf_counter()
        async with open_stripe(params, ctx) as client:
            listed = await fetch(all_pages(client.v1.webhook_endpoints.list_async(
                {"limit": 100}), MAX_ENDPOINTS), "the account's webhook endpoints", params, ctx)
        response_ms = round((time.perf_counter() - started) * 1000)
        endpoints = [as_document(e) for e in listed]
        matching = [e for e in endpoints if params.matches(str(e.get("url", "")))]
        measurements = {"response_ms": response_ms, "endpoints_listed": len(endpoints),
                        "endpoints_matching": len(matching)}
        if not matching:
            return self._none_registered(params, mode, endpoints, measurements)
        judged = [(e, endpoint_problems(e, params, mode)) for e in matching]
        evidence = {"expected_mode": mode, "events": list(params.events),
                    "endpoints": [_evidence(e, problems, params) for e, problems in judged]}
        good = [e for e, problems in judged if not problems]
        details = "\n".join(_detail(e, problems) for e, problems in judged)
        if good:
            endpoint = good[0]
            return Outcome.ok(f"webhook endpoint {endpoint['id']} for {endpoint['url']}: "
                              f"enabled, {mode} mode{_subscribed(endpoint, params)}",
                              details=details, measurements=measurements, evidence=evidence)
        endpoint, problems = min(judged, key=lambda pair: len(pair[1]))
        more = f" (and {len(judged) - 1} more matching, none right)" if len(judged) > 1 else ""
        return Outcome.failed(f"webhook endpoint {endpoint['id']} for {endpoint['url']} "
                              f"{'; '.join(problems)}{more}", details=details,
                              measurements=measurements, evidence=evidence)

    @staticmethod
    def _none_registered(params: WebhookEndpointParams, mode: str,
                         endpoints: list[dict[str, Any]],
                         measurements: dict[str, Any]) -> Outcome:
        urls = [str(e.get("url")) for e in endpoints]
        if urls:
            shown = ", ".join(urls[:URLS_IN_SUMMARY])
            extra = f" and {len(urls) - URLS_IN_SUMMARY} more" if len(urls) > URLS_IN_SUMMARY \
                else ""
            seen = f"; the account has {len(urls)} other{'s' if len(urls) != 1 else ''}: " \
                   f"{shown}{extra}"
        else:
            seen = "; the account has none"
        return Outcome.failed(
            f"no webhook endpoint {params.wanted} is registered in {mode} mode{seen}",
            details="\n".join(f"{e.get('id')}: {e.get('url')} ({e.get('status')})"
                              for e in endpoints),
            measurements=measurements,
            evidence={"expected_mode": mode, "registered_urls": urls})

    def describe(self, params: WebhookEndpointParams) -> str:
        events = f", {len(params.events)} events" if params.events else ""
        return f"Stripe webhook endpoint {params.wanted}{events}"


def _subscribed(endpoint: dict[str, Any], params: WebhookEndpointParams) -> str:
    if "*" in (endpoint.get("enabled_events") or []):
        return ", subscribes to every event"
    if not params.events:
        return ""
    count = len(params.events)
    return f", subscribes to {count} expected event{'s' if count != 1 else ''}"


def _evidence(endpoint: dict[str, Any], problems: list[str],
              params: WebhookEndpointParams) -> dict[str, Any]:
    return {"id": endpoint.get("id"), "url": endpoint.get("url"),
            "status": endpoint.get("status"), "livemode": endpoint.get("livemode"),
            "api_version": endpoint.get("api_version"),
            "enabled_events": list(endpoint.get("enabled_events") or []),
            "missing_events": missing_events(endpoint.get("enabled_events") or [],
                                             params.events),
            "problems": problems}


def _detail(endpoint: dict[str, Any], problems: list[str]) -> str:
    head = f"{endpoint.get('id')}: {endpoint.get('url')}"
    lines = [head, f"  status: {endpoint.get('status')}, livemode: "
                   f"{str(bool(endpoint.get('livemode'))).lower()}, api_version: "
                   f"{endpoint.get('api_version') or 'account default'}",
             f"  enabled_events: {', '.join(endpoint.get('enabled_events') or []) or 'none'}"]
    lines += [f"  {problem}" for problem in problems] or ["  ok"]
    return "\n".join(lines)
