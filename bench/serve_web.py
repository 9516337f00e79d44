"""Serves one ASGI app for the bot benchmark (bench/bot.py) in a process of its own, so that
it does not share the benchmark client's interpreter: `python -m bench.serve_web`.

Environment: BENCH_APP is `bot` (the web process, configured from the bot's own environment
variables, as `smokebot serve` is), `bare` (an endpoint that only answers 200: the physical
limit of uvicorn and the loopback on this machine) or `target` (the demo target the suite's
checks test, with its OpenAI provider degraded so one check fails); BENCH_PORT is the port.
Every app is served with the same uvicorn settings as `smokebot serve`, so the bot and the
bare endpoint differ only in the application.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import uvicorn

__all__ = ["bare_app", "main"]

Scope = dict[str, Any]


async def bare_app(scope: Scope, receive: Any, send: Any) -> None:
    """Reads the request and answers 200 with a small JSON body; nothing else."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:  # drain the body, as the bot's handler must before it can verify a signature
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"ok":true}'
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _app(kind: str) -> Any:
    if kind == "bare":
        return bare_app
    if kind == "target":
        from demo.target import create_app
        return create_app(degraded=frozenset({"openai"}))
    if kind == "bot":
        from bot.settings import Settings
        from bot.web import create_web_app
        return create_web_app(Settings.from_env())
    raise SystemExit(f"BENCH_APP must be bot, bare or target, not {kind!r}")


def main() -> None:
    kind = os.environ.get("BENCH_APP", "bot")
    port = int(os.environ["BENCH_PORT"])
    # The bot's processes log at INFO to stderr (bot/cli/_service.py); so does this one.
    logging.basicConfig(stream=sys.stderr, level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # As `smokebot serve` runs uvicorn, but on loopback.
    uvicorn.run(_app(kind), host="127.0.0.1", port=port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
