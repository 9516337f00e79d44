"""The deploy webhook endpoints, served next to the Slack app:

    POST /webhooks/github   GitHub deployment_status events (and ping)
    POST /webhooks/argocd   Argo CD notifications
    POST /webhooks/deploy   the generic, signed deploy webhook for any CI system

Each delivery goes through the same steps: read the body (at most 1 MiB, read as it arrives:
413), authenticate it (401), parse it into a DeployNotice (400 with the reason), map the
source's environment name to a smokebot environment (202 "ignored: ..." when none matches, or
when the deploy did not succeed), then record it and create its run in one transaction (202
"accepted: ..."), and finally coalesce and queue the run (`bot.deploys`).

Every delivery is recorded, accepted or not, with its reason and a few informative headers
(never a signature, a token or the raw body), so an operator can see why a deploy did or did
not start a run. A delivery id seen before (GitHub's `X-GitHub-Delivery`, the generic webhook's
idempotency key, Argo CD's application, revision and sync time) is a redelivery: the answer is
200 with the first delivery's outcome, and nothing new happens, even when many copies arrive at
once (the store serializes them on the delivery id).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot import deploys
from bot.errors import QueueUnavailable, StoreError
from bot.services import Services
from bot.store import WebhookDelivery, WebhookOutcome, WebhookSource
from bot.webhooks.argocd import parse_notification
from bot.webhooks.generic import IDEMPOTENCY_HEADER, parse_deploy
from bot.webhooks.github import DELIVERY_HEADER, EVENT_HEADER, parse_deployment_status
from bot.webhooks.notice import (
    DeployNotice,
    MalformedPayload,
    PayloadTooLarge,
    Unauthenticated,
    WebhookRejected,
)
from bot.webhooks.verify import (
    ARGOCD_TOKEN_HEADER,
    GENERIC_SIGNATURE_HEADER,
    GENERIC_TIMESTAMP_HEADER,
    GITHUB_SIGNATURE_HEADER,
    verify_generic,
    verify_github,
    verify_shared_secret,
)
from checks.errors import ConfigError
from checks.secrets import Secret

__all__ = ["MAX_BODY_BYTES", "read_body", "webhook_routes"]

log = logging.getLogger("smokebot.webhooks")

MAX_BODY_BYTES = 1024 * 1024
# What a delivery record keeps of the request's headers: facts useful to an operator, listed
# one by one, so that no credential-bearing header can slip in.
_RECORDED_HEADERS = ("user-agent", "content-type", "content-length", "x-github-event",
                     "x-github-delivery", "x-github-hook-id",
                     "x-github-hook-installation-target-type",
                     "x-github-hook-installation-target-id", "x-smokebot-timestamp",
                     "idempotency-key", "x-forwarded-for", "x-request-id")
_LABELS = {WebhookSource.GITHUB: "GitHub", WebhookSource.ARGOCD: "Argo CD",
           WebhookSource.DEPLOY: "deploy"}
_MAPPING_KEYS = {WebhookSource.GITHUB: "github", WebhookSource.ARGOCD: "argocd",
                 WebhookSource.DEPLOY: "generic"}
_SOURCE_NAMES = {WebhookSource.GITHUB: "GitHub environment",
                 WebhookSource.ARGOCD: "Argo CD application",
                 WebhookSource.DEPLOY: "deploy environment"}


@dataclass(frozen=True)
class _Ignored:
    """An authenticated delivery that is not a deploy (a ping, another event)."""

    delivery_id: str
    reason: str
    summary: dict[str, Any] = field(default_factory=dict)
    status: int = 202


class _Unavailable(WebhookRejected):
    status = 503  # not the sender's fault: a redelivery after the fix will be accepted


def webhook_routes(*, on_superseded: deploys.SupersededHook | None = None) -> list[Route]:
    """The three endpoints, for `create_asgi_app(extra_routes=...)`. `on_superseded(run_id)` is
    called for each run a deploy supersedes (to say so in Slack)."""
    return [
        Route("/webhooks/github", partial(_handle, WebhookSource.GITHUB, on_superseded),
              methods=["POST"], name="webhook_github"),
        Route("/webhooks/argocd", partial(_handle, WebhookSource.ARGOCD, on_superseded),
              methods=["POST"], name="webhook_argocd"),
        Route("/webhooks/deploy", partial(_handle, WebhookSource.DEPLOY, on_superseded),
              methods=["POST"], name="webhook_deploy"),
    ]


# --- the pipeline -------------------------------------------------------------------------------

async def _handle(source: WebhookSource, on_superseded: deploys.SupersededHook | None,
                  request: Request) -> JSONResponse:
    services: Services = request.app.state.smokebot["services"]
    headers = _recorded_headers(request)
    delivery_header = request.headers.get(DELIVERY_HEADER) if source is WebhookSource.GITHUB \
        else None
    try:
        try:
            body = await read_body(request)
            parsed = _authenticated_parse(source, services, request, body)
        except WebhookRejected as exc:
            return await _reject(services, source, delivery_header, exc, headers)
        if isinstance(parsed, _Ignored):
            delivery = await services.store.record_webhook_delivery(
                source, parsed.delivery_id, WebhookOutcome.IGNORED, reason=parsed.reason,
                headers=headers, summary=parsed.summary)
            return _answer(delivery, status=parsed.status)
        return await _route_notice(services, parsed, headers, on_superseded)
    except (StoreError, QueueUnavailable) as exc:
        # The sender retries a 5xx; nothing could be recorded, so the retry is not a duplicate.
        log.warning("%s webhook not processed: %s", source.value, exc.render())
        return JSONResponse({"outcome": "error", "message": f"error: {exc.render()}"},
                            status_code=503)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The body, read as it arrives; PayloadTooLarge as soon as it passes `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body is {int(declared)} bytes; expected at most {limit} (1 MiB)")
    received = bytearray()
    async for chunk in request.stream():
        received += chunk
        if len(received) > limit:
            raise PayloadTooLarge(f"body is over {limit} bytes; expected at most {limit} (1 MiB)")
    return bytes(received)


def _authenticated_parse(source: WebhookSource, services: Services, request: Request,
                         body: bytes) -> DeployNotice | _Ignored:
    secret = services.settings.webhook_secrets.get(source.value)
    if secret is None:
        raise Unauthenticated(f"{_LABELS[source]} webhooks are not enabled on this server; "
                              f"expected SMOKEBOT_{source.value.upper()}_WEBHOOK_SECRET to be set")
    if source is WebhookSource.GITHUB:
        return _github(secret, request, body)
    if source is WebhookSource.ARGOCD:
        verify_shared_secret(secret, request.headers.get(ARGOCD_TOKEN_HEADER), ARGOCD_TOKEN_HEADER)
        return parse_notification(_json(request, body))
    verify_generic(secret, body, request.headers.get(GENERIC_SIGNATURE_HEADER),
                   request.headers.get(GENERIC_TIMESTAMP_HEADER))
    return parse_deploy(_json(request, body), body, request.headers.get(IDEMPOTENCY_HEADER))


def _github(secret: Secret, request: Request, body: bytes) -> DeployNotice | _Ignored:
    verify_github(secret, body, request.headers.get(GITHUB_SIGNATURE_HEADER))
    delivery = (request.headers.get(DELIVERY_HEADER) or "").strip()
    if not delivery:
        raise MalformedPayload(f"missing {DELIVERY_HEADER} header")
    event = (request.headers.get(EVENT_HEADER) or "").strip()
    payload = _json(request, body)
    if event == "ping":
        hook = payload.get("hook_id") if isinstance(payload, dict) else None
        return _Ignored(delivery, "ping: the GitHub webhook reaches smokebot",
                        {"event": "ping", "hook_id": hook}, status=200)
    if event != "deployment_status":
        return _Ignored(delivery, f"event '{event or '(none)'}' is not deployment_status; "
                                  f"expected the webhook to send deployment statuses only",
                        {"event": event})
    return parse_deployment_status(delivery, payload)


def _json(request: Request, body: bytes) -> Any:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        raise MalformedPayload("body is form-encoded; expected JSON (set the webhook's content "
                               "type to application/json)")
    if not body.strip():
        raise MalformedPayload("body is empty; expected a JSON object")
    try:
        # JSON between systems is UTF-8 (RFC 8259); json.loads alone would guess UTF-16 too.
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise MalformedPayload("body is not UTF-8 text; expected a JSON object") from None
    except json.JSONDecodeError as exc:
        raise MalformedPayload(f"body is not valid JSON: {exc.msg} at line {exc.lineno} "
                               f"column {exc.colno}") from None
    except RecursionError:
        raise MalformedPayload("body is nested too deeply; expected a JSON object") from None


async def _route_notice(services: Services, notice: DeployNotice, headers: dict[str, str],
                        on_superseded: deploys.SupersededHook | None) -> JSONResponse:
    store, source = services.store, notice.source
    try:
        suite = services.suites.current()
    except ConfigError as exc:
        return await _reject(services, source, notice.delivery_id, _Unavailable(
            f"the suite file cannot be loaded ({exc.render()}); fix it and redeliver"), headers)
    environment = deploys.find_environment(suite, source, notice.environment)
    summary = notice.summary()
    if environment is None:
        key = _MAPPING_KEYS[source]
        reason = (f"{_SOURCE_NAMES[source]} '{notice.environment}' is not mapped to a "
                  f"smokebot environment; expected it under environments.<name>.deploy.{key}")
    elif not notice.succeeded:
        reason = (f"{notice.description} reports '{notice.state}'; only a successful deploy "
                  f"starts a run")
    else:
        delivery = await store.record_webhook_delivery(
            source, notice.delivery_id, WebhookOutcome.ACCEPTED,
            reason=f"{notice.description} starts a smoke test run of {environment}",
            environment=environment,
            headers=headers, summary=summary,
            run=deploys.deploy_run_request(suite, environment, notice))
        if delivery.is_new and delivery.run_id is not None:
            run = await store.get_run(delivery.run_id)
            if run is not None:
                await deploys.start_deploy_run(
                    services, run, window_s=deploys.coalesce_window(suite, environment),
                    on_superseded=on_superseded)
        return _answer(delivery)
    delivery = await store.record_webhook_delivery(
        source, notice.delivery_id, WebhookOutcome.IGNORED, reason=reason,
        environment=environment, headers=headers, summary=summary)
    return _answer(delivery)


async def _reject(services: Services, source: WebhookSource, delivery_id: str | None,
                  exc: WebhookRejected, headers: dict[str, str]) -> JSONResponse:
    try:
        await services.store.record_webhook_delivery(
            source, delivery_id or None, WebhookOutcome.REJECTED, reason=exc.reason,
            headers=headers, summary={"status": exc.status})
    except StoreError as store_exc:
        log.warning("rejected %s delivery not recorded (%s): %s", source.value,
                    store_exc.render(), exc.reason)
    return JSONResponse({"outcome": WebhookOutcome.REJECTED.value,
                         "message": f"rejected: {exc.reason}"}, status_code=exc.status)


def _answer(delivery: WebhookDelivery, status: int = 202) -> JSONResponse:
    """The delivery's outcome; a redelivery gets 200 and the first delivery's outcome."""
    body: dict[str, Any] = {"outcome": delivery.outcome.value,
                            "message": f"{delivery.outcome.value}: {delivery.reason}",
                            "delivery_id": delivery.delivery_id,
                            "environment": delivery.environment,
                            "run_id": str(delivery.run_id) if delivery.run_id else None,
                            "redelivery": not delivery.is_new}
    return JSONResponse(body, status_code=status if delivery.is_new else 200)


def _recorded_headers(request: Request) -> dict[str, str]:
    found: Mapping[str, str] = request.headers
    kept = {name: found[name] for name in _RECORDED_HEADERS if name in found}
    if request.client is not None:
        kept["remote-addr"] = request.client.host
    return kept
