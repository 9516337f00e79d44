"""Run pages and /metrics benchmark (issue 15).

1. A run of 500 checks (mixed statuses: pass, fail with expected/actual, error, skip, flaky,
   slow; each with the summary, details, measurements and evidence the http kind writes),
   stored through the real store in a fresh PostgreSQL database, and its signed `/runs/<id>`
   page served by the real web app (bot.web.create_web_app, its own lifespan and services) on
   uvicorn on 127.0.0.1, in a thread of this process; then one check's history page
   (`/envs/<env>/checks/<id>?limit=100`, with its SVG chart) over 100 past runs.
2. `/metrics` of that web app after its registry has seen 1,000 checks (10 environments x 100
   checks, each with results of several outcomes and their durations), and the bare
   `generate_latest` of the same registry.

Server-side time: a middleware of this benchmark wraps the app and stamps each response with
`Server-Timing: app;dur=<ms>`, from the ASGI call to the response's start. Every one of these
routes renders its whole body before it starts the response (HTMLResponse, Response), so that
is the handler's time: signature check, store reads, view building and template rendering (or
the exposition). The loopback round trip (httpx, keep-alive, one request at a time) is shown
beside it. p50/p95 are nearest-rank over REQUESTS requests after WARM_UP.

`python -m bench.pages_and_metrics` prints the figures (in about 10 s).
"""

from __future__ import annotations

import asyncio
import gc
import gzip
import re
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from uuid import UUID

import httpx
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from bench.stack import percentile
from bot.metrics import Metrics, SlackOutcome
from bot.pages.links import check_path, link_signer, run_path
from bot.records import DeployFacts, RunRequest, SlackMessageKind, TriggerKind
from bot.settings import Settings
from bot.store import Store
from bot.web import create_web_app
from checks.results import CheckResult, RunResult, Severity, Status
from checks.secrets import Secret
from tests.bot.services_support import CHANNEL, SIGNING_SECRET, slack_emulator
from tests.support.asgi import free_port, serve_asgi
from tests.support.services import redis_url, temporary_database, unique_prefix

CHECKS = 500
CATEGORIES = 10  # of 50 checks each
PAST_RUNS = 100  # of the history page's check
ENVIRONMENTS, ENV_CHECKS, METRIC_RUNS = 10, 100, 6  # the /metrics registry
WARM_UP, REQUESTS = 5, 50
SLOW_PAGE_S = 0.200  # a 500-check page slower than this (p50) is worth a profile
HISTORY_CHECK = "c000-api-000"
KINDS = ("http", "http", "http", "postgres.query", "redis", "tls", "k8s.rollout",
         "stripe.account")
Asgi = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


# --- the data --------------------------------------------------------------------------------

def check_id(index: int) -> str:
    area = ("api", "db", "cache", "auth", "search", "checkout", "mail", "cdn", "admin", "jobs")
    return f"c{index // 50:03d}-{area[index // 50 % len(area)]}-{index % 50:03d}"


def suite_text(count: int) -> str:
    """A suite of `count` http checks in CATEGORIES categories, staging and production."""
    lines = ["suite: shop", "environments:"]
    for env in ("staging", "production"):
        lines += [f"  {env}:", '    variables: {base_url: "http://127.0.0.1:9"}',
                  f"    slack: {{channel: {CHANNEL}}}"]
    lines.append("categories:")
    per = count // CATEGORIES
    for category in range(CATEGORIES):
        lines += [f"  - name: Area {category}", "    checks:"]
        for i in range(category * per, (category + 1) * per):
            lines.append(f"      - {{id: {check_id(i)}, name: 'Check {i} of the shop', "
                         f"type: http, url: '${{base_url}}/{check_id(i)}'}}")
    return "\n".join(lines) + "\n"


def _exchange(url: str, status: int, body: str) -> str:
    """What the http kind puts in details: status line, shown headers, body."""
    reason = {200: "OK", 503: "Service Unavailable", 500: "Internal Server Error"}[status]
    return (f"HTTP/1.1 {status} {reason}\ncontent-type: application/json\n"
            f"content-length: {len(body)}\ncache-control: no-store\n"
            f"x-request-id: 3f2a9c4e-0b1d-4c3e-9f00-1a2b3c4d5e6f\nserver: envoy\n"
            f"date: Tue, 14 Nov 2023 22:13:20 GMT\n\n{body}")


BODY = ('{"status": "healthy", "version": "v1.4.2", "services": {"database": "healthy", '
        '"ai_providers": {"anthropic": "healthy", "openai": "healthy"}}, '
        '"clustering": {"enabled": true, "node_count": 3}}')


