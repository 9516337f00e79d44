"""Slack's Socket Mode on loopback: `apps.connections.open` and the websocket it hands out.

Served by aiohttp in a thread of its own (this machine's uvicorn has no websocket support)::

    emulator = SocketModeEmulator()
    with emulator.serve() as api_url:              # "http://127.0.0.1:PORT/api/"
        ... the bot connects with SLACK_APP_TOKEN=emulator.app_token ...
        emulator.wait_connected()
        ack = emulator.send_envelope("slash_commands", {...})   # the app's answer

What it answers, as Slack does (HTTP 200 and `{"ok": false, "error": ...}` for a refusal):

- `apps.connections.open`: `not_authed` without a token, `not_allowed_token_type` for a bot
  or user token (`xoxb-`, `xoxp-`), `invalid_auth` for an app token it never issued,
  `missing_scope` (with `needed`/`provided`) for one without `connections:write`, else
  `{"ok": true, "url": "ws://127.0.0.1:PORT/link/?ticket=...&app_id=..."}`.
- the websocket: a ticket is good once (a reused or unknown one is refused with HTTP 401 at
  the handshake); a connection is greeted with `hello`; envelopes sent to the app carry
  `envelope_id`, `type`, `payload` and `accepts_response_payload`, and the app's acks
  (`{"envelope_id": ..., "payload": ...}`) are matched to them.
- any other Web API method: `unknown_method`.

`fail_next(count, status)` makes the next calls of apps.connections.open answer an HTTP error
(503; 429 with Retry-After), and `handshake_status` answers the websocket's handshake with one.
Every call is recorded by the kind of token sent (`opens()`), never the token itself.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from tests.support.asgi import free_port

__all__ = ["Open", "SocketModeEmulator"]

APP_ID = "A0SMOKEAPP"
SCOPE = "connections:write"


@dataclass(frozen=True)
class Open:
    """One call of apps.connections.open: what kind of token came, and the answer's error."""

    token_kind: str  # "none", "app", "bot", "user", "other"
    error: str | None  # None: a URL was handed out


