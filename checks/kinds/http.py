"""The `http` check kind: one request, judged by its status, latency, JSON body assertions and a
body regex.

    - id: health
      type: http
      url: ${base_url}/api/health
      max_latency: 500ms
      warn_latency: 300ms   # slower passes, as `slow`: worth a look, not a failure
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

import functools
import json
import re
import socket
import ssl
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from checks.assertions import AssertionList, evaluate, response_field
from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind, KindParams, resolve_path
from checks.kinds.tls_probe import TlsExpectations, TlsTarget, judge_tls, merge_tls, probe
from checks.paths import ResponseFacts
from checks.results import Outcome

if TYPE_CHECKING:  # imported when a request is sent: `smokebot validate` never loads httpx
    import httpx
if "httpx" not in sys.modules:
    # httpx's package imports its command line (click, rich, pygments) when they are
    # installed, as they are here: ~20 ms of every one-check run for code we never call.
    sys.modules.setdefault("httpx._main", None)

__all__ = [
    "Exchange", "HttpCheck", "HttpCheckParams", "HttpClients", "HttpMethod", "HttpRequest",
    "Judgement", "StatusCodes", "judge", "perform", "send_request", "ssl_context", "status_codes",
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


def _http_method(value: str) -> str:
    method = value.strip().upper()
    if not re.fullmatch(r"[A-Z]+", method):
        raise ValueError(f"expected an HTTP method such as GET or POST, got {value!r}")
    return method


def status_codes(value: int | list[int]) -> int | list[int]:
    """A status code or a list of them, each a real HTTP status (100-599)."""
    codes = value if isinstance(value, list) else [value]
    if not codes:
        raise ValueError("expected at least one status code")
    for code in codes:
        if not 100 <= code <= 599:
            raise ValueError(f"expected HTTP status codes between 100 and 599, got {code}")
    return value


# The request fields every HTTP-speaking kind shares (http, http.flow steps, load, ratelimit).
HttpMethod = Annotated[str, AfterValidator(_http_method)]
StatusCodes = Annotated[int | list[int], AfterValidator(status_codes)]


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:g} ms"


class HttpRequest(KindParams):
    """One request and what its response must look like: the `http` kind's parameters, and
    the fields of every `http.flow` step."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str
    method: HttpMethod = "GET"
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    status: StatusCodes = 200
    max_latency: Duration | None = None
    warn_latency: Duration | None = None  # slower still passes, as a `slow` warning
    assertions: AssertionList = Field(default_factory=list, alias="assert")
    body_matches: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None
    follow_redirects: bool = False

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
        if (self.warn_latency is not None and self.max_latency is not None
                and self.warn_latency >= self.max_latency):
            raise ValueError(f"'warn_latency' ({_ms(self.warn_latency)}) must be below "
                             f"'max_latency' ({_ms(self.max_latency)}): slower than "
                             "warn_latency is a warning, slower than max_latency a failure")
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

class HttpConnections:
    """Connection pools, one per TLS setting (verify or not, against which CA file). A run's
    `http` checks share one (`ctx.resources`), so a check reuses the connection an earlier
    check to the same host left open, and no check pays for a pool of its own.

    The pools are aiohttp's, behind httpx (checks/kinds/http_transport.py). With a proxy set
    in the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) there is no pool here: each client
    then makes httpx's own transport, which honours the proxy."""

    def __init__(self) -> None:
        from urllib.request import getproxies_environment  # what httpx reads

        self._transports: dict[tuple[bool, str | None], httpx.AsyncBaseTransport] = {}
        self._proxied = bool({"http", "https", "all"} & set(getproxies_environment()))

    def transport_for(self, setting: tuple[bool, str | None],
                      verify: Callable[[], ssl.SSLContext | bool]
                      ) -> httpx.AsyncBaseTransport | None:
        """The pool for a TLS setting (verify_tls, the CA file's path), which asks `verify` for
        its SSL context at its first https request; None when a proxy is set."""
        if self._proxied:
            return None
        transport = self._transports.get(setting)
        if transport is None:
            from checks.kinds.http_transport import AiohttpTransport

            transport = self._transports[setting] = AiohttpTransport(verify)
        return transport

    async def aclose(self) -> None:
        transports, self._transports = list(self._transports.values()), {}
        for transport in transports:
            await transport.aclose()


class HttpClients:
    """The httpx clients of one check, one per TLS setting (TLS is fixed per client); a
    flow's steps share them, and with them their cookies and connections.

    The clients send through `connections`: the run's, when given (they outlive the check),
    else pools of their own, closed with the clients. `timeout` is None for checks: the runner
    enforces each check's own timeout."""

    def __init__(self, timeout: float | None = None, base_dir: Path | None = None,
                 connections: HttpConnections | None = None) -> None:
        self.timeout = timeout
        self.base_dir = base_dir  # where a relative ca_file starts: the suite file's folder
        self._own_connections = connections is None
        self._connections = HttpConnections() if connections is None else connections
        self._clients: dict[tuple[bool, str | None], httpx.AsyncClient] = {}
        self._closing: list[httpx.AsyncClient] = []  # those with a transport of their own

    @classmethod
    def for_check(cls, ctx: CheckContext) -> HttpClients:
        """A check's clients: through the run's pools when it runs in one (a check to a host
        the run has spoken to reuses that connection), a relative ca_file from the suite's
        folder."""
        shared = ctx.resources.get(HttpConnections) if ctx.resources is not None else None
        return cls(base_dir=ctx.suite_dir, connections=shared)

    async def __aenter__(self) -> HttpClients:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        # A client sending through a shared pool is not closed: closing it would close the pool.
        closing, self._closing, self._clients = self._closing, [], {}
        for client in closing:
            await client.aclose()
        if self._own_connections:
            await self._connections.aclose()

    def client_for(self, request: HttpRequest) -> httpx.AsyncClient:
        key = (request.verify_tls, request.ca_file)
        client = self._clients.get(key)
        if client is None:
            import httpx

            ca_file = str(resolve_path(request.ca_file, self.base_dir)) if request.ca_file else None
            verify = functools.partial(_tls_verification, request, ca_file)
            if ca_file is not None:
                verify()  # a ca_file that cannot be used fails the check before it sends
            # The default CA bundle (~20 ms to load) only when a request is https.
            transport = self._connections.transport_for((request.verify_tls, ca_file), verify)
            # `verify` is the pool's when there is one; httpx's own transport needs it now.
            client = httpx.AsyncClient(verify=verify() if transport is None else True,
                                       transport=transport, timeout=self.timeout,
                                       max_redirects=MAX_REDIRECTS)
            if transport is None:
                self._closing.append(client)
            self._clients[key] = client
        return client