def check_result(index: int, status: Status, *, category: str,
                 duration_s: float | None = None) -> CheckResult:
    """One check's result as the http kind writes it, for `status`."""
    cid = check_id(index)
    url = f"http://127.0.0.1:9/{cid}"
    ms = 40 + (index * 37) % 400
    duration = duration_s if duration_s is not None else ms / 1000
    base = {"method": "GET", "url": url, "status": 200,
            "headers": {"content-type": "application/json", "server": "envoy"}, "failures": []}
    fields: dict[str, Any] = {
        "summary": f"200 OK in {ms} ms", "details": _exchange(url, 200, BODY),
        "measurements": {"response_ms": ms, "status": 200, "bytes": len(BODY)},
        "evidence": base, "attempts": 1}
    if status is Status.FAIL:
        failures = ["expected status 200, got 503",
                    "services.database: expected healthy, got degraded"]
        body = '{"status": "degraded", "services": {"database": "degraded"}}'
        fields.update(summary="; ".join(failures),
                      details="\n".join(failures) + "\n\n" + _exchange(url, 503, body),
                      measurements={"response_ms": ms, "status": 503, "bytes": len(body)},
                      evidence={**base, "status": 503, "failures": failures})
    elif status is Status.ERROR:
        fields.update(summary="could not connect to 127.0.0.1:9: connection refused",
                      details=f"nothing is listening on 127.0.0.1:9: is the service running, "
                              f"and is {url} the right address? The connection was refused "
                              "on each of the 3 attempts (0.5 s apart).",
                      measurements={}, evidence={"method": "GET", "url": url}, attempts=3)
    elif status is Status.SKIP:
        fields.update(summary=f"skipped: depends on {check_id(index - 1)}, which failed",
                      details="", measurements={}, evidence={}, attempts=0)
        duration = 0.0
    elif status is Status.FLAKY:
        fields.update(attempts=2, evidence={**base, "failed_attempts": [
            "expected status 200, got 502 (upstream connect error or disconnect/reset before "
            "headers)"]})
    elif status is Status.SLOW:
        warning = f"{ms + 900} ms, over the 800 ms warn_latency"
        fields.update(summary=f"200 OK in {warning}", evidence={**base, "warning": warning},
                      measurements={"response_ms": ms + 900, "status": 200, "bytes": len(BODY)})
    return CheckResult(check_id=cid, name=f"Check {index} of the shop", category=category,
                       kind="http", severity=Severity.CRITICAL, status=status,
                       duration_s=duration, **fields)


def status_of(index: int) -> Status:
    """80% pass, 5% fail, 3% error, 4% skip, 4% flaky, 4% slow, spread over the run."""
    slot = index * 7 % 100
    for status, upto in ((Status.FAIL, 5), (Status.ERROR, 8), (Status.SKIP, 12),
                         (Status.FLAKY, 16), (Status.SLOW, 20)):
        if slot < upto:
            return status
    return Status.PASS


def big_run() -> tuple[CheckResult, ...]:
    per = CHECKS // CATEGORIES
    return tuple(check_result(i, status_of(i), category=f"Area {i // per}")
                 for i in range(CHECKS))


def _run_result(results: tuple[CheckResult, ...], environment: str = "staging") -> RunResult:
    now = datetime.now(timezone.utc)
    return RunResult(suite="shop", environment=environment, started_at=now - timedelta(
        seconds=12), finished_at=now, results=results,
        categories=tuple(f"Area {c}" for c in range(CATEGORIES)))


@dataclass(frozen=True)
class Seeded:
    run_id: UUID
    results: int


async def seed(dsn: str) -> Seeded:
    """PAST_RUNS small runs of staging (the history), then the 500-check run, with its Slack
    summary message (the page links to it)."""
    async with Store.open(dsn, wait=True) as store:
        await store.migrate()
        for n in range(PAST_RUNS):
            status = (Status.PASS, Status.PASS, Status.FLAKY, Status.PASS, Status.SLOW,
                      Status.FAIL, Status.PASS)[n % 7]
            results = (check_result(0, status, category="Area 0",
                                    duration_s=0.1 + (n * 13 % 40) / 100),
                       *(check_result(i, Status.PASS, category="Area 0") for i in (1, 2, 3)))
            run = await store.create_run(RunRequest("staging", TriggerKind.CLI,
                                                    trigger_detail="smokebot run"))
            await store.mark_running(run.id, "w1")
            await store.finish_run(run.id, _run_result(results))
        run = await store.create_run(RunRequest(
            "staging", TriggerKind.SLASH, trigger_detail="/smoketest staging",
            requested_by="U0HUMAN001", channel=CHANNEL,
            deploy=DeployFacts(source="github", version="v1.4.2", commit="0123abcd" * 5,
                               link="https://github.com/acme/shop/deployments/7")))
        await store.mark_running(run.id, "w1")
        results = big_run()
        await store.finish_run(run.id, _run_result(results))
        await store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL,
                                      "1700000000.000100")
        return Seeded(run.id, len(await store.results(run.id)))


