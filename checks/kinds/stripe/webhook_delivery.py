"""The `stripe.webhook_delivery` check kind: the app's Stripe webhook endpoint acknowledges the
events it must handle, signed as Stripe signs them, and refuses forged ones.

    - id: stripe-webhooks
      type: stripe.webhook_delivery
      url: ${base_url}/webhooks/stripe
      secret: ${secrets.stripe_webhook_secret}

One synthetic event per type in `events` (`evt_smokebot_<run>_<n>`, `<run>` being `${run.id}`)
is signed with the endpoint's secret (`Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>">`) and POSTed; each must be answered 2xx (`expect_status`). With
`negative_probes` two forged deliveries go along, a signature made with another secret and a
timestamp older than `tolerance`, and each must be refused with a 4xx.

    params -> build_event (Stripe's event JSON) -> signed -> every delivery at once (at most
    MAX_IN_FLIGHT) -> _Answer each -> judged -> Outcome

All deliveries go out together: the check takes as long as its slowest delivery. One that gets
no answer within `request_timeout` is a failed delivery; when none got any answer (refused
connection, every request timed out) the check could not look, which is a CheckError. The
ids are the same in every attempt of a run, as in Stripe's own redeliveries: an app that
recorded an event must acknowledge it again.

The events and their signatures come from `_synthetic_events` (hmac, as
`stripe.WebhookSignature` signs, without importing the SDK; the tests' app verifies them with
the SDK's `Webhook.construct_event`). The secret is registered with the run's redactor before
anything is sent, and the Outcome is redacted before it is returned.
"""

from __future__ import annotations

import asyncio
import enum
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, PlainValidator, WithJsonSchema, field_validator

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.kinds.http import (
    Exchange, HeaderValue, HttpClients, HttpRequest, parse_url, render_exchange, send_request,
)
from checks.kinds.stripe._synthetic_events import (
    DEFAULT_API_VERSION, DEFAULT_EVENTS, build_event, signature_header,
)
from checks.results import Outcome
from checks.secrets import Secret

__all__ = ["Probe", "WebhookDeliveryCheck", "WebhookDeliveryParams"]

MAX_IN_FLIGHT = 10
# The stale probe's age beyond the tolerance: an app whose clock is this much behind ours
# would rightly accept it.
STALE_MARGIN_S = 300
FAILURES_IN_SUMMARY = 3
USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks; smokebot)"
_OWN_HEADERS = ("stripe-signature", "content-type")  # the check's to set, never the suite's
_EVENT_TYPE = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+)+$")
_API_KEY = re.compile(r"^(sk|rk|pk)_(test|live)_")


def _signing_secret(value: Any) -> Secret:
    if isinstance(value, Secret):
        return value
    # Never quote the value: it is the secret, and it may not be registered for redaction yet.
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected the endpoint's signing secret (whsec_...), such as "
                         "${secrets.stripe_webhook_secret}")
    if _API_KEY.match(value):
        raise ValueError("expected the webhook endpoint's signing secret (whsec_...), got a "
                         "Stripe API key; the dashboard shows the signing secret on the "
                         "endpoint's page")
    return Secret(value)


SigningSecret = Annotated[Secret, PlainValidator(_signing_secret), WithJsonSchema({
    "type": "string", "description": "the endpoint's signing secret (whsec_...), such as "
                                     "${secrets.stripe_webhook_secret}"})]


