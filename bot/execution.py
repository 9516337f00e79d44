"""Executing one stored run in a worker: plan it from the suite, run it with live Slack
progress, store every result as it finishes, then end the run together with the messages it
owes Slack (one transaction). Sending those is the deliverer's job (bot/slack/delivery.py),
which the worker calls after the run, outside its supervision: a finished run's delivery is
never cancelled."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from datetime import datetime, timezone
from uuid import UUID

from bot.deploys import with_rollout_wait
from bot.records import OutboxMessage, Run, TriggerKind
from bot.services import Services
from bot.slack import render
from bot.slack.announce import announce_ended
from bot.slack.live import LiveRun
from bot.slack.outgoing import EndingContext, ending_messages, run_view
from bot.traffic_gate import RedisTrafficGate
from checks.errors import SmokebotError
from checks.plan import RunPlan, build_plan
from checks.report import render_markdown
from checks.results import CheckResult, RunResult, Status
from checks.runner import CheckFinished, CheckProgress, RunEvent, run_plan

__all__ = ["execute_run"]

log = logging.getLogger("smokebot.worker")
# A person asked from Slack: in production their run's traffic probes need the confirmation.
_PERSON_TRIGGERS = frozenset({TriggerKind.SLASH, TriggerKind.BUTTON, TriggerKind.MENTION})


async def execute_run(run_id: str, services: Services, *, worker_id: str = "worker",
                      cancel: asyncio.Event | None = None) -> Run | None:
    """Runs a queued run once. Returns the finished run, or None when the run was not
    queued any more (cancelled, superseded, or already taken by another worker)."""
    store = services.store
    run = await store.mark_running(UUID(run_id), worker_id)
    if run is None:
        log.info("run %s is not queued any more; nothing to do", run_id)
        return None
    try:
        suite = await services.suites.refresh()  # an edit made just before is run
        plan = build_plan(suite, run.environment, only=list(run.filters),
                          deploy=run.deploy.as_variables() if run.deploy else None,
                          # The process-wide redactor, which the worker's log handlers use:
                          # httpx logs each request's URL, a secret in its query included.
                          redactor=services.redactor,
                          # ${run.id}: what a check tags its objects with is the bot's run
                          run_id=str(run.id))
        if run.deploy is not None:
            plan = with_rollout_wait(plan)
        plan = _with_traffic_gate(services, run, plan)
    except SmokebotError as exc:
        text = services.redactor.redact(exc.render())
        ended = await store.mark_error(run.id, f"the suite could not be planned: {text}")
        services.metrics.record_run_ended(ended)
        # Nothing was posted yet: without this, a deploy's run would end unseen in Slack.
        await announce_ended(services, run.id)
        return ended
    mention = suite.environments[run.environment].slack.failure_mention(_mention_trigger(run))
    live = LiveRun(services, run, run_view(run, total=len(plan.checks),
                                            categories=plan.categories, mention=mention))
    await live.start()
    try:
        result = await _run_with_progress(services, run, plan, live, cancel)
    finally:
        await live.stop()
    context = await _ending_context(services, run, plan, result, live, mention)

    def messages(ended: Run) -> list[OutboxMessage]:
        return ending_messages(ended, context) if context is not None else []

    # None when the run was ended meanwhile (superseded, cancelled): its messages say so.
    ended = await store.finish_run(run.id, result, messages=messages)
    services.metrics.record_run_finished(run, result, ended)
    return ended


def _with_traffic_gate(services: Services, run: Run, plan: RunPlan) -> RunPlan:
    """The plan's traffic probes wait for every other worker's (and CLI's) probe of the
    environment through Redis, and know whether a person started the run from Slack and
    confirmed it."""
    if plan.traffic is None:
        return plan
    traffic = dataclasses.replace(
        plan.traffic, gate=RedisTrafficGate.for_queue(services.queue),
        needs_confirmation=run.trigger_kind in _PERSON_TRIGGERS, confirmed=run.confirmed)
    return dataclasses.replace(plan, traffic=traffic)


def _mention_trigger(run: Run) -> str:
    """What started the run, as the suite's `mention_on_failure.triggers` names it."""
    if run.deploy is not None or run.trigger_kind is TriggerKind.WEBHOOK:
        return "deploy"
    if run.rerun_of is not None:
        return "rerun"
    return run.trigger_kind.value  # "slash"; a CLI run's is in no list


async def _run_with_progress(services: Services, run: Run, plan: RunPlan, live: LiveRun,
                             cancel: asyncio.Event | None) -> RunResult:
    saving: list[asyncio.Task[None]] = []

    def on_event(event: RunEvent) -> None:
        if isinstance(event, CheckProgress):
            live.on_progress(event.check.id, event.text)  # shown at the next summary edit
        elif isinstance(event, CheckFinished):
            live.on_result(event.result)
            saving.append(asyncio.ensure_future(services.store.save_result(run.id, event.result)))

    version = run.deploy.version if run.deploy else None
    result = await run_plan(plan, on_event=on_event, cancel=cancel, version=version,
                            trigger=run.trigger_detail or run.trigger_kind.value)
    await asyncio.gather(*saving, return_exceptions=True)  # finish_run stores them all anyway
    return result


async def _ending_context(services: Services, run: Run, plan: RunPlan, result: RunResult,
                          live: LiveRun, mention: str | None) -> EndingContext | None:
    """None when nothing can be posted (no channel, or the bot cannot post there)."""
    if live.channel is None or live.channel_problem:
        return None
    known = await _known_states(services, run, result)
    markdown = render_markdown(result, plan.redactor,
                               descriptions={c.id: c.description for c in plan.checks})
    return EndingContext(
        channel=live.channel, reply_under=live.reply_under, total=len(plan.checks),
        categories=plan.categories, results=result.results, known=known, mention=mention,
        report_markdown=markdown,
        report_filename=f"smoke-{run.environment}-{str(run.id)[:8]}.md",
        report_title=f"Smoke test report: {run.environment}",
        read_version=result.version if result.version_from else None,
        run_url=live.view.run_url)


async def _known_states(services: Services, run: Run,
                        result: RunResult) -> dict[str, render.KnownState | None]:
    """For each problem of the run: acknowledged, still failing since an earlier run, or new;
    for each flaky check (it gets a thread reply too): how often it was flaky in the
    environment's latest runs, this one included, which a problem says too if it was."""
    problems: list[CheckResult] = result.problems()
    flaky = [r for r in result.results if r.status is Status.FLAKY]
    if not problems and not flaky:
        return {}
    lately = await services.store.flaky_history(
        run.environment, [r.check_id for r in problems + flaky], through_run_id=run.id)
    states: dict[str, render.KnownState | None] = {
        r.check_id: render.KnownState.of_flaky(lately.get(r.check_id)) for r in flaky}
    if not problems:
        return states
    now = datetime.now(timezone.utc)
    acks = {a.check_id: a for a in await services.store.active_acknowledgements(
        run.environment, now)}
    previous = await services.store.previous_failures(
        run.environment, [p.check_id for p in problems], run.id)
    linked = any(p.channel and p.thread_ts for p in previous.values())
    workspace = await services.workspace_url() if linked else None
    return {**states, **{p.check_id: render.known_state(
        acks.get(p.check_id), previous.get(p.check_id), workspace_url=workspace,
        flaky=lately.get(p.check_id)) for p in problems}}
