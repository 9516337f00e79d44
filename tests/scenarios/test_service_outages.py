"""Redis or PostgreSQL down: `/smoketest staging` gets a clear ephemeral error within Slack's
3 s and nothing is queued; when the service comes back, the bot works again by itself."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import httpx
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.queue import RunQueue
from tests.scenarios.conftest import BotStack
from tests.scenarios.scenario_support import TcpRelay, final_summary, run_rows
from tests.support.asgi import free_port


def _queued_jobs(stack: BotStack) -> list[str]:
    async def read() -> list[str]:
        queue = RunQueue.from_url(stack.env["REDIS_URL"], prefix=stack.env["SMOKEBOT_KEY_PREFIX"])
        try:
            return await queue.queued_run_ids()
        finally:
            await queue.close()
    return asyncio.run(read())


def _timed_command(stack: BotStack, web_url: str, text: str = "staging") -> tuple[dict, float]:
    started = time.monotonic()
    response = stack.send(stack.slack.slash_command(text), web_url=web_url)
    elapsed = time.monotonic() - started
    assert response.status_code == 200
    return response.json(), elapsed


def test_redis_down_gets_a_clear_ephemeral_error_fast_and_queues_nothing(
        bot_stack: BotStack) -> None:
    closed = free_port()
    with bot_stack.another_web_app(REDIS_URL=f"redis://127.0.0.1:{closed}/0") as web_url:
        reply, elapsed = _timed_command(bot_stack, web_url)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (f"run queue is unavailable: cannot reach Redis at "
                             f"127.0.0.1:{closed}/0 (connection refused); try again shortly")
    assert elapsed < 3.0
    assert _queued_jobs(bot_stack) == []
    assert [row[1] for row in run_rows(bot_stack)] in ([], ["error"])
    assert bot_stack.query("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')") \
        == [(0,)]


def test_postgres_down_gets_a_clear_ephemeral_error_fast_and_queues_nothing(
        bot_stack: BotStack) -> None:
    closed = free_port()
    database = conninfo_to_dict(bot_stack.dsn)["dbname"]
    dsn = make_conninfo(bot_stack.dsn, port=str(closed))
    with bot_stack.another_web_app(DATABASE_URL=dsn) as web_url:
        reply, elapsed = _timed_command(bot_stack, web_url)
    assert reply["response_type"] == "ephemeral"
    assert reply["text"] == (f"history store is unavailable: cannot connect to PostgreSQL at "
                             f"127.0.0.1:{closed}/{database} (connection refused); "
                             f"try again shortly")
    assert elapsed < 3.0
    assert _queued_jobs(bot_stack) == []


def _until_queued(stack: BotStack, web_url: str, outage: str, timeout: float) -> int:
    """Sends `/smoketest staging` as a person would, until it is queued; every reply until
    then is the outage message (`outage` is how it starts). Returns how many tries failed."""
    started = time.monotonic()
    failed = 0
    while True:
        reply, elapsed = _timed_command(stack, web_url)
        assert elapsed < 3.0
        if "Queued a smoke test of staging" in reply["text"]:
            return failed
        failed += 1
        assert reply["text"].startswith(outage) and reply["text"].endswith("try again shortly")
        assert time.monotonic() - started < timeout, "the bot did not recover"
        time.sleep(0.5)


def test_bot_recovers_by_itself_when_redis_comes_back(bot_stack: BotStack) -> None:
    redis = urlsplit(bot_stack.env["REDIS_URL"])
    relay = TcpRelay(redis.hostname or "127.0.0.1", redis.port or 6379)
    relay.start()
    bot_stack.start_worker()  # reaches Redis directly: only the web process loses it
    try:
        with bot_stack.another_web_app(
                REDIS_URL=f"redis://127.0.0.1:{relay.port}{redis.path or '/0'}") as web_url:
            assert httpx.get(f"{web_url}/readyz").status_code == 200
            relay.cut()
            reply, _ = _timed_command(bot_stack, web_url)
            # The reason varies with where Redis dropped the pooled connection.
            outage = (f"run queue is unavailable: cannot reach Redis at 127.0.0.1:{relay.port}"
                      f"{redis.path or '/0'} (")
            assert reply["text"].startswith(outage)
            assert reply["text"].endswith("); try again shortly")
            assert httpx.get(f"{web_url}/readyz").status_code == 503

            relay.start()
            assert _until_queued(bot_stack, web_url, outage, timeout=10) == 0, \
                "the first command after Redis came back was refused"
            bot_stack.wait_for(lambda: final_summary(bot_stack), what="the run's summary")
    finally:
        relay.cut()
    assert [row[1] for row in run_rows(bot_stack)] == ["error", "failed"]


def test_bot_recovers_by_itself_when_postgres_comes_back(bot_stack: BotStack) -> None:
    params = conninfo_to_dict(bot_stack.dsn)
    relay = TcpRelay(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    relay.start()
    bot_stack.start_worker()
    try:
        dsn = make_conninfo(bot_stack.dsn, port=str(relay.port))
        with bot_stack.another_web_app(DATABASE_URL=dsn) as web_url:
            assert httpx.get(f"{web_url}/readyz").status_code == 200
            relay.cut()
            reply, _ = _timed_command(bot_stack, web_url)
            outage = (f"history store is unavailable: cannot connect to PostgreSQL at "
                      f"127.0.0.1:{relay.port}/{params['dbname']} (connection refused); "
                      f"try again shortly")
            assert reply["text"] == outage
            assert _queued_jobs(bot_stack) == []

            relay.start()
            assert _until_queued(bot_stack, web_url, outage, timeout=20) == 0, \
                "the first command after PostgreSQL came back was refused"
            bot_stack.wait_for(lambda: final_summary(bot_stack), what="the run's summary")
    finally:
        relay.cut()
    assert [row[1] for row in run_rows(bot_stack)] == ["failed"]
