"""`flaky` and `slow` through a suite file, the plan and the runner, against a real server on
loopback: an endpoint that fails its first request then passes, and one slower than the
check's `warn_latency`. Both pass, their dependents run, and the run's verdict is passed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from checks.config import load_suite
from checks.errors import ConfigError
from checks.plan import build_plan
from checks.results import RunResult, Status, Verdict
from checks.runner import run_plan
from tests.support.asgi import serve_asgi


class _Flapping:
    """`/flap?key=K` answers 503 to the first `fail` requests with key K, then 200; `/slow`
    answers after `s` seconds."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def app(self) -> Starlette:
        async def flap(request: Request) -> Response:
            key = request.query_params["key"]
            self.seen[key] = self.seen.get(key, 0) + 1
            if self.seen[key] <= int(request.query_params.get("fail", "1")):
                return JSONResponse({"status": "starting"}, status_code=503)
            return JSONResponse({"status": "healthy"})

        async def slow(request: Request) -> Response:
            await asyncio.sleep(float(request.query_params["s"]))
            return JSONResponse({"status": "healthy"})

        return Starlette(routes=[Route("/flap", flap), Route("/slow", slow)])


@pytest.fixture(scope="module")
def target() -> Iterator[tuple[_Flapping, str]]:
    flapping = _Flapping()
    with serve_asgi(flapping.app()) as base_url:
        yield flapping, base_url


SUITE = """\
suite: remarks
defaults: {{retry_backoff: 10ms}}
environments:
  local:
    variables: {{base_url: "{base_url}"}}
categories:
  - name: Health
    checks:
      - id: flapping
        type: http
        url: ${{base_url}}/flap?key={key}
        retries: 2
        assert: [status == healthy]
      - id: slow
        type: http
        url: ${{base_url}}/slow?s=0.25
        warn_latency: 100ms
        max_latency: 5s
      - id: quick
        type: http
        url: ${{base_url}}/slow?s=0
        warn_latency: 2s
  - name: Dependents
    checks:
      - id: after-flapping
        type: http
        url: ${{base_url}}/slow?s=0
        depends_on: [flapping]
      - id: after-slow
        type: http
        url: ${{base_url}}/slow?s=0
        depends_on: [slow]
"""


async def _run(tmp_path: Path, base_url: str, key: str) -> RunResult:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=base_url, key=key), encoding="utf-8")
    return await run_plan(build_plan(load_suite(path), "local"))


async def test_a_check_that_fails_then_passes_on_a_retry_is_flaky_and_passes(
        tmp_path: Path, target: tuple[_Flapping, str]) -> None:
    flapping, base_url = target
    run = await _run(tmp_path, base_url, "first-fails")
    result = {r.check_id: r for r in run.results}["flapping"]

    assert (result.status, result.attempts) == (Status.FLAKY, 2)
    assert result.summary == f"200 OK in {result.measurements['response_ms']} ms"
    assert result.evidence["failed_attempts"] == ["expected status 200, got 503"]
    assert flapping.seen["first-fails"] == 2  # a retry, not a cached answer
    assert result.status.passed


async def test_a_pass_slower_than_warn_latency_is_slow_and_passes(
        tmp_path: Path, target: tuple[_Flapping, str]) -> None:
    _, base_url = target
    run = await _run(tmp_path, base_url, "slow-run")
    by_id = {r.check_id: r for r in run.results}
    slow = by_id["slow"]

    assert slow.status is Status.SLOW
    match = re.fullmatch(r"200 OK in (\d+) ms, over the 100 ms warn_latency", slow.summary)
    assert match and int(match.group(1)) >= 250, slow.summary
    assert slow.evidence["warning"] == f"{match.group(1)} ms, over the 100 ms warn_latency"
    assert slow.attempts == 1
    # Under its warn_latency, a check is a plain pass.
    assert by_id["quick"].status is Status.PASS
    assert "warning" not in by_id["quick"].evidence


async def test_dependents_of_flaky_and_slow_checks_run_and_the_run_passes(
        tmp_path: Path, target: tuple[_Flapping, str]) -> None:
    _, base_url = target
    run = await _run(tmp_path, base_url, "dependents")
    statuses = {r.check_id: r.status for r in run.results}

    assert statuses == {"flapping": Status.FLAKY, "slow": Status.SLOW, "quick": Status.PASS,
                        "after-flapping": Status.PASS, "after-slow": Status.PASS}
    assert run.verdict is Verdict.PASSED
    assert run.verdict.exit_code == 0
    counts = run.counts()
    assert (counts[Status.FLAKY], counts[Status.SLOW], counts[Status.PASS]) == (1, 1, 3)


async def test_a_check_that_never_passes_is_not_flaky(tmp_path: Path,
                                                      target: tuple[_Flapping, str]) -> None:
    _, base_url = target
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=base_url, key="never&fail=9"), encoding="utf-8")
    run = await run_plan(build_plan(load_suite(path), "local", only=["flapping"]))
    (result,) = run.results

    assert (result.status, result.attempts) == (Status.FAIL, 3)
    assert "failed_attempts" not in result.evidence
    assert run.verdict is Verdict.FAILED


def test_warn_latency_not_below_max_latency_is_a_config_error_with_its_line(
        tmp_path: Path) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text("environments: {local: {}}\n"
                    "categories:\n"
                    "  - name: Health\n"
                    "    checks:\n"
                    "      - id: api\n"
                    "        type: http\n"
                    "        url: http://127.0.0.1:9/health\n"
                    "        max_latency: 300ms\n"
                    "        warn_latency: 500ms\n", encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        build_plan(load_suite(path), "local")

    text = raised.value.render()
    assert "smoketest.yaml:5:9: categories[0].checks[0]: http: " in text, text
    assert ("'warn_latency' (500 ms) must be below 'max_latency' (300 ms): slower than "
            "warn_latency is a warning, slower than max_latency a failure") in text
