"""The `tls` check kind: a server's certificate and protocol, judged without sending a request.

    - id: shop-certificate
      type: tls
      host: shop.example.com          # or host: shop.example.com:8443, or url: https://...
      min_version: 1.2
      min_days_left: 7                # fewer days left: failed
      warn_days_left: 21              # fewer: passed, with a warning

It reports the subject, issuer, names (subjectAltName), negotiated version and days until
expiry, and fails on a chain that does not verify (against the system store, or `ca_file`
instead), a certificate that does not name the host, a version under `min_version` or fewer
days left than `min_days_left`. The handshake and the judging are `checks.kinds.tls_probe`'s,
shared with the `http` kind's `tls:` block.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, field_validator, model_validator

from checks.config import Duration
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.tls_probe import TlsExpectations, TlsTarget, judge_tls, probe, tls_outcome
from checks.results import Outcome

__all__ = ["TlsCheck", "TlsParams"]

DEFAULT_PORT = 443
_NAME = re.compile(r"^(?:[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?\.?)+$")
Port = Annotated[int, Field(ge=1, le=65535)]


def _split_host(text: str) -> tuple[str, int | None]:
    """`example.com`, `example.com:8443`, `10.0.0.1:443`, `::1`, `[::1]:8443`."""
    text = text.strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise ValueError(f"expected [IPv6 address]:port, got {text!r}")
        port_text = rest[1:] if rest else None
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, None  # a name, an IPv4 address, or a bare IPv6 address
    _check_host(host, text)
    if port_text is None:
        return host, None
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"expected a port between 1 and 65535 after the host, got "
                         f"{port_text!r}")
    return host, int(port_text)


def _check_host(host: str, given: str) -> None:
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    if not host or not _NAME.match(host):
        raise ValueError(f"expected a host name or address (and an optional :port), got "
                         f"{given!r}")


class TlsParams(TlsExpectations):
    """The server to look at, how to verify it, and the thresholds of TlsExpectations."""

    host: str | None = None  # "shop.example.com", with ":8443" if not 443
    port: Port | None = None
    url: str | None = None  # https://...: its host and port
    server_name: str | None = None  # sent as SNI and looked for in the certificate; default host
    ca_file: str | None = None  # PEM; replaces the system store; relative to the suite file
    verify_chain: bool = True
    check_hostname: bool = True
    handshake_timeout: Duration = 10.0

    @field_validator("host")
    @classmethod
    def _host(cls, value: str | None) -> str | None:
        if value is not None:
            _split_host(value)
        return value

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            parts = urlsplit(value.strip())
            port = parts.port  # raises on a port that is not a number, or over 65535
        except ValueError as exc:
            raise ValueError(f"invalid url {value!r}: {exc}") from None
        if port == 0:
            raise ValueError(f"invalid url {value!r}: port 0 is out of range (1-65535)")
        if parts.scheme != "https":
            raise ValueError(f"expected an https:// url, got {value!r} (for another protocol "
                             f"over TLS, give host and port instead)")
        if not parts.hostname:
            raise ValueError(f"expected a host name or address after https:// in {value!r}")
        _check_host(parts.hostname, value)
        return value

    @field_validator("server_name")
    @classmethod
    def _server_name(cls, value: str | None) -> str | None:
        if value is not None:
            _check_host(value, value)
        return value

    @model_validator(mode="after")
    def _one_server(self) -> TlsParams:
        if (self.host is None) == (self.url is None):
            raise ValueError("set exactly one of `host` (host or host:port) and `url` "
                             "(https://...)")
        if self.port is not None and (self.url is not None
                                      or _split_host(self.host or "")[1] is not None):
            raise ValueError("the port is given twice: keep `port`, or the one in "
                             f"`{'url' if self.url else 'host'}`")
        if self.ca_file is not None and not self.verify_chain:
            raise ValueError("'ca_file' has no effect with 'verify_chain: false'; keep one")
        return self

    def target(self, ctx: CheckContext) -> TlsTarget:
        if self.url is not None:
            parts = urlsplit(self.url.strip())
            host, port = parts.hostname or "", parts.port
        else:
            host, port = _split_host(self.host or "")
        return TlsTarget(host=host, port=self.port or port or DEFAULT_PORT,
                         server_name=self.server_name or host,
                         ca_file=ctx.resolve_path(self.ca_file) if self.ca_file else None,
                         verify_chain=self.verify_chain, check_hostname=self.check_hostname,
                         handshake_timeout=self.handshake_timeout)


class TlsCheck(CheckKind[TlsParams]):
    Params: ClassVar[type[TlsParams]] = TlsParams

    async def run(self, params: TlsParams, ctx: CheckContext) -> Outcome:
        facts = await probe(params.target(ctx))
        return tls_outcome(judge_tls(facts, params))

    def describe(self, params: TlsParams) -> str:
        server = params.url or (params.host if params.port is None
                                else f"{params.host}:{params.port}")
        rules = []
        if params.verify_chain:
            trust = f"ca_file {params.ca_file}" if params.ca_file else "the system store"
            rules.append(f"chain against {trust}")
        if params.check_hostname:
            rules.append("host name")
        if params.min_version is not None:
            rules.append(f"TLS {params.min_version} or newer")
        if params.min_days_left is not None:
            rules.append(f"at least {params.min_days_left} days left")
        if params.warn_days_left is not None:
            rules.append(f"warns under {params.warn_days_left} days")
        return f"TLS of {server}: {', '.join(rules) or 'reported only'}"
