"""The `ratelimit` kind against a real rate-limited server on loopback
(tests/support/throttling_server.py): a server that never throttles, throttles too late or too
early, sends malformed fields, lets Remaining go up or falls over; the traffic policy's
refusals, caps, budget, gate and headers; and suites that use it end to end, a planted secret
never in any result or report. Each header family and the recovery: test_ratelimit_families."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from checks.config import load_suite
from checks.errors import CheckError, ConfigError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.ratelimit import RateLimitCheck, RateLimitParams
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_markdown
from checks.results import Status
from checks.runner import CheckProgress, run_plan
from checks.traffic import RUN_HEADER, RunBudget, TrafficCaps, user_agent
from tests.support.asgi import free_port
from tests.support.throttling_server import (
    KEY, ThrottlingServer, bucket, params, policy, probe,
)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[ThrottlingServer, str]]:
    server = ThrottlingServer()
    with server.serve() as url:
        yield server, url


@pytest.fixture
def server(served: tuple[ThrottlingServer, str]) -> ThrottlingServer:
    return served[0]


@pytest.fixture
def base_url(served: tuple[ThrottlingServer, str]) -> str:
    return served[1]


# ------------------------------------------------------------------------------ failures

async def test_a_limit_never_enforced_is_its_own_failure(base_url: str) -> None:
    outcome = await probe(f"{base_url}/never/{bucket()}")
    assert not outcome.passed
    assert outcome.summary == "rate limit not enforced: 30 requests, no 429"
    assert outcome.measurements["throttled_at"] is None
    assert outcome.measurements["requests_sent"] == 30


async def test_the_default_burst_is_twice_the_limit_and_ten(base_url: str) -> None:
    outcome = await probe(f"{base_url}/never/{bucket()}", max_requests=None)
    assert outcome.summary == "rate limit not enforced: 30 requests, no 429"


async def test_throttled_too_late(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}?limit=16", recover=False)
    assert outcome.summary == ("throttled too late: first 429 at request 17, expected by "
                               "request 12 (limit 10 ±1)")
    assert outcome.details.endswith("  #5  200 OK\n  …\n  #16  200 OK\n"
                                    "  #17  429 Too Many Requests  Retry-After: 1")


async def test_throttled_too_early(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}?limit=5", recover=False)
    assert outcome.summary == ("throttled too early: first 429 at request 6, expected from "
                               "request 10 (limit 10 ±1)")


async def test_a_percentage_tolerance(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}?limit=21", expected_limit=20,
                          tolerance="5%", max_requests=50, recover=False)
    assert outcome.passed
    assert outcome.summary == "throttled at request 22 of limit 20 ±1"


async def test_malformed_fields_are_named(base_url: str) -> None:
    outcome = await probe(f"{base_url}/malformed/{bucket()}")
    assert not outcome.passed
    assert outcome.summary == (
        "Retry-After 'soon' is not seconds or an HTTP date (request 11); "
        "X-RateLimit-Remaining 'lots' is not a non-negative integer (request 11)")
    assert "recovery not checked: the first 429 says neither Retry-After nor when the quota " \
           "resets" in outcome.details


async def test_remaining_going_up_fails(base_url: str) -> None:
    outcome = await probe(f"{base_url}/remaining-up/{bucket()}?window=30&up_at=5",
                          recover=False)
    assert outcome.summary == "X-RateLimit-Remaining went up from 6 to 7 at request 5"


async def test_a_window_reset_during_the_burst_is_a_note_and_explains_a_late_throttle(
        base_url: str) -> None:
    """Two per half-second window, a burst paced at 3/s: each window sees two requests at
    most, Remaining goes back up after each Reset, and no request is ever refused."""
    outcome = await probe(f"{base_url}/x-ratelimit/{bucket()}?limit=2&window=0.5",
                          expected_limit=2, tolerance=0, max_requests=6, rps=3, recover=False)
    assert outcome.summary.startswith("rate limit not enforced: 6 requests, no 429 "
                                      "(X-RateLimit-Remaining went up from ")
    assert outcome.summary.endswith(": the window reset during the burst)")


async def test_a_required_family_that_is_missing(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}",
                          require_headers=["retry-after", "x-ratelimit", "ratelimit"],
                          recover=False)
    assert outcome.summary == ("no X-RateLimit-* on any response; no RateLimit (IETF draft) on "
                               "any response")


async def test_a_429_that_says_nothing(base_url: str) -> None:
    outcome = await probe(f"{base_url}/never-recovers/{bucket()}?limit=10", recover=False,
                          require_headers="any")
    assert outcome.passed  # it says Retry-After
    silent = await probe(f"{base_url}/storm/{bucket()}?storm_at=1000&limit=10",
                         recover=False)
    assert silent.summary == ("the 429 says nothing of the limit: no Retry-After, "
                              "X-RateLimit-* or RateLimit fields on any response")
    assert (await probe(f"{base_url}/storm/{bucket()}?storm_at=1000&limit=10", recover=False,
                        require_headers="none")).passed


async def test_a_5xx_storm_aborts_the_burst(base_url: str, server: ThrottlingServer) -> None:
    name = bucket()
    outcome = await probe(f"{base_url}/storm/{name}?storm_at=4")
    assert outcome.summary == ("aborted after 5 failed requests in a row (requests 4-8, last: "
                               "503 Service Unavailable): the target is failing, so the probe "
                               "stopped")
    assert len(server.requests_to(name)) == 8


async def test_requests_that_get_no_response_are_an_error_not_a_failure() -> None:
    with pytest.raises(CheckError) as error:
        await probe(f"http://127.0.0.1:{free_port()}/x", max_consecutive_errors=3)
    assert re.fullmatch(r"aborted after 3 requests in a row got no response: cannot connect "
                        r"to 127\.0\.0\.1:\d+: connection refused", error.value.message)


async def test_an_identity_the_target_refuses(base_url: str, server: ThrottlingServer) -> None:
    name = bucket()
    outcome = await probe(f"{base_url}/retry-after/{name}", headers={})
    assert outcome.summary == ("request 1 answered 401 Unauthorized, expected 2xx until the "
                               "limit answers 429: is the client identity (headers) accepted?")
    assert len(server.requests_to(name)) == 1


async def test_an_invalid_url_is_a_permanent_error() -> None:
    with pytest.raises(CheckError) as error:
        await probe("ftp://example.invalid/x")
    assert error.value.permanent
    assert "expected it to start with http:// or https://" in error.value.message


# ------------------------------------------------------------------------------ pacing

async def test_rps_paces_the_burst(base_url: str) -> None:
    outcome = await probe(f"{base_url}/retry-after/{bucket()}?limit=4&window=30",
                          expected_limit=4, tolerance=0, max_requests=10, rps=20, recover=False)
    assert outcome.passed
    # Five requests at 20/s: the fifth goes out 0.2 s after the first.
    assert 0.18 <= outcome.measurements["burst_s"] < 1.5


async def test_concurrency_sends_several_at_a_time(base_url: str) -> None:
    outcome = await probe(f"{base_url}/x-ratelimit/{bucket()}?limit=20&window=30",
                          expected_limit=20, tolerance=3, max_requests=60, concurrency=4,
                          recover=False)
    assert outcome.passed, outcome.summary
    assert "remaining counts not checked for going down: with 4 requests in flight" \
        in outcome.details


# ------------------------------------------------------------------------------ the policy

async def test_the_probe_headers_reach_the_server(base_url: str,
                                                  server: ThrottlingServer) -> None:
    name = bucket()
    await probe(f"{base_url}/retry-after/{name}", recover=False,
                headers={"X-Api-Key": KEY, "Accept": "application/json"})
    seen = server.requests_to(name)
    assert len(seen) == 11
    for request in seen:
        assert request.headers["user-agent"] == user_agent()
        assert re.fullmatch(r"smokebot/\S+ \(synthetic\)", request.headers["user-agent"])
        assert request.headers[RUN_HEADER.lower()] == "run1234"
        assert request.headers["x-api-key"] == KEY
        assert request.headers["accept"] == "application/json"


@pytest.mark.parametrize("name", ["User-Agent", "user-agent", "X-Smokebot-Run"])
def test_the_suite_cannot_replace_the_probe_headers(name: str) -> None:
    with pytest.raises(ValueError, match=f"header '{name}' is set by smokebot on every "
                                         "traffic-probe request"):
        params("http://127.0.0.1:1/", headers={name: "curl/8"})


@pytest.mark.parametrize(("fields", "message"), [
    ({"rps": 500}, "refused: 500 requests per second is over the limit of environment 'test' "
                   "of 100"),
    ({"max_requests": 5000}, "refused: 5000 requests is over the limit of environment 'test' "
                             "of 1000"),
    ({"concurrency": 20, "rps": 50}, "refused: 20 requests in flight is over the limit of "
                                     "environment 'test' of 8"),
    ({"rps": 1, "max_requests": 900}, "refused: 900 seconds of traffic is over the limit of "
                                      "environment 'test' of 60"),
])
async def test_parameters_over_a_cap_are_refused_before_any_request(
        base_url: str, server: ThrottlingServer, fields: dict[str, Any], message: str) -> None:
    caps = TrafficCaps(rps=100, duration_s=60, requests_per_check=1000, requests_per_run=5000,
                       concurrency=8)
    name = bucket()
    with pytest.raises(CheckError) as error:
        await probe(f"{base_url}/retry-after/{name}", traffic=policy(caps=caps), **fields)
    assert (error.value.message, error.value.permanent) == (message, True)
    assert server.requests_to(name) == []


async def test_the_default_burst_is_lowered_to_the_environments_cap(base_url: str) -> None:
    caps = TrafficCaps(rps=2000, duration_s=60, requests_per_check=15, requests_per_run=5000,
                       concurrency=8)
    outcome = await probe(f"{base_url}/never/{bucket()}", traffic=policy(caps=caps),
                          max_requests=None)
    assert outcome.summary == "rate limit not enforced: 15 requests, no 429"


async def test_the_burst_stops_at_the_duration_cap(base_url: str) -> None:
    """Paced by the environment's 20/s, 30 requests would take 1.5 s: the cap stops them."""
    caps = TrafficCaps(rps=20, duration_s=0.3, requests_per_check=1000,
                       requests_per_run=5000, concurrency=8)
    outcome = await probe(f"{base_url}/never/{bucket()}", traffic=policy(caps=caps))
    assert outcome.summary.startswith("could not reach the limit: the traffic duration cap "
                                      "stopped the burst after ")
    assert 2 <= outcome.measurements["requests_sent"] <= 8  # 0.3 s at 20/s; fewer when busy


