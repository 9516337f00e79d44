"""`warn_latency` on an `http` check and on `http.flow` steps, against a real server on loopback:
a passed response slower than it is a passed Outcome with a warning (the runner makes it
`slow`); a failed one, or one within it, has none; it must be below `max_latency`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.kinds.base import CheckContext
from checks.kinds.http import HttpCheck, HttpRequest
from checks.kinds.http_flow import HttpFlowCheck, HttpFlowParams
from checks.redact import Redactor
from checks.results import Outcome
from tests.support.asgi import serve_asgi


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params.get("s", "0")))
    return JSONResponse({"status": request.query_params.get("say", "healthy")},
                        status_code=int(request.query_params.get("code", "200")))


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve_asgi(Starlette(routes=[Route("/slow", _slow, methods=["GET", "DELETE"])])) as url:
        yield url


def _ctx() -> CheckContext:
    return CheckContext(environment="test", redactor=Redactor())


async def _http(params: dict[str, Any]) -> Outcome:
    return await HttpCheck().run(HttpCheck.Params.model_validate(params), _ctx())


async def _flow(params: dict[str, Any]) -> Outcome:
    return await HttpFlowCheck().run(HttpFlowParams.model_validate(params), _ctx())


_SLOW = re.compile(r"(\d+) ms, over the 100 ms warn_latency")


async def test_a_pass_slower_than_warn_latency_carries_a_warning(server: str) -> None:
    outcome = await _http({"url": f"{server}/slow?s=0.25", "warn_latency": "100ms",
                           "max_latency": "5s", "assert": ["status == healthy"]})

    assert outcome.passed
    assert outcome.warning is not None and _SLOW.fullmatch(outcome.warning), outcome.warning
    took = int(_SLOW.fullmatch(outcome.warning).group(1))  # type: ignore[union-attr]
    assert took >= 250
    assert outcome.summary == f"200 OK in {took} ms, over the 100 ms warn_latency"
    assert outcome.measurements["response_ms"] == took
    assert outcome.details.startswith(f"{outcome.warning}\n\nGET {server}/slow?s=0.25\n")


async def test_a_pass_within_warn_latency_has_no_warning(server: str) -> None:
    outcome = await _http({"url": f"{server}/slow", "warn_latency": "2s"})

    assert outcome.passed and outcome.warning is None
    assert re.fullmatch(r"200 OK in \d+ ms", outcome.summary), outcome.summary


async def test_a_failed_response_is_a_failure_not_a_slow_pass(server: str) -> None:
    outcome = await _http({"url": f"{server}/slow?s=0.15&code=503", "warn_latency": "100ms"})

    assert not outcome.passed
    assert outcome.warning is None
    assert outcome.summary == "expected status 200, got 503"


async def test_slower_than_max_latency_still_fails_whatever_warn_latency_says(
        server: str) -> None:
    outcome = await _http({"url": f"{server}/slow?s=0.25", "warn_latency": "50ms",
                           "max_latency": "100ms"})

    assert not outcome.passed and outcome.warning is None
    assert re.fullmatch(r"response took \d+ ms, over the 100 ms limit", outcome.summary)


@pytest.mark.parametrize(("latencies", "message"), [
    ({"warn_latency": "500ms", "max_latency": "300ms"},
     "'warn_latency' (500 ms) must be below 'max_latency' (300 ms)"),
    ({"warn_latency": "1s", "max_latency": "1s"},
     "'warn_latency' (1000 ms) must be below 'max_latency' (1000 ms)"),
    ({"warn_latency": "soon"}, "expected a duration such as 10, '500ms', '10s' or '2m'"),
])
def test_warn_latency_must_be_a_duration_below_max_latency(latencies: dict[str, str],
                                                          message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HttpRequest.model_validate({"url": "http://h/x", **latencies})

    assert message in str(raised.value)


def test_warn_latency_alone_or_below_max_latency_is_accepted() -> None:
    alone = HttpRequest.model_validate({"url": "http://h/x", "warn_latency": "300ms"})
    both = HttpRequest.model_validate({"url": "http://h/x", "warn_latency": "300ms",
                                       "max_latency": "1s"})

    assert (alone.warn_latency, both.warn_latency, both.max_latency) == (0.3, 0.3, 1.0)


# ------------------------------------------------------------------------------ http.flow

async def test_a_slow_flow_step_makes_the_passed_flow_carry_the_warning(server: str) -> None:
    outcome = await _flow({
        "steps": [{"name": "quick", "url": f"{server}/slow", "warn_latency": "2s"},
                  {"name": "lagging", "url": f"{server}/slow?s=0.25",
                   "warn_latency": "100ms"}],
        "cleanup": [{"name": "tidy", "method": "DELETE", "url": f"{server}/slow"}]})

    assert outcome.passed
    assert outcome.warning is not None
    match = re.fullmatch(r"step 'lagging': (\d+) ms, over the 100 ms warn_latency",
                         outcome.warning)
    assert match and int(match.group(1)) >= 250, outcome.warning
    assert re.fullmatch(r"2 steps passed in \d+ ms, cleanup done; step 'lagging': \d+ ms, "
                        r"over the 100 ms warn_latency", outcome.summary), outcome.summary
    assert (f"step 'lagging': ok: GET {server}/slow?s=0.25 -> 200 in {match.group(1)} ms, "
            "over the 100 ms warn_latency") in outcome.details.splitlines()
    steps = {s["name"]: s for s in outcome.evidence["steps"]}
    assert steps["lagging"]["warning"] == f"{match.group(1)} ms, over the 100 ms warn_latency"
    assert "warning" not in steps["quick"] and "warning" not in steps["tidy"]


async def test_a_slow_cleanup_step_is_named_as_one(server: str) -> None:
    outcome = await _flow({
        "steps": [{"name": "quick", "url": f"{server}/slow"}],
        "cleanup": [{"name": "tidy", "method": "DELETE", "url": f"{server}/slow?s=0.25",
                     "warn_latency": "100ms"}]})

    assert outcome.passed
    assert outcome.warning is not None
    assert outcome.warning.startswith("cleanup step 'tidy': "), outcome.warning


async def test_a_flow_whose_step_fails_is_not_slow(server: str) -> None:
    outcome = await _flow({
        "steps": [{"name": "lagging", "url": f"{server}/slow?s=0.15", "warn_latency": "100ms"},
                  {"name": "broken", "url": f"{server}/slow?code=500"}]})

    assert not outcome.passed and outcome.warning is None
    assert outcome.summary == "step 'broken': expected status 200, got 500"


def test_a_flow_step_refuses_warn_latency_not_below_max_latency() -> None:
    with pytest.raises(ValidationError) as raised:
        HttpFlowParams.model_validate({"steps": [
            {"name": "a", "url": "http://h/x", "warn_latency": "2s", "max_latency": "1s"}]})

    assert "'warn_latency' (2000 ms) must be below 'max_latency' (1000 ms)" in str(raised.value)
