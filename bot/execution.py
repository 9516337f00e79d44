"""Executing one stored run in a worker: plan it from the suite, run it with live Slack
progress, store every result as it finishes, then post the verdict and the failures."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from uuid import UUID

from bot.deploys import with_rollout_wait
from bot.services import Services
from bot.slack import render
from bot.slack.delivery import LiveRun
from bot.store import Run, TriggerKind
from checks.errors import SmokebotError
from checks.plan import RunPlan, build_plan
from checks.report import render_markdown
from checks.results import CheckResult, RunResult
from checks.runner import CheckFinished, RunEvent, run_plan

__all__ = ["execute_run", "run_view"]

log = logging.getLogger("smokebot.worker")


def run_view(run: Run, *, total: int, categories: tuple[str, ...],
             results: tuple[CheckResult, ...] = (), mention: str | None = None) -> render.RunView:
    deploy = run.deploy
    trigger = run.trigger_detail or run.trigger_kind.value
    if run.requested_by and run.trigger_kind is TriggerKind.SLASH:
        trigger = f"{trigger} by <@{run.requested_by}>"
    return render.RunView(
        run_id=str(run.id), environment=run.environment, status=run.status.value,
        trigger=trigger, requested_by=run.requested_by,
        version=deploy.version if deploy else None, commit=deploy.commit if deploy else None,
        ref=deploy.ref if deploy else None, deployer=deploy.deployer if deploy else None,
        deploy_url=(deploy.link or deploy.url) if deploy else None,
        total=total, results=results, categories=categories,
        started_at=run.started_at, finished_at=run.finished_at,
        superseded_by=str(run.superseded_by) if run.superseded_by else None,
        mention=mention, interrupted_reason=run.status_reason)


async def execute_run(run_id: str, services: Services, *, worker_id: str = "worker",
                      cancel: asyncio.Event | None = None) -> Run | None:
    """Runs a queued run once. Returns the finished run, or None when the run was not
    queued any more (cancelled, superseded, or already taken by another worker). The worker
    (bot/worker.py) releases the environment's claim however the run ends."""
    store = services.store
    run = await store.mark_running(UUID(run_id), worker_id)
    if run is None:
        log.info("run %s is not queued any more; nothing to do", run_id)
        return None
    try:
        suite = services.suites.current()
        plan = build_plan(suite, run.environment, only=list(run.filters),
                          deploy=run.deploy.as_variables() if run.deploy else None,
                          # The process-wide redactor, which the worker's log handlers use:
                          # httpx logs each request's URL, a secret in its query included.
                          redactor=services.redactor)
        if run.deploy is not None:
            plan = with_rollout_wait(plan)
    except SmokebotError as exc:
        text = services.redactor.redact(exc.render())
        ended = await store.mark_error(run.id, f"the suite could not be planned: {text}")
        # Nothing was posted yet: without this, a deploy's run would end unseen in Slack.
        from bot.slack.announce import announce_ended  # announce imports this module
        await announce_ended(services, run.id)
        return ended
    mention = suite.environments[run.environment].slack.mention_on_failure \
        if run.deploy else None
    live = LiveRun(services, run, run_view(run, total=len(plan.checks),
                                            categories=plan.categories, mention=mention))
    await live.start()
    result = await _run_with_progress(services, run, plan, live, cancel)
    # None when the run was ended meanwhile (superseded, cancelled): show how it ended.
    finished = await store.finish_run(run.id, result) or await store.get_run(run.id) or run
    final = run_view(finished, total=len(plan.checks), categories=plan.categories,
                     results=result.results, mention=mention)
    replies = await _failure_replies(services, run, result)
    markdown = render_markdown(result, plan.redactor,
                               descriptions={c.id: c.description for c in plan.checks})
    await live.finish(final, replies=replies, report_markdown=markdown)
    return finished


async def _run_with_progress(services: Services, run: Run, plan: RunPlan, live: LiveRun,
                             cancel: asyncio.Event | None) -> RunResult:
    saving: list[asyncio.Task[None]] = []

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckFinished):
            live.on_result(event.result)
            saving.append(asyncio.ensure_future(services.store.save_result(run.id, event.result)))

    version = run.deploy.version if run.deploy else None
    result = await run_plan(plan, on_event=on_event, cancel=cancel, version=version,
                            trigger=run.trigger_detail or run.trigger_kind.value)
    await asyncio.gather(*saving, return_exceptions=True)  # finish_run stores them all anyway
    return result


async def _failure_replies(services: Services, run: Run,
                           result: RunResult) -> list[tuple[CheckResult, render.KnownState | None]]:
    problems = result.problems()
    if not problems:
        return []
    now = datetime.now(timezone.utc)
    acks = {a.check_id: a for a in await services.store.active_acknowledgements(
        run.environment, now)}
    previous = await services.store.previous_failures(
        run.environment, [p.check_id for p in problems], run.id)
    return [(p, render.known_state(acks.get(p.check_id), previous.get(p.check_id)))
            for p in problems]

