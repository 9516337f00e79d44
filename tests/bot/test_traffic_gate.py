"""The Redis traffic gate against the machine's Redis, each test under its own key prefix: one
probe at a time per environment across clients (each gate here has its own connection pool, as
two workers would), a waiter that gets the environment once it is free or is told who holds it,
a lock kept alive past its TTL while held and gone within the TTL once its holder died, a
release that never frees someone else's lock, and Redis failures that are said, never hung on."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from bot.traffic_gate import RedisTrafficGate
from checks.errors import CheckError
from tests.support.asgi import free_port
from tests.support.relay import TcpRelay
from tests.support.services import redis_url, unique_prefix

ROOT = Path(__file__).resolve().parents[2]
HOLDER = "check 'api-load' of run 3f2a9c1e"


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    name = unique_prefix("traffic")
    yield name
    redis = aioredis.Redis.from_url(redis_url())
    keys = [key async for key in redis.scan_iter(match=f"{name}:*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url())
    yield client
    await client.aclose()


@pytest.fixture
async def gates(prefix: str) -> AsyncIterator[list[RedisTrafficGate]]:
    """Two gates on the same prefix, each with its own client: two workers."""
    clients = [aioredis.Redis.from_url(redis_url()) for _ in range(2)]
    yield [RedisTrafficGate(client, prefix=prefix) for client in clients]
    for client in clients:
        await client.aclose()


async def _probe(gate: RedisTrafficGate, environment: str, seconds: float,
                 wait_s: float = 10.0) -> tuple[float, float]:
    async with gate.hold(environment, HOLDER, wait_s):
        entered = time.monotonic()
        await asyncio.sleep(seconds)
        return entered, time.monotonic()


async def test_probes_of_one_environment_take_turns_and_others_run_alongside(
        gates: list[RedisTrafficGate]) -> None:
    first, second = gates
    staging_a, staging_b, qa = await asyncio.gather(
        _probe(first, "staging", 0.4), _probe(second, "staging", 0.4), _probe(second, "qa", 0.4))
    earlier, later = sorted([staging_a, staging_b])
    assert later[0] >= earlier[1]  # the second began after the first ended
    assert later[0] - earlier[1] < 0.6  # and soon after: a waiter polls at most every 0.5 s
    assert qa[0] < earlier[1] and earlier[0] < qa[1]  # another environment: at the same time


async def test_a_waiter_that_runs_out_of_time_is_told_who_holds_the_environment(
        gates: list[RedisTrafficGate]) -> None:
    holder, waiter = gates
    async with holder.hold("staging", HOLDER, 1):
        started = time.monotonic()
        with pytest.raises(CheckError) as busy:
            async with waiter.hold("staging", "check 'other' of run 77", 0.3):
                pytest.fail("entered a held environment")
        waited = time.monotonic() - started
    assert 0.25 < waited < 1.0
    assert busy.value.message == (
        "another traffic probe (check 'api-load' of run 3f2a9c1e) is running against "
        "'staging'; waited 0.3s for it to finish. Probes run one at a time per environment "
        "so that their figures do not disturb each other")
    assert not busy.value.permanent
    async with waiter.hold("staging", "check 'other' of run 77", 0.1):  # free again
        pass


async def test_a_held_lock_outlives_its_ttl_and_is_gone_once_released(
        prefix: str, redis: aioredis.Redis) -> None:
    gate = RedisTrafficGate(redis, prefix=prefix, ttl_s=0.3)
    other = RedisTrafficGate(redis, prefix=prefix, ttl_s=0.3)
    async with gate.hold("staging", HOLDER, 1):
        await asyncio.sleep(1.0)  # over three TTLs
        assert 0 < await redis.pttl(gate.key("staging")) <= 300
        with pytest.raises(CheckError, match="api-load"):
            async with other.hold("staging", "check 'b' of run 2", 0.1):
                pass
    assert await redis.exists(gate.key("staging")) == 0


async def test_the_lock_of_a_holder_that_died_expires_within_its_ttl(
        prefix: str, redis: aioredis.Redis) -> None:
    script = (
        "import asyncio, sys\n"
        "from redis import asyncio as aioredis\n"
        "from bot.traffic_gate import RedisTrafficGate\n"
        "async def main():\n"
        f"    gate = RedisTrafficGate(aioredis.Redis.from_url({redis_url()!r}),"
        f" prefix={prefix!r}, ttl_s=0.6)\n"
        "    async with gate.hold('staging', \"check 'api-load' of run dead\", 5):\n"
        "        print('held', flush=True)\n"
        "        await asyncio.sleep(60)\n"
        "asyncio.run(main())\n")
    holder = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == b"held\n"
        await asyncio.sleep(0.8)  # past its TTL: renewed while the holder lives
        assert await redis.exists(f"{prefix}:traffic:staging") == 1
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=5)
        killed = time.monotonic()
        assert await redis.exists(f"{prefix}:traffic:staging") == 1  # left behind
    finally:
        if holder.poll() is None:
            holder.kill()
    entered, _ = await _probe(RedisTrafficGate(redis, prefix=prefix), "staging", 0, wait_s=5)
    assert entered - killed < 0.6 + 0.6  # its TTL, and one poll


async def test_a_holder_whose_lock_expired_never_releases_the_next_holders(
        prefix: str, redis: aioredis.Redis, caplog: pytest.LogCaptureFixture) -> None:
    late = RedisTrafficGate(redis, prefix=prefix, ttl_s=0.3)
    next_one = RedisTrafficGate(redis, prefix=prefix)
    key = late.key("staging")
    async with AsyncExitStack() as stack:
        with caplog.at_level(logging.WARNING, "smokebot.traffic"):
            async with late.hold("staging", HOLDER, 1):
                await redis.delete(key)  # as if it expired while Redis was away
                await stack.enter_async_context(
                    next_one.hold("staging", "check 'b' of run 2", 1))
                await asyncio.sleep(0.25)  # the late holder's renewal finds it lost
        assert (await redis.get(key) or b"").endswith(b"|check 'b' of run 2")
        assert "traffic lock of 'staging' was lost while its probe ran" in caplog.text
    assert await redis.exists(key) == 0  # released by its owner


async def test_redis_down_before_a_probe_is_a_clear_error(prefix: str) -> None:
    closed = free_port()
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{closed}/0", socket_connect_timeout=1)
    gate = RedisTrafficGate(client, prefix=prefix, where=f"127.0.0.1:{closed}/0")
    with pytest.raises(CheckError) as failed:
        async with gate.hold("staging", HOLDER, 5):
            pytest.fail("a probe ran without its lock")
    await client.aclose()
    assert failed.value.message.startswith(
        "traffic probe not started: the lock that keeps probes of 'staging' one at a time is "
        f"in Redis at 127.0.0.1:{closed}/0, which could not be reached (")
    assert failed.value.message.endswith("(connection refused)")


async def test_a_redis_that_never_answers_is_not_waited_for(prefix: str) -> None:
    relay = TcpRelay("127.0.0.1", int(redis_url().rsplit(":", 1)[1].split("/")[0]))
    relay.start()
    relay.freeze()
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{relay.port}/0")
    gate = RedisTrafficGate(client, prefix=prefix, call_timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(CheckError, match=r"could not be reached \(no answer within 0.3 s\)"):
            async with gate.hold("staging", HOLDER, 5):
                pass
        assert time.monotonic() - started < 1.5
    finally:
        relay.cut()
        await client.aclose()


async def test_losing_redis_while_holding_lets_the_probe_finish_and_logs_it(
        prefix: str, caplog: pytest.LogCaptureFixture) -> None:
    relay = TcpRelay("127.0.0.1", int(redis_url().rsplit(":", 1)[1].split("/")[0]))
    relay.start()
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{relay.port}/0",
                                     socket_connect_timeout=0.5)
    gate = RedisTrafficGate(client, prefix=prefix, ttl_s=0.3, call_timeout_s=0.3)
    try:
        with caplog.at_level(logging.WARNING, "smokebot.traffic"):
            started = time.monotonic()
            async with gate.hold("staging", HOLDER, 1):
                relay.freeze()
                await asyncio.sleep(0.5)  # renewals time out meanwhile
                finished_probe = True
            took = time.monotonic() - started
        assert finished_probe
        assert took < 1.5  # the release gave up after its timeout
        assert "traffic lock of 'staging': could not renew it" in caplog.text
        assert "traffic lock of 'staging': could not release it" in caplog.text
    finally:
        relay.cut()
        await client.aclose()
