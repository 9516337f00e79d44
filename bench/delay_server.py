"""A local HTTP server whose endpoints answer after a given delay: `/delay/{ms}`.
Run in its own process so that it does not share the benchmark's CPU and event loop."""

from __future__ import annotations

import asyncio
import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def delay(request: Request) -> JSONResponse:
    ms = int(request.path_params["ms"])
    await asyncio.sleep(ms / 1000)
    return JSONResponse({"status": "healthy", "delay_ms": ms})


app = Starlette(routes=[Route("/delay/{ms:int}", delay)])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False)