@lru_cache(maxsize=32)
def ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Loading a CA bundle costs ~20 ms of CPU; 40 checks starting at once would queue behind
    each other's loads, so contexts are built once per process and shared by every kind that
    speaks HTTP (they are safe to share)."""
    import certifi

    return ssl.create_default_context(cafile=ca_file or certifi.where())


def _tls_verification(request: HttpRequest, ca_file: str | None) -> ssl.SSLContext | bool:
    """`ca_file` is the request's, resolved from the suite file's folder."""
    if not request.verify_tls:
        return False
    try:
        return ssl_context(ca_file)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        where = f" ({ca_file})" if ca_file != request.ca_file else ""
        raise CheckError(f"cannot use ca_file '{request.ca_file}'{where}: {reason}; expected a "
                         "PEM file holding the CA certificate", permanent=True) from exc


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

    @cached_property
    def facts(self) -> ResponseFacts:
        """The response for `$status`, `$headers.NAME` and `$elapsed_ms` assertions."""
        # Names lower-cased and a repeated header's values joined with ", ", as httpx's
        # `headers[name]` gives them (read in one pass: each of those is a scan of them all).
        values: dict[str, list[str]] = {}
        for name, value in self.headers.multi_items():
            values.setdefault(name, []).append(value)
        headers = {name: ", ".join(each) for name, each in values.items()}
        return ResponseFacts(status=self.status, headers=headers, elapsed_ms=self.elapsed_ms)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def parse_url(raw: str) -> httpx.URL:
    """The URL to request; a permanent CheckError says what is wrong with an invalid one."""
    import httpx

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
    import httpx

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
    import httpx

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
    import httpx

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
    # A pass slower than `warn_latency`: "412 ms, over the 300 ms warn_latency". None on failure.
    warning: str | None = None

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def summary(self) -> str:
        if self.failures:
            return "; ".join(self.failures)
        ex = self.exchange
        if self.warning:
            return f"{_status_text(ex)} in {self.warning}"
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
        lines = [*self.failures, *self.notes, *([self.warning] if self.warning else [])]
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
                    evidence=self.evidence, document=document, warning=self.warning)


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
    return Judgement(request, exchange, tuple(failures), tuple(notes),
                     None if failures else _latency_warning(request, exchange))


def _latency_warning(request: HttpRequest, exchange: Exchange) -> str | None:
    if request.warn_latency is None or exchange.response_ms <= request.warn_latency * 1000:
        return None
    return f"{exchange.response_ms} ms, over the {_ms(request.warn_latency)} warn_latency"


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
    wanted = request.assertions
    if on_body:
        try:
            document = exchange.document
        except ValueError:
            what = exchange.content_type or "a body without a content type"
            failures.append(f"expected a JSON body for {len(on_body)} assertion"
                            f"{'s' if len(on_body) != 1 else ''}, got {what} that is not JSON")
            # A response that is not JSON still answers `$status` and `$headers` assertions.
            wanted = [a for a in request.assertions if response_field(a)]
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

class HttpCheckParams(HttpRequest):
    """The `http` kind's parameters: a request, and what the server's TLS must be (`tls:`; on
    the kind only, not on `http.flow` steps)."""

    tls: TlsExpectations | None = None

    @model_validator(mode="after")
    def _tls_needs_https(self) -> HttpCheckParams:
        if self.tls is not None and not self.url.lower().startswith("https://"):
            raise ValueError("`tls:` judges the certificate of an https:// url; this url is "
                             "not one")
        return self


async def _with_tls(params: HttpCheckParams, expected: TlsExpectations, outcome: Outcome,
                    ctx: CheckContext) -> Outcome:
    """The `tls:` block: one more handshake with the url's host, verified as the request was."""
    url = parse_url(params.url)
    ca_file = ctx.resolve_path(params.ca_file) if params.ca_file else None
    target = TlsTarget(host=url.host, port=url.port or 443, server_name=url.host,
                       ca_file=ca_file, verify_chain=params.verify_tls,
                       check_hostname=params.verify_tls)
    return merge_tls(outcome, judge_tls(await probe(target), expected))


class HttpCheck(CheckKind[HttpCheckParams]):
    Params = HttpCheckParams

    async def run(self, params: HttpCheckParams, ctx: CheckContext) -> Outcome:
        async with HttpClients.for_check(ctx) as clients:
            judgement = await perform(clients, params)
        outcome = judgement.outcome()
        if params.tls is not None:
            outcome = await _with_tls(params, params.tls, outcome, ctx)
        return outcome

    def describe(self, params: HttpCheckParams) -> str:
        return params.describe()