def fill_metrics(metrics: Metrics) -> None:
    """ENVIRONMENTS x ENV_CHECKS checks, each seen in METRIC_RUNS runs with varying outcomes
    (a check's outcomes: pass, and one or two of flaky, slow, fail, error, skip)."""
    now = datetime.now(timezone.utc)
    for env_index in range(ENVIRONMENTS):
        environment = f"env{env_index:02d}"
        for run in range(METRIC_RUNS):
            results = []
            for i in range(ENV_CHECKS):
                status = Status.PASS if (i + run) % 3 else (
                    Status.FLAKY, Status.SLOW, Status.FAIL, Status.ERROR, Status.SKIP)[
                        (i + run // 3) % 5]
                results.append(CheckResult(
                    check_id=f"check-{i:03d}", name=f"check {i}", category="Area",
                    kind=KINDS[i % len(KINDS)], severity=Severity.CRITICAL, status=status,
                    summary="", duration_s=0.01 + (i * 17 + run * 5) % 300 / 100))
            metrics.record_check_results(environment, RunResult(
                suite="shop", environment=environment, started_at=now, finished_at=now,
                results=tuple(results), categories=("Area",)))
    for method in ("chat.postMessage", "chat.update", "auth.test", "files.uploadV2"):
        metrics.observe_slack_call(method, SlackOutcome.OK, 0.08)


# --- the measurements --------------------------------------------------------------------------

def server_timing(app: Asgi) -> Asgi:
    """`app`, with `Server-Timing: app;dur=<ms>` on each HTTP response: from the call to the
    response's start."""
    async def timed(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()

        async def stamped(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                took = (time.perf_counter() - started) * 1000
                message["headers"] = [*message.get("headers", []),
                                      (b"server-timing", f"app;dur={took:.3f}".encode())]
            await send(message)

        await app(scope, receive, stamped)
    return timed


@dataclass(frozen=True)
class Timed:
    server: list[float]  # s
    round_trip: list[float]  # s
    body: bytes
    full_gcs: list[float]  # s: each full (generation 2) collection of the cyclic GC meanwhile


@contextmanager
def full_collections() -> Iterator[list[float]]:
    """The pauses of the cyclic GC's full collections within the block (any thread's: the
    server's thread is this process's)."""
    pauses: list[float] = []
    began = [0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                began[0] = time.perf_counter()
            else:
                pauses.append(time.perf_counter() - began[0])

    gc.callbacks.append(watch)
    try:
        yield pauses
    finally:
        gc.callbacks.remove(watch)


_DUR = re.compile(r"app;dur=([0-9.]+)")


def _get(client: httpx.Client, url: str) -> tuple[httpx.Response, float]:
    started = time.perf_counter()
    answer = client.get(url)
    took = time.perf_counter() - started
    if answer.status_code != 200:
        raise SystemExit(f"GET {url[:80]}: {answer.status_code}: {answer.text[:500]}")
    return answer, took


def timed_gets(client: httpx.Client, url: str) -> Timed:
    for _ in range(WARM_UP):
        _get(client, url)
    server, round_trip = [], []
    with full_collections() as pauses:
        for _ in range(REQUESTS):
            answer, took = _get(client, url)
            found = _DUR.search(answer.headers.get("server-timing", ""))
            assert found is not None, "the Server-Timing middleware did not stamp the answer"
            server.append(float(found[1]) / 1000)
            round_trip.append(took)
    return Timed(server, round_trip, answer.content, pauses)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def row(label: str, timed: Timed) -> str:
    server, trip = timed.server, timed.round_trip
    trips = (f"{ms(percentile(trip, 50))} {ms(percentile(trip, 95))}" if trip
             else f"{'-':>10} {'-':>10}")
    pauses = (f"{len(timed.full_gcs):3d} x {percentile(timed.full_gcs, 50) * 1000:3.0f} ms"
              if timed.full_gcs else f"{0:3d}")
    return (f"{label:<36} {ms(percentile(server, 50))} {ms(percentile(server, 95))}   {trips}"
            f"   {len(timed.body) / 1024:8.1f} KiB {len(gzip.compress(timed.body, 6)) / 1024:7.1f}"
            f" KiB   {pauses}")


def bare_exposition(metrics: Metrics) -> Timed:
    for _ in range(WARM_UP):
        metrics.exposition()
    samples = []
    with full_collections() as pauses:
        for _ in range(REQUESTS):
            started = time.perf_counter()
            body = metrics.exposition()
            samples.append(time.perf_counter() - started)
    return Timed(samples, [], body, pauses)


def _delete_keys(prefix: str) -> None:
    redis = Redis.from_url(redis_url())
    keys = list(redis.scan_iter(match=f"*{prefix}*", count=1000))
    if keys:
        redis.delete(*keys)
    redis.close()


def main() -> None:
    started = time.monotonic()
    prefix = unique_prefix("bench_pages")
    with temporary_database("smokebot_bench_pages") as dsn, TemporaryDirectory() as tmp, \
            slack_emulator() as (emulator, api_url):
        seeded = asyncio.run(seed(dsn))
        assert seeded.results == CHECKS, seeded
        suite = Path(tmp) / "smoketest.yaml"
        suite.write_text(suite_text(CHECKS), encoding="utf-8")
        port = free_port()
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=dsn, redis_url=redis_url(), key_prefix=prefix,
                            config_path=str(suite), public_url=f"http://127.0.0.1:{port}")
        signer = link_signer(settings)
        assert signer is not None
        app = create_web_app(settings)
        try:
            with serve_asgi(server_timing(app), port=port, lifespan="on") as url, \
                    httpx.Client(base_url=url, timeout=30) as client:
                seeded_in = time.monotonic() - started
                run_page = timed_gets(client, signer.sign(run_path(seeded.run_id)))
                articles = run_page.body.count(b"<article")
                assert articles == CHECKS, f"the run page shows {articles} checks"
                history_path = check_path("staging", HISTORY_CHECK)
                assert history_path is not None
                history = timed_gets(client, signer.sign(history_path, [("limit", "100")]))
                assert b"<svg" in history.body, "the history page has no chart"
                rows = history.body.count(b"<tr") - 1

                metrics: Metrics = app.state.smokebot["services"].metrics
                fill_metrics(metrics)
                scrape = timed_gets(client, "/metrics")
                bare = bare_exposition(metrics)
        finally:
            _delete_keys(prefix)

    text = scrape.body.decode()
    families = list(text_string_to_metric_families(text))
    samples = sum(len(f.samples) for f in families)
    lines = text.count("\n")
    pairs = {(s.labels["environment"], s.labels["check"]) for f in families for s in f.samples
             if s.name == "smokebot_check_last_success_timestamp_seconds"}
    results_series = sum(1 for f in families for s in f.samples
                         if s.name == "smokebot_check_results_total")

    print(f"run pages and /metrics: web app on uvicorn (in-process thread), PostgreSQL store, "
          f"{REQUESTS} requests each after {WARM_UP} warm-up; seeding and start {seeded_in:.1f} s")
    print(f"{'':<36} {'server-side':^21}   {'loopback round trip':^21}   {'HTML/body':>12}"
          f" {'gzip -6':>11}   full GCs")
    print(f"{'':<36} {'p50':>10} {'p95':>10}   {'p50':>10} {'p95':>10}"
          f"   {'':>24}   (count x p50 pause)")
    print(row(f"/runs/<id>, {CHECKS} checks", run_page))
    print(row(f"/envs/staging/checks/<id>, {PAST_RUNS} runs", history)
          + f"   ({rows} rows, SVG)")
    print(row(f"/metrics, {len(pairs)} check series", scrape))
    print(row("generate_latest (bare, same registry)", bare))
    print(f"/metrics: {len(families)} metric families, {samples} samples ({lines} lines with "
          f"HELP/TYPE); {len(pairs)} (environment, check) pairs, {results_series} "
          f"smokebot_check_results_total series")
    p50 = percentile(run_page.server, 50)
    print(f"500-check run page p50 {p50 * 1000:.0f} ms: "
          + ("under" if p50 <= SLOW_PAGE_S else "OVER")
          + f" {SLOW_PAGE_S * 1000:.0f} ms; whole bench {time.monotonic() - started:.1f} s")


if __name__ == "__main__":
    main()
