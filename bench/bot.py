"""Slack bot benchmarks (issue 4): the whole bot on this machine, measured against the
physical limit in the same run.

Processes: the web process (`python -m bench.serve_web`, BENCH_APP=bot: bot.web's app from the
bot's environment variables, served by uvicorn as `smokebot serve` serves it), a bare ASGI
endpoint that only answers 200 (same launcher, same uvicorn settings, its own process), the
demo target the checks test (own process), the real PostgreSQL (a fresh database) and Redis (a
fresh key prefix), and, from phase 4 on, two real workers (`python -m bot worker`). The Slack
emulator (tests/support) runs in a thread of this process, where every Slack call is recorded
with its wall-clock time.

1. Signed slash commands one at a time over one keep-alive httpx client, alternating with the
   same bytes sent to the bare endpoint: ack latency p50 / p99 (target p50 <= 3 ms). Then the
   same paced (200 ms of quiet before each, as Slack's traffic comes), and commands that join a
   running environment.
2. 500 signed slash commands at concurrency 50 (asyncio, one httpx.AsyncClient per sender), the
   same 500 bodies to the bare endpoint before and after: ack p50 / p99, p99 over the bare
   endpoint's (target <= 1.25x), max (none over 3,000 ms), every one queued exactly once, and
   each server's CPU time per request. Then again with one shared httpx.AsyncClient, whose
   pool caps both servers near 200 requests/s (encode/httpx#3215), to show that that setup
   measures the client.
3. RSS of the web process after that load (target <= 120 MB).
4. Two workers start and drain every run queued so far (throughput).
5. Trigger to first Slack message over 30 runs of `/smoketest staging`: from just before the
   command is sent to the emulator receiving the run's chat.postMessage (target p50 <= 150 ms).
6. Slack calls and PostgreSQL round trips for one run of a 10-check suite with one failure, and
   RSS of the web process and of each worker after phases 1 to 5 (targets <= 120 MB and
   <= 150 MB; the peak, VmHWM, is judged). The round trips are counted by a relay
   (bench/pg_relay.py) in front of PostgreSQL: phase 6 stops the two workers and starts a web
   process and two workers of its own whose DATABASE_URL is the relay's port, so phases 1 to 5
   are measured without it. After four warm-up runs, the checkouts their background loops make
   while idle (the outbox pass, the reaper) are learnt over 12 s and left out of the run's
   count; BENCH_ROUND_TRIPS=FILE writes the run's round trips to FILE, one a line.

"Queued exactly once": a second `/smoketest` for an environment that is running joins that run,
so 500 commands for one environment would make one run and 499 joins; that proves the join,
not the queue. Phases 1 and 2 therefore give every command its own environment (the suite has
one per command, all with the same cheap checks): each command must then create exactly one
run row, queued, and exactly one job for that run in the Redis queue, and nothing else. The join
path is timed separately in phase 1. No worker runs during phases 1 and 2: in production they
run on other machines, and here they would take CPU from the web process that the bare
endpoint's run does not lose (the drain in phase 4 executes those runs afterwards).

`python -m bench.bot` prints the figures (in about a minute and a half).
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, LiteralString

import httpx
import psycopg
from psycopg import sql

from bench.pg_relay import PgRelay, RoundTrip, checkouts
from bench.stack import (
    SCHEMA, SIGNING_SECRET, Stack, percentile, running_stack, verdict, wait_until,
)
from bot.queue import RunQueue
from tests.support.services import redis_url
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SignedRequest, SlackRequestFactory

CHANNEL = "C0SMOKE001"
WARMUP = 50
SEQUENTIAL = 300
JOINS = 100
PACED = 40
PACE_S = 0.2
LOAD_REQUESTS = 500
LOAD_CONCURRENCY = 50
TRIGGERS = 30
WORKERS = 2
WARMUP_RUNS = 4  # phase 6: runs of staging before the measured one
IDLE_S = 12.0  # phase 6: one reaper pass (every 10 s) and six outbox passes of each worker
QUIET_S = 1.0  # a run's messages are all sent once Slack has heard nothing for this long
MB = 1024 * 1024


# --- the suite --------------------------------------------------------------------------------

def environment_names() -> dict[str, list[str]]:
    """Environment names by phase: each queued command in phases 1 and 2 gets its own."""
    return {"warmup": [f"w{i:03d}" for i in range(2 * WARMUP)],
            "sequential": [f"s{i:03d}" for i in range(SEQUENTIAL)],
            "paced": [f"p{i:03d}" for i in range(PACED)],
            "load": [f"c{i:03d}" for i in range(LOAD_REQUESTS)],
            "shared_warmup": [f"v{i:03d}" for i in range(WARMUP)],
            "shared": [f"d{i:03d}" for i in range(LOAD_REQUESTS)]}


def suite_text(target_url: str) -> str:
    """Two cheap checks everywhere; `ten` adds eight, one of them failing (the demo target's
    OpenAI provider is degraded), for ten checks with one failure."""
    names = ["staging", "ten"] + [n for group in environment_names().values() for n in group]
    environments = "\n".join(f"  {name}: {{slack: {{channel: {CHANNEL}}}}}" for name in names)
    common = [("version", "/api/version", "version exists"),
              ("health_status", "/api/health", "status exists")]
    only_ten = [(f"version_{i}", "/api/version", "version exists") for i in range(7)]
    only_ten.append(("providers", "/api/health", "services.ai_providers.* == healthy"))
    lines = [f"      - {{id: {cid}, type: http, url: '{target_url}{path}', assert: ['{rule}']}}"
             for cid, path, rule in common]
    lines += [f"      - {{id: {cid}, type: http, url: '{target_url}{path}', assert: ['{rule}'], "
              "environments: [ten]}" for cid, path, rule in only_ten]
    return ("suite: bench\ndefaults: {timeout: 5s}\nenvironments:\n" + environments
            + "\ncategories:\n  - name: Health & Infrastructure\n    checks:\n"
            + "\n".join(lines) + "\n")


# --- processes --------------------------------------------------------------------------------

@dataclass(kw_only=True)
class BotStack(Stack):
    """`web_url` is the web process's /slack/events; `bare_url` the bare endpoint's."""

    bare_url: str = ""

    @functools.cached_property
    def slack(self) -> SlackRequestFactory:
        return SlackRequestFactory(SIGNING_SECRET, emulator=self.emulator)


@contextmanager
def bot_stack() -> Iterator[BotStack]:
    with running_stack(BotStack, "bench", suite_text, web_path="/slack/events") as stack:
        stack.bare_url = stack.serve("bare", "bare") + "/slack/events"
        yield stack


# --- figures ----------------------------------------------------------------------------------

def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms" if seconds < 0.1 else f"{seconds * 1000:.0f} ms"


def expect_ack(response: httpx.Response, wanted: str) -> None:
    if response.status_code != 200 or wanted not in response.json().get("text", ""):
        raise SystemExit(f"unexpected ack ({response.status_code}): {response.text[:300]}")


# --- 1. one at a time -------------------------------------------------------------------------

def bench_sequential(stack: BotStack) -> None:
    names = environment_names()
    web: list[float] = []
    bare: list[float] = []
    joins: list[float] = []
    paced: list[float] = []
    paced_bare: list[float] = []
    with httpx.Client(timeout=10) as client:
        def timed(url: str, request: SignedRequest) -> tuple[float, httpx.Response]:
            started = time.perf_counter()
            response = client.post(url, content=request.body, headers=request.headers)
            return time.perf_counter() - started, response

        for env in names["warmup"][:WARMUP]:  # imports, pools, the suite's first load
            request = stack.slack.slash_command(env, channel_id=CHANNEL)
            expect_ack(timed(stack.web_url, request)[1], f"Queued a smoke test of {env}")
            timed(stack.bare_url, request)
        for i, env in enumerate(names["sequential"]):
            request = stack.slack.slash_command(env, channel_id=CHANNEL)
            order = [(stack.web_url, web), (stack.bare_url, bare)]
            for url, into in (order if i % 2 == 0 else order[::-1]):
                took, response = timed(url, request)
                into.append(took)
                if url == stack.web_url:
                    expect_ack(response, f"Queued a smoke test of {env}")
        for env in names["paced"]:  # as Slack's traffic comes: to processes that were idle
            request = stack.slack.slash_command(env, channel_id=CHANNEL)
            for url, into in ((stack.web_url, paced), (stack.bare_url, paced_bare)):
                time.sleep(PACE_S)
                took, response = timed(url, request)
                into.append(took)
                if url == stack.web_url:
                    expect_ack(response, f"Queued a smoke test of {env}")
        for i in range(JOINS + 1):  # the first queues staging, the others join that run
            took, response = timed(stack.web_url, stack.slack.slash_command(
                "staging", channel_id=CHANNEL))
            expect_ack(response, "Queued a smoke test" if i == 0 else "you joined that run")
            if i:
                joins.append(took)
    p50 = percentile(web, 50)
    print(f"1. one at a time, {SEQUENTIAL} signed /smoketest commands, each queuing a run "
          "(keep-alive httpx.Client)")
    print(f"   ack p50 {ms(p50)} (target <= 3 ms: {verdict(p50 <= 0.003)}), "
          f"p99 {ms(percentile(web, 99))}, max {ms(max(web))}")
    print(f"   bare endpoint p50 {ms(percentile(bare, 50))}, p99 {ms(percentile(bare, 99))}; "
          f"the bot adds {ms(p50 - percentile(bare, 50))} at p50")
    print(f"   paced, {PACED} commands each after {PACE_S * 1000:.0f} ms of quiet: ack p50 "
          f"{ms(percentile(paced, 50))}, p99 {ms(percentile(paced, 99))}; bare endpoint p50 "
          f"{ms(percentile(paced_bare, 50))} (idle processes take longer to wake on this VM)")
    print(f"   joining a running environment ({JOINS} commands): p50 "
          f"{ms(percentile(joins, 50))}, p99 {ms(percentile(joins, 99))}")


# --- 2. under load ----------------------------------------------------------------------------

@dataclass
class Blast:
    latencies: list[float]
    responses: list[httpx.Response]
    wall_s: float
    server_cpu_s: float = 0.0


async def _blast(url: str, warmup: list[SignedRequest], requests: list[SignedRequest],
                 concurrency: int, *, shared: bool = False) -> Blast:
    """`concurrency` senders, each with its own AsyncClient and keep-alive connection (as Slack
    opens many connections). One shared AsyncClient (`shared=True`) measures httpx rather than
    the server: its connection pool tops out near 200 requests/s at 50 connections on this
    machine, even against the bare endpoint (encode/httpx#3215)."""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    clients = ([httpx.AsyncClient(timeout=30, limits=limits)] if shared
               else [httpx.AsyncClient(timeout=30) for _ in range(concurrency)])
    try:
        async def send_all(batch: list[SignedRequest]) -> Blast:
            latencies = [0.0] * len(batch)
            responses: list[Any] = [None] * len(batch)
            todo = iter(enumerate(batch))

            async def sender(client: httpx.AsyncClient) -> None:
                for index, request in todo:
                    started = time.perf_counter()
                    responses[index] = await client.post(url, content=request.body,
                                                         headers=request.headers)
                    latencies[index] = time.perf_counter() - started

            started = time.perf_counter()
            await asyncio.gather(*(sender(clients[n % len(clients)])
                                   for n in range(concurrency)))
            return Blast(latencies, responses, time.perf_counter() - started)

        await send_all(warmup)  # opens the connections (and fills the store's pool)
        return await send_all(requests)
    finally:
        await asyncio.gather(*(client.aclose() for client in clients))


