"""One traffic probe at a time per environment across every worker and CLI that share a Redis:
the engine's `TrafficGate` (checks/traffic.py) as a Redis lock.

    {prefix}:traffic:{environment}   "<token>|<holder>", set with NX and a TTL

The holder takes the key with `SET NX PX` and a random token, renews its TTL while the probe
runs (a crashed worker's lock therefore expires within `ttl_s`), and deletes it on the way out
only if it still holds the token (a compare-and-delete script): a holder whose lock expired
meanwhile never deletes the next holder's. A waiter polls, with a growing pause, until the key
is free or `wait_s` is over, then raises the engine's busy error naming the holder.

Every Redis call is bounded by a timeout. Redis failing before the probe starts is a CheckError
that says so (the probe does not run unguarded); Redis failing while a probe holds the lock is
logged and the probe goes on: its TTL ends the lock at worst.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError

from bot import deadline
from bot.backoff import Backoff
from bot.queue import RunQueue, redis_failure_reason
from checks.errors import CheckError
from checks.traffic import busy_error

if TYPE_CHECKING:
    from redis import asyncio as aioredis

__all__ = ["RedisTrafficGate"]

log = logging.getLogger("smokebot.traffic")
T = TypeVar("T")

DEFAULT_TTL_S = 15.0  # a dead holder's lock is gone within this
CALL_TIMEOUT_S = 3.0  # one Redis call; a Redis that accepts and never answers is not waited for
POLL = Backoff.exponential(first_s=0.05, factor=1.5, cap_s=0.5)

# Only the token's owner extends or deletes the key.
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class RedisTrafficGate:
    """Create with `RedisTrafficGate.for_queue(queue)` in the bot (the queue's connection pool)
    or `RedisTrafficGate(client, prefix=...)`; no connection is made until a probe asks."""

    def __init__(self, redis: aioredis.Redis, *, prefix: str, where: str = "Redis",
                 ttl_s: float = DEFAULT_TTL_S, call_timeout_s: float = CALL_TIMEOUT_S) -> None:
        if not prefix:
            raise ValueError("the traffic gate needs a key prefix")
        self._redis = redis
        self._prefix = prefix
        self._where = where
        self.ttl_s = ttl_s
        self._call_timeout_s = call_timeout_s
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    @classmethod
    def for_queue(cls, queue: RunQueue, *, ttl_s: float = DEFAULT_TTL_S) -> RedisTrafficGate:
        """Under the queue's key prefix, on its connection pool."""
        return cls(queue.redis, prefix=queue.prefix, where=queue.where, ttl_s=ttl_s)

    def key(self, environment: str) -> str:
        return f"{self._prefix}:traffic:{environment}"

    @asynccontextmanager
    async def hold(self, environment: str, holder: str, wait_s: float) -> AsyncIterator[None]:
        key = self.key(environment)
        value = f"{secrets.token_hex(8)}|{holder}"
        await self._acquire(key, value, environment, wait_s)
        renewing = asyncio.create_task(self._keep(key, value, environment),
                                       name=f"traffic lock {environment}")
        try:
            yield
        finally:
            renewing.cancel()
            await asyncio.gather(renewing, return_exceptions=True)
            await self._give_back(key, value, environment)

    # --- the steps ------------------------------------------------------------------------------

    async def _acquire(self, key: str, value: str, environment: str, wait_s: float) -> None:
        ends = time.monotonic() + wait_s
        attempt = 0
        while True:
            try:
                taken = await self._call(self._redis.set(key, value, nx=True,
                                                         px=_ms(self.ttl_s)))
                if taken:
                    return
                current = await self._call(self._redis.get(key))
            except (RedisError, OSError, TimeoutError) as exc:
                raise CheckError(
                    f"traffic probe not started: the lock that keeps probes of '{environment}' "
                    f"one at a time is in Redis at {self._where}, which could not be reached "
                    f"({self._reason(exc)})") from None
            left = ends - time.monotonic()
            if left <= 0:
                raise busy_error(environment, _holder_of(current), wait_s)
            await asyncio.sleep(min(left, POLL.delay(attempt)))
            attempt += 1

    async def _keep(self, key: str, value: str, environment: str) -> None:
        """Extends the TTL every third of it while the probe runs."""
        lost_logged = False
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                kept = await self._call(self._renew(keys=[key], args=[value, _ms(self.ttl_s)]))
            except (RedisError, OSError, TimeoutError) as exc:
                log.warning("traffic lock of '%s': could not renew it (%s); the probe goes "
                            "on, and the lock expires within %g s unless Redis answers again",
                            environment, self._reason(exc), self.ttl_s)
                continue
            if not kept and not lost_logged:
                lost_logged = True  # expired while Redis was away, or deleted by hand
                log.warning("traffic lock of '%s' was lost while its probe ran; another probe "
                            "of the environment may start meanwhile", environment)

    async def _give_back(self, key: str, value: str, environment: str) -> None:
        try:
            await self._call(self._release(keys=[key], args=[value]))
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("traffic lock of '%s': could not release it (%s); it expires within "
                        "%g s", environment, self._reason(exc), self.ttl_s)

    async def _call(self, call: Awaitable[T]) -> T:
        async with asyncio.timeout(deadline.remaining(self._call_timeout_s)):
            return await call

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, TimeoutError):
            return f"no answer within {self._call_timeout_s:g} s"
        return redis_failure_reason(exc)


def _holder_of(value: object) -> str | None:
    if not isinstance(value, bytes | str):
        return None  # freed meanwhile: the next poll takes it, or time is up
    text = value.decode(errors="replace") if isinstance(value, bytes) else value
    return text.partition("|")[2] or None


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))

