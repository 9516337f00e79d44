"""The deploy webhook endpoints, served next to the Slack app: one `POST /webhooks/<name>` per
source in the registry (`sources.py`):

    POST /webhooks/github   GitHub deployment_status events (and ping)
    POST /webhooks/argocd   Argo CD notifications
    POST /webhooks/deploy   the generic, signed deploy webhook for any CI system

Each delivery goes through the same steps: read the body (at most 1 MiB, read as it arrives:
413), authenticate it with the source's secret and `verify` (401), `parse` it into a
DeployNotice (400 with the reason), map the source's environment name to a smokebot
environment (202 "ignored: ..." when none matches, or when the deploy did not succeed), then
record it and create its run in one transaction (202 "accepted: ..."), and finally coalesce and
queue the run (`bot.deploys`).

Every delivery is recorded, accepted or not, with its reason and a few informative headers
(never a signature, a token or the raw body), so an operator can see why a deploy did or did
not start a run. A delivery id seen before (GitHub's `X-GitHub-Delivery`, the generic webhook's
idempotency key, Argo CD's application, revision and sync time) is a redelivery: the answer is
200 with the first delivery's outcome, and nothing new happens, even when many copies arrive at
once (the store serializes them on the delivery id).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from bot import deploys
from bot.errors import QueueUnavailable, StoreError, WebhookRejected
from bot.records import WebhookDelivery, WebhookOutcome
from bot.services import Services
from bot.webhooks.notice import DeployNotice, Ignored, PayloadTooLarge, Unauthenticated
from bot.webhooks.sources import DeploySource, deploy_sources
from checks.errors import ConfigError

__all__ = ["MAX_BODY_BYTES", "read_body", "webhook_routes"]

log = logging.getLogger("smokebot.webhooks")

MAX_BODY_BYTES = 1024 * 1024
# What a delivery record keeps of the request's headers: facts useful to an operator, listed
# one by one (these, and the source's own `recorded_headers`), so that no credential-bearing
# header can slip in.
_RECORDED_HEADERS = ("user-agent", "content-type", "content-length", "x-forwarded-for",
                     "x-request-id")


class _Unavailable(WebhookRejected):
    status = 503  # not the sender's fault: a redelivery after the fix will be accepted


def webhook_routes(*, on_superseded: deploys.SupersededHook | None = None) -> list[Route]:
    """One endpoint per registered source, for `create_asgi_app(extra_routes=...)`.
    `on_superseded(run_id)` is called for each run a deploy supersedes (to say so in Slack)."""
    return [Route(source.path, partial(_handle, source, on_superseded), methods=["POST"],
                  name=f"webhook_{source.name}")
            for source in deploy_sources()]


# --- the pipeline -------------------------------------------------------------------------------

async def _handle(source: DeploySource, on_superseded: deploys.SupersededHook | None,
                  request: Request) -> JSONResponse:
    services: Services = request.app.state.smokebot["services"]
    headers = _recorded_headers(source, request)
    delivery_header = request.headers.get(source.delivery_header) if source.delivery_header \
        else None
    try:
        try:
            body = await read_body(request)
            parsed = _authenticated_parse(source, services, request.headers, body)
        except WebhookRejected as exc:
            return await _reject(services, source, delivery_header, exc, headers)
        if isinstance(parsed, Ignored):
            delivery = await services.store.record_webhook_delivery(
                source.name, parsed.delivery_id, WebhookOutcome.IGNORED, reason=parsed.reason,
                headers=headers, summary=parsed.summary)
            return _answer(delivery, status=parsed.status)
        return await _route_notice(services, source, parsed, headers, on_superseded)
    except (StoreError, QueueUnavailable) as exc:
        # The sender retries a 5xx; nothing could be recorded, so the retry is not a duplicate.
        log.warning("%s webhook not processed: %s", source.name, exc.render())
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


def _authenticated_parse(source: DeploySource, services: Services,
                         headers: Mapping[str, str], body: bytes) -> DeployNotice | Ignored:
    secret = services.settings.webhook_secrets.get(source.name)
    if secret is None:
        raise Unauthenticated(f"{source.label} webhooks are not enabled on this server; "
                              f"expected {source.secret_env} to be set")
    source.verify(headers, body, secret)
    return source.parse(headers, body)


async def _route_notice(services: Services, source: DeploySource, notice: DeployNotice,
                        headers: dict[str, str],
                        on_superseded: deploys.SupersededHook | None) -> JSONResponse:
    store = services.store
    try:
        suite = services.suites.current()
    except ConfigError as exc:
        return await _reject(services, source, notice.delivery_id, _Unavailable(
            f"the suite file cannot be loaded ({exc.render()}); fix it and redeliver"), headers)
    environment = deploys.find_environment(suite, source.name, notice.environment)
    summary = notice.summary()
    if environment is None:
        reason = (f"{source.environment_noun} '{notice.environment}' is not mapped to a "
                  f"smokebot environment; expected it under "
                  f"environments.<name>.deploy.{source.mapping_key}")
    elif not notice.succeeded:
        reason = (f"{notice.description} reports '{notice.state}'; only a successful deploy "
                  f"starts a run")
    else:
        delivery = await store.record_webhook_delivery(
            source.name, notice.delivery_id, WebhookOutcome.ACCEPTED,
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
        source.name, notice.delivery_id, WebhookOutcome.IGNORED, reason=reason,
        environment=environment, headers=headers, summary=summary)
    return _answer(delivery)


async def _reject(services: Services, source: DeploySource, delivery_id: str | None,
                  exc: WebhookRejected, headers: dict[str, str]) -> JSONResponse:
    try:
        await services.store.record_webhook_delivery(
            source.name, delivery_id or None, WebhookOutcome.REJECTED, reason=exc.reason,
            headers=headers, summary={"status": exc.status})
    except StoreError as store_exc:
        log.warning("rejected %s delivery not recorded (%s): %s", source.name,
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


def _recorded_headers(source: DeploySource, request: Request) -> dict[str, str]:
    found: Mapping[str, str] = request.headers
    kept = {name: found[name] for name in (*_RECORDED_HEADERS, *source.recorded_headers)
            if name in found}
    if request.client is not None:
        kept["remote-addr"] = request.client.host
    return kept
