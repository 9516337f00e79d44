"""What the runner shares across a run's checks: one `RunResources`, closed when the run ends
(cancelled or not), and one redactor whose late secrets reach earlier results, while a result
is not redacted again when no secret came since."""

from __future__ import annotations

import asyncio
from typing import Any

import yaml

from checks.config import parse_suite
from checks.kinds import register_kind
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.plan import RunPlan, build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from checks.yamlsource import load_yaml

LATE_SECRET = "tok_LATE0123456789"


class Counter:
    """A run-scoped resource: how many checks used it, and whether the run closed it."""

    made = 0

    def __init__(self) -> None:
        Counter.made += 1
        self.uses = 0
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True


class UseParams(KindParams):
    seconds: float = 0.0
    says: str = "used it"
    registers: str | None = None


class UseCheck(CheckKind[UseParams]):
    Params = UseParams

    def __init__(self) -> None:
        self.seen: list[Counter] = []

    async def run(self, params: UseParams, ctx: CheckContext) -> Outcome:
        assert ctx.resources is not None
        counter = ctx.resources.get(Counter)
        counter.uses += 1
        self.seen.append(counter)
        if params.registers:
            ctx.redactor.register(params.registers)
        await asyncio.sleep(params.seconds)
        return Outcome.ok(params.says)


class CountingRedactor(Redactor):
    def __init__(self) -> None:
        super().__init__()
        self.redacted: list[str] = []

    def redact(self, text: str) -> str:
        self.redacted.append(text)
        return super().redact(text)


def _plan(checks: list[dict[str, Any]], redactor: Redactor | None = None) -> RunPlan:
    kind = UseCheck()
    register_kind("test.use", kind)
    suite = {"environments": {"local": {}},
             "categories": [{"name": "All", "checks": [{"type": "test.use", **c}
                                                       for c in checks]}]}
    text = yaml.safe_dump(suite, sort_keys=False)
    plan = build_plan(parse_suite(load_yaml(text, "smoketest.yaml")), "local", redactor=redactor)
    plan.checks[0].kind.seen.clear()  # type: ignore[attr-defined]
    return plan


def _seen(plan: RunPlan) -> list[Counter]:
    return plan.checks[0].kind.seen  # type: ignore[attr-defined, no-any-return]


async def test_every_check_of_a_run_shares_one_resource_and_the_run_closes_it() -> None:
    plan = _plan([{"id": f"c{i}"} for i in range(5)])
    made_before = Counter.made

    await run_plan(plan)

    seen = _seen(plan)
    assert Counter.made - made_before == 1
    assert len(seen) == 5 and len({id(counter) for counter in seen}) == 1
    assert seen[0].uses == 5 and seen[0].closed


async def test_each_run_gets_resources_of_its_own() -> None:
    plan = _plan([{"id": "only"}])

    await run_plan(plan)
    await run_plan(plan)

    first, second = _seen(plan)
    assert first is not second and first.closed and second.closed


async def test_a_cancelled_run_still_closes_its_resources() -> None:
    plan = _plan([{"id": "quick"}, {"id": "slow", "seconds": 30}])
    cancel = asyncio.Event()

    async def stop_soon() -> None:
        await asyncio.sleep(0.05)
        cancel.set()

    stopper = asyncio.ensure_future(stop_soon())
    result = await run_plan(plan, cancel=cancel)
    await stopper

    assert result.cancelled
    assert all(counter.closed for counter in _seen(plan))


async def test_a_secret_registered_by_a_later_check_is_redacted_from_an_earlier_result() -> None:
    plan = _plan([{"id": "reads", "says": f"saw {LATE_SECRET}"},
                  {"id": "learns", "registers": LATE_SECRET, "depends_on": ["reads"]}])

    result = await run_plan(plan)

    reads = result.results[0]
    assert reads.status is Status.PASS
    assert LATE_SECRET not in reads.summary
    assert reads.summary.startswith("saw [redacted")


async def test_a_result_is_redacted_once_when_no_secret_came_after_it() -> None:
    redactor = CountingRedactor()
    redactor.register("tok_KNOWN0123456789")  # registered before the run: nothing comes later
    plan = _plan([{"id": f"c{i}", "says": f"summary {i}"} for i in range(3)], redactor)

    await run_plan(plan)

    assert sorted(text for text in redactor.redacted if text.startswith("summary")) == [
        "summary 0", "summary 1", "summary 2"]
