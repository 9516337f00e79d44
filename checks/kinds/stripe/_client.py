"""How the stripe.* kinds reach Stripe: the parameters they share, what a key's prefix says
about it, one official `StripeClient` per check run (never the library's global `stripe.api_key`),
and every stripe exception translated into a `StripeProblem` / CheckError that names what was
asked and what to fix.

    params = StripeParams(key=..., api_base=...)    # the fields every stripe.* kind has
    async with open_stripe(params, ctx) as client:  # refuses a key of the wrong mode first
        price = await fetch(client.v1.prices.retrieve_async("price_1"), "price price_1",
                            params, ctx)

The key is never shown: messages name it by `fingerprint(key)` (`sk_test_…(32 chars)`), and
Stripe's own error messages, which quote the key's last characters
(`Invalid API Key provided: sk_test_****1234`), are rephrased, never passed on. No stripe
exception is chained onto ours, so no traceback can carry one either.

Calls use the client's async methods over httpx, each request bounded by `request_timeout`;
5xx answers, 409s and dropped connections are retried by the client itself, at most
`network_retries` times with its own backoff (the check's own `retries` come on top). The
runner's check timeout bounds the whole check.
"""

from __future__ import annotations

import enum
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any, Literal, NamedTuple, TypeVar, cast

import httpx
import stripe
from pydantic import Field, field_validator

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, KindParams
from checks.secrets import describe_secret

__all__ = [
    "DEFAULT_API_BASE", "KeyKind", "KeyType", "Mode", "ProblemKind", "StripeParams",
    "StripeProblem", "all_pages", "as_document", "attempt", "expected_mode", "fetch",
    "fingerprint", "key_mode", "mode_mismatch", "open_stripe", "stripe_client", "translate",
]

T = TypeVar("T")
Mode = Literal["test", "live"]
KeyKind = Literal["secret", "restricted", "publishable"]

DEFAULT_API_BASE = "https://api.stripe.com"
MODE_VARIABLE = "stripe_mode"  # an environment's `variables: {stripe_mode: live}`
_KEY_KINDS: dict[str, KeyKind] = {"sk": "secret", "rk": "restricted", "pk": "publishable"}
_KEY_PREFIX = re.compile(r"^(sk|rk|pk)_(test|live)_")
# Stripe quotes keys masked but with their last characters: such a token never leaves here.
_QUOTED_KEY = re.compile(r"\b(?:sk|rk|pk)_(?:test|live)_[A-Za-z0-9*_.]*")
_PERMISSION = re.compile(r"'(rak_[a-z0-9_]+)'")
_SAID_CHARS = 300  # a proxy's HTML error page is not worth more in a summary
_ACCOUNT = re.compile(r"\s*on account '[^']*'")

# stripe-python logs each error at INFO with the key masked but for its last characters, and
# each response body at DEBUG (a webhook endpoint's signing secret included): whatever level
# a CLI's --verbose sets, none of that may reach a log.
logging.getLogger("stripe").setLevel(logging.WARNING)
# stripe imports its client's modules on first use (about 50 ms): done when the kind is loaded,
# at planning, so that it never stalls a run's event loop (and the latencies it measures).
stripe.StripeClient("sk_test_warmup", http_client=stripe.HTTPXClient())


# ------------------------------------------------------------------------------ parameters