@dataclass(frozen=True)
class LoadFigures:
    p50: float
    p99: float
    worst: float
    over_3s: int
    rate: float
    bare_p50: float
    bare_p99: float
    bare_rate: float
    cpu_per_request: float  # the server process's CPU time per request, warm-up included
    bare_cpu_per_request: float

    @property
    def ratio_p99(self) -> float:
        return self.p99 / self.bare_p99


def _load_round(stack: BotStack, envs: list[str], warmup_envs: list[str], *,
                shared: bool) -> LoadFigures:
    """The bare endpoint before and after the bot (same bodies), the mean of the two."""
    warmup = [stack.slack.slash_command(env, channel_id=CHANNEL) for env in warmup_envs]
    requests = [stack.slack.slash_command(env, channel_id=CHANNEL) for env in envs]

    def run(url: str) -> Blast:
        server = "web" if url == stack.web_url else "bare"
        before = stack.cpu_s(server)
        blast = asyncio.run(_blast(url, warmup, requests, LOAD_CONCURRENCY, shared=shared))
        blast.server_cpu_s = stack.cpu_s(server) - before  # warm-up included: same for both
        return blast
    bare_before = run(stack.bare_url)
    web = run(stack.web_url)
    bare_after = run(stack.bare_url)
    for env, response in zip(envs, web.responses):
        expect_ack(response, f"Queued a smoke test of {env}")
    bares = (bare_before, bare_after)
    return LoadFigures(
        p50=percentile(web.latencies, 50), p99=percentile(web.latencies, 99),
        worst=max(web.latencies), over_3s=sum(1 for t in web.latencies if t > 3.0),
        rate=len(envs) / web.wall_s,
        bare_p50=statistics.mean(percentile(b.latencies, 50) for b in bares),
        bare_p99=statistics.mean(percentile(b.latencies, 99) for b in bares),
        bare_rate=statistics.mean(len(envs) / b.wall_s for b in bares),
        cpu_per_request=web.server_cpu_s / (len(envs) + len(warmup)),
        bare_cpu_per_request=statistics.mean(b.server_cpu_s for b in bares)
        / (len(envs) + len(warmup)))


