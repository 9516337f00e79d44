"""The `load` kind's generator (issue 13).

At 100, 300 and 1,000 rps target against a local zero-delay endpoint (an aiohttp app in its
own process, so its CPU is not the generator's): our `load` check run through the real plan
and runner from a suite text, then autocannon (npm, installed at bench time into
~/.cache/smokebot-bench, never by `make test`) at the same fixed rate on the same endpoint.

Printed side by side: achieved rps / target (target >= 0.97), the generator's own CPU per
request (ours: this process's CPU during the run / requests sent; autocannon's: its process's
CPU, from the children's rusage), and both tools' p50/p99 with their ratio (they should agree
within 20%). autocannon's latencies are whole milliseconds, which on a zero-delay endpoint
(~0.3 ms) read 0 or 1, so the same rates are also run against an endpoint that waits 20 ms,
where the two tools' latencies can be compared.

First, the choice of HTTP client: CPU per request of httpx, aiohttp and a minimal hand-written
asyncio HTTP/1.1 keep-alive client, 2,000 GETs 10 at a time on the zero-delay endpoint.

    python -m bench.load_generator            # all three rates, 5 s each
    python -m bench.load_generator serve PORT # the endpoint alone
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE = Path(os.environ.get("SMOKEBOT_BENCH_CACHE", Path.home() / ".cache" / "smokebot-bench"))
AUTOCANNON = CACHE / "node_modules" / ".bin" / "autocannon"
RATES = (100, 300, 1000)
DURATION_S = 5
WARMUP_S = 1
# autocannon's -R gives each connection a budget per second that it spends back to back from
# the start of each second, then idles: its traffic comes in bursts where ours is spread
# evenly. On the 20 ms endpoint each connection is given 40 requests a second (~85% busy), so
# its requests are spread over the second too and both tools see the same queueing.
ZERO_DELAY_CONNECTIONS = 10
PER_CONNECTION_RPS = 40
# autocannon's latencies are whole milliseconds: on the zero-delay endpoint (~0.5 ms) its p50
# reads 0 or 1, so the two tools' latencies are also compared on an endpoint that waits 20 ms.
DELAY_MS = 20


def serve(port: int) -> None:
    from aiohttp import web

    async def ok(request: web.Request) -> web.Response:
        return web.Response(body=b'{"status":"healthy"}', content_type="application/json")

    async def delayed(request: web.Request) -> web.Response:
        await asyncio.sleep(DELAY_MS / 1000)
        return await ok(request)

    app = web.Application()
    app.router.add_get("/", ok)
    app.router.add_get("/delay", delayed)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


@dataclass(frozen=True)
class Figures:
    achieved_rps: float
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float | None
    errors: int


def suite_text(url: str, rps: int) -> str:
    return ("suite: bench\nenvironments:\n  bench: {}\ncategories:\n  - name: Load\n"
            "    checks:\n"
            f"      - {{id: load, type: load, url: '{url}', rps: {rps}, "
            f"duration: {DURATION_S}s, warmup: {WARMUP_S}s, concurrency: 64, "
            "thresholds: ['achieved_rps >= 97%', 'error_rate < 1%']}\n")


def run_ours(url: str, rps: int) -> Figures:
    from checks.config import parse_suite
    from checks.plan import build_plan
    from checks.runner import run_plan
    from checks.yamlsource import load_yaml

    plan = build_plan(parse_suite(load_yaml(suite_text(url, rps), "bench.yaml")), "bench")
    cpu = time.process_time()
    result = asyncio.run(run_plan(plan))
    cpu = time.process_time() - cpu
    check = result.results[0]
    m = check.measurements
    if not m:
        raise SystemExit(f"the load check did not measure: {check.summary}")
    sent = m["requests_sent"] + rps * WARMUP_S
    return Figures(m["achieved_rps"], m["p50_ms"], m["p99_ms"], cpu / sent * 1e6,
                   round(m["error_rate"] * m["requests_completed"]))


def ensure_autocannon() -> Path | None:
    if AUTOCANNON.exists():
        return AUTOCANNON
    npm = shutil.which("npm")
    if npm is None:
        return None
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"  installing autocannon into {CACHE}", flush=True)
    done = subprocess.run([npm, "install", "--silent", "--prefix", str(CACHE), "autocannon@8"],
                          capture_output=True, text=True, timeout=300)
    return AUTOCANNON if done.returncode == 0 and AUTOCANNON.exists() else None


def run_autocannon(tool: Path, url: str, rps: int, connections: int) -> Figures:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # -R: a fixed overall rate over -c connections; its warm-up so both tools skip connecting.
    # -C: without it, autocannon's coordinated-omission correction adds synthetic samples
    # whenever its own rate limiter pauses a connection (21,289 samples for 900 requests at
    # 300 rps), which pulled its p50 to 12 ms on the 20 ms endpoint. Ours is an open model
    # and records only real latencies.
    done = subprocess.run([str(tool), "-R", str(rps), "-c", str(connections), "-C",
                           "-d", str(DURATION_S), "-j", "-n",
                           "--warmup", "[", "-c", "1", "-d", str(WARMUP_S), "]", url],
                          capture_output=True, text=True, timeout=DURATION_S + 60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"autocannon failed: {done.stderr[-500:]}")
    report = json.loads(done.stdout.strip().splitlines()[-1])  # the warm-up's line first
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    total = report["requests"]["total"] or 1
    return Figures(total / report["duration"], report["latency"]["p50"],
                   report["latency"]["p99"], cpu / total * 1e6,
                   report["errors"] + report["non2xx"])


def bench_clients(url: str, count: int = 2000, inflight: int = 10) -> None:
    """CPU per request of each candidate client, closed loop, `inflight` at a time."""
    import aiohttp
    import httpx
    from yarl import URL

    host, port = URL(url).host, URL(url).port
    raw_request = f"GET / HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()

    async def with_httpx() -> None:
        async with httpx.AsyncClient() as client:
            await _closed_loop(lambda: client.get(url), count, inflight)

    async def with_aiohttp() -> None:
        async with aiohttp.ClientSession() as session:
            async def get() -> None:
                async with session.get(url) as response:
                    await response.read()
            await _closed_loop(get, count, inflight)

    async def by_hand() -> None:
        idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

        async def get() -> None:
            reader, writer = idle.pop() if idle else await asyncio.open_connection(host, port)
            writer.write(raw_request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:"))
            await reader.readexactly(length)
            idle.append((reader, writer))
        await _closed_loop(get, count, inflight)
        for _, writer in idle:
            writer.close()

    print(f"HTTP clients: {count} GETs, {inflight} at a time, zero-delay endpoint")
    for name, run in (("httpx", with_httpx), ("aiohttp", with_aiohttp),
                      ("hand-written asyncio", by_hand)):
        asyncio.run(run())  # warm-up: imports, connections
        cpu, wall = time.process_time(), time.perf_counter()
        asyncio.run(run())
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"  {name:<21} {cpu / count * 1e6:>6.0f} µs CPU a request, "
              f"{count / wall:>7,.0f} requests/s")


async def _closed_loop(get: Any, count: int, inflight: int) -> None:
    gate = asyncio.Semaphore(inflight)

    async def one() -> None:
        async with gate:
            await get()
    await asyncio.gather(*(one() for _ in range(count)))


def _ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:>9.2f}" if theirs else f"{'n/a':>9}"


def _table(title: str, rows: list[tuple[int, Figures, Figures | None]]) -> None:
    print(title)
    print(f"  {'target':>6} | {'ours rps':>9} {'/target':>7} {'CPU/req':>8} {'p50':>8} "
          f"{'p99':>8} | {'autocannon':>10} {'/target':>7} {'CPU/req':>8} {'p50':>6} "
          f"{'p99':>6} | {'p50 ratio':>9} {'p99 ratio':>9}")
    for rps, ours, theirs in rows:
        share = ours.achieved_rps / rps
        line = (f"  {rps:>6} | {ours.achieved_rps:>9.1f} {share:>7.3f} "
                f"{ours.cpu_us_per_request:>6.0f}µs {ours.p50_ms:>6.2f}ms {ours.p99_ms:>6.2f}ms")
        if theirs:
            line += (f" | {theirs.achieved_rps:>10.1f} {theirs.achieved_rps / rps:>7.3f} "
                     f"{theirs.cpu_us_per_request:>6.0f}µs {theirs.p50_ms:>4.0f}ms "
                     f"{theirs.p99_ms:>4.0f}ms | {_ratio(ours.p50_ms, theirs.p50_ms)} "
                     f"{_ratio(ours.p99_ms, theirs.p99_ms)}")
        errors = ours.errors + (theirs.errors if theirs else 0)
        notes = [] if share >= 0.97 else ["achieved < 0.97 of target: MISSED"]
        notes += [f"{errors} errors"] if errors else []
        print(line + (f"   ({'; '.join(notes)})" if notes else ""))


def main() -> None:
    from bench.engine import start_server
    from tests.support.asgi import free_port

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, "bench.load_generator", "/", args=("serve",))
    tool = ensure_autocannon()
    tables: dict[str, list[tuple[int, Figures, Figures | None]]] = {"/": [], "/delay": []}
    try:
        bench_clients(f"{base}/")
        run_ours(f"{base}/", 50)  # imports, first connections
        for path, rows in tables.items():
            for rps in RATES:
                ours = run_ours(base + path, rps)
                connections = ZERO_DELAY_CONNECTIONS if path == "/" \
                    else math.ceil(rps / PER_CONNECTION_RPS)
                theirs = run_autocannon(tool, base + path, rps, connections) if tool else None
                rows.append((rps, ours, theirs))
    finally:
        server.terminate()
        server.wait()
    print(f"load generator: aiohttp endpoint in its own process, {DURATION_S} s per rate after "
          f"a {WARMUP_S} s warm-up; autocannon 8 -R RATE -C with -c {ZERO_DELAY_CONNECTIONS} "
          f"(zero-delay) or -c RATE/{PER_CONNECTION_RPS} ({DELAY_MS} ms)"
          + ("" if tool else " (not installed: npm unavailable)"))
    _table("zero-delay endpoint (target: achieved/target >= 0.97)", tables["/"])
    _table(f"{DELAY_MS} ms endpoint (latencies should agree within 20%)", tables["/delay"])


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(int(sys.argv[2]))
    else:
        main()
