"""The deploy webhook endpoints, served next to the Slack app: one `POST /webhooks/<name>` per
source in the registry (`sources.py`):

    POST /webhooks/github   GitHub deployment_status events (and ping)
    POST /webhooks/argocd   Argo CD notifications
    POST /webhooks/deploy   the generic, signed deploy webhook for any CI system

Each delivery goes through the same steps. First the guard (`bot/guard.py`), before anything
parses the body: every header value printable ASCII and at most 4 KiB (400), a JSON content
type (415), the body read as it arrives, at most 1 MiB (413; a Content-Length that is not a
number or a client gone mid-body: 400). Then authenticate it with the source's secret and
`verify` (401), `parse` it into a DeployNotice (400 with the reason, naming the field), map the
source's environment name to a smokebot environment (202 "ignored: ..." when none matches, or
when the deploy did not succeed), then record it and create its run in one transaction (202
"accepted: ..."; the run's report back to the source, when one is owed, is recorded with it),
and finally coalesce and queue the run (`bot.deploys`). Malformed input never
gets a 5xx: a 503 only says that the store, the queue or the suite file is unavailable.

Each refusal is logged as one short line (route, reason, size, address) by the app's
RefusalLog, rate-limited per route; never the body, a signature or a token.

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

from bot import deadline, deploys
from bot.errors import QueueUnavailable, RequestRefused, StoreError
from bot.guard import (
    RefusalLog,
    check_header_values,
    declared_size,
    read_limited_body,
    require_media_type,
    well_formed_header,
)
from bot.records import WebhookDelivery, WebhookOutcome
from bot.report_back.reporters import owed_report
from bot.services import Services
from bot.suites import ANSWER_WAIT_S
from bot.webhooks.notice import DeployNotice, Ignored, Unauthenticated
from bot.webhooks.sources import DeploySource, deploy_sources
from checks.errors import ConfigError

__all__ = ["MAX_BODY_BYTES", "read_delivery", "webhook_routes"]

log = logging.getLogger("smokebot.webhooks")

MAX_BODY_BYTES = 1024 * 1024
_JSON = "application/json"
_FORM_HINT = {"application/x-www-form-urlencoded": (
    "body is form-encoded; expected JSON (set the webhook's content type to application/json)")}
# What a delivery record keeps of the request's headers: facts useful to an operator, listed
# one by one (these, and the source's own `recorded_headers`), so that no credential-bearing
# header can slip in.
_RECORDED_HEADERS = ("user-agent", "content-type", "content-length", "x-forwarded-for",
                     "x-request-id")


class _Unavailable(RequestRefused):
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
    delivery_header = _header(request, source.delivery_header)
    size = declared_size(request)
    try:
        body = await read_delivery(request)
    except RequestRefused as exc:
        with deadline.answer_by(deadline.REQUEST_BUDGET_S):
            return await _reject(request, source, delivery_header, exc, headers, size)
    # From here on the store and the queue answer in time or are reported unavailable
    # (bot/deadline.py): the sender is not kept waiting on a hung dependency.
    with deadline.answer_by(deadline.REQUEST_BUDGET_S):
        return await _process(services, request, source, on_superseded, body, headers,
                              delivery_header)


async def _process(services: Services, request: Request, source: DeploySource,
                   on_superseded: deploys.SupersededHook | None, body: bytes,
                   headers: dict[str, str], delivery_header: str | None) -> JSONResponse:
    size = len(body)
    try:
        try:
            parsed = _authenticated_parse(source, services, request.headers, body)
        except RequestRefused as exc:
            return await _reject(request, source, delivery_header, exc, headers, size)
        if isinstance(parsed, Ignored):
            delivery = await services.store.record_webhook_delivery(
                source.name, parsed.delivery_id, WebhookOutcome.IGNORED, reason=parsed.reason,
                headers=headers, summary=parsed.summary)
            return _answer(delivery, status=parsed.status)
        return await _route_notice(services, request, source, parsed, headers, size,
                                   on_superseded)
    except (StoreError, QueueUnavailable) as exc:
        # The sender retries a 5xx; nothing could be recorded, so the retry is not a duplicate.
        log.warning("%s webhook not processed: %s", source.name, exc.render())
        return JSONResponse({"outcome": "error", "message": f"error: {exc.render()}"},
                            status_code=503)


async def read_delivery(request: Request) -> bytes:
    """The raw body of a well-formed webhook request, nothing parsed yet. Raises
    RequestRefused: 400 for a malformed header or a body cut short, 415 for a content type
    other than JSON, 413 for a body over MAX_BODY_BYTES."""
    check_header_values(request.headers)
    require_media_type(request.headers, (_JSON,), hints=_FORM_HINT)
    return await read_limited_body(request, MAX_BODY_BYTES)


def _authenticated_parse(source: DeploySource, services: Services,
                         headers: Mapping[str, str], body: bytes) -> DeployNotice | Ignored:
    secret = services.settings.webhook_secrets.get(source.name)
    if secret is None:
        raise Unauthenticated(f"{source.label} webhooks are not enabled on this server; "
                              f"expected {source.secret_env} to be set")
    source.verify(headers, body, secret)
    return source.parse(headers, body)


async def _route_notice(services: Services, request: Request, source: DeploySource,
                        notice: DeployNotice, headers: dict[str, str], size: int,
                        on_superseded: deploys.SupersededHook | None) -> JSONResponse:
    store = services.store
    try:
        suite = await services.suites.refresh(wait=ANSWER_WAIT_S)  # an edit just made
    except ConfigError as exc:
        return await _reject(request, source, notice.delivery_id, _Unavailable(
            f"the suite file cannot be loaded ({exc.render()}); fix it and redeliver"), headers,
            size)
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
            run=deploys.deploy_run_request(
                suite, environment, notice,
                report_to=owed_report(services.settings, notice)))
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


async def _reject(request: Request, source: DeploySource, delivery_id: str | None,
                  exc: RequestRefused, headers: dict[str, str], size: int | None
                  ) -> JSONResponse:
    """Records the refusal, logs it (one rate-limited line), and answers with its status."""
    refusals: RefusalLog = request.app.state.smokebot["refusals"]
    services: Services = request.app.state.smokebot["services"]
    logged = exc
    try:
        await services.store.record_webhook_delivery(
            source.name, delivery_id or None, WebhookOutcome.REJECTED, reason=exc.reason,
            headers=headers, summary={"status": exc.status})
    except StoreError as store_exc:
        # Said on the refusal's own line: a flood with the store down stays rate-limited.
        logged = RequestRefused(f"{exc.reason} (not recorded: {store_exc.render()})",
                                status=exc.status)
    refusals.refused(request, logged, size)
    return JSONResponse({"outcome": WebhookOutcome.REJECTED.value,
                         "message": f"rejected: {exc.reason}"}, status_code=exc.status)


def _answer(delivery: WebhookDelivery, status: int = 202) -> JSONResponse:
    """The delivery's outcome. A redelivery gets the first answer again: its status and
    outcome, with `redelivery: true` (a sender may treat 200 and 202 differently)."""
    body: dict[str, Any] = {"outcome": delivery.outcome.value,
                            "message": f"{delivery.outcome.value}: {delivery.reason}",
                            "delivery_id": delivery.delivery_id,
                            "environment": delivery.environment,
                            "run_id": str(delivery.run_id) if delivery.run_id else None,
                            "redelivery": not delivery.is_new}
    return JSONResponse(body, status_code=status)


def _recorded_headers(source: DeploySource, request: Request) -> dict[str, str]:
    kept = {name: value for name in (*_RECORDED_HEADERS, *source.recorded_headers)
            if (value := _header(request, name)) is not None}
    # The address may be a proxy's X-Forwarded-For: checked like a header.
    if request.client is not None and well_formed_header(request.client.host):
        kept["remote-addr"] = request.client.host
    return kept


def _header(request: Request, name: str | None) -> str | None:
    # A value the guard refuses is not recorded either (a rejection is recorded too).
    value = request.headers.get(name) if name else None
    return value if value is not None and well_formed_header(value) else None
