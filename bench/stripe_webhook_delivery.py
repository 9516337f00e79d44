"""Stripe webhook-delivery benchmark (issue 12): the `stripe.webhook_delivery` check with its
five default events, run by the runner against an app that verifies each delivery with the
Stripe SDK and records it in PostgreSQL. Figure: the check's wall time / the slowest single
delivery (target <= 1.2: the events go out together, not one after another).

The app (`tests/support/stripe_webhook_app.py`) runs in a process of its own, on a fresh
database of the machine's PostgreSQL, and takes 60 to 200 ms per event type before it records
it (the work a handler does): the five types alone take from 60 ms to 200 ms plus the app's
verifying and writing. "Slowest single delivery" is each type delivered alone, by a check of
its own without probes, the slowest of the five. The check's own run is timed twice: as
configured by default (five events and two forged probes, seven requests) and with
`negative_probes: false`. Each figure is the median of REPEATS runs, after a warm-up; every
run has its own `${run.id}`, so every delivery is an insert, not a redelivery.

`python -m bench.stripe_webhook_delivery` prints the figures (about ten seconds).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from bench.stack import verdict
from checks.config import parse_suite
from checks.kinds.stripe._synthetic_events import DEFAULT_EVENTS
from checks.plan import build_plan
from checks.runner import run_plan
from checks.yamlsource import load_yaml
from tests.support.asgi import free_port
from tests.support.services import temporary_database
from tests.support.stripe_webhook_app import PATH

ROOT = Path(__file__).resolve().parent.parent
SECRET = "whsec_benchWebhookSigningSecret0123456789"
SECRET_VARIABLE = "SMOKEBOT_BENCH_WEBHOOK_SECRET"
DELAYS_S = dict(zip(DEFAULT_EVENTS, (0.12, 0.06, 0.09, 0.15, 0.20)))
REPEATS = 7
TARGET = 1.2


def suite_text(url: str, events: list[str], probes: bool) -> str:
    return (f"suite: bench\nenvironments:\n  bench:\n    secrets:\n"
            f"      webhook: {{env: {SECRET_VARIABLE}}}\n"
            "categories:\n  - name: Billing\n    checks:\n"
            "      - id: webhooks\n        type: stripe.webhook_delivery\n"
            f"        url: {url}\n        secret: ${{secrets.webhook}}\n"
            f"        events: {json.dumps(events)}\n"
            f"        negative_probes: {'true' if probes else 'false'}\n")


def start_app(port: int, dsn: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "STRIPE_WEBHOOK_SECRET": SECRET,
           "WEBHOOK_APP_DELAYS": json.dumps(DELAYS_S)}
    app = subprocess.Popen([sys.executable, "-m", "tests.support.stripe_webhook_app",
                            str(port), dsn], cwd=ROOT, env=env)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:  # unsigned: the app answers 400 once it is up
            httpx.post(f"http://127.0.0.1:{port}{PATH}", content=b"{}", timeout=1)
            return app
        except httpx.HTTPError:
            time.sleep(0.1)
    app.kill()
    raise SystemExit("the webhook app did not start")


async def timed_check(url: str, events: list[str], probes: bool) -> tuple[float, int]:
    """The check's duration as the runner measured it (s), and its slowest delivery (ms)."""
    plan = build_plan(parse_suite(load_yaml(suite_text(url, events, probes), "bench.yaml")),
                      "bench")
    result = (await run_plan(plan)).results[0]
    if result.status.value != "pass":
        raise SystemExit(f"the benchmark's check failed: {result.summary}")
    return result.duration_s, result.measurements["response_ms"]


async def measure(url: str) -> dict[str, list[float]]:
    events = list(DEFAULT_EVENTS)
    await timed_check(url, events, True)  # warm-up: imports, first connections, the pool
    figures: dict[str, list[float]] = {"default": [], "no_probes": [], "slowest_alone": [],
                                       "sum_alone": [], "slowest_inside": []}
    for _ in range(REPEATS):
        alone = [(await timed_check(url, [t], False))[0] for t in events]
        wall, inside_ms = await timed_check(url, events, True)
        no_probes, _ = await timed_check(url, events, False)
        figures["default"].append(wall)
        figures["no_probes"].append(no_probes)
        figures["slowest_alone"].append(max(alone))
        figures["sum_alone"].append(sum(alone))
        figures["slowest_inside"].append(inside_ms / 1000)
    return figures


def main() -> None:
    os.environ[SECRET_VARIABLE] = SECRET
    port = free_port()
    with temporary_database("smokebot_bench") as dsn:
        app = start_app(port, dsn)
        try:
            figures = asyncio.run(measure(f"http://127.0.0.1:{port}{PATH}"))
        finally:
            app.terminate()
            app.wait()
    median = {name: statistics.median(values) for name, values in figures.items()}
    ratios = [wall / alone for wall, alone in zip(figures["default"], figures["slowest_alone"])]
    ratios_np = [wall / alone for wall, alone in zip(figures["no_probes"],
                                                     figures["slowest_alone"])]
    ratio, ratio_np = statistics.median(ratios), statistics.median(ratios_np)
    ms = {name: value * 1000 for name, value in median.items()}
    delays = ", ".join(f"{t} {s * 1000:.0f}" for t, s in DELAYS_S.items())
    print(f"stripe.webhook_delivery: 5 events, app work per type (ms): {delays}")
    print(f"  slowest single delivery alone {ms['slowest_alone']:.0f} ms; one at a time all "
          f"five would take {ms['sum_alone']:.0f} ms")
    print(f"  default check (5 events + 2 forged probes): wall {ms['default']:.0f} ms, slowest "
          f"delivery inside it {ms['slowest_inside']:.0f} ms; ratio {ratio:.3f} "
          f"(max {max(ratios):.3f} over {REPEATS} runs; target <= {TARGET}: "
          f"{verdict(ratio <= TARGET)})")
    print(f"  negative_probes: false: wall {ms['no_probes']:.0f} ms; ratio {ratio_np:.3f} "
          f"(max {max(ratios_np):.3f}; target <= {TARGET}: {verdict(ratio_np <= TARGET)})")
    print(f"  one at a time / together: {median['sum_alone'] / median['default']:.1f}x")


if __name__ == "__main__":
    main()