async def test_refused_in_production_unless_allowed(base_url: str,
                                                    server: ThrottlingServer) -> None:
    name = bucket()
    with pytest.raises(CheckError) as error:
        await probe(f"{base_url}/retry-after/{name}",
                    traffic=policy(production=True, allowed=False))
    assert error.value.permanent
    assert error.value.message.startswith("refused: environment 'test' is marked production")
    with pytest.raises(CheckError) as unconfirmed:
        await probe(f"{base_url}/retry-after/{name}",
                    traffic=policy(production=True, needs_confirmation=True))
    assert "production confirmation button" in unconfirmed.value.message
    assert server.requests_to(name) == []
    confirmed = policy(production=True, needs_confirmation=True, confirmed=True)
    assert (await probe(f"{base_url}/retry-after/{name}", traffic=confirmed,
                        recover=False)).passed


async def test_a_spent_run_budget_refuses_the_probe(base_url: str,
                                                    server: ThrottlingServer) -> None:
    name = bucket()
    with pytest.raises(CheckError) as error:
        await probe(f"{base_url}/retry-after/{name}", traffic=policy(budget=RunBudget(12)))
    assert error.value.message == (
        "refused: the run's traffic budget has 12 requests left (of 12 for all the run's "
        "traffic probes); this check needs at least 13")
    assert error.value.permanent and server.requests_to(name) == []


