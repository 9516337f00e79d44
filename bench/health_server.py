"""A local HTTP server that answers `/api/health` at once with the demo's health document (all
healthy). aiohttp's server, in its own process: it answers in a fraction of what a client
spends on a request, so a benchmark of clients measures the clients."""

from __future__ import annotations

import json
import sys

from aiohttp import web

DOCUMENT = {
    "status": "healthy",
    "version": "0.1.0",
    "services": {"database": "healthy",
                 "ai_providers": {"anthropic": "healthy", "openai": "healthy"}},
    "clustering": {"enabled": True, "node_count": 2, "connected_nodes": ["rsolv@10.42.8.103"]},
}
BODY = json.dumps(DOCUMENT).encode()


async def health(request: web.Request) -> web.Response:
    return web.Response(body=BODY, content_type="application/json")


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_get("/api/health", health)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[1]), access_log=None,
                print=None)
