"""Choosing the Redis job queue (issue 4): arq against saq, measured on this machine's Redis.

For each candidate, with its worker in a separate process:

1. Enqueue-to-start latency: 200 jobs, enqueued one at a time at random moments (a pause of
   0 to 500 ms before each, so that a polling worker is met at every phase of its poll); each
   job records the wall-clock time at which it started; p50 / p99 / max of (start - moment
   before the enqueue call).
2. A worker SIGKILLed mid-job: a job that holds for 10 minutes is started, its worker is killed,
   a second worker is already running. We watch, for up to 150 s: what the library says about
   the job (its status), whether and when the job is run again, whether and when it is marked
   aborted / failed. Both candidates use a 20 s job timeout, otherwise their defaults.
3. The same kill with smokebot's own worker and reaper (bot/worker.py, bot/reaper.py) on saq and
   a real PostgreSQL: seconds from the kill until the run is marked interrupted.

`python -m bench.queue_candidates [arq] [saq] [smokebot]` prints the figures (about six minutes
for all; a library that is not installed is skipped: arq pins redis<6, so it is not in our venv).
`--worker arq|saq QUEUE` is the worker process it starts itself.
Keys: every key this bench writes carries a unique queue name, and is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import asyncio as aioredis

ROOT = Path(__file__).resolve().parent.parent
REDIS_URL = os.environ.get("SMOKEBOT_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
LATENCY_JOBS = 200
JOB_TIMEOUT_S = 20
HOLD_S = 600  # the first attempt of a "kill" job holds this long: only a kill ends it
KILL_WINDOW_S = 150
ARQ_FAST_POLL_S = 0.05
CANDIDATES = ["arq", "saq", "smokebot"]  # smokebot: our worker and reaper on saq


# --- the job both candidates run --------------------------------------------------------------

async def record_start(redis: aioredis.Redis, queue: str, job: str, hold_s: float) -> int:
    """Records that `job` started (attempt number and wall-clock time); the first attempt of a
    holding job then sleeps, so that the worker can be killed mid-job."""
    attempt = int(await redis.incr(f"{queue}:attempts:{job}"))
    await redis.rpush(f"{queue}:started", json.dumps(
        {"job": job, "attempt": attempt, "t": time.time(), "pid": os.getpid()}))
    if attempt == 1 and hold_s:
        await asyncio.sleep(hold_s)
    return attempt


# --- worker processes -------------------------------------------------------------------------

def run_arq_worker(queue: str, poll_delay: float) -> None:
    from arq.connections import RedisSettings
    from arq.worker import Worker, func

    redis = aioredis.from_url(REDIS_URL)

    async def bench_job(ctx: dict[str, Any], job: str, hold_s: float) -> int:
        return await record_start(redis, queue, job, hold_s)

    worker = Worker(functions=[func(bench_job, name="bench_job")], queue_name=queue,
                    redis_settings=RedisSettings.from_dsn(REDIS_URL), poll_delay=poll_delay,
                    job_timeout=JOB_TIMEOUT_S, max_jobs=10, keep_result=60)
    worker.run()


def run_saq_worker(queue: str) -> None:
    from saq import Queue, Worker

    redis = aioredis.from_url(REDIS_URL)

    async def bench_job(ctx: dict[str, Any], *, job: str, hold_s: float) -> int:
        return await record_start(redis, queue, job, hold_s)

    async def main() -> None:
        q = Queue.from_url(REDIS_URL, name=queue)
        await q.connect()
        worker = Worker(q, functions=[("bench_job", bench_job)], concurrency=10)
        await worker.start()

    asyncio.run(main())


def start_worker(candidate: str, queue: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "bench.queue_candidates", "--worker",
                             candidate, queue, *extra], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop_worker(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the enqueuing side -----------------------------------------------------------------------

class Candidate:
    name: str

    def __init__(self, queue: str) -> None:
        self.queue = queue
        self.redis = aioredis.from_url(REDIS_URL)

    async def connect(self) -> None: ...

    async def enqueue(self, job: str, hold_s: float) -> None:
        raise NotImplementedError

    async def status(self, job: str) -> str:
        raise NotImplementedError

    async def close(self) -> None:
        await self.redis.aclose()

    def worker_args(self) -> list[str]:
        return [self.name.split(" ")[0], self.queue]

    async def cleanup(self, jobs: list[str]) -> None:
        keys = [key async for key in self.redis.scan_iter(match=f"*{self.queue}*", count=500)]
        if keys:
            await self.redis.delete(*keys)


class ArqCandidate(Candidate):
    def __init__(self, queue: str, poll_delay: float = 0.5) -> None:
        super().__init__(queue)
        self.poll_delay = poll_delay
        self.name = "arq" if poll_delay == 0.5 else f"arq (poll_delay={poll_delay:g} s)"

    async def connect(self) -> None:
        from arq import create_pool
        from arq.connections import RedisSettings
        self.pool = await create_pool(RedisSettings.from_dsn(REDIS_URL),
                                      default_queue_name=self.queue)

    def worker_args(self) -> list[str]:
        return ["arq", self.queue, "--poll-delay", str(self.poll_delay)]

    async def enqueue(self, job: str, hold_s: float) -> None:
        await self.pool.enqueue_job("bench_job", job, hold_s, _job_id=job)

    async def status(self, job: str) -> str:
        from arq.jobs import Job
        found = Job(job, self.pool, _queue_name=self.queue)
        text = (await found.status()).value
        info = await found.result_info()
        if info is not None:
            text += f" (success={info.success}, tries={info.job_try})"
        return text

    async def cleanup(self, jobs: list[str]) -> None:
        await super().cleanup(jobs)
        # arq's job keys carry the job id, not the queue name.
        keys = [f"arq:{kind}:{job}" for job in jobs
                for kind in ("job", "result", "retry", "in-progress")]
        for start in range(0, len(keys), 500):
            await self.redis.delete(*keys[start:start + 500])

    async def close(self) -> None:
        await self.pool.aclose()
        await super().close()


class SaqCandidate(Candidate):
    name = "saq"

    async def connect(self) -> None:
        from saq import Queue
        self.q = Queue.from_url(REDIS_URL, name=self.queue)
        await self.q.connect()

    async def enqueue(self, job: str, hold_s: float) -> None:
        await self.q.enqueue("bench_job", key=job, timeout=JOB_TIMEOUT_S, job=job, hold_s=hold_s)

    async def status(self, job: str) -> str:
        found = await self.q.job(job)
        if found is None:
            return "missing"
        text = found.status.value
        if found.error:
            text += f" (error={found.error!r}, attempts={found.attempts})"
        return text

    async def close(self) -> None:
        await self.q.disconnect()
        await super().close()

    async def cleanup(self, jobs: list[str]) -> None:
        await super().cleanup(jobs)
        for start in range(0, len(jobs), 500):
            await self.redis.delete(*[f"saq:abort:{job}" for job in jobs[start:start + 500]])


@dataclass
class KillReport:
    events: list[tuple[float, str]] = field(default_factory=list)
    reruns: list[float] = field(default_factory=list)


async def next_start(candidate: Candidate, timeout: float) -> dict[str, Any] | None:
    popped = await candidate.redis.blpop([f"{candidate.queue}:started"], timeout=timeout)
    return json.loads(popped[1]) if popped else None


async def measure_latency(candidate: Candidate, jobs: list[str]) -> tuple[list[float], list[float]]:
    """One job at a time: enqueue, wait for its start record. Returns (latencies, enqueue calls)."""
    latencies, calls = [], []
    for _ in range(LATENCY_JOBS):
        await asyncio.sleep(random.uniform(0, 0.5))  # arrivals unrelated to any poll phase
        job = uuid.uuid4().hex
        jobs.append(job)
        before = time.time()
        await candidate.enqueue(job, 0)
        calls.append(time.time() - before)
        started = await next_start(candidate, 10)
        if started is None or started["job"] != job:
            raise SystemExit(f"{candidate.name}: job {job} did not start within 10 s")
        latencies.append(started["t"] - before)
    return latencies, calls


async def measure_kill(candidate: Candidate, jobs: list[str]) -> KillReport:
    report = KillReport()
    victim = start_worker(*candidate.worker_args())
    survivor: subprocess.Popen[bytes] | None = None
    try:
        await warm_up(candidate, jobs)
        job = uuid.uuid4().hex
        jobs.append(job)
        await candidate.enqueue(job, HOLD_S)
        started = await next_start(candidate, 10)
        if started is None or started["pid"] != victim.pid:
            raise SystemExit(f"{candidate.name}: the holding job did not start on the victim")
        survivor = start_worker(*candidate.worker_args())
        await asyncio.sleep(1.0)  # the survivor is up and polling before the kill
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        last = ""
        while (elapsed := time.monotonic() - killed_at) < KILL_WINDOW_S:
            status = await candidate.status(job)
            if status != last:
                report.events.append((elapsed, status))
                last = status
            while (started := await next_start(candidate, 0.01)) is not None:
                report.reruns.append(time.monotonic() - killed_at)
                report.events.append((time.monotonic() - killed_at,
                                      f"job started again (attempt {started['attempt']})"))
            if status.startswith(("complete", "aborted", "failed")):
                break
            await asyncio.sleep(0.25)
        else:
            report.events.append((KILL_WINDOW_S, f"still {last} at the end of the window"))
    finally:
        stop_worker(victim)
        if survivor is not None:
            stop_worker(survivor)
    return report


async def warm_up(candidate: Candidate, jobs: list[str]) -> None:
    """One job through the worker: it is up, connected, and its code is imported."""
    job = uuid.uuid4().hex
    jobs.append(job)
    await candidate.enqueue(job, 0)
    if await next_start(candidate, 30) is None:
        raise SystemExit(f"{candidate.name}: the worker did not start within 30 s")


def ms(values: list[float], q: float) -> str:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return f"{ordered[index] * 1000:7.1f} ms"


async def bench(candidate: Candidate, *, kill: bool) -> None:
    jobs: list[str] = []
    await candidate.connect()
    try:
        worker = start_worker(*candidate.worker_args())
        try:
            await warm_up(candidate, jobs)
            latencies, calls = await measure_latency(candidate, jobs)
        finally:
            stop_worker(worker)
        print(f"{candidate.name}: enqueue-to-start over {LATENCY_JOBS} jobs: "
              f"p50 {ms(latencies, 0.5)}  p99 {ms(latencies, 0.99)}  "
              f"max {ms(latencies, 1.0)}  (enqueue call p50 {ms(calls, 0.5)}, "
              f"mean {statistics.mean(latencies) * 1000:.1f} ms)", flush=True)
        if kill:
            report = await measure_kill(candidate, jobs)
            print(f"{candidate.name}: worker SIGKILLed mid-job (job timeout {JOB_TIMEOUT_S} s), "
                  f"what the library shows, seconds after the kill:")
            for at, event in report.events:
                print(f"    {at:6.1f} s  {event}")
            reran = (f"re-run {len(report.reruns)}x, first {report.reruns[0]:.1f} s after the "
                     f"kill" if report.reruns else "not re-run")
            print(f"    -> {reran}", flush=True)
    finally:
        await candidate.cleanup(jobs)
        await candidate.close()


async def bench_our_reaper() -> None:
    """The same kill, with smokebot's worker and reaper on saq (default settings: heartbeat
    5 s, stale after 30 s, reaper every 10 s): how long until the run is marked interrupted."""
    from bot.queue import RunQueue
    from bot.store import RunRequest, RunStatus, Store, TriggerKind
    from tests.support.services import temporary_database, unique_prefix

    prefix = unique_prefix("bench_reaper")
    defaults = json.dumps({"heartbeat_s": 5.0, "stale_after_s": 30.0, "reap_interval_s": 10.0})

    def worker(dsn: str) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "tests.bot.worker_jobs", "--redis", REDIS_URL, "--prefix",
             prefix, "--dsn", dsn, "--behaviour", "hold", "--options", defaults], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    queue = RunQueue.from_url(REDIS_URL, prefix=prefix)
    redis = aioredis.from_url(REDIS_URL)
    with temporary_database("smokebot_bench") as dsn:
        async with Store.open(dsn) as store:
            await store.migrate()
            victim = worker(dsn)
            survivor = None
            try:
                run = await store.create_run(RunRequest(environment="staging",
                                                        trigger_kind=TriggerKind.CLI))
                await queue.enqueue(str(run.id), "staging")
                popped = await redis.blpop([f"{prefix}:test:events"], timeout=30)
                if popped is None:
                    raise SystemExit("smokebot: the worker did not start the run")
                survivor = worker(dsn)  # its reaper is the one that notices
                await asyncio.sleep(1.0)
                victim.send_signal(signal.SIGKILL)
                victim.wait()
                killed_at = time.monotonic()
                while time.monotonic() - killed_at < KILL_WINDOW_S:
                    found = await store.get_run(run.id)
                    if found is not None and found.status is RunStatus.INTERRUPTED:
                        print(f"smokebot (saq + our reaper): worker SIGKILLed mid-run -> run "
                              f"marked interrupted {time.monotonic() - killed_at:.1f} s after "
                              f"the kill ({found.status_reason})", flush=True)
                        break
                    await asyncio.sleep(0.25)
                else:
                    print(f"smokebot: run still not interrupted after {KILL_WINDOW_S} s")
            finally:
                for process in (victim, survivor):
                    if process is not None:
                        stop_worker(process)
                await queue.close()
                keys = [k async for k in redis.scan_iter(match=f"*{prefix}*", count=500)]
                if keys:
                    await redis.delete(*keys)
                await redis.aclose()


async def main(candidates: list[str]) -> None:
    tag = uuid.uuid4().hex[:8]
    print(f"Redis {REDIS_URL}; worker in its own process; {os.cpu_count()} cores shared with "
          f"the workers", flush=True)
    for name in candidates:
        if name != "smokebot" and importlib.util.find_spec(name) is None:
            # arq pins redis<6 and saq[redis] redis<8: arq is not in the project's venv.
            print(f"{name}: not installed, skipped (pip install {name} in a scratch venv to "
                  f"compare)", flush=True)
            continue
        if name == "arq":
            await bench(ArqCandidate(f"bench_arq_{tag}"), kill=True)
            await bench(ArqCandidate(f"bench_arqfast_{tag}", ARQ_FAST_POLL_S), kill=False)
        elif name == "saq":
            await bench(SaqCandidate(f"bench_saq_{tag}"), kill=True)
        else:
            await bench_our_reaper()


def cli() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=2, metavar=("CANDIDATE", "QUEUE"))
    parser.add_argument("--poll-delay", type=float, default=0.5)
    parser.add_argument("candidates", nargs="*", metavar="|".join(CANDIDATES))
    args = parser.parse_args()
    if unknown := set(args.candidates) - set(CANDIDATES):
        parser.error(f"unknown candidate(s): {', '.join(sorted(unknown))}")
    if args.worker is None:
        asyncio.run(main(args.candidates or CANDIDATES))
    elif args.worker[0] == "arq":
        run_arq_worker(args.worker[1], args.poll_delay)
    else:
        run_saq_worker(args.worker[1])


if __name__ == "__main__":
    cli()
