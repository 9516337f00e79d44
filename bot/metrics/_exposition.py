"""Where `/metrics` is served: a route of the web process's Starlette app, and the worker's own
small HTTP server (prometheus_client's, in a thread of its own: it answers even while the
worker's event loop is busy, and reads nothing but the registry)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from prometheus_client import start_http_server
from prometheus_client.exposition import choose_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.errors import CannotListen
from bot.metrics._registry import Metrics

__all__ = ["METRICS_PATH", "metrics_routes", "metrics_served"]

METRICS_PATH = "/metrics"
SHUTDOWN_WAIT_S = 5.0

log = logging.getLogger("smokebot.metrics")


def metrics_routes() -> list[Route]:
    """`GET /metrics` of the app's services' registry (`app.state.smokebot["services"]`, as
    `create_asgi_app` keeps it). Reads nothing but the registry: it answers at once whatever
    Redis or PostgreSQL do (the gauges that need them are read in the background)."""

    async def metrics(request: Request) -> Response:
        registry = request.app.state.smokebot["services"].metrics.registry
        # OpenMetrics when the scraper asks for it, Prometheus' text format otherwise.
        encode, content_type = choose_encoder(request.headers.get("accept", ""))
        return Response(encode(registry), headers={"Content-Type": content_type})

    return [Route(METRICS_PATH, metrics, methods=["GET"])]


@asynccontextmanager
async def metrics_served(metrics: Metrics, host: str, port: int, *,
                         required: bool = True) -> AsyncIterator[int | None]:
    """Serves `metrics` on http://host:port/metrics (any path answers) within the block, and
    yields the port; port 0 serves nothing and yields None. An address that cannot be bound
    raises CannotListen, or, not `required` (the default port, which another worker of the
    machine may hold), is logged and yields None."""
    if port == 0:
        yield None
        return
    try:
        server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    except OSError as exc:  # socket.gaierror too: a host name that does not resolve
        problem = (exc.strerror or str(exc)).lower()
        where = f"cannot serve the worker's metrics on {host}:{port}: {problem}"
        if not required:
            log.warning("%s; running without them (SMOKEBOT_WORKER_METRICS_PORT picks a port)",
                        where)
            yield None
            return
        raise CannotListen(f"{where}; set SMOKEBOT_WORKER_METRICS_HOST and "
                           f"SMOKEBOT_WORKER_METRICS_PORT, or pass --metrics-port (0: no "
                           f"metrics server)") from None
    try:
        yield server.server_port
    finally:
        # shutdown() waits for the serving loop's next poll (up to half a second): off the loop.
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        await asyncio.to_thread(thread.join, SHUTDOWN_WAIT_S)
