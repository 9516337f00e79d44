"""The `load` kind's figures against a real target on loopback: a server whose answers take
20 ms and every 10th of which is a 500. Figures are asserted within tolerances (the machine
is shared), never exactly."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest

from checks.errors import CheckError, ConfigError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.load import LoadCheck, LoadParams
from checks.plan import RunPlan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import CheckProgress, RunEvent, run_plan
from tests.support.asgi import free_port
from tests.support.latency_server import (
    LatencyServer, load_check, load_plan, serve_latency_app,
)


@pytest.fixture(scope="module")
def target() -> Iterator[LatencyServer]:
    with serve_latency_app() as server:
        yield server


def _ctx(**kw: Any) -> CheckContext:
    return CheckContext(environment="staging", redactor=Redactor(), **kw)


async def _run(params: dict[str, Any], **ctx: Any) -> Outcome:
    return await LoadCheck().run(LoadParams.model_validate(params), _ctx(**ctx))


def test_the_registry_loads_the_load_kind() -> None:
    assert isinstance(load_kind("load"), LoadCheck)


async def test_latency_error_rate_and_statuses_are_measured(target: LatencyServer) -> None:
    outcome = await _run({"url": f"{target.url}/ok?delay_ms=20&fail_every=10", "rps": 40,
                          "duration": "1.5s", "warmup": "0.25s",
                          "thresholds": ["p95 < 2s", "error_rate < 20%"]})
    m = outcome.measurements
    assert outcome.passed, outcome.summary
    assert m["requests_sent"] == 60 and m["target_rps"] == 40
    assert 55 <= m["requests_completed"] <= 60
    assert 36 <= m["achieved_rps"] <= 41
    assert 19 <= m["p50_ms"] <= m["p90_ms"] <= m["p95_ms"] <= m["p99_ms"] <= m["max_ms"]
    assert m["p95_ms"] < 150
    assert m["error_rate"] == pytest.approx(0.1, abs=0.03)
    assert set(m["statuses"]) == {"200", "500"}
    assert m["statuses"]["500"] == pytest.approx(6, abs=2)
    assert m["errors"] == {} and m["dropped"] == 0
    assert re.fullmatch(r"\d+ requests in 1\.\d s: [\d.]+ rps \([\d.]+% of 40\), p95 \d+ ms, "
                        r"p99 \d+ ms, \d+(\.\d+)?% errors", outcome.summary), outcome.summary
    # The details table and the first failures with their responses.
    assert "latency    p50 " in outcome.details
    assert "statuses   200 × " in outcome.details
    assert "  pass  p95 < 2s" in outcome.details
    failures = outcome.evidence["first_failures"]
    assert 1 <= len(failures) <= 5
    assert failures[0]["status"] == 500 and "planned failure" in failures[0]["body"]
    assert failures[0]["problems"] == ["expected a 2xx status, got 500"]
    assert failures[0]["headers"]["content-type"].startswith("application/json")


async def test_each_failed_threshold_is_named_in_the_summary(target: LatencyServer) -> None:
    outcome = await _run({"url": f"{target.url}/ok?delay_ms=20&fail_every=10", "rps": 20,
                          "duration": "1s",
                          "thresholds": ["p95 < 5ms", "error_rate < 1%", "p99 < 10s"]})
    assert not outcome.passed
    first, second, figures = re.split(r"; |\. ", outcome.summary, maxsplit=2)
    assert re.fullmatch(r"p95 \d+ ms, over the 5 ms threshold", first), first
    assert re.fullmatch(r"\d+(\.\d+)?% errors, over the 1% threshold", second), second
    assert re.match(r"\d+ requests in 1\.\d s: ", figures), figures
    assert "p99 < 10s" not in outcome.summary  # passed
    assert [t["passed"] for t in outcome.evidence["thresholds"]] == [False, False, True]
    assert "  FAIL  p95 < 5ms" in outcome.details


async def test_warn_thresholds_make_a_passing_probe_slow(target: LatencyServer) -> None:
    outcome = await _run({"url": f"{target.url}/ok?delay_ms=20", "rps": 20, "duration": "1s",
                          "warn_latency": "5ms", "max_latency": "2s"})
    assert outcome.passed
    assert outcome.warning is not None
    assert re.fullmatch(r"p95 \d+ ms, over the 5 ms warn threshold", outcome.warning)


async def test_a_slow_probe_is_a_slow_result_through_the_runner(target: LatencyServer) -> None:
    result = (await run_plan(_plan(target, warn=["p95 < 1ms"], url="/ok?delay_ms=20"))
              ).results[0]
    assert result.status is Status.SLOW
    assert result.evidence["warning"].startswith("p95 ")


async def test_dropped_requests_when_concurrency_is_reached(target: LatencyServer) -> None:
    # One in flight at a time and 100 ms answers: at most ~10 of the 50 a second start.
    outcome = await _run({"url": f"{target.url}/ok?delay_ms=100", "rps": 50, "duration": "1s",
                          "concurrency": 1})
    m = outcome.measurements
    assert m["dropped"] >= 30 and m["requests_sent"] + m["dropped"] == 50
    assert m["achieved_rps"] <= 12
    assert not outcome.passed
    assert "achieved " in outcome.summary and "under the 95% threshold" in outcome.summary


async def test_timeouts_are_counted_by_class(target: LatencyServer) -> None:
    outcome = await _run({"url": f"{target.url}/ok?slow_every=4&slow_ms=400", "rps": 40,
                          "duration": "1s", "request_timeout": "0.15s"})
    m = outcome.measurements
    assert m["errors"] == {"timeout": pytest.approx(10, abs=2)}
    assert m["error_rate"] == pytest.approx(0.25, abs=0.06)
    timeouts = [f for f in outcome.evidence["first_failures"] if f.get("error") == "timeout"]
    assert timeouts and "within 0.15s (timeout)" in timeouts[0]["message"]


async def test_connection_refused_everywhere_is_an_error_not_figures() -> None:
    port = free_port()  # nothing listens there
    with pytest.raises(CheckError) as raised:
        await _run({"url": f"http://127.0.0.1:{port}/", "rps": 50, "duration": "1s"})
    message = raised.value.message
    assert message.startswith(f"cannot connect to 127.0.0.1:{port}: connection refused; none "
                              "of the ")
    assert message.endswith("requests sent was answered, aborted early")
    assert "connection refused × " in raised.value.details


async def test_sampled_assertions_judge_every_nth_answer(target: LatencyServer) -> None:
    base = {"url": f"{target.url}/json?value=degraded", "rps": 40, "duration": "1s",
            "assert": ["status == healthy"], "thresholds": ["error_rate < 100%"],
            "abort": {"error_rate": "100%"}}
    every = await _run({**base, "assert_every": 1})
    fifth = await _run({**base, "assert_every": 5})
    assert every.measurements["error_rate"] == 1.0
    assert fifth.measurements["error_rate"] == pytest.approx(0.2, abs=0.03)
    assert every.evidence["first_failures"][0]["problems"] == [
        'status: expected "healthy", got "degraded"']


async def test_progress_is_reported_a_few_times_a_second(target: LatencyServer) -> None:
    events: list[RunEvent] = []
    await run_plan(_plan(target, url="/ok?delay_ms=5"), on_event=events.append)
    progress = [e for e in events if isinstance(e, CheckProgress)]
    assert 3 <= len(progress) <= 8  # 1.25 s of traffic
    assert all(re.fullmatch(r"(warm-up )?\d+/\d+ requests · \d+ rps( · p95 [\d.]+ ms)?", e.text)
               for e in progress), [e.text for e in progress]
    fractions = [e.fraction for e in progress]
    assert fractions == sorted(fractions) and 0 < fractions[0] and fractions[-1] < 1


async def test_cancelling_stops_the_traffic_at_once(target: LatencyServer) -> None:
    before = target.by_path["/ok"]
    task = asyncio.create_task(_run({"url": f"{target.url}/ok?delay_ms=200", "rps": 50,
                                     "duration": "10s"}))
    await asyncio.sleep(0.5)
    task.cancel()
    started = asyncio.get_running_loop().time()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert asyncio.get_running_loop().time() - started < 0.5
    sent = target.by_path["/ok"] - before
    assert 15 <= sent <= 35  # ~25 in the half second
    await asyncio.sleep(0.4)
    assert target.by_path["/ok"] - before == sent  # nothing after the cancel
    assert target.open_connections == 0  # and every connection closed


async def test_connections_are_kept_alive_and_closed_at_the_end(target: LatencyServer) -> None:
    seen: list[int] = []
    outcome = await _run({"url": f"{target.url}/ok?delay_ms=20", "rps": 50, "duration": "1s"},
                         progress=lambda text, fraction=None: seen.append(
                             target.open_connections))
    assert outcome.passed, outcome.summary
    assert seen and max(seen) <= 10  # ~1 in flight at a time: reused, not one per request
    await asyncio.sleep(0.1)
    assert target.open_connections == 0


def _plan(target: LatencyServer, **fields: Any) -> RunPlan:
    return load_plan(load_check(target.url, **fields))


def test_the_plan_gives_a_probe_the_time_it_needs(target: LatencyServer) -> None:
    plan = _plan(target, duration="60s", request_timeout="2s")
    # warm-up, duration, a request's timeout (the drain), the wait for the gate, a margin
    assert plan.checks[0].timeout == pytest.approx(0.25 + 60 + 2 + 30 + 5)


def test_a_check_timeout_below_what_the_probe_needs_is_refused(target: LatencyServer) -> None:
    with pytest.raises(ConfigError) as raised:
        _plan(target, duration="60s", timeout="20s")
    assert "timeout 20s is shorter than the" in raised.value.message
