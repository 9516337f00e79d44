"""How a run's `http` checks send: through the run's shared connection pool (one connection to
a host reused check after check, closed when the run ends), each check with cookies of its own,
through a proxy set in the environment, and with the words httpcore would use for what aiohttp
reports. A real aiohttp server on loopback counts the connections it accepted and sees what
each request carried."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme
from aiohttp import web

from checks.config import parse_suite
from checks.errors import CheckError
from checks.kinds.http import HttpClients, HttpConnections, HttpRequest, perform, ssl_context
from checks.plan import RunPlan, build_plan
from checks.results import Status
from checks.runner import run_plan
from checks.yamlsource import load_yaml

HEALTHY = json.dumps({"status": "healthy"}).encode()


@dataclass
class Target:
    url: str
    server: web.Server
    peers: set[tuple[str, int]] = field(default_factory=set)  # one per connection accepted
    cookies: list[str | None] = field(default_factory=list)  # each /cookies request's header
    targets: list[str] = field(default_factory=list)  # the request line's target, as sent

    @property
    def open_connections(self) -> int:
        return len(self.server.connections)


async def _serve(app: web.Application, tls: ssl.SSLContext | None = None
                 ) -> AsyncIterator[tuple[str, web.AppRunner]]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}", runner
    finally:
        await runner.cleanup()


@pytest.fixture(params=["http"])
async def target(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Target]:
    """The target, over plain HTTP, or (`indirect` "https") over TLS with a CA of its own,
    whose certificate is in `ca.pem` beside it."""
    seen: list[Target] = []
    tls = None
    if request.param == "https":
        ca = trustme.CA()
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(tls)
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))

    async def health(request: web.Request) -> web.Response:
        assert request.transport is not None
        seen[0].peers.add(request.transport.get_extra_info("peername")[:2])
        seen[0].targets.append(str(request.url))
        return web.Response(body=HEALTHY, content_type="application/json")

    async def cookies(request: web.Request) -> web.Response:
        seen[0].cookies.append(request.headers.get("Cookie"))
        response = web.Response(body=HEALTHY, content_type="application/json")
        response.set_cookie("session", "from-an-earlier-check")
        return response

    async def garbage(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        request.transport.close()
        return web.Response()

    app = web.Application()
    app.router.add_get("/health", health)
    app.router.add_get("/cookies", cookies)
    app.router.add_get("/garbage", garbage)
    async for url, runner in _serve(app, tls):
        assert runner.server is not None
        seen.append(Target(url, runner.server))
        yield seen[0]


def _plan(checks: list[str], concurrency: int = 50) -> RunPlan:
    body = "\n".join(f"      - {check}" for check in checks)
    text = (f"suite: t\ndefaults: {{concurrency: {concurrency}}}\nenvironments:\n  local: {{}}\n"
            f"categories:\n  - name: API\n    checks:\n{body}\n")
    return build_plan(parse_suite(load_yaml(text, "suite.yaml")), "local")


def _health_checks(url: str, count: int) -> list[str]:
    return [f"{{id: c{i}, type: http, url: '{url}/health', assert: ['status == healthy']}}"
            for i in range(count)]


async def test_a_runs_checks_to_one_host_share_one_connection(target: Target) -> None:
    result = await run_plan(_plan(_health_checks(target.url, 20), concurrency=1))

    assert [r.status for r in result.results] == [Status.PASS] * 20
    assert len(target.peers) == 1


@pytest.mark.parametrize("target", ["https"], indirect=True)
async def test_https_checks_share_one_tls_connection_and_a_wrong_ca_still_fails(
        target: Target, tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    checks = [f"{{id: c{i}, type: http, url: '{target.url}/health', ca_file: '{ca_file}'}}"
              for i in range(10)]
    # The system's CAs do not know the target's: another pool, and a verification failure.
    checks.append(f"{{id: unknown-ca, type: http, url: '{target.url}/health', "
                  "depends_on: [c9]}")

    result = await run_plan(_plan(checks, concurrency=1))

    *shared, unknown = result.results
    assert [r.status for r in shared] == [Status.PASS] * 10
    assert len(target.peers) == 1  # one TLS handshake for the ten
    assert unknown.status is Status.ERROR
    assert unknown.summary.startswith(f"TLS verification failed for "
                                      f"{target.url.removeprefix('https://')}: certificate "
                                      "verify failed")


async def test_plain_http_checks_load_no_ca_bundle(target: Target) -> None:
    before = ssl_context.cache_info()

    result = await run_plan(_plan(_health_checks(target.url, 3)))

    assert all(r.status is Status.PASS for r in result.results)
    after = ssl_context.cache_info()
    assert (after.hits, after.misses) == (before.hits, before.misses)


@pytest.mark.parametrize("target", ["https"], indirect=True)
async def test_a_redirect_from_http_to_https_is_verified_against_the_default_cas(
        target: Target) -> None:
    async def to_https(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{target.url}/health")

    app = web.Application()
    app.router.add_get("/", to_https)
    async for url, _ in _serve(app):
        result = await run_plan(_plan([f"{{id: hop, type: http, url: '{url}/', "
                                       "follow_redirects: true}"]))

    (hop,) = result.results
    assert hop.status is Status.ERROR
    # (The message names the url the check asked for, as it did before the shared pools.)
    assert hop.summary.startswith(f"TLS verification failed for {url.removeprefix('http://')}: "
                                  "certificate verify failed: unable to get local issuer")


async def test_checks_running_at_once_open_no_more_connections_than_run_at_once(
        target: Target) -> None:
    result = await run_plan(_plan(_health_checks(target.url, 40), concurrency=4))

    assert all(r.status is Status.PASS for r in result.results)
    assert 1 <= len(target.peers) <= 4


async def test_the_runs_connections_are_closed_when_it_ends(target: Target) -> None:
    await run_plan(_plan(_health_checks(target.url, 5)))

    for _ in range(100):  # the server hears of the close within an iteration or two
        if target.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert target.open_connections == 0


async def test_a_cookie_set_for_one_check_is_not_sent_by_the_next(target: Target) -> None:
    plan = _plan([f"{{id: first, type: http, url: '{target.url}/cookies'}}",
                  f"{{id: second, type: http, url: '{target.url}/cookies', "
                  "depends_on: [first]}"])

    result = await run_plan(plan)

    assert [r.status for r in result.results] == [Status.PASS, Status.PASS]
    assert target.cookies == [None, None]


async def test_a_proxy_set_in_the_environment_is_used(target: Target,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # The target stands in for the proxy: a request through a proxy names the whole url.
    # (Without the proxy the check would find nothing listening on port 1.)
    monkeypatch.setenv("HTTP_PROXY", target.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    elsewhere = "http://localhost:1"

    result = await run_plan(_plan([f"{{id: via, type: http, url: '{elsewhere}/health'}}"]))

    assert result.results[0].status is Status.PASS
    assert target.targets == [f"{elsewhere}/health"]


async def test_a_check_on_its_own_closes_the_connections_it_opened(target: Target) -> None:
    async with HttpClients() as clients:
        judgement = await perform(clients, HttpRequest(url=f"{target.url}/health"))
    assert judgement.passed

    for _ in range(100):
        if target.open_connections == 0:
            break
        await asyncio.sleep(0.01)
    assert target.open_connections == 0


async def test_clients_given_the_runs_connections_leave_them_open(target: Target) -> None:
    connections = HttpConnections()
    try:
        for _ in range(3):
            async with HttpClients(connections=connections) as clients:
                await perform(clients, HttpRequest(url=f"{target.url}/health"))
        assert len(target.peers) == 1
        assert target.open_connections == 1
    finally:
        await connections.aclose()


async def test_a_server_that_does_not_speak_http_is_named_on_one_line(target: Target) -> None:
    address = target.url.removeprefix("http://")
    async with HttpClients() as clients:
        with pytest.raises(CheckError) as raised:
            await perform(clients, HttpRequest(url=f"{target.url}/garbage"))

    assert raised.value.message == (
        f"{address} did not answer with valid HTTP: Bad status line: Expected HTTP/, RTSP/ or "
        "ICE/: b'SSH-2.0-OpenSSH_9.2'; is it an HTTP server, and is the scheme (http/https) "
        "right?")


async def _error_from(handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                       Awaitable[None]]) -> tuple[int, CheckError]:
    """The port of a raw local server answering with `handle`, and the CheckError an http
    check of it raised."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with HttpClients() as clients:
            with pytest.raises(CheckError) as raised:
                await perform(clients, HttpRequest(url=f"http://127.0.0.1:{port}/"))
    finally:
        server.close()
        await server.wait_closed()
    return port, raised.value


async def test_a_body_cut_short_says_how_much_came() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"a\":")
        await writer.drain()
        writer.close()

    port, error = await _error_from(handle)

    assert error.message == (
        f"127.0.0.1:{port} did not answer with valid HTTP: peer closed connection without "
        "sending complete message body: not enough data to satisfy content length header "
        "(received 5 of 100 bytes); is it an HTTP server, and is the scheme (http/https) right?")


async def test_a_server_that_hangs_up_without_answering_is_named() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    port, error = await _error_from(handle)

    assert error.message == (
        f"127.0.0.1:{port} did not answer with valid HTTP: Server disconnected without sending "
        "a response.; is it an HTTP server, and is the scheme (http/https) right?")
