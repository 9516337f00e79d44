"""The load probe's I/O edge: one aiohttp session per probe, keep-alive connections up to the
probe's concurrency, and every aiohttp error translated into a `TransportFailure` with its
class (`connection refused`, `timeout`, ...) and a sentence saying what happened.

aiohttp rather than the httpx of the `http` kind: measured against a local zero-delay server
on this project's 2-core machine, httpx spends ~1,000 µs of CPU a request, aiohttp ~60 µs and
a hand-written HTTP/1.1 client ~20 µs; at 1,000 rps only aiohttp and the hand-written one
leave the generator a core to spare, and aiohttp is the kept library (see docs/load.md).
"""

from __future__ import annotations

import json
import socket
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from checks.errors import CheckError
from checks.kinds.base import resolve_path
from checks.kinds.http import parse_url, ssl_context
from checks.kinds.load._params import LoadParams

__all__ = ["Answer", "LoadClient", "TransportFailure"]


@dataclass(frozen=True)
class Answer:
    """An HTTP response the probe got, with its latency (send to last body byte)."""

    status: int
    reason: str
    headers: CIMultiDictProxy[str]
    body: bytes
    ms: float


class TransportFailure(Exception):
    """A request that got no response: `error_class` is what the figures count it under."""

    def __init__(self, error_class: str, message: str) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message


def _tls(params: LoadParams, base_dir: Path | None) -> ssl.SSLContext | bool:
    if not params.verify_tls:
        return False
    try:
        # A relative ca_file starts at the suite file's folder, as in every kind.
        return ssl_context(str(resolve_path(params.ca_file, base_dir)) if params.ca_file
                            else None)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise CheckError(f"cannot use ca_file '{params.ca_file}': {reason}; expected a PEM "
                         "file holding the CA certificate", permanent=True) from exc


def _checked_headers(headers: dict[str, str]) -> dict[str, str]:
    """Header values a server can read: ASCII, one line (checked once, not per request)."""
    for name, value in headers.items():
        if not value.isascii() or not name.isascii():
            raise CheckError(f"cannot send header {name!r}: its value is not ASCII",
                             permanent=True)
        if any(c in value or c in name for c in "\r\n\x00"):
            raise CheckError(f"cannot send header {name!r}: it holds a line break",
                             permanent=True)
    return headers


class LoadClient:
    """Sends the probe's one request, again and again, over kept-alive connections."""

    def __init__(self, params: LoadParams, headers: dict[str, str], concurrency: int,
                 base_dir: Path | None = None) -> None:
        url = parse_url(params.url)
        self.method = params.method
        self.url = URL(str(url), encoded=True)
        port = url.port or (443 if url.scheme == "https" else 80)
        self.where = f"[{url.host}]:{port}" if ":" in url.host else f"{url.host}:{port}"
        self.timeout_s = params.request_timeout
        self.headers = _checked_headers(headers)
        if params.json_body is not None:
            self.body: bytes | None = json.dumps(params.json_body).encode()
            self.headers = {"Content-Type": "application/json", **self.headers}
        else:
            self.body = params.body.encode() if params.body is not None else None
        self._tls = _tls(params, base_dir)
        self._concurrency = concurrency
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> LoadClient:
        connector = aiohttp.TCPConnector(limit=self._concurrency, ssl=self._tls,
                                         ttl_dns_cache=300)
        self._session = aiohttp.ClientSession(
            connector=connector, headers=self.headers, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.timeout_s), raise_for_status=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()  # closes every connection, in flight or idle

    async def send(self) -> Answer:
        assert self._session is not None, "send() outside `async with`"
        started = time.perf_counter()
        try:
            async with self._session.request(self.method, self.url, data=self.body,
                                             allow_redirects=False) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self._failure(exc) from exc
        ms = (time.perf_counter() - started) * 1000
        return Answer(response.status, response.reason or "", response.headers, body, ms)

    def _failure(self, exc: BaseException) -> TransportFailure:
        where = self.where
        if isinstance(exc, TimeoutError):  # aiohttp's ServerTimeoutError is one too
            return TransportFailure("timeout", f"no response from {where} within "
                                               f"{self.timeout_s:g}s (timeout)")
        if isinstance(exc, aiohttp.ClientConnectorCertificateError):
            return TransportFailure("tls", f"TLS verification failed for {where}: "
                                           f"{exc.certificate_error}; set ca_file to the CA "
                                           "that signed the server's certificate")
        if isinstance(exc, aiohttp.ClientSSLError):
            return TransportFailure("tls", f"TLS handshake with {where} failed; is it serving "
                                           "HTTPS on that port (or should the url start "
                                           "with http://)?")
        if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(
                getattr(exc, "os_error", None), socket.gaierror):
            return TransportFailure("dns", f"cannot resolve host '{self.url.host}': DNS "
                                           "lookup failed; check the host name in the url")
        if isinstance(exc, aiohttp.ClientConnectorError):
            if isinstance(exc.os_error, ConnectionRefusedError):
                return TransportFailure("connection refused",
                                        f"cannot connect to {where}: connection refused")
            reason = exc.os_error.strerror or str(exc.os_error)
            return TransportFailure("connect failed", f"cannot connect to {where}: {reason}")
        if isinstance(exc, aiohttp.ServerDisconnectedError):
            return TransportFailure("disconnected", f"{where} closed the connection without "
                                                    "answering")
        if isinstance(exc, (ConnectionResetError, aiohttp.ClientConnectionResetError)):
            return TransportFailure("connection reset", f"{where} reset the connection")
        if isinstance(exc, aiohttp.ClientPayloadError):
            return TransportFailure("bad body", f"{where} sent a body that could not be "
                                                f"read: {exc}")
        if isinstance(exc, aiohttp.ClientResponseError):
            return TransportFailure("invalid HTTP", f"{where} did not answer with valid "
                                                    f"HTTP: {exc.message}")
        return TransportFailure("other", f"request to {where} failed: "
                                         f"{exc or type(exc).__name__}")