async def test_a_low_run_budget_cuts_the_burst_and_says_so(base_url: str) -> None:
    traffic = policy(budget=RunBudget(20))
    outcome = await probe(f"{base_url}/never/{bucket()}", traffic=traffic)
    assert outcome.summary == "rate limit not enforced: 19 requests, no 429"
    assert "The burst was cut to 19 requests by the run's traffic budget." in outcome.details
    assert traffic.budget.remaining == 1


async def test_one_probe_at_a_time_per_environment(base_url: str,
                                                   server: ThrottlingServer) -> None:
    traffic = policy()
    first, second = bucket(), bucket()
    await asyncio.gather(
        probe(f"{base_url}/never/{first}", traffic=traffic, rps=100, max_requests=15),
        probe(f"{base_url}/never/{second}", traffic=traffic, rps=100, max_requests=15))
    a, b = server.requests_to(first), server.requests_to(second)
    assert len(a) == len(b) == 15
    earlier, later = sorted([a, b], key=lambda seen: seen[0].at)
    assert earlier[-1].at < later[0].at  # the second began after the first had finished


async def test_without_the_plans_policy_a_default_one_applies(base_url: str) -> None:
    ctx = CheckContext(environment="test", redactor=Redactor(), variables={"run": {"id": "r9"}})
    outcome = await RateLimitCheck().run(params(f"{base_url}/retry-after/{bucket()}",
                                                recover=False), ctx)
    assert outcome.passed