def bench_load(stack: BotStack) -> None:
    names = environment_names()
    load = _load_round(stack, names["load"], names["warmup"][WARMUP:], shared=False)
    print(f"2. {LOAD_REQUESTS} signed /smoketest commands at concurrency {LOAD_CONCURRENCY} "
          f"(asyncio, {LOAD_CONCURRENCY} httpx.AsyncClients with one connection each)")
    print(f"   ack p50 {ms(load.p50)}, p99 {ms(load.p99)}, max {ms(load.worst)}; "
          f"{load.rate:.0f} commands/s")
    print(f"   bare endpoint p50 {ms(load.bare_p50)}, p99 {ms(load.bare_p99)} (mean of a run "
          f"before and one after); {load.bare_rate:.0f} requests/s")
    print(f"   p99 ratio {load.ratio_p99:.2f}x (target <= 1.25x: "
          f"{verdict(load.ratio_p99 <= 1.25)}), p50 ratio {load.p50 / load.bare_p50:.2f}x")
    print(f"   server CPU per request: web process {ms(load.cpu_per_request)}, bare endpoint "
          f"{ms(load.bare_cpu_per_request)} (PostgreSQL and Redis not counted)")
    print(f"   over 3,000 ms: {load.over_3s} (target none: {verdict(load.over_3s == 0)})")
    once, detail = queued_exactly_once(stack, names["load"])
    print(f"   queued exactly once: {detail} ({verdict(once)})")
    shared = _load_round(stack, names["shared"], names["shared_warmup"], shared=True)
    print(f"   the same with one shared httpx.AsyncClient: ack p50 {ms(shared.p50)}, p99 "
          f"{ms(shared.p99)}, max {ms(shared.worst)}, {shared.rate:.0f} commands/s; bare "
          f"p99 {ms(shared.bare_p99)}, {shared.bare_rate:.0f} requests/s; p99 ratio "
          f"{shared.ratio_p99:.2f}x, but the client is the bottleneck for both")


