"""A target for load-probe tests: an aiohttp app on a loopback port, served from its own thread
and event loop, whose answers have a known latency and a known share of failures, and which
counts what it was sent.

    GET /ok?delay_ms=20&fail_every=10   waits 20 ms; every 10th request of the path is a 500
    GET /status/503                     always that status
    GET /json?value=healthy             {"status": "healthy"}
    GET /echo-auth                      500 with the request's Authorization header in the body
    GET /ok?slow_every=4&slow_ms=500    every 4th request of the path waits 500 ms instead

`requests` counts every request, `by_path` per path; `headers` keeps the last few requests'
headers (for the synthetic-traffic marks), `open_connections` the connections held now. `load_plan` makes a run plan of load checks
against it from a suite text, as a suite file would."""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiohttp import web

from checks.config import parse_suite
from checks.plan import RunPlan, build_plan
from checks.yamlsource import load_yaml
from tests.support.asgi import free_port

__all__ = ["LatencyServer", "load_check", "load_plan", "serve_latency_app"]


class LatencyServer:
    def __init__(self) -> None:
        self.url = ""
        self.requests = 0
        self.by_path: Counter[str] = Counter()
        self.headers: deque[dict[str, str]] = deque(maxlen=50)
        self.auth_seen: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._runner: web.AppRunner | None = None

    @property
    def open_connections(self) -> int:
        """Client connections the server holds open now (idle keep-alive ones included)."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ok", self._ok)
        app.router.add_get("/status/{code}", self._status)
        app.router.add_get("/json", self._json)
        app.router.add_get("/echo-auth", self._echo_auth)
        app.router.add_route("*", "/any", self._ok)
        return app

    def _count(self, request: web.Request) -> int:
        with self._lock:
            self.requests += 1
            self.by_path[request.path] += 1
            self.headers.append(dict(request.headers))
            if "Authorization" in request.headers:
                self.auth_seen[request.headers["Authorization"]] += 1
            return self.by_path[request.path]

    async def _ok(self, request: web.Request) -> web.Response:
        number = self._count(request)
        delay_ms = float(request.query.get("delay_ms", "0"))
        slow_every = int(request.query.get("slow_every", "0"))
        if slow_every and number % slow_every == 0:
            delay_ms = float(request.query.get("slow_ms", "500"))
        if delay_ms:
            await asyncio.sleep(delay_ms / 1000)
        fail_every = int(request.query.get("fail_every", "0"))
        if fail_every and number % fail_every == 0:
            return web.json_response({"error": "planned failure", "n": number}, status=500)
        return web.json_response({"status": "healthy", "n": number})

    async def _status(self, request: web.Request) -> web.Response:
        self._count(request)
        code = int(request.match_info["code"])
        return web.json_response({"code": code}, status=code)

    async def _json(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.json_response({"status": request.query.get("value", "healthy")})

    async def _echo_auth(self, request: web.Request) -> web.Response:
        self._count(request)
        return web.Response(text=f"denied: {request.headers.get('Authorization', '')}",
                            status=500)


@contextmanager
def serve_latency_app() -> Iterator[LatencyServer]:
    """Serves a fresh LatencyServer; `server.url` is `http://127.0.0.1:PORT`."""
    server = LatencyServer()
    port = free_port()
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop = asyncio.Event()
    failure: list[BaseException] = []

    async def serve() -> None:
        runner = web.AppRunner(server.app(), access_log=None)
        await runner.setup()
        server._runner = runner
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
        except OSError as exc:
            failure.append(exc)
            ready.set()
            await runner.cleanup()
            return
        ready.set()
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    if not ready.wait(10) or failure:
        raise RuntimeError(f"latency server on port {port} did not start: {failure}")
    server.url = f"http://127.0.0.1:{port}"
    try:
        yield server
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=10)
        loop.close()


def load_check(base_url: str, **fields: Any) -> dict[str, Any]:
    """A load check of 20 rps for 1 s after a 0.25 s warm-up, unless `fields` say otherwise;
    `url` is a path on `base_url`."""
    return {"id": "probe", "type": "load", "rps": 20, "duration": "1s", "warmup": "0.25s",
            **fields, "url": base_url + fields.get("url", "/ok")}


def load_plan(*checks: dict[str, Any], env: str = "{}", **plan: Any) -> RunPlan:
    """The plan of a suite whose environment `staging` is `env` (YAML) and whose one
    category holds `checks`, each written on its own line (JSON is YAML)."""
    lines = "".join(f"      - {json.dumps(check)}\n" for check in checks)
    text = (f"suite: load\nenvironments:\n  staging: {env}\n"
            f"categories:\n  - name: Load\n    checks:\n{lines}")
    return build_plan(parse_suite(load_yaml(text, "smoketest.yaml")), "staging", **plan)