# ------------------------------------------------------------------------------ secrets

def _count(text: str) -> int:
    return text.count(KEY)


async def test_the_identity_never_shows_even_with_no_redactor_and_a_target_that_echoes_it(
        base_url: str) -> None:
    outcome = await probe(f"{base_url}/echo-key/{bucket()}", recover=False)
    assert outcome.passed
    shown = json.dumps([outcome.summary, outcome.details, outcome.measurements,
                        outcome.evidence, outcome.warning])
    assert _count(shown) == 0
    assert "X-RateLimit-Client: [redacted" in outcome.details


# ------------------------------------------------------------------------------ suites

SUITE = """\
suite: limits
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    secrets: {{test_api_key: {{env: SMOKEBOT_TEST_API_KEY}}}}
  production:
    production: true
    variables: {{base_url: "{base_url}"}}
    secrets: {{test_api_key: {{env: SMOKEBOT_TEST_API_KEY}}}}
  prod-open:
    production: true
    traffic: {{allow: true, max_requests_per_run: 40}}
    variables: {{base_url: "{base_url}"}}
    secrets: {{test_api_key: {{env: SMOKEBOT_TEST_API_KEY}}}}
categories:
  - name: API
    checks:
      - id: api-limit
        type: ratelimit
        url: ${{base_url}}/echo-key/{first}?limit=10
        headers: {{X-Api-Key: "${{secrets.test_api_key}}"}}
        expected_limit: 10
        tolerance: 10%
        max_requests: 25
        require_headers: [retry-after]
      - id: search-limit
        type: ratelimit
        url: ${{base_url}}/draft10/{second}?limit=5
        headers: {{X-Api-Key: "${{secrets.test_api_key}}"}}
        expected_limit: 5
        tolerance: 0
        max_requests: 15
        recover: false
"""


def write_suite(tmp_path: Path, base_url: str, text: str = SUITE) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(text.format(base_url=base_url, first=bucket(), second=bucket()))
    return path