class WebhookDeliveryParams(KindParams):
    url: str = Field(min_length=1)
    secret: SigningSecret
    events: list[str] = Field(default_factory=lambda: list(DEFAULT_EVENTS), min_length=1,
                              max_length=50)
    negative_probes: bool = True
    tolerance: Duration = 300.0  # the app's: Stripe's libraries refuse older timestamps
    request_timeout: Duration = 5.0  # per delivery; the check's own timeout bounds the whole
    expect_status: Literal["2xx"] | int | list[int] = "2xx"
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    api_version: str = DEFAULT_API_VERSION
    customer: str | None = None  # a customer the app knows; default cus_smokebot_<run>
    verify_tls: bool = True
    ca_file: str | None = None

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        for event_type in value:
            if not _EVENT_TYPE.match(event_type):
                raise ValueError(f"expected Stripe event types such as "
                                 f"customer.subscription.created, got {event_type!r}")
        repeated = sorted({t for t in value if value.count(t) > 1})
        if repeated:
            raise ValueError(f"each event type once; listed more than once: "
                             f"{', '.join(repeated)}")
        return value

    @field_validator("expect_status")
    @classmethod
    def _statuses(cls, value: str | int | list[int]) -> str | int | list[int]:
        codes = [] if isinstance(value, str) else value if isinstance(value, list) else [value]
        if isinstance(value, list) and not codes:
            raise ValueError("expected at least one status code, or 2xx")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"expected HTTP status codes between 100 and 599, got {code}")
        return value

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"header {name} is set by the check itself; remove it")
        return value

    def accepts(self, status: int) -> bool:
        if self.expect_status == "2xx":
            return 200 <= status < 300
        codes = self.expect_status if isinstance(self.expect_status, list) else \
            [self.expect_status]
        return status in codes

    @property
    def expected_text(self) -> str:
        if isinstance(self.expect_status, str):
            return self.expect_status
        codes = self.expect_status if isinstance(self.expect_status, list) else \
            [self.expect_status]
        return " or ".join(str(code) for code in codes)


# ------------------------------------------------------------------------------ deliveries

class Probe(str, enum.Enum):
    WRONG_SIGNATURE = "wrong_signature"
    STALE_TIMESTAMP = "stale_timestamp"


@dataclass(frozen=True)
class _Delivery:
    label: str  # the event type, or what is forged about a probe
    event_id: str
    payload: bytes
    signature: str
    probe: Probe | None = None


@dataclass(frozen=True)
class _Answer:
    delivery: _Delivery
    elapsed_ms: float
    exchange: Exchange | None = None
    error: CheckError | None = None

    @property
    def response_ms(self) -> int:
        return round(self.elapsed_ms)

    @property
    def seen(self) -> str:
        """What came back, for messages: `500`, or the transport error."""
        if self.exchange is not None:
            return str(self.exchange.status)
        return self.error.message if self.error is not None else "nothing"


def _deliveries(params: WebhookDeliveryParams, run_id: str, now: int) -> list[_Delivery]:
    secret = params.secret.reveal()

    def delivery(event_type: str, n: int | str, created: int, signed_with: str,
                 label: str, probe: Probe | None = None) -> _Delivery:
        event = build_event(event_type, run_id=run_id, n=n, created=created,
                            api_version=params.api_version, customer=params.customer)
        payload = json.dumps(event, indent=2).encode("utf-8")  # indented, as Stripe sends it
        return _Delivery(label, event["id"], payload,
                         signature_header(payload, signed_with, created), probe)

    planned = [delivery(t, n, now, secret, t) for n, t in enumerate(params.events, start=1)]
    if params.negative_probes:
        first = params.events[0]
        stale_age = round(params.tolerance) + STALE_MARGIN_S
        planned += [
            delivery(first, "probe_signature", now, f"whsec_{secrets.token_hex(16)}",
                     "a wrong signature", Probe.WRONG_SIGNATURE),
            delivery(first, "probe_stale", now - stale_age, secret,
                     f"a timestamp {stale_age} s old (over the {params.tolerance:g} s "
                     "tolerance)", Probe.STALE_TIMESTAMP),
        ]
    return planned


async def _send(clients: HttpClients, params: WebhookDeliveryParams, delivery: _Delivery,
                where: str) -> _Answer:
    own_agent = any(name.lower() == "user-agent" for name in params.headers)
    headers = {**({} if own_agent else {"User-Agent": USER_AGENT}), **params.headers,
               "Content-Type": "application/json; charset=utf-8",
               "Stripe-Signature": delivery.signature}
    request = HttpRequest(url=params.url, method="POST", headers=headers,
                          body=delivery.payload.decode("utf-8"), verify_tls=params.verify_tls,
                          ca_file=params.ca_file)
    started = time.perf_counter()
    try:
        async with asyncio.timeout(params.request_timeout):
            exchange = await send_request(clients.client_for(request), request)
    except CheckError as exc:
        return _Answer(delivery, (time.perf_counter() - started) * 1000, error=exc)
    except TimeoutError:
        error = CheckError(f"no answer from {where} within {params.request_timeout:g}s")
        return _Answer(delivery, (time.perf_counter() - started) * 1000, error=error)
    return _Answer(delivery, exchange.elapsed_ms, exchange=exchange)


async def _deliver_all(params: WebhookDeliveryParams,
                       deliveries: list[_Delivery]) -> list[_Answer]:
    url = parse_url(params.url)  # an invalid URL is one permanent error, not one per event
    where = url.netloc.decode("ascii", "replace")
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)

    async def one(delivery: _Delivery) -> _Answer:
        async with gate:
            return await _send(clients, params, delivery, where)

    async with HttpClients() as clients:
        return list(await asyncio.gather(*(one(d) for d in deliveries)))


# ------------------------------------------------------------------------------ judging

def _event_failure(params: WebhookDeliveryParams, answer: _Answer) -> str | None:
    label, expected = answer.delivery.label, params.expected_text
    if answer.exchange is None:
        return f"{label}: {answer.seen}; expected {expected}"
    status = answer.exchange.status
    if params.accepts(status):
        return None
    location = answer.exchange.headers.get("location")
    if 300 <= status < 400 and location:
        return (f"{label}: the app answered {status} (redirect to {location}); expected "
                f"{expected}: Stripe does not follow redirects")
    return f"{label}: the app answered {status}; expected {expected}"


def _refused(answer: _Answer) -> bool:
    return answer.exchange is not None and 400 <= answer.exchange.status < 500


def _probe_failures(probes: list[_Answer]) -> list[str]:
    accepted = [a for a in probes if a.exchange is not None and a.exchange.status < 300]
    failures = []
    if accepted:
        got = ", ".join(f"{a.delivery.label} got {a.seen}" for a in accepted)
        failures.append(f"the webhook endpoint accepts forged events: {got}; expected 4xx")
    # Neither accepted nor refused (a 5xx, a redirect, no answer): not what a verifier does.
    failures += [f"a forged event was not refused: {a.delivery.label} got {a.seen}; expected 4xx"
                 for a in probes if not _refused(a) and all(a is not b for b in accepted)]
    return failures


def _secret_hint(params: WebhookDeliveryParams, events: list[_Answer]) -> str | None:
    """Every event refused with the same 4xx usually means the app holds another secret."""
    statuses = {a.exchange.status if a.exchange is not None else None for a in events}
    status = statuses.pop() if len(statuses) == 1 else None
    if status in (400, 401, 403) and not params.accepts(status):
        return (f"every event was refused with {status}: is `secret` the signing secret of "
                "this endpoint (Stripe dashboard: Webhooks, the endpoint, Signing secret)?")
    return None


def _line(answer: _Answer, verdict: str) -> str:
    return (f"{answer.delivery.label}: {answer.delivery.event_id}: {answer.seen} in "
            f"{answer.response_ms} ms: {verdict}")