def queued_exactly_once(stack: BotStack, environments: list[str]) -> tuple[bool, str]:
    with psycopg.connect(stack.dsn) as conn:
        rows = conn.execute(f"SELECT id::text, environment, status FROM {SCHEMA}.runs "
                            "WHERE environment = ANY(%s)", [environments]).fetchall()

    async def queued_ids() -> list[str]:
        queue = RunQueue.from_url(redis_url(), prefix=stack.prefix)
        try:
            return await queue.queued_run_ids()
        finally:
            await queue.close()
    jobs = Counter(asyncio.run(queued_ids()))
    runs_per_env = Counter(env for _, env, _ in rows)
    statuses = Counter(status for _, _, status in rows)
    ids = {run_id for run_id, _, _ in rows}
    ok = (len(rows) == len(environments) and set(runs_per_env.values()) == {1}
          and statuses == Counter({"queued": len(environments)})
          and all(jobs[run_id] == 1 for run_id in ids))
    detail = (f"{len(rows)} run rows for {len(runs_per_env)} of {len(environments)} "
              f"environments, statuses {dict(statuses)}, "
              f"{sum(1 for run_id in ids if jobs[run_id] == 1)} with exactly one queued job, "
              f"{sum(1 for run_id in ids if jobs[run_id] > 1)} with more")
    return ok, detail


# --- 4-6. workers -----------------------------------------------------------------------------

def one_row(stack: BotStack, query: LiteralString) -> tuple[Any, ...]:
    with psycopg.connect(stack.dsn) as conn:
        row = conn.execute(sql.SQL(query).format(schema=sql.Identifier(SCHEMA))).fetchone()
    if row is None:
        raise SystemExit(f"no row for {query!r}")
    return row


