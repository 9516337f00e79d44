"""The `load` kind's safety rails against a real target on loopback: what it refuses (and
that the target then saw nothing), the run's budget, one probe at a time per environment,
early aborts, the synthetic-traffic headers, and secrets kept out of every result."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from checks.errors import ConfigError
from checks.redact import Redactor
from checks.report.json import render_json
from checks.report.junit import render_junit
from checks.report.markdown import render_markdown
from checks.results import Status
from checks.runner import run_plan
from checks.traffic import user_agent
from tests.support.latency_server import (
    LatencyServer, load_check, load_plan, serve_latency_app,
)


@pytest.fixture
def target() -> Iterator[LatencyServer]:
    with serve_latency_app() as server:
        yield server


# ------------------------------------------------------------------------------ refusals

async def test_production_is_refused_and_the_target_sees_nothing(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url), env="{production: true}")
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.ERROR
    assert result.summary == (
        "refused: environment 'staging' is marked production: traffic probes (load, "
        "ratelimit) run there only when its environment block allows them with "
        "`traffic: {allow: true}`")
    assert result.attempts == 1  # permanent: no retry
    assert target.requests == 0


async def test_production_that_allows_probes_is_probed(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url, warmup=0),
                     env="{production: true, traffic: {allow: true}}")
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.PASS, result.summary
    assert target.requests == 20


async def test_a_slack_run_in_production_needs_the_confirmation(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url), env="{production: true, traffic: {allow: true}}")
    assert plan.traffic is not None
    plan.traffic.needs_confirmation = True
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.ERROR
    assert "only after the production confirmation button" in result.summary
    assert target.requests == 0


async def test_the_environment_caps_are_refused_with_the_limit(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url), env="{traffic: {max_rps: 10}}")
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.ERROR
    assert result.summary == ("refused: 20 requests per second is over the limit of "
                              "environment 'staging' of 10")
    assert target.requests == 0


async def test_too_many_requests_for_the_environment_is_refused(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url), env="{traffic: {max_requests: 20}}")
    result = (await run_plan(plan)).results[0]
    assert result.summary == ("refused: 25 requests is over the limit of environment "
                              "'staging' of 20")
    assert target.requests == 0


@pytest.mark.parametrize(("fields", "message"), [
    ({"rps": 5000}, "load: 5000 requests per second is over smokebot's hard cap of 2000; a "
                    "test that needs more is a load test for k6"),
    ({"concurrency": 1000}, "load: 1000 requests in flight is over smokebot's hard cap of 256"),
    ({"rps": 1000, "duration": "200s"}, "load: 200,250 requests (1000 rps for 200.25s) is over "
                                        "smokebot's hard cap of 100,000 a check"),
    ({"duration": "5m", "warmup": "30s"}, "load: warmup plus duration is 330s, over "
                                          "smokebot's hard cap of 300s of traffic"),
])
def test_the_hard_caps_are_refused_when_the_suite_is_read(
        fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_plan(load_check("http://127.0.0.1:9", **fields))
    assert raised.value.message == message
    assert str(raised.value.location).startswith("smoketest.yaml:7")


def test_a_mutating_method_needs_allow_mutating() -> None:
    with pytest.raises(ConfigError) as raised:
        load_plan(load_check("http://127.0.0.1:9", method="post"))
    assert raised.value.message == (
        "load: method POST may change the target's data, and a load probe repeats it hundreds "
        "of times; expected GET or HEAD, or `allow_mutating: true` to send it anyway")
    assert str(raised.value.location).startswith("smoketest.yaml:7")


async def test_a_mutating_method_allowed_is_sent(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url, url="/any", method="POST", allow_mutating=True,
                                json={"n": 1}, warmup=0))
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.PASS, result.summary
    assert target.by_path["/any"] == 20


# ------------------------------------------------------------------------------ budget, gate

async def test_the_run_budget_is_shared_and_refusal_says_so(target: LatencyServer) -> None:
    first = load_check(target.url, warmup=0)
    second = {**load_check(target.url, warmup=0), "id": "second"}
    plan = load_plan(first, second, env="{traffic: {max_requests_per_run: 30}}")
    results = (await run_plan(plan)).results
    refused = [r for r in results if r.status is Status.ERROR]
    assert [r.status for r in results if r not in refused] == [Status.PASS]
    assert len(refused) == 1
    assert refused[0].summary.startswith(
        "refused: this run's traffic budget has 10 requests left and this check would send "
        "20; every probe of a run (retries included) shares the budget")
    assert target.requests == 20
    assert plan.traffic is not None and plan.traffic.budget.remaining == 10


async def test_requests_not_sent_go_back_to_the_budget(target: LatencyServer) -> None:
    # Aborted after ~20 of the 100 requests: the rest are the run's again.
    plan = load_plan(load_check(target.url, url="/status/503", rps=50, duration="2s",
                                warmup=0))
    assert plan.traffic is not None
    before = plan.traffic.budget.remaining
    await run_plan(plan)
    assert before - plan.traffic.budget.remaining == target.requests


async def test_probes_of_one_environment_run_one_at_a_time(target: LatencyServer) -> None:
    first = load_check(target.url, warmup=0)
    second = {**load_check(target.url, warmup=0), "id": "second"}
    started = time.perf_counter()
    results = (await run_plan(load_plan(first, second))).results
    assert [r.status for r in results] == [Status.PASS, Status.PASS]
    assert time.perf_counter() - started >= 1.9  # two 1 s probes, not side by side


# ------------------------------------------------------------------------------ early abort

async def test_a_5xx_storm_aborts_early(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url, url="/status/503", rps=50, duration="2s",
                                warmup=0))
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.FAIL
    assert result.summary.startswith("aborted after 0.")
    assert ": 20 consecutive 5xx responses. " in result.summary
    assert result.evidence["aborted"] == "20 consecutive 5xx responses"
    assert "ABORTED after " in result.details
    assert 20 <= target.requests <= 35  # not the 100 scheduled
    assert result.measurements["statuses"] == {"503": result.measurements["requests_completed"]}


async def test_a_high_error_rate_aborts_early(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url, url="/json?value=degraded", rps=50, duration="2s",
                                assert_every=1, warmup=0, **{"assert": ["status == healthy"]}))
    result = (await run_plan(plan)).results[0]
    assert result.status is Status.FAIL
    assert "of 20 requests failed (100%), over the abort rule's 50%" in result.summary
    assert target.requests <= 35


# ------------------------------------------------------------------------------ what is sent

async def test_every_request_carries_the_synthetic_marks(target: LatencyServer) -> None:
    plan = load_plan(load_check(target.url, headers={
        "User-Agent": "curl/8.0", "x-smokebot-run": "forged", "X-Extra": 7}))
    assert plan.traffic is not None
    await run_plan(plan)
    assert target.headers
    for headers in target.headers:
        assert headers["User-Agent"] == user_agent()
        assert user_agent().endswith(" (synthetic)")
        assert headers["X-Smokebot-Run"] == plan.traffic.run_id
        assert headers["X-Extra"] == "7"


async def test_a_secret_in_a_header_is_in_no_result_or_report(
        target: LatencyServer, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = "canary-7f3a9c2e51d04b8e"
    monkeypatch.setenv("LOAD_TOKEN", canary)
    plan = load_plan(load_check(target.url, url="/echo-auth", warmup=0,
                                headers={"Authorization": "Bearer ${secrets.token}"}),
                     env="{secrets: {token: {env: LOAD_TOKEN}}}")
    run = await run_plan(plan)
    assert target.auth_seen[f"Bearer {canary}"] >= 20  # the target saw it on every request
    result = run.results[0]
    assert result.evidence["first_failures"]  # the echoed bodies are there, redacted
    texts = [repr(run), render_json(run, Redactor()), render_markdown(run, Redactor()),
             render_junit(run, Redactor())]
    assert sum(text.count(canary) for text in texts) == 0
    assert sum(text.count(canary[:12]) for text in texts) == 0
