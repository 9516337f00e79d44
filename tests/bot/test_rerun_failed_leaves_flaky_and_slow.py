"""*Re-run failed* re-runs the checks that failed or could not run, never a flaky or slow one
(they passed); a run with nothing but those has nothing to re-run. Against this machine's
PostgreSQL and Redis and the Slack emulator."""

from __future__ import annotations

from bot.records import Run, RunRequest, TriggerKind
from bot.reruns import request_rerun
from bot.services import Services
from bot.slack import render
from checks.results import CheckResult, Severity, Status
from tests.bot.services_support import CHANNEL

ALICE = "U0HUMAN001"


async def _ended_run(services: Services, statuses: dict[str, Status]) -> Run:
    run = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    for check_id, status in statuses.items():
        await services.store.save_result(run.id, CheckResult(
            check_id=check_id, name=check_id, category="Health", kind="http",
            severity=Severity.CRITICAL, status=status, summary="-"))
    await services.store.mark_interrupted(run.id, "its worker stopped")
    return run


async def test_rerun_failed_leaves_the_flaky_and_slow_checks_out(services: Services) -> None:
    original = await _ended_run(services, {"health": Status.FLAKY, "version": Status.FAIL,
                                           "pricing": Status.SLOW})

    await request_rerun(services, original.id, only_failed=True, user=ALICE, channel=CHANNEL)

    [rerun] = await services.store.active_runs()
    assert rerun.filters == ("version",)


async def test_a_run_whose_only_remarks_are_flaky_and_slow_has_nothing_to_rerun(
        services: Services) -> None:
    original = await _ended_run(services, {"health": Status.FLAKY, "pricing": Status.SLOW})

    reply = await request_rerun(services, original.id, only_failed=True, user=ALICE,
                                channel=CHANNEL)

    assert reply == render.render_error("Nothing failed in that run; use Re-run all.")
    assert await services.store.active_runs() == []