def active_runs(stack: BotStack) -> int:
    return int(one_row(stack, "SELECT count(*) FROM {schema}.runs "
                              "WHERE status IN ('queued', 'running')")[0])


def bench_drain(stack: BotStack) -> None:
    backlog = active_runs(stack)
    stack.start_workers(WORKERS)
    started = time.monotonic()
    wait_until(lambda: active_runs(stack) == 0, 900, "the workers to drain the queue", poll=0.5)
    first, last, statuses = one_row(
        stack, "SELECT min(started_at), max(finished_at), (SELECT json_object_agg(status, n) "
               "FROM (SELECT status, count(*) n FROM {schema}.runs GROUP BY status) s) "
               "FROM {schema}.runs")
    busy = (last - first).total_seconds()
    print(f"4. {WORKERS} workers drained {backlog} queued runs in {time.monotonic() - started:.1f} s"
          f" ({backlog / busy:.1f} runs/s from first start to last finish); runs by status: "
          f"{statuses}")


def environment_idle(stack: BotStack, environment: str) -> bool:
    """No queued or running run of `environment` in the store, so a command starts a new run."""
    return not stack.query("SELECT 1 FROM runs WHERE environment = %s "
                           "AND status IN ('queued', 'running') LIMIT 1", (environment,))


def first_summary_post(emulator: SlackEmulator, since: int) -> float | None:
    """When the emulator received the first top-level chat.postMessage after call `since`."""
    for call in emulator.calls()[since:]:
        if call.method == "chat.postMessage" and not call.params.get("thread_ts"):
            return call.at
    return None


def bench_first_message(stack: BotStack) -> None:
    stack.emulator.reset()  # forget the drain's thousands of calls
    rng = random.Random(4)
    delays: list[float] = []
    acks: list[float] = []
    with httpx.Client(timeout=10) as client:
        for _ in range(TRIGGERS):
            wait_until(lambda: environment_idle(stack, "staging"), 60,
                       "the previous run to end")
            time.sleep(rng.uniform(0.1, 0.5))  # meet the idle workers at any moment
            request = stack.slack.slash_command("staging", channel_id=CHANNEL)
            seen = len(stack.emulator.calls())
            sent_at = time.time()
            started = time.perf_counter()
            response = client.post(stack.web_url, content=request.body, headers=request.headers)
            acks.append(time.perf_counter() - started)
            expect_ack(response, "Queued a smoke test of staging")

            delays.append(wait_until(functools.partial(first_summary_post, stack.emulator, seen),
                                     30, "the run's first message", poll=0.002) - sent_at)
    p50 = percentile(delays, 50)
    print(f"5. trigger to first Slack message, {TRIGGERS} runs of /smoketest staging, "
          f"{WORKERS} idle workers")
    print(f"   p50 {ms(p50)} (target <= 150 ms: {verdict(p50 <= 0.150)}), "
          f"p90 {ms(percentile(delays, 90))}, max {ms(max(delays))}; "
          f"ack p50 {ms(percentile(acks, 50))} meanwhile")


def run_to_the_end(stack: BotStack, client: httpx.Client, url: str, environment: str) -> None:
    """One `/smoketest environment`, once the environment is free; returns when the run has
    ended and Slack has heard nothing more for QUIET_S (its messages are delivered after it)."""
    wait_until(lambda: environment_idle(stack, environment), 60, "the previous run to end")
    request = stack.slack.slash_command(environment, channel_id=CHANNEL)
    expect_ack(client.post(url, content=request.body, headers=request.headers),
               f"Queued a smoke test of {environment}")
    time.sleep(0.2)
    wait_until(lambda: environment_idle(stack, environment), 60, f"the run of {environment}")
    calls = -1
    while calls != len(stack.emulator.calls()):
        calls = len(stack.emulator.calls())
        time.sleep(QUIET_S)


@dataclass(frozen=True)
class StoreTrips:
    """One label's round trips in a window: the run's, and its background loops' (left out)."""

    run: int
    background: int
    opened: int  # connections opened in the window


def store_trips(relay: PgRelay, label: str, since: float, until: float,
                background: set[tuple[str, str]]) -> StoreTrips:
    run, left_out = 0, 0
    for checkout in checkouts(relay.round_trips(since, until)):
        if checkout.label != label:
            continue
        if (label, checkout.name) in background:
            left_out += checkout.round_trips
        else:
            run += checkout.round_trips
    return StoreTrips(run, left_out, relay.connections_opened(label, since, until))


