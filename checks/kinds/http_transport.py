"""The transport the http kinds send through: httpx's API (URLs, redirects, cookies, content
decoding, exceptions) over aiohttp's connection pool.

httpx's own pool (httpcore) looks at every pooled connection for each request: 50 checks at
once to one host cost it ~0.9 ms of CPU a request, where aiohttp's pool costs ~0.2 ms
(bench/http_checks.py). Every aiohttp error is translated here into the httpx exception
httpcore raises for the same failure, raised from the original, so `http.transport_error`
words both alike:

    aiohttp                                     httpx
    ConnectionTimeoutError                      ConnectTimeout
    ServerTimeoutError (no data within `read`)  ReadTimeout
    ClientConnectorError (refused, DNS, TLS)    ConnectError, from the OSError or SSLError
    ServerDisconnectedError                     RemoteProtocolError
    ClientResponseError, ClientPayloadError     RemoteProtocolError (not valid HTTP)
    ClientOSError, other ClientConnectionError  ReadError
    other ClientError                           TransportError
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

import aiohttp
import httpx
import yarl

__all__ = ["AiohttpTransport"]

# aiohttp refuses a header line over 8 KiB; h11, httpx's own parser, a header block over 16.
MAX_HEADER_BYTES = 64 * 1024
# Headers aiohttp would add of its own; httpx has set those it sends. (A `body:` request has no
# Content-Type unless the check gives one; aiohttp would add application/octet-stream.)
_NOT_ADDED = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")
_SERVER_DISCONNECTED = "Server disconnected without sending a response."  # httpcore's words


class AiohttpTransport(httpx.AsyncBaseTransport):
    """One aiohttp connection pool, unbounded (the runner bounds how many checks run at once),
    without a cookie jar (the httpx client above keeps cookies) or decompression (httpx
    decodes). `verify` is an SSLContext, False not to verify certificates, or what makes one
    when the first https request needs it (a pool of http:// requests never loads a CA bundle);
    what it raises, that request raises."""

    def __init__(self, verify: ssl.SSLContext | bool | Callable[[], ssl.SSLContext | bool] = True,
                 keepalive_expiry: float = 5.0) -> None:
        self._verify = verify
        self._keepalive_expiry = keepalive_expiry
        self._session: aiohttp.ClientSession | None = None

    def _tls(self) -> ssl.SSLContext | bool:
        if callable(self._verify):
            self._verify = self._verify()
        return self._verify

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:  # made by the first request: aiohttp needs the running loop
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=self._keepalive_expiry)
            self._session = aiohttp.ClientSession(
                connector=connector, cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False, skip_auto_headers=_NOT_ADDED,
                timeout=aiohttp.ClientTimeout(total=None),
                max_line_size=MAX_HEADER_BYTES, max_field_size=MAX_HEADER_BYTES)
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        content = await request.aread()
        headers = [(name.decode("latin-1"), value.decode("latin-1"))
                   for name, value in request.headers.raw]
        tls = self._tls() if request.url.scheme == "https" else True
        try:
            async with self._pool().request(
                    request.method, yarl.URL(str(request.url), encoded=True), headers=headers,
                    data=content or None, allow_redirects=False, ssl=tls,
                    timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeout.get("connect"),
                                                  sock_read=timeout.get("read"))) as response:
                body = await response.read()
        except aiohttp.ClientError as exc:
            # From the OSError or SSLError itself, as httpcore raises it: aiohttp's wrapper of
            # a certificate error is an SSLCertVerificationError without the verify message.
            origin = exc.__cause__ if isinstance(exc, aiohttp.ClientConnectorError) else None
            raise _translated(exc) from (origin or exc)
        version = f"HTTP/{response.version.major}.{response.version.minor}" \
            if response.version else "HTTP/1.1"
        return httpx.Response(
            response.status, headers=response.raw_headers, stream=httpx.ByteStream(body),
            request=request,
            extensions={"http_version": version.encode("ascii"),
                        "reason_phrase": (response.reason or "").encode("latin-1", "replace")})

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _translated(exc: aiohttp.ClientError) -> httpx.TransportError:
    """The httpx exception httpcore raises for the failure aiohttp reports as `exc`."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(str(exc))
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return httpx.ReadTimeout(str(exc))
    if isinstance(exc, aiohttp.ClientConnectorError):
        # httpcore's message is the OSError's ("[Errno 111] Connection refused").
        return httpx.ConnectError(str(exc.__cause__ or exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(_SERVER_DISCONNECTED)
    if isinstance(exc, aiohttp.ClientResponseError):  # the parser's, over several lines
        return httpx.RemoteProtocolError(_one_line(exc.message or str(exc)))
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = getattr(exc.__cause__, "message", None)  # "Not enough data ... (5 of 100 bytes)."
        detail = _one_line(cause) if isinstance(cause, str) else ""
        return httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body"
            + (f": {detail[:1].lower()}{detail[1:].rstrip('.')}" if detail else ""))
    if isinstance(exc, aiohttp.ClientConnectionError):
        return httpx.ReadError(str(exc))
    return httpx.TransportError(str(exc) or type(exc).__name__)


def _one_line(message: str) -> str:
    """llhttp's message, `Bad status line:\n  Invalid status code:\n\n  b'HTTP/1.1 abc'\n ^`,
    on one line for a summary: `Bad status line: Invalid status code: b'HTTP/1.1 abc'`."""
    parts = [part.strip() for part in message.splitlines()]
    return " ".join(part for part in parts if part and set(part) != {"^"})