class SocketModeEmulator:
    def __init__(self) -> None:
        self.app_token = self.issue_app_token()
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[str, ...]] = {self.app_token: (SCOPE,)}
        self._tickets: set[str] = set()
        self._opens: list[Open] = []
        self._failures: list[int] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._connected = threading.Condition(self._lock)
        self._connections = 0
        self._acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._port: int | None = None
        # When set, the websocket handshake is answered with this HTTP status (the ticket is
        # kept): Slack's API reachable, its websocket host not.
        self.handshake_status: int | None = None

    # ------------------------------------------------------------------ arranging a test

    @staticmethod
    def issue_app_token() -> str:
        return f"xapp-1-{APP_ID}-{secrets.token_hex(12)}"

    def add_app_token(self, scopes: tuple[str, ...] = (SCOPE,)) -> str:
        token = self.issue_app_token()
        with self._lock:
            self._tokens[token] = scopes
        return token

    def fail_next(self, count: int, status: int = 503) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    # ------------------------------------------------------------------ what happened

    def opens(self) -> list[Open]:
        with self._lock:
            return list(self._opens)

    @property
    def connections(self) -> int:
        """Websocket connections accepted so far."""
        with self._lock:
            return self._connections

    def wait_connected(self, count: int = 1, timeout: float = 10.0) -> None:
        with self._connected:
            if not self._connected.wait_for(lambda: self._connections >= count, timeout):
                raise AssertionError(f"no Socket Mode connection within {timeout} s; "
                                     f"apps.connections.open calls: {self._opens}")

    def send_envelope(self, kind: str, payload: dict[str, Any], *,
                      timeout: float = 5.0) -> dict[str, Any]:
        """Sends an envelope on the newest connection; returns the app's ack."""
        assert self._loop is not None, "not served"
        future = asyncio.run_coroutine_threadsafe(self._send(kind, payload, timeout), self._loop)
        return future.result(timeout + 1)

    # ------------------------------------------------------------------ serving

    @contextmanager
    def serve(self, *, port: int | None = None) -> Iterator[str]:
        """Serves on loopback (on `port` if given); yields the Web API base URL."""
        self._port = port or free_port()
        ready = threading.Event()
        loop = asyncio.new_event_loop()
        runner = web.AppRunner(self._app(), handle_signals=False)

        async def start() -> None:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self._port).start()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(start())
            ready.set()
            loop.run_forever()

        thread = threading.Thread(target=run, name="socket-mode-emulator", daemon=True)
        thread.start()
        if not ready.wait(10):
            raise RuntimeError("the Socket Mode emulator did not start")
        self._loop = loop
        try:
            yield f"http://127.0.0.1:{self._port}/api/"
        finally:
            asyncio.run_coroutine_threadsafe(self._stop(runner), loop).result(10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()
            self._loop = None

    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/apps.connections.open", self._open)
        app.router.add_route("*", "/api/{method}", self._unknown_method)
        app.router.add_get("/link/", self._link)
        return app

    async def _stop(self, runner: web.AppRunner) -> None:
        for ws in list(self._sockets):  # as Slack does when it goes away
            await ws.close(code=1001, message=b"going away")
        await runner.cleanup()

    async def _open(self, request: web.Request) -> web.Response:
        token = await _token(request)
        kind = _token_kind(token)
        with self._lock:
            failure = self._failures.pop(0) if self._failures else None
            scopes = self._tokens.get(token or "")
        if failure is not None:
            self._record(kind, f"HTTP {failure}")
            headers = {"Retry-After": "1"} if failure == 429 else {}
            body = {"ok": False, "error": "ratelimited"} if failure == 429 else None
            return (web.json_response(body, status=failure, headers=headers) if body else
                    web.Response(status=failure, text="service unavailable"))
        error = None
        if token is None:
            error = "not_authed"
        elif kind in ("bot", "user"):
            error = "not_allowed_token_type"
        elif scopes is None:
            error = "invalid_auth"
        elif SCOPE not in scopes:
            self._record(kind, "missing_scope")
            return web.json_response({"ok": False, "error": "missing_scope", "needed": SCOPE,
                                      "provided": ",".join(scopes)})
        self._record(kind, error)
        if error is not None:
            return web.json_response({"ok": False, "error": error})
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets.add(ticket)
        return web.json_response({"ok": True, "url": f"ws://127.0.0.1:{self._port}/link/"
                                                     f"?ticket={ticket}&app_id={APP_ID}"})

    async def _unknown_method(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": False, "error": "unknown_method"})

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if self.handshake_status is not None:
            return web.Response(status=self.handshake_status, text="unavailable")
        with self._lock:
            good = ticket in self._tickets
            self._tickets.discard(ticket)
        if not good:
            return web.Response(status=401, text="invalid ticket")
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        self._sockets.append(ws)
        with self._connected:
            self._connections += 1
            self._connected.notify_all()
        await ws.send_str(json.dumps({
            "type": "hello", "num_connections": len(self._sockets),
            "debug_info": {"host": "applink-emulator", "build_number": 1,
                           "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID}}))
        try:
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    self._received(json.loads(message.data))
        finally:
            self._sockets.remove(ws)
        return ws

    def _received(self, frame: dict[str, Any]) -> None:
        waiting = self._acks.pop(str(frame.get("envelope_id")), None)
        if waiting is not None and not waiting.done():
            waiting.set_result(frame)

    async def _send(self, kind: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
        if not self._sockets:
            raise AssertionError("no Socket Mode connection to send an envelope on")
        envelope_id = secrets.token_hex(8)
        ack: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._acks[envelope_id] = ack
        await self._sockets[-1].send_str(json.dumps({
            "envelope_id": envelope_id, "type": kind, "payload": payload,
            "accepts_response_payload": kind in ("slash_commands", "interactive")}))
        return await asyncio.wait_for(ack, timeout)

    def _record(self, kind: str, error: str | None) -> None:
        with self._lock:
            self._opens.append(Open(kind, error))


async def _token(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and header[7:].strip():
        return header[7:].strip()
    if request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        value = form.get("token")
        return str(value) if value else None
    return request.query.get("token") or None


def _token_kind(token: str | None) -> str:
    if token is None:
        return "none"
    for prefix, kind in (("xapp-", "app"), ("xoxb-", "bot"), ("xoxp-", "user")):
        if token.startswith(prefix):
            return kind
    return "other"