def bench_calls_per_run(stack: BotStack, workers: list[str]) -> None:
    """A web process and workers of their own whose store is behind the relay, so the figures
    before phase 6 are taken without it. The checkouts their idle background loops make (the
    outbox pass, the reaper) are learnt over IDLE_S and left out of the run's count."""
    wait_until(lambda: environment_idle(stack, "staging"), 60, "the previous run to end")
    for name in workers:
        stack.stop(name)
    with PgRelay.for_dsn(stack.dsn) as relay, httpx.Client(timeout=10) as client:
        relayed = ["relayed-web"]
        try:
            url = stack.serve("relayed-web", "bot",
                              {"DATABASE_URL": relay.dsn(stack.dsn, "web")}) + "/slack/events"
            relayed += stack.start_workers(
                WORKERS, name="relayed-worker",
                extra={"DATABASE_URL": relay.dsn(stack.dsn, "workers")})
            for _ in range(WARMUP_RUNS):  # imports, pools, first loads, in both workers
                run_to_the_end(stack, client, url, "staging")
            idle_from = time.monotonic()
            time.sleep(IDLE_S)
            background = {(c.label, c.name) for c in checkouts(relay.round_trips(idle_from))}
            stack.emulator.reset()
            started = time.monotonic()
            run_to_the_end(stack, client, url, "ten")
            ended = time.monotonic()
        finally:  # before the relay closes under them
            for name in relayed:
                if name in stack.processes:
                    stack.stop(name)
        web = store_trips(relay, "web", started, ended, background)
        work = store_trips(relay, "workers", started, ended, background)
    calls = stack.emulator.calls()
    web_api = Counter(c.method for c in calls if c.method not in ("response_url", "upload_url"))
    other = Counter(c.method for c in calls if c.method in ("response_url", "upload_url"))
    counts = one_row(stack, "SELECT passed_count, failed_count FROM {schema}.runs "
                            "WHERE environment = 'ten'")
    print(f"6. one run of 10 checks with 1 failure (stored: {counts[0]} passed, {counts[1]} "
          f"failed): {sum(web_api.values())} Slack Web API calls {dict(web_api)}"
          + (f", plus {dict(other)}" if other else ""))
    print(f"   PostgreSQL round trips for that run (Sync or Query messages through a relay; a "
          f"web process and {WORKERS} workers of their own after {WARMUP_RUNS} warm-up runs): "
          f"web process {web.run} (the slash command), workers {work.run} (executing and "
          f"delivering)")
    print(f"   left out: {web.background + work.background} round trips of idle background "
          f"loops in the same {ended - started:.1f} s; connections opened meanwhile: web "
          f"{web.opened}, workers {work.opened}")
    if os.environ.get("BENCH_ROUND_TRIPS"):
        write_trace(Path(os.environ["BENCH_ROUND_TRIPS"]), relay.round_trips(started, ended),
                    background, started)


def write_trace(path: Path, trips: list[RoundTrip], background: set[tuple[str, str]],
                started: float) -> None:
    """The run's round trips, one a line, and the background checkouts left out."""
    with path.open("w") as out:
        for label, name in sorted(background):
            out.write(f"background {label}: {name or '(pool check)'}\n")
        for trip in trips:
            out.write(f"{(trip.at - started) * 1000:8.1f} ms {trip.label:7} conn "
                      f"{trip.connection:3d}  {trip.statement or '(pool check)'}\n")


def print_rss(measured: dict[str, tuple[float, float]], when: str) -> None:
    for name, (rss, peak) in measured.items():
        limit = 120 if name == "web" else 150
        print(f"   RSS {name} {when}: {rss:.0f} MB, peak {peak:.0f} MB "
              f"(target <= {limit} MB: {verdict(peak <= limit)})")


def main() -> None:
    with bot_stack() as stack:
        bench_sequential(stack)
        bench_load(stack)
        print("3. memory after the load")
        print_rss({"web": stack.rss_mb("web")}, "after the load")
        bench_drain(stack)
        bench_first_message(stack)
        workers = [f"worker{n + 1}" for n in range(WORKERS)]
        rss = {name: stack.rss_mb(name) for name in ["web", *workers]}
        bench_calls_per_run(stack, workers)
        print_rss(rss, "after phases 1 to 5")


if __name__ == "__main__":
    main()
