"""The traffic-probe policy: caps, the production refusal, the run's budget, the local gate, and
the environment's `production:`/`traffic:` settings as the plan reads them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from checks.config import Suite, load_suite
from checks.errors import CheckError, ConfigError
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import build_plan
from checks.results import Outcome, Status
from checks.runner import run_plan
from checks.traffic import (
    HARD_CAPS, RUN_HEADER, LocalGate, RunBudget, TrafficPolicy, user_agent,
)


def suite(tmp_path: Path, environments: str) -> Suite:
    text = f"""\
suite: traffic
environments:
{environments}
categories:
  - name: API
    checks:
      - {{id: up, type: http, url: "http://127.0.0.1:9/"}}
"""
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    return load_suite(path)


def test_an_environment_marked_production_refuses_probes_unless_it_allows_them(
        tmp_path: Path) -> None:
    loaded = suite(tmp_path, """\
  staging: {}
  production: {production: true}
  prod-open: {production: true, traffic: {allow: true}}
  closed: {traffic: {allow: false}}
""")
    policies = {env: build_plan(loaded, env).traffic
                for env in ("staging", "production", "prod-open", "closed")}
    assert policies["staging"].refusal() is None
    assert "marked production" in policies["production"].refusal()
    assert "traffic: {allow: true}" in policies["production"].refusal()
    assert policies["prod-open"].refusal() is None
    assert "does not allow traffic probes" in policies["closed"].refusal()
    with pytest.raises(CheckError) as refused:
        policies["production"].check_allowed()
    assert refused.value.permanent and refused.value.message.startswith("refused: ")


def test_production_from_slack_needs_the_confirmation_button() -> None:
    policy = TrafficPolicy(environment="production", run_id="r1", production=True,
                           allowed=True, needs_confirmation=True, confirmed=False)
    assert "production confirmation button" in policy.refusal()
    policy.confirmed = True
    assert policy.refusal() is None
    # Elsewhere a person's confirmation is not asked for.
    assert TrafficPolicy(environment="staging", run_id="r1",
                         needs_confirmation=True).refusal() is None


def test_caps_name_the_limit_and_where_it_comes_from(tmp_path: Path) -> None:
    loaded = suite(tmp_path, "  staging: {traffic: {max_rps: 50, max_requests_per_run: 500}}\n")
    policy = build_plan(loaded, "staging").traffic
    assert policy.caps.rps == 50 and policy.caps.duration_s == HARD_CAPS.duration_s
    assert policy.budget.remaining == 500
    with pytest.raises(CheckError, match="100 requests per second is over the limit of "
                                         "environment 'staging' of 50"):
        policy.check_caps(rps=100)
    with pytest.raises(CheckError, match="over smokebot's hard cap of 300"):
        policy.check_caps(duration_s=301)
    policy.check_caps(rps=50, duration_s=300, requests=1000, concurrency=10)


def test_an_environment_cannot_raise_the_hard_caps(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as error:
        suite(tmp_path, "  staging: {traffic: {max_rps: 5000}}\n")
    assert "smoke.yaml:3:" in error.value.render()
    assert "traffic.max_rps: expected a number less than or equal to 2000" in error.value.render()


def test_the_budget_is_shared_and_never_overdrawn() -> None:
    budget = RunBudget(100)
    assert budget.take(70) == 70
    assert budget.take(70) == 30
    assert budget.take(1) == 0
    budget.give_back(10)
    assert budget.take(50) == 10


def test_probe_headers_mark_the_traffic_as_synthetic() -> None:
    headers = TrafficPolicy(environment="staging", run_id="abc123").headers()
    assert headers[RUN_HEADER] == "abc123"
    assert headers["User-Agent"] == user_agent()
    assert user_agent().startswith("smokebot/") and user_agent().endswith(" (synthetic)")


async def test_the_local_gate_runs_one_probe_per_environment_at_a_time() -> None:
    gate = LocalGate()
    windows: dict[str, list[tuple[float, float]]] = {"staging": [], "qa": []}

    async def probe(env: str) -> None:
        async with gate.hold(env, f"probe in {env}", wait_s=5):
            started = time.perf_counter()
            await asyncio.sleep(0.05)
            windows[env].append((started, time.perf_counter()))

    await asyncio.gather(probe("staging"), probe("staging"), probe("qa"))
    (a_start, a_end), (b_start, b_end) = sorted(windows["staging"])
    assert b_start >= a_end  # one after the other
    qa_start, qa_end = windows["qa"][0]
    assert qa_start < a_end  # another environment does not wait


async def test_a_busy_gate_says_who_holds_it() -> None:
    gate = LocalGate()
    async with gate.hold("staging", "check 'api-load' of run r1", wait_s=1):
        with pytest.raises(CheckError) as busy:
            async with gate.hold("staging", "check 'other' of run r2", wait_s=0.05):
                pass  # pragma: no cover
    assert "check 'api-load' of run r1" in busy.value.message
    assert "'staging'" in busy.value.message
    async with gate.hold("staging", "after", wait_s=0.05):  # released
        pass


class ExclusiveParams(KindParams):
    seconds: float = 0.2


class ExclusiveCheck(CheckKind[ExclusiveParams]):
    """A stand-in probe: records when it ran."""

    Params = ExclusiveParams
    windows: list[tuple[str, float, float]] = []

    async def run(self, params: ExclusiveParams, ctx: CheckContext) -> Outcome:
        started = time.perf_counter()
        await asyncio.sleep(params.seconds)
        self.windows.append((ctx.check_id, started, time.perf_counter()))
        return Outcome.ok("sent")

    def exclusive_group(self, params: ExclusiveParams) -> str:
        return "traffic"


async def test_a_runs_probes_take_turns_and_each_timeout_starts_at_its_turn(
        tmp_path: Path) -> None:
    register_kind("test.exclusive", ExclusiveCheck())
    ExclusiveCheck.windows = []
    path = tmp_path / "smoke.yaml"
    # Three probes of 0.2 s with a 0.3 s timeout each: together they pass only if each one's
    # clock starts when it gets its turn.
    path.write_text("""\
suite: turns
environments: {staging: {}}
categories:
  - name: Load
    checks:
      - {id: a, type: test.exclusive, timeout: 0.3s}
      - {id: b, type: test.exclusive, timeout: 0.3s}
      - {id: c, type: test.exclusive, timeout: 0.3s}
      - {id: other, type: http, url: "http://127.0.0.1:9/", timeout: 1s}
""")
    result = await run_plan(build_plan(load_suite(path), "staging"))
    assert [r.status for r in result.results[:3]] == [Status.PASS] * 3
    windows = sorted(ExclusiveCheck.windows, key=lambda w: w[1])
    for (_, _, first_end), (_, second_start, _) in zip(windows, windows[1:]):
        assert second_start >= first_end