async def test_a_suite_runs_ratelimit_checks_and_no_report_shows_the_key(
        tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_API_KEY", KEY)
    plan = build_plan(load_suite(write_suite(tmp_path, base_url)), "staging")
    assert re.fullmatch(rf"GET {base_url}/echo-key/\w+\?limit=10: limit 10 ±1",
                        plan.checks[0].description)
    planned = plan.checks[0].params
    assert isinstance(planned, RateLimitParams)
    assert plan.checks[0].timeout >= planned.least_time_s()
    events: list[Any] = []
    result = await run_plan(plan, on_event=events.append)
    by_id = {r.check_id: r for r in result.results}
    assert by_id["api-limit"].status is Status.PASS, by_id["api-limit"].details
    assert by_id["api-limit"].summary == ("throttled at request 11 of limit 10 ±1; Retry-After "
                                          "1s honoured, recovered")
    assert by_id["search-limit"].status is Status.PASS
    assert any(isinstance(e, CheckProgress) and e.text.endswith("requests") for e in events)
    reports = [render_markdown(result, plan.redactor), render_json(result, plan.redactor)]
    assert "throttled at request 11" in reports[0]
    assert [_count(r) for r in reports] == [0, 0]
    assert all(_count(json.dumps([r.summary, r.details, r.measurements, r.evidence],
                                 default=str)) == 0 for r in result.results)


async def test_a_suite_in_production_is_refused_unless_it_allows_probes(
        tmp_path: Path, base_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_API_KEY", KEY)
    suite = load_suite(write_suite(tmp_path, base_url))
    refused = await run_plan(build_plan(suite, "production"))
    assert {r.status for r in refused.results} == {Status.ERROR}
    assert refused.results[0].summary.startswith(
        "refused: environment 'production' is marked production: traffic probes (load, "
        "ratelimit) run there only when its environment block allows them")
    assert refused.results[0].attempts == 1  # permanent: not retried
    plan = build_plan(suite, "prod-open")
    allowed = await run_plan(plan)
    assert [r.status for r in allowed.results] == [Status.PASS, Status.PASS], \
        [r.summary for r in allowed.results]
    # Of the run's 40 requests: 11 and a recovery request, then 6.
    assert plan.traffic is not None and plan.traffic.budget.remaining == 40 - 12 - 6


@pytest.mark.parametrize(("change", "line", "message"), [
    ("        max_requests: 25\n", "        max_requests: 8\n",
     "ratelimit: max_requests 8 cannot show a limit of 10 ±1: the limit should refuse request "
     "12 at the latest, so expected max_requests of at least 12"),
    ("        tolerance: 10%\n", "        tolerance: lots\n",
     "ratelimit: expected a number of requests (5) or a percentage of expected_limit ('5%'), "
     "got 'lots'"),
    ("        require_headers: [retry-after]\n", "        require_headers: [retry-afterr]\n",
     "ratelimit: expected 'any', 'none' or a list of: retry-after, x-ratelimit, ratelimit; got "
     "'retry-afterr'"),
    ("        headers: {X-Api-Key: \"${secrets.test_api_key}\"}\n",
     "        headers: {User-Agent: curl}\n",
     "ratelimit: header 'User-Agent' is set by smokebot on every traffic-probe request"),
])
def test_bad_parameters_are_errors_at_their_line(tmp_path: Path, base_url: str, change: str,
                                                 line: str, message: str) -> None:
    text = SUITE.replace(change.replace("{", "{{").replace("}", "}}"),
                         line.replace("{", "{{").replace("}", "}}"), 1)
    assert text != SUITE
    path = write_suite(tmp_path, base_url, text)
    with pytest.raises(ConfigError) as error:
        load_suite(path)
    rendered = error.value.render()
    assert rendered.startswith(f"{path}:"), rendered
    assert error.value.location is not None and error.value.location.line is not None
    assert message in rendered


def test_the_plan_gives_the_check_the_time_it_needs(tmp_path: Path, base_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_API_KEY", KEY)
    plan = build_plan(load_suite(write_suite(tmp_path, base_url)), "staging")
    # 25 requests at an assumed 50 ms, Retry-After waits of up to 60 s twice, three timeouts
    assert plan.checks[0].timeout == 152
    text = SUITE.replace("        max_requests: 25\n", "        max_requests: 25\n"
                         "        timeout: 5s\n", 1)
    with pytest.raises(ConfigError, match=r"timeout 5s is shorter than the 152s this check "
                                          r"needs"):
        build_plan(load_suite(write_suite(tmp_path, base_url, text)), "staging")


def test_the_kind_is_registered() -> None:
    assert isinstance(load_kind("ratelimit"), RateLimitCheck)
