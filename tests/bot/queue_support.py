"""Helpers shared by the queue and worker tests: a RunQueue on its own key prefix, wiped after."""

from __future__ import annotations

import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from redis import asyncio as aioredis

from bot.queue import RunQueue
from tests.support.asgi import free_port
from tests.support.services import redis_url, unique_prefix


async def delete_keys(prefix: str) -> None:
    redis = aioredis.from_url(redis_url())
    try:
        keys = [key async for key in redis.scan_iter(match=f"*{prefix}*", count=500)]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


@asynccontextmanager
async def isolated_queue(**options: float) -> AsyncIterator[RunQueue]:
    prefix = unique_prefix("q")
    queue = RunQueue.from_url(redis_url(), prefix=prefix, **options)
    try:
        yield queue
    finally:
        await queue.close()
        await delete_keys(prefix)


@contextmanager
def private_redis(port: int | None = None) -> Iterator[int]:
    """A redis-server of the test's own on a free loopback port, stopped afterwards; for
    tests that take Redis away and bring it back."""
    port = port or free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", "/tmp"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while subprocess.call(["redis-cli", "-p", str(port), "ping"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL) != 0:
            if time.monotonic() > deadline or server.poll() is not None:
                raise RuntimeError(f"redis-server did not start on port {port}")
            time.sleep(0.05)
        yield port
    finally:
        server.terminate()
        server.wait(10)
