"""The `http` check kind: one request, judged by its status, latency, JSON body assertions and a
body regex.

    - id: health
      type: http
      url: ${base_url}/api/health
      max_latency: 500ms
      assert:
        - status == healthy
        - services.ai_providers.* == healthy

The pipeline is shared with `http.flow`, whose steps are requests of the same shape:

    HttpRequest (params) -> send_request -> Exchange -> judge -> Judgement -> Outcome

`send_request` is the I/O edge: every httpx error is translated there into a CheckError that
says what to do (connection refused, DNS, TLS verification, timeouts, redirect loops); an
invalid URL is a permanent CheckError. A target that answered wrongly is a failed Outcome.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import time
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Annotated, Any

import certifi
import httpx
from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from checks.assertions import AssertionList, evaluate, response_field
from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.paths import ResponseFacts
from checks.results import Outcome

__all__ = [
    "Exchange", "HttpCheck", "HttpClients", "HttpRequest", "Judgement", "judge", "perform",
    "send_request",
]

BODY_EXCERPT_CHARS = 4096
MAX_REDIRECTS = 20
# Shown in details when present; never cookies or anything carrying credentials.
SHOWN_HEADERS = ("content-type", "content-length", "location", "retry-after",
                 "www-authenticate", "x-request-id", "server")
_HOST = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.?)+$")


def _header_value(value: Any) -> Any:
    # YAML reads `X-Count: 5` as a number; a header is text either way.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return value


HeaderValue = Annotated[str, BeforeValidator(_header_value)]


class HttpRequest(KindParams):
    """One request and what its response must look like: the `http` kind's parameters, and
    the fields of every `http.flow` step."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str
    method: str = "GET"
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    status: int | list[int] = 200
    max_latency: Duration | None = None
    assertions: AssertionList = Field(default_factory=list, alias="assert")
    body_matches: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    follow_redirects: bool = False

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        method = value.strip().upper()
        if not re.fullmatch(r"[A-Z]+", method):
            raise ValueError(f"expected an HTTP method such as GET or POST, got {value!r}")
        return method

    @field_validator("status")
    @classmethod
    def _status(cls, value: int | list[int]) -> int | list[int]:
        codes = value if isinstance(value, list) else [value]
        if not codes:
            raise ValueError("expected at least one status code")
        for code in codes:
            if not 100 <= code <= 599:
                raise ValueError(f"expected HTTP status codes between 100 and 599, got {code}")
        return value

    @field_validator("body_matches")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {value!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _consistent(self) -> HttpRequest:
        if self.json_body is not None and self.body is not None:
            raise ValueError("set either 'json' or 'body', not both")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("'ca_file' has no effect with 'verify_tls: false'; keep one")
        return self

    @property
    def expected_statuses(self) -> list[int]:
        """The statuses the response may have; empty when a `$status` assertion says instead
        of the default 200 (an explicit `status:` still applies)."""
        if "status" not in self.model_fields_set and any(
                response_field(a) == "status" for a in self.assertions):
            return []
        return self.status if isinstance(self.status, list) else [self.status]

    def describe(self) -> str:
        return f"{self.method} {self.url}"


# ------------------------------------------------------------------------------ sending

class HttpClients:
    """The httpx clients of one check run, one per TLS setting (TLS is fixed per client);
    a flow's steps share them, so connections are reused between steps.

    `timeout` is None for checks: the runner enforces each check's own timeout."""

    def __init__(self, timeout: float | None = None) -> None:
        self.timeout = timeout
        self._clients: dict[tuple[bool, str | None], httpx.AsyncClient] = {}

    async def __aenter__(self) -> HttpClients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def client_for(self, request: HttpRequest) -> httpx.AsyncClient:
        key = (request.verify_tls, request.ca_file)
        client = self._clients.get(key)
        if client is None:
            client = httpx.AsyncClient(verify=_tls_verification(request), timeout=self.timeout,
                                       max_redirects=MAX_REDIRECTS)
            self._clients[key] = client
        return client


@lru_cache(maxsize=32)
def _ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Loading a CA bundle costs ~20 ms of CPU; 40 checks starting at once would queue behind
    each other's loads, so contexts are built once and shared (they are safe to share)."""
    return ssl.create_default_context(cafile=ca_file or certifi.where())


def _tls_verification(request: HttpRequest) -> ssl.SSLContext | bool:
    if not request.verify_tls:
        return False
    try:
        return _ssl_context(request.ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckError(f"cannot use ca_file '{request.ca_file}': {reason}; expected a PEM "
                         "file holding the CA certificate", permanent=True) from exc


@dataclass(frozen=True)
class Exchange:
    """A request that got a response, with what was measured."""

    method: str
    url: str
    status: int
    reason: str
    http_version: str
    headers: httpx.Headers
    content: bytes
    text: str
    elapsed_ms: float
    redirects: int = 0

    @property
    def response_ms(self) -> int:
        return round(self.elapsed_ms)

    @cached_property
    def document(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.content)

    @property
    def facts(self) -> ResponseFacts:
        """The response for `$status`, `$headers.NAME` and `$elapsed_ms` assertions."""
        # httpx lower-cases names and joins a repeated header's values with ", "
        headers = {name: self.headers[name] for name in self.headers.keys()}
        return ResponseFacts(status=self.status, headers=headers, elapsed_ms=self.elapsed_ms)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def parse_url(raw: str) -> httpx.URL:
    """The URL to request; a permanent CheckError says what is wrong with an invalid one."""
    try:
        url = httpx.URL(raw)
    except httpx.InvalidURL as exc:
        raise CheckError(f"invalid url '{raw}': {exc}", permanent=True) from exc
    if url.scheme not in ("http", "https"):
        raise CheckError(f"invalid url '{raw}': expected it to start with http:// or https://",
                         permanent=True)
    host = url.raw_host.decode("ascii", "replace")
    if not host or not (_HOST.match(host) or (host.count(":") >= 2)):
        raise CheckError(f"invalid url '{raw}': expected a host name or address after "
                         f"{url.scheme}://", permanent=True)
    if url.port is not None and not 0 < url.port < 65536:
        raise CheckError(f"invalid url '{raw}': port {url.port} is out of range (1-65535)",
                         permanent=True)
    return url


async def send_request(client: httpx.AsyncClient, request: HttpRequest) -> Exchange:
    """Sends the request and reads the whole response; raises CheckError when it could not."""
    url = parse_url(request.url)
    content = request.body.encode("utf-8") if request.body is not None else None
    started = time.perf_counter()
    try:
        response = await client.request(
            request.method, url, headers=request.headers, json=request.json_body,
            content=content, follow_redirects=request.follow_redirects)
    except httpx.HTTPError as exc:
        raise transport_error(exc, url) from exc
    except UnicodeEncodeError as exc:  # httpx sends header values as ASCII
        raise CheckError(f"cannot send {request.method} {url}: a header value is not ASCII "
                         f"({exc.object[exc.start:exc.end]!r})", permanent=True) from exc
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Exchange(method=request.method, url=str(response.url), status=response.status_code,
                    reason=response.reason_phrase, http_version=response.http_version,
                    headers=response.headers, content=response.content, text=response.text,
                    elapsed_ms=elapsed_ms, redirects=len(response.history))


def _address(url: httpx.URL) -> str:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.host if ":" not in url.host else f"[{url.host}]"
    return f"{host}:{port}"


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and everything it was raised from, outermost first."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def transport_error(exc: httpx.HTTPError, url: httpx.URL) -> CheckError:
    """The CheckError, with what to do about it, for an httpx error."""
    where = _address(url)
    timeout = _timeout_text(exc)
    if isinstance(exc, httpx.UnsupportedProtocol):
        return CheckError(f"invalid url '{url}': expected it to start with http:// or https://",
                          permanent=True)
    if isinstance(exc, httpx.TooManyRedirects):
        return CheckError(f"too many redirects (more than {MAX_REDIRECTS}) starting at {url}; "
                          "check for a redirect loop")
    if isinstance(exc, httpx.ConnectTimeout):
        return CheckError(f"cannot connect to {where}: no answer{timeout} (connect timeout)")
    if isinstance(exc, httpx.ReadTimeout):
        return CheckError(f"no response from {where}{timeout} (read timeout)")
    if isinstance(exc, httpx.TimeoutException):
        return CheckError(f"request to {where} timed out{timeout}")
    if isinstance(exc, httpx.ConnectError):
        return _connect_error(exc, url, where)
    if isinstance(exc, httpx.RemoteProtocolError):
        return CheckError(f"{where} did not answer with valid HTTP: {exc}; is it an HTTP "
                          "server, and is the scheme (http/https) right?")
    return CheckError(f"request to {url} failed: {exc or type(exc).__name__}")


def _timeout_text(exc: httpx.HTTPError) -> str:
    try:
        timeouts = exc.request.extensions.get("timeout", {})
    except RuntimeError:  # an error raised before any request was built
        return ""
    phases: dict[type[httpx.HTTPError], str] = {
        httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read",
        httpx.WriteTimeout: "write", httpx.PoolTimeout: "pool"}
    kind = phases.get(type(exc))
    seconds = timeouts.get(kind) if kind else None
    return f" within {seconds:g}s" if isinstance(seconds, (int, float)) else ""


def _connect_error(exc: httpx.ConnectError, url: httpx.URL, where: str) -> CheckError:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "certificate verify failed"
            return CheckError(
                f"TLS verification failed for {where}: certificate verify failed: {reason}; "
                "set ca_file to the CA certificate that signed the server's certificate, or "
                "verify_tls: false to skip verification (never against production)")
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or str(cause)
            return CheckError(f"TLS handshake with {where} failed: {reason}; is it serving "
                              "HTTPS on that port (or should the url start with http://)?")
        if isinstance(cause, ConnectionRefusedError):
            return CheckError(f"cannot connect to {where}: connection refused",
                              details=f"nothing is listening on {where}: is the service "
                                      "running, and are the host and port in the url right?")
        if isinstance(cause, socket.gaierror):
            return CheckError(f"cannot resolve host '{url.host}': DNS lookup failed "
                              f"({cause.strerror or cause}); check the host name in the url")
    return CheckError(f"cannot connect to {where}: {exc}")


# ------------------------------------------------------------------------------ judging

@dataclass(frozen=True)
class Judgement:
    """An exchange and what was wrong with it (nothing, when it passed)."""

    request: HttpRequest
    exchange: Exchange
    failures: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def summary(self) -> str:
        if self.failures:
            return "; ".join(self.failures)
        ex = self.exchange
        return f"{_status_text(ex)} in {ex.response_ms} ms"

    @property
    def measurements(self) -> dict[str, Any]:
        ex = self.exchange
        return {"response_ms": ex.response_ms, "status": ex.status, "bytes": len(ex.content)}

    @property
    def evidence(self) -> dict[str, Any]:
        ex = self.exchange
        return {"method": ex.method, "url": ex.url, "status": ex.status,
                "headers": _shown_headers(ex), "failures": list(self.failures)}

    def details(self) -> str:
        """The failures one per line, then the response: status line, headers, body."""
        lines = [*self.failures, *self.notes]
        if lines:
            lines.append("")
        return "\n".join([*lines, render_exchange(self.exchange)])

    def outcome(self) -> Outcome:
        make = Outcome.ok if self.passed else Outcome.failed
        try:
            document = self.exchange.document
        except ValueError:  # not JSON: nothing for a `version:` path to look into
            document = None
        return make(self.summary, details=self.details(), measurements=self.measurements,
                    evidence=self.evidence, document=document)


def judge(request: HttpRequest, exchange: Exchange) -> Judgement:
    failures: list[str] = []
    notes: list[str] = []
    expected = request.expected_statuses
    status_ok = not expected or exchange.status in expected
    if not status_ok:
        failures.append(_status_failure(expected, exchange))
    if request.max_latency is not None:
        limit_ms = request.max_latency * 1000
        if exchange.response_ms > limit_ms:
            failures.append(f"response took {exchange.response_ms} ms, over the "
                            f"{limit_ms:g} ms limit")
    body_checks = bool(request.assertions) or request.body_matches is not None
    if body_checks and not status_ok:
        # The body assertions describe the expected response; on another status they only add noise.
        notes.append("body not checked: the status was not the expected one")
    elif body_checks:
        failures.extend(_body_failures(request, exchange))
    return Judgement(request, exchange, tuple(failures), tuple(notes))


def _status_failure(expected: list[int], exchange: Exchange) -> str:
    wanted = " or ".join(str(code) for code in expected)
    message = f"expected status {wanted}, got {exchange.status}"
    location = exchange.headers.get("location")
    if 300 <= exchange.status < 400 and location:
        message += f" (redirect to {location}; set follow_redirects: true to follow it)"
    return message


def _body_failures(request: HttpRequest, exchange: Exchange) -> list[str]:
    failures: list[str] = []
    on_body = [a for a in request.assertions if response_field(a) is None]
    document = None
    if on_body:
        try:
            document = exchange.document
        except ValueError:
            what = exchange.content_type or "a body without a content type"
            failures.append(f"expected a JSON body for {len(on_body)} assertion"
                            f"{'s' if len(on_body) != 1 else ''}, got {what} that is not JSON")
            on_body = []
    # A response that is not JSON still answers `$status` and `$headers` assertions.
    wanted = [a for a in request.assertions if response_field(a) or a in on_body]
    failures.extend(evaluate(wanted, document, exchange.facts))
    if request.body_matches is not None and not re.search(request.body_matches, exchange.text):
        failures.append(f"body does not match /{request.body_matches}/")
    return failures


def _status_text(exchange: Exchange) -> str:
    return f"{exchange.status} {exchange.reason}" if exchange.reason else str(exchange.status)


def _shown_headers(exchange: Exchange) -> dict[str, str]:
    return {name: exchange.headers[name] for name in SHOWN_HEADERS if name in exchange.headers}


def render_exchange(exchange: Exchange) -> str:
    """`GET url`, the status line with time and size, a few headers, a body excerpt."""
    hops = f", after {exchange.redirects} redirect{'s' if exchange.redirects != 1 else ''}" \
        if exchange.redirects else ""
    lines = [f"{exchange.method} {exchange.url}",
             f"{exchange.http_version} {_status_text(exchange)} "
             f"({exchange.response_ms} ms, {len(exchange.content)} bytes{hops})"]
    lines += [f"{name}: {value}" for name, value in _shown_headers(exchange).items()]
    excerpt = body_excerpt(exchange)
    if excerpt:
        lines += ["", excerpt]
    return "\n".join(lines)


def body_excerpt(exchange: Exchange, limit: int = BODY_EXCERPT_CHARS) -> str:
    if not exchange.content:
        return ""
    if "\x00" in exchange.text:
        return f"({len(exchange.content)} bytes of binary content)"
    try:
        text = json.dumps(exchange.document, indent=2, ensure_ascii=False)
    except ValueError:
        text = exchange.text
    if len(text) > limit:
        text = f"{text[:limit]}\n… (truncated; the body has {len(exchange.content)} bytes)"
    return text


async def perform(clients: HttpClients, request: HttpRequest) -> Judgement:
    """Sends one request and judges its response: the step both kinds are made of."""
    exchange = await send_request(clients.client_for(request), request)
    return judge(request, exchange)


# ------------------------------------------------------------------------------ the kind

class HttpCheck(CheckKind[HttpRequest]):
    Params = HttpRequest

    async def run(self, params: HttpRequest, ctx: CheckContext) -> Outcome:
        async with HttpClients() as clients:
            judgement = await perform(clients, params)
        return judgement.outcome()

    def describe(self, params: HttpRequest) -> str:
        return params.describe()