def _conclude(params: WebhookDeliveryParams, run_id: str, answers: list[_Answer],
              wall_ms: float) -> Outcome:
    if all(a.exchange is None for a in answers):  # nothing answered: the check could not look
        raise CheckError("; ".join(dict.fromkeys(a.seen for a in answers)),
                         permanent=all(a.error is not None and a.error.permanent
                                       for a in answers),
                         details="\n".join(f"{a.delivery.label}: {a.delivery.event_id}: "
                                           f"{a.seen}" for a in answers))
    events = [a for a in answers if a.delivery.probe is None]
    probes = [a for a in answers if a.delivery.probe is not None]
    event_failures = [_event_failure(params, a) for a in events]
    failures = [f for f in event_failures if f is not None] + _probe_failures(probes)
    hint = _secret_hint(params, events)

    lines = [f"POST {params.url}, run {run_id}"]
    lines += [_line(a, "FAILED" if f else "ok") for a, f in zip(events, event_failures)]
    lines += [_line(a, "refused" if _refused(a) else "NOT REFUSED") for a in probes]
    if hint:
        lines += ["", hint]
    failed = [a for a, f in zip(events, event_failures) if f] + \
        [a for a in probes if not _refused(a)]
    for answer in failed:  # what the app said, to debug with
        if answer.exchange is not None:
            lines += ["", f"{answer.delivery.label}:", render_exchange(answer.exchange)]

    slowest = max(a.response_ms for a in answers)
    if failures:
        shown = failures[:FAILURES_IN_SUMMARY]
        more = len(failures) - len(shown)
        summary = "; ".join(shown) + (f"; and {more} more" if more else "")
        summary += f"; {hint}" if hint else ""
    else:
        summary = f"{len(events)} events acknowledged (slowest {slowest} ms)"
        summary += (f"; forged events refused ({', '.join(a.seen for a in probes)})" if probes
                    else "; negative probes off")
    measurements = {"response_ms": slowest, "wall_ms": round(wall_ms), "events": len(events),
                    "event_response_ms": {a.delivery.label: a.response_ms for a in events}}
    evidence = {
        "url": params.url, "run_id": run_id,
        "events": {a.delivery.label: _answer_evidence(a, passed=f is None)
                   for a, f in zip(events, event_failures)},
        "probes": {a.delivery.probe.value: _answer_evidence(a, refused=_refused(a))
                   for a in probes if a.delivery.probe is not None},
    }
    return Outcome(passed=not failures, summary=summary, details="\n".join(lines),
                   measurements=measurements, evidence=evidence)


def _answer_evidence(answer: _Answer, **verdict: bool) -> dict[str, Any]:
    status = answer.exchange.status if answer.exchange is not None else None
    facts: dict[str, Any] = {"id": answer.delivery.event_id, "status": status,
                             "response_ms": answer.response_ms, **verdict}
    if answer.error is not None:
        facts["error"] = answer.error.message
    return facts


# ------------------------------------------------------------------------------ the kind

def _run_id(ctx: CheckContext) -> str:
    """`${run.id}`, so that a later check of the run can find the events."""
    # A context built without a plan: unique, findable by no one.
    return ctx.run_id or uuid.uuid4().hex[:12]


class WebhookDeliveryCheck(CheckKind[WebhookDeliveryParams]):
    Params = WebhookDeliveryParams

    async def run(self, params: WebhookDeliveryParams, ctx: CheckContext) -> Outcome:
        # Already registered when it came from a secret; a literal in the suite is not.
        ctx.redactor.register(params.secret)
        if params.ca_file:  # a relative one starts at the suite file's folder
            params = params.model_copy(update={"ca_file": str(ctx.resolve_path(params.ca_file))})
        run_id = _run_id(ctx)
        deliveries = _deliveries(params, run_id, int(time.time()))
        started = time.perf_counter()
        try:
            answers = await _deliver_all(params, deliveries)
            outcome = _conclude(params, run_id, answers,
                                (time.perf_counter() - started) * 1000)
        except CheckError as exc:
            raise CheckError(ctx.redactor.redact(exc.message), permanent=exc.permanent,
                             details=ctx.redactor.redact(exc.details)) from None
        redact = ctx.redactor
        return Outcome(passed=outcome.passed, summary=redact.redact(outcome.summary),
                       details=redact.redact(outcome.details),
                       measurements=redact.redact_obj(outcome.measurements),
                       evidence=redact.redact_obj(outcome.evidence))

    def describe(self, params: WebhookDeliveryParams) -> str:
        count = len(params.events)
        probes = "; forged ones must be refused" if params.negative_probes else ""
        return (f"POST {count} signed Stripe event{'s' if count != 1 else ''} to "
                f"{params.url}{probes}")
