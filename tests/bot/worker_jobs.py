"""A real worker process for the worker tests: `python -m tests.bot.worker_jobs ...` runs
`bot.worker.run_worker` with a small job function that behaves as asked and records what it
did in Redis (`{prefix}:test:events`, entries "<event> <run_id>"), so tests can follow it.

Behaviours, after claiming the run with `store.mark_running` (as execute_run does):
    finish    finishes the run as passed at once
    slow      finishes it as passed after `--hold` seconds
    hold      waits for the cancel event, then finishes the run as cancelled
    stubborn  ignores the cancel event; only cancelling its task stops it
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from datetime import UTC, datetime

from redis import asyncio as aioredis

from bot.queue import RunQueue
from bot.store import Store
from bot.worker import RunJob, WorkerOptions, run_worker
from checks.results import RunResult

BEHAVIOURS = ("finish", "slow", "hold", "stubborn")


def events_key(prefix: str) -> str:
    return f"{prefix}:test:events"


def empty_result(cancelled: bool = False) -> RunResult:
    now = datetime.now(UTC)
    return RunResult(suite="shop", environment="staging", started_at=now, finished_at=now,
                     results=(), categories=(), cancelled=cancelled)


def make_job(behaviour: str, store: Store, redis: aioredis.Redis, prefix: str,
             hold_s: float = 1.0) -> RunJob:
    async def record(event: str, run_id: str) -> None:
        await redis.rpush(events_key(prefix), f"{event} {run_id}")

    async def job(run_id: str, *, worker_id: str, cancel: asyncio.Event) -> None:
        if await store.mark_running(run_id, worker_id) is None:
            await record("not-queued", run_id)
            return
        await record("started", run_id)
        if behaviour == "slow":
            await asyncio.sleep(hold_s)
        elif behaviour == "hold":
            await cancel.wait()
            await store.finish_run(run_id, empty_result(cancelled=True))
            await record("cancelled", run_id)
            return
        elif behaviour == "stubborn":
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                await record("cut-short", run_id)
                raise
        await store.finish_run(run_id, empty_result())
        await record("finished", run_id)

    return job


async def main(args: argparse.Namespace) -> None:
    redis = aioredis.from_url(args.redis)
    queue = RunQueue.from_url(args.redis, prefix=args.prefix)
    async with Store.open(args.dsn) as store:
        job = make_job(args.behaviour, store, redis, args.prefix, args.hold)

        async def on_interrupted(run_id: str) -> None:
            await redis.rpush(events_key(args.prefix), f"interrupted {run_id}")

        try:
            await run_worker(queue, store, job, options=WorkerOptions(**json.loads(args.options)),
                             on_interrupted=on_interrupted, worker_id=args.worker_id)
        finally:
            await queue.close()
            await redis.aclose()


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--behaviour", choices=BEHAVIOURS, required=True)
    parser.add_argument("--hold", type=float, default=1.0)
    parser.add_argument("--options", default="{}")
    parser.add_argument("--worker-id", default="test-worker")
    asyncio.run(main(parser.parse_args()))
