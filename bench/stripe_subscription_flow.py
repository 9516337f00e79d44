"""Stripe subscription-flow benchmark (issue 12): the `stripe.subscription_flow` check run by
the runner against localstripe (tests/support/localstripe_server.py, a process of its own on
loopback) through the real `stripe` client. Figures, side by side from one run: the check's
wall time as the runner measured it, the number of Stripe API calls (the check's own count per
run, and localstripe's request log over all runs divided by their number, which must agree),
and the same flow's steps timed one by one.

Three configurations: the default flow; with `expect_invoice_paid` (the same calls: the invoice
comes expanded with the subscription); and with `expect_events` for two event types and an
endpoint registered that acknowledges them. localstripe delivers each event a second after it
happens, so the last figure is mostly that second, not the check.

Each figure is the median of REPEATS runs after a warm-up. No leftovers are planted, so the
sweep lists one page and deletes nothing; a sweep that deletes adds one call per customer.

`python -m bench.stripe_subscription_flow` prints the figures (about fifteen seconds).
"""

from __future__ import annotations

import asyncio
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from checks.config import parse_suite
from checks.plan import build_plan
from checks.results import CheckResult
from checks.runner import run_plan
from checks.yamlsource import load_yaml
from tests.support.asgi import serve_asgi
from tests.support.localstripe_server import LocalStripe, serving_localstripe

KEY = "sk_test_benchSubscriptionFlow0123456789"
KEY_VARIABLE = "SMOKEBOT_BENCH_STRIPE_KEY"
PLAN = "bench-monthly"
REPEATS = 15
EVENTS = ["customer.subscription.created", "customer.subscription.deleted"]


def suite_text(api_base: str, extra: str) -> str:
    return (f"suite: bench\nenvironments:\n  bench:\n    secrets:\n"
            f"      stripe_key: {{env: {KEY_VARIABLE}}}\n"
            "categories:\n  - name: Billing\n    checks:\n"
            "      - id: subscribe\n        type: stripe.subscription_flow\n"
            "        timeout: 30s\n"
            f"        key: ${{secrets.stripe_key}}\n        api_base: {api_base}\n"
            f"        price: {PLAN}\n{extra}")


async def one_run(api_base: str, extra: str) -> CheckResult:
    plan = build_plan(parse_suite(load_yaml(suite_text(api_base, extra), "bench.yaml")),
                      "bench")
    result = (await run_plan(plan)).results[0]
    if result.status.value != "pass":
        raise SystemExit(f"the benchmark's check failed: {result.summary}")
    return result


def requests_logged(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


async def measure(server: LocalStripe, log: Path, extra: str) -> dict[str, object]:
    await one_run(server.api_base, extra)  # warm-up: imports, the first connections
    walls, own_calls = [], []
    steps: dict[str, list[int]] = {}
    await asyncio.sleep(0.2)
    before = requests_logged(log)
    for _ in range(REPEATS):
        result = await one_run(server.api_base, extra)
        walls.append(result.duration_s * 1000)
        own_calls.append(result.measurements["stripe_calls"])
        for name, ms in result.measurements["step_ms"].items():
            steps.setdefault(name, []).append(ms)
    await asyncio.sleep(0.2)  # localstripe writes a request's line after answering it
    logged = (requests_logged(log) - before) / REPEATS
    return {"wall": statistics.median(walls), "wall_max": max(walls),
            "own_calls": sorted(set(own_calls)), "logged_calls": [logged],
            "steps": {name: statistics.median(values) for name, values in steps.items()}}


@contextmanager
def acknowledging_endpoint(server: LocalStripe) -> Iterator[None]:
    async def acknowledge(request: Request) -> Response:
        await request.body()
        return Response(status_code=200)

    with serve_asgi(Starlette(routes=[Route("/hook", acknowledge, methods=["POST"])])) as url:
        server.register_webhook("bench", f"{url}/hook", "whsec_bench")
        try:
            yield
        finally:
            server.register_webhook("bench", f"{url}/hook", "whsec_bench", events=[])


async def measure_all(server: LocalStripe, log: Path) -> dict[str, dict[str, object]]:
    figures = {"default": await measure(server, log, ""),
               "expect_invoice_paid": await measure(server, log,
                                                    "        expect_invoice_paid: true\n")}
    with acknowledging_endpoint(server):
        events = "".join(f"          - {t}\n" for t in EVENTS)
        figures["expect_events"] = await measure(
            server, log, f"        expect_events:\n{events}        events_timeout: 10s\n")
    return figures


def plant_plan(server: LocalStripe) -> None:
    client = stripe.StripeClient(KEY, base_addresses={"api": server.api_base})
    product = client.v1.products.create({"name": "bench product"})
    client.v1.plans.create({"id": PLAN, "amount": 900, "currency": "eur", "interval": "month",
                            "product": product.id})


def main() -> None:
    os.environ[KEY_VARIABLE] = KEY
    with tempfile.TemporaryDirectory() as directory:
        log = Path(directory) / "requests.log"
        with serving_localstripe(request_log=str(log)) as server:
            plant_plan(server)
            figures = asyncio.run(measure_all(server, log))
    print(f"stripe.subscription_flow against localstripe, median of {REPEATS} runs")
    names = list(figures)
    print(f"  {'':28}" + "".join(f"{name:>22}" for name in names))
    rows = {
        "wall time (ms)": [f"{f['wall']:.1f} (max {f['wall_max']:.0f})"
                           for f in figures.values()],
        "Stripe calls (check)": [_calls(f["own_calls"]) for f in figures.values()],
        "Stripe calls (localstripe)": [f"{f['logged_calls'][0]:g} per run"  # type: ignore[index]
                                       for f in figures.values()],
    }
    for label, cells in rows.items():
        print(f"  {label:28}" + "".join(f"{cell:>22}" for cell in cells))
    step_names = list(dict.fromkeys(n for f in figures.values() for n in f["steps"]))
    print("  steps, one by one (ms):")
    for step in step_names:
        cells = [f"{f['steps'][step]:.0f}" if step in f["steps"] else "-"
                 for f in figures.values()]
        print(f"    {step:26}" + "".join(f"{cell:>22}" for cell in cells))
    sums = [f"{sum(f['steps'].values()):.0f}" for f in figures.values()]
    print(f"    {'sum of the steps':26}" + "".join(f"{cell:>22}" for cell in sums))


def _calls(counts: object) -> str:
    values = list(counts)  # type: ignore[call-overload]
    return str(values[0]) if len(values) == 1 else f"{min(values)} to {max(values)}"


if __name__ == "__main__":
    main()