class StripeParams(KindParams):
    """The fields every stripe.* kind shares."""

    key: str = Field(min_length=1, repr=False)  # `${secrets.stripe_key}`
    api_base: str = DEFAULT_API_BASE  # an emulator's address in tests
    mode: Mode | None = None  # default: the environment's `stripe_mode` variable, else test
    # Not `timeout`/`retries`: those are every check's own (the runner's) fields.
    request_timeout: Duration = 10.0  # per request; the check's own timeout bounds the whole
    network_retries: int = Field(2, ge=0, le=5)  # by the client: on 5xx, 409, lost connections

    @field_validator("api_base")
    @classmethod
    def _api_base(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(f"expected an http:// or https:// address such as "
                             f"{DEFAULT_API_BASE}, got {value!r}")
        return value


# ------------------------------------------------------------------------------ keys

class KeyType(NamedTuple):
    """What a key's prefix says: `rk_live_...` is ("restricted", "live")."""

    kind: KeyKind
    mode: Mode


def fingerprint(key: str) -> str:
    """How messages name a key: its public kind prefix and length, `sk_test_…(32 chars)`."""
    return describe_secret(key)


def key_mode(key: str) -> KeyType:
    """The key's kind and mode from its prefix; a permanent CheckError for anything else."""
    match = _KEY_PREFIX.match(key)
    if match is None:
        raise CheckError(f"the key {fingerprint(key)} is not a Stripe API key: expected it to "
                         "start with sk_test_, sk_live_, rk_test_ or rk_live_; check the secret "
                         "the suite reads it from", permanent=True)
    return KeyType(_KEY_KINDS[match.group(1)], cast(Mode, match.group(2)))


def expected_mode(params: StripeParams, ctx: CheckContext) -> Mode:
    """The check's `mode`, else the environment's `stripe_mode` variable, else test."""
    if params.mode is not None:
        return params.mode
    configured = ctx.variables.get(MODE_VARIABLE)
    if configured is None:
        return "test"
    if configured not in ("test", "live"):
        raise CheckError(f"environment '{ctx.environment}': variable {MODE_VARIABLE} is "
                         f"{configured!r}; expected test or live", permanent=True)
    return cast(Mode, configured)


def mode_mismatch(key: str, expected: Mode, environment: str | None = None) -> str | None:
    """Why the key cannot be used where `expected` mode is wanted, or None when it can."""
    kind, mode = key_mode(key)
    where = f"environment '{environment}'" if environment else "this environment"
    if kind == "publishable":
        return (f"the key {fingerprint(key)} is a publishable key, which cannot read the "
                "account; expected a secret (sk_) or restricted (rk_) key")
    if mode != expected:
        return (f"the key {fingerprint(key)} is a {mode}-mode key, but {where} expects "
                f"{expected} mode; check which key the environment's secret holds")
    return None


# ------------------------------------------------------------------------------ the client

def stripe_client(params: StripeParams,
                  http_client: stripe.HTTPClient | None = None) -> stripe.StripeClient:
    """A client of its own for one check: pointed at `api_base`, async over httpx, each
    request bounded by `request_timeout`, at most `network_retries` retries. Whoever passes
    `http_client` closes it (`await http_client.close_async()`); `open_stripe` does."""
    if http_client is None:
        http_client = stripe.HTTPXClient(timeout=params.request_timeout)
    return stripe.StripeClient(
        params.key, base_addresses={"api": params.api_base}, http_client=http_client,
        max_network_retries=params.network_retries)


@asynccontextmanager
async def open_stripe(params: StripeParams,
                      ctx: CheckContext) -> AsyncIterator[stripe.StripeClient]:
    """A client for the check, after refusing a key of the wrong kind or mode (a live key
    where test mode is expected must never be used); closed however the check ends."""
    ctx.redactor.register(params.key)  # already, when it came from a secret; cheap to repeat
    problem = mode_mismatch(params.key, expected_mode(params, ctx), ctx.environment)
    if problem is not None:
        raise CheckError(problem, permanent=True)
    http_client = stripe.HTTPXClient(timeout=params.request_timeout)
    try:
        yield stripe_client(params, http_client)
    finally:
        await http_client.close_async()


# ------------------------------------------------------------------------------ errors

class ProblemKind(str, enum.Enum):
    REFUSED = "refused"  # 401, 403: the key does not work (for this)
    MISSING = "missing"  # 404: no such object
    INVALID = "invalid"  # another 400: the request was wrong
    UNAVAILABLE = "unavailable"  # 5xx, 429, timeouts, no connection: try again later


@dataclass(frozen=True)
class StripeProblem:
    """Why a Stripe call did not answer; kinds for which it is the finding (a missing price,
    a refused key) turn it into a failed Outcome, the others raise `error()`."""

    kind: ProblemKind
    message: str
    status: int | None = None
    permissions: tuple[str, ...] = ()  # what a restricted key lacks, e.g. rak_balance_read
    said: str = ""  # Stripe's own message, rephrased where it quoted the key

    @property
    def permanent(self) -> bool:
        return self.kind is not ProblemKind.UNAVAILABLE

    def error(self) -> CheckError:
        return CheckError(self.message, permanent=self.permanent)


async def attempt(call: Awaitable[T], subject: str, params: StripeParams,
                  ctx: CheckContext) -> T | StripeProblem:
    """Awaits one Stripe call; what went wrong comes back as a StripeProblem. `subject`
    says what was asked in the reader's words: "price price_123", "the account's balance"."""
    try:
        return await call
    except stripe.StripeError as exc:
        problem = translate(exc, subject, params)
    # Outside the except block, so that nothing of stripe's exception rides along.
    return StripeProblem(problem.kind, ctx.redactor.redact(problem.message), problem.status,
                         problem.permissions, ctx.redactor.redact(problem.said))


async def all_pages(first_page: Awaitable[stripe.ListObject[T]], limit: int) -> list[T]:
    """Every item of a list call, following `has_more` through the pages, at most `limit`
    items (a runaway account must not hold a check for minutes). Pass it to `attempt` or
    `fetch`, so that a failing later page is translated too."""
    page = await first_page
    items: list[T] = []
    async for item in page.auto_paging_iter():
        items.append(item)
        if len(items) >= limit:
            break
    return items


def as_document(obj: stripe.StripeObject) -> dict[str, Any]:
    """A Stripe object as plain JSON data, for assertions and evidence."""
    return obj.to_dict(recursive=True, for_json=True)


async def fetch(call: Awaitable[T], subject: str, params: StripeParams,
                ctx: CheckContext) -> T:
    """Awaits one Stripe call; raises the CheckError its StripeProblem words, if any."""
    result = await attempt(call, subject, params, ctx)
    if isinstance(result, StripeProblem):
        raise result.error()
    return result


def translate(exc: stripe.StripeError, subject: str, params: StripeParams) -> StripeProblem:
    """The problem, in our words, for one of stripe's exceptions."""
    said = _stripe_said(exc, params.key)
    return replace(_translated(exc, subject, params, said), said=said)


def _translated(exc: stripe.StripeError, subject: str, params: StripeParams,
                said: str) -> StripeProblem:
    key = fingerprint(params.key)
    status = exc.http_status
    if isinstance(exc, stripe.AuthenticationError):
        return StripeProblem(ProblemKind.REFUSED, f"Stripe rejected the key {key} "
                             f"({status or 401} {_auth_reason(exc)}) when reading {subject}; "
                             "check the secret the suite reads it from, and that the key has "
                             "not been rolled or revoked", status)
    if isinstance(exc, stripe.PermissionError):
        permissions = tuple(dict.fromkeys(_PERMISSION.findall(exc.user_message or "")))
        if permissions:
            names = " and ".join(permissions)
            message = (f"the restricted key {key} lacks the permission {names}, needed to "
                       f"read {subject}; grant it on the key's page in the Stripe Dashboard")
        else:
            message = f"Stripe refused to let the key {key} read {subject} (403): {said}"
        return StripeProblem(ProblemKind.REFUSED, message, status or 403, permissions)
    if isinstance(exc, stripe.RateLimitError):
        return StripeProblem(ProblemKind.UNAVAILABLE, f"Stripe rate-limited the request for "
                             f"{subject} (429){_retried(params)}; try again later", status)
    if isinstance(exc, stripe.InvalidRequestError):
        if status == 404 or exc.code == "resource_missing":
            return StripeProblem(ProblemKind.MISSING, f"{subject} does not exist: Stripe "
                                 f"answered {status or 404}: {said}", status)
        return StripeProblem(ProblemKind.INVALID, f"Stripe refused the request for {subject} "
                             f"({status}): {said}", status)
    if isinstance(exc, stripe.CardError):  # 402: the card, not the request, was refused
        return StripeProblem(ProblemKind.INVALID, f"Stripe declined the card for {subject} "
                             f"({exc.code or 'card_error'}): {said}", status or 402)
    if isinstance(exc, stripe.APIConnectionError):
        return StripeProblem(ProblemKind.UNAVAILABLE, _connection_problem(exc, subject, params))
    if isinstance(exc, stripe.APIError):
        return _api_error(exc, subject, params, said)
    return StripeProblem(ProblemKind.INVALID, f"Stripe could not answer the request for "
                         f"{subject} ({status or type(exc).__name__}): {said}", status)


def _api_error(exc: stripe.APIError, subject: str, params: StripeParams,
               said: str) -> StripeProblem:
    status = exc.http_status
    server_side = status is None or status >= 500
    if not isinstance(exc.json_body, dict):  # an HTML page from a proxy, or not Stripe at all
        if server_side:
            return StripeProblem(ProblemKind.UNAVAILABLE, f"Stripe answered the request for "
                                 f"{subject} with {status} and a body that is not Stripe's JSON"
                                 f"{_retried(params)}; Stripe, or a proxy before it, may be "
                                 "having trouble", status)
        return StripeProblem(ProblemKind.INVALID, f"{params.api_base} answered the request for "
                             f"{subject} with {status} and a body that is not Stripe's JSON; "
                             "is api_base a Stripe API?", status)
    if server_side:
        return StripeProblem(ProblemKind.UNAVAILABLE, f"Stripe answered the request for "
                             f"{subject} with {status} ({said}){_retried(params)}; Stripe may "
                             "be having trouble (status.stripe.com)", status)
    return StripeProblem(ProblemKind.INVALID, f"Stripe refused the request for {subject} "
                         f"({status}): {said}", status)


def _stripe_said(exc: stripe.StripeError, key: str) -> str:
    """Stripe's own message, without anything quoting a key or naming the account."""
    text = (exc.user_message or "").strip() or "no message"
    text = _ACCOUNT.sub("", text)
    text = _QUOTED_KEY.sub(fingerprint(key), text)
    text = " ".join(text.replace(key, fingerprint(key)).split())
    return text if len(text) <= _SAID_CHARS else f"{text[:_SAID_CHARS]}…"


def _auth_reason(exc: stripe.StripeError) -> str:
    text = (exc.user_message or "").lower()
    if text.startswith("expired api key"):
        return "expired key"
    if text.startswith("invalid api key"):
        return "invalid key"
    if "did not provide an api key" in text:
        return "no key sent"
    return "not authorised"


def _retried(params: StripeParams) -> str:
    count = params.network_retries
    if count == 0:
        return ""
    return f", still after {count} retr{'y' if count == 1 else 'ies'}"


def _connection_problem(exc: stripe.APIConnectionError, subject: str,
                        params: StripeParams) -> str:
    where = httpx.URL(params.api_base)
    address = f"{where.host}:{where.port or (443 if where.scheme == 'https' else 80)}"
    cause = exc.__cause__
    if isinstance(cause, httpx.TimeoutException):
        return (f"no answer from Stripe at {address} within {params.request_timeout:g}s when "
                f"reading {subject}{_retried(params)}")
    if isinstance(cause, httpx.ConnectError):
        refused = any(isinstance(c, ConnectionRefusedError) for c in _causes(cause))
        why = "connection refused" if refused else "cannot connect"
        return (f"cannot reach Stripe at {address} ({why}) when reading {subject}"
                f"{_retried(params)}; is api_base right?")
    name = type(cause).__name__ if cause is not None else "network error"
    return f"the request to Stripe at {address} for {subject} failed ({name}){_retried(params)}"


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain
