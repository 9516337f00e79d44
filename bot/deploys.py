"""Deploy-triggered runs: which smokebot environment a deploy is for, the run it starts, the
coalescing of deploys that arrive in quick succession, and the optional wait for the Kubernetes
rollout before the checks start.

Coalescing: deploys of one environment within its `coalesce_window` run only the newest. A new
deploy run supersedes every older active run of the environment, whatever triggered it (they
test what is no longer deployed): queued ones are marked superseded, a running one is also asked
to stop through the queue's cancel flag. The new run is queued only when the window has passed,
so a burst of deploys starts one run. "Newer" is the order of the runs' `created_at` (the
database's clock), ties broken by id; each deploy run compares itself with the others after its
own row is committed, so of two runs created concurrently the later check sees both, and
exactly one survives. A superseded run is never executed: the worker's `mark_running` refuses a
run that is not queued.

A deploy run also takes the environment's claim in the queue, so that `/smoketest ENV` during
the window or the run joins it instead of starting another.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from bot.errors import DuplicateRun, QueueUnavailable, StoreError
from bot.runs import CLAIM_TTL_S
from bot.services import Services
from bot.store import Run, RunRequest, RunStatus, TriggerKind, WebhookSource
from bot.webhooks.notice import DeployNotice
from checks.config import CategorySpec, CheckSpec, Suite
from checks.errors import UsageError
from checks.kinds import load_kind
from checks.plan import PlannedCheck, RunPlan, interpolate

__all__ = ["ENQUEUE_PATIENCE_S", "ROLLOUT_CATEGORY", "ROLLOUT_CHECK_ID", "SupersededHook", "coalesce_window",
           "deploy_run_request", "find_environment", "flush_scheduled_enqueues",
           "scheduled_enqueues", "start_deploy_run", "trigger_deploy_run", "with_rollout_wait"]

log = logging.getLogger("smokebot.deploys")

SupersededHook = Callable[[UUID], Awaitable[None]]
ROLLOUT_CHECK_ID = "deploy.rollout"
ROLLOUT_CATEGORY = "Deploy"
_ROLLOUT_MARGIN_S = 15.0  # the check's own timeout beyond the wait: the last API calls
_CLAIM_ATTEMPTS = 5
ENQUEUE_PATIENCE_S = 60.0  # how long a run waits for Redis to come back before it errors

# Runs waiting out their coalescing window in this process; kept so they are not collected.
_scheduled: dict[asyncio.Task[None], Run] = {}


# --- mapping ------------------------------------------------------------------------------------

def find_environment(suite: Suite, source: WebhookSource, name: str) -> str | None:
    """The environment whose `deploy:` mapping names `name` for `source`; the first in file
    order if several do. An environment without `deploy:` is never run by a webhook."""
    for env_name, env in suite.environments.items():
        mapping = env.deploy
        if mapping is None:
            continue
        names = {WebhookSource.GITHUB: mapping.github, WebhookSource.ARGOCD: mapping.argocd,
                 WebhookSource.DEPLOY: (mapping.generic if mapping.generic is not None
                                        else [env_name])}[WebhookSource(source)]
        if name in names:
            return env_name
    return None


def coalesce_window(suite: Suite, environment: str) -> float:
    mapping = suite.environments[environment].deploy
    return mapping.coalesce_window if mapping is not None else 0.0


def deploy_run_request(suite: Suite, environment: str, notice: DeployNotice) -> RunRequest:
    """The run a deploy asks for: the whole suite, posted to the environment's channel."""
    return RunRequest(
        environment=environment, trigger_kind=TriggerKind.WEBHOOK,
        trigger_detail=notice.description, requested_by=notice.deployer,
        channel=suite.environments[environment].slack.channel, deploy=notice.facts(),
        suite=suite.suite, idempotency_key=notice.idempotency_key)


# --- triggering and coalescing -------------------------------------------------------------------

async def trigger_deploy_run(services: Services, notice: DeployNotice, environment: str, *,
                             on_superseded: SupersededHook | None = None) -> Run:
    """Creates the deploy's run (or returns the one this notice already created), supersedes
    older runs of the environment and queues it after the coalescing window. Raises
    UsageError for an environment the suite does not have."""
    suite = services.suites.current()
    if environment not in suite.environments:
        raise UsageError(f"unknown environment '{environment}'; expected one of: "
                         f"{', '.join(suite.environments)}")
    try:
        run = await services.store.create_run(deploy_run_request(suite, environment, notice))
    except DuplicateRun as exc:
        return exc.existing
    await start_deploy_run(services, run, window_s=coalesce_window(suite, environment),
                           on_superseded=on_superseded)
    return run


async def start_deploy_run(services: Services, run: Run, *, window_s: float,
                           on_superseded: SupersededHook | None = None) -> None:
    """Coalesces `run` (just created and committed) with the environment's other runs, then
    queues it after `window_s` unless a newer deploy supersedes it meanwhile.

    Raises nothing for the run's sake: the run is recorded, so if PostgreSQL or Redis fails
    while coalescing, it runs uncoalesced rather than not at all."""
    try:
        if not await _coalesce(services, run, on_superseded):
            return
        if not await _claim(services, run, on_superseded):
            return
    except (StoreError, QueueUnavailable) as exc:
        log.warning("deploy run %s not coalesced (%s); queuing it anyway", run.id, exc.render())
    task = asyncio.create_task(_enqueue_after(services, run, window_s),
                               name=f"smokebot-deploy-enqueue-{run.id}")
    _scheduled[task] = run
    task.add_done_callback(lambda done: _scheduled.pop(done, None))


def scheduled_enqueues() -> list[asyncio.Task[None]]:
    """This event loop's runs still waiting out their window (for tests)."""
    loop = asyncio.get_running_loop()
    return [task for task in list(_scheduled) if task.get_loop() is loop]


async def flush_scheduled_enqueues(services: Services) -> list[UUID]:
    """Queues at once the runs of this event loop still waiting out their window, and returns
    their ids: for a web process shutting down, so that no deploy is left in the store as
    queued with no job to run it."""
    loop = asyncio.get_running_loop()
    waiting = [(task, run) for task, run in list(_scheduled.items())
               if task.get_loop() is loop and not task.done()]
    for task, _ in waiting:
        task.cancel()
    await asyncio.gather(*(task for task, _ in waiting), return_exceptions=True)
    flushed = []
    for _, run in waiting:
        current = await services.store.get_run(run.id)
        if current is not None and current.status is RunStatus.QUEUED:
            await services.queue.enqueue(str(run.id), run.environment)  # a duplicate is a no-op
            flushed.append(run.id)
    return flushed


def _order(run: Run) -> tuple[Any, str]:
    return (run.created_at, str(run.id))


def _reason(by: Run) -> str:
    deploy = by.deploy
    what = (deploy.version or deploy.commit) if deploy else None
    of = f" of {what}" if what else ""
    return f"superseded by a newer deploy{of} (run {by.id})"


async def _coalesce(services: Services, run: Run, on_superseded: SupersededHook | None) -> bool:
    """False when `run` itself was superseded by a newer run of its environment."""
    store = services.store
    for ended in await store.supersede_queued(run.environment, run.id, reason=_reason(run)):
        await _ended(services, ended, on_superseded, was_queued=True)
    active = await store.active_runs(run.environment)
    newer = [other for other in active if _order(other) > _order(run)]
    if newer:
        await _supersede(services, run, max(newer, key=_order), on_superseded)
        return False
    for other in active:
        if other.id != run.id:  # older: running ones, and queued ones created in the same tick
            await _supersede(services, other, run, on_superseded)
    return True


async def _claim(services: Services, run: Run, on_superseded: SupersededHook | None) -> bool:
    """Takes the environment's claim for `run`, taking it over from any older run. False when
    the holder turned out to be newer, and superseded `run`."""
    queue, store, me = services.queue, services.store, str(run.id)
    for _ in range(_CLAIM_ATTEMPTS):
        holder = await queue.claim_environment(run.environment, me, CLAIM_TTL_S)
        if holder is None or holder == me:
            return True
        held = await store.get_run(holder)
        if held is not None and held.is_active:
            if _order(held) > _order(run):
                await _supersede(services, run, held, on_superseded)
                return False
            await _supersede(services, held, run, on_superseded)
        await queue.release_environment(run.environment, holder)
    # Several runs kept taking it: this one still runs, slash commands just will not join it.
    log.warning("deploy run %s could not take the claim on %s", run.id, run.environment)
    return True


async def _supersede(services: Services, old: Run, by: Run,
                     on_superseded: SupersededHook | None) -> None:
    if old.status is RunStatus.RUNNING:
        await _best_effort(services.queue.request_cancel(str(old.id)), "ask run %s to stop",
                           old.id)
    ended = await services.store.mark_superseded(old.id, by.id, reason=_reason(by))
    if ended is not None:
        await _ended(services, ended, on_superseded, was_queued=old.status is RunStatus.QUEUED)


async def _ended(services: Services, run: Run, on_superseded: SupersededHook | None, *,
                 was_queued: bool) -> None:
    log.info("run %s of %s superseded by run %s", run.id, run.environment, run.superseded_by)
    if was_queued:  # a job already in the queue would only be refused by the worker
        await _best_effort(services.queue.withdraw(str(run.id), run.status_reason or
                                                   "superseded"), "withdraw run %s", run.id)
    await _notify(on_superseded, run.id)


async def _best_effort(call: Awaitable[Any], what: str, *args: Any) -> None:
    # The store already says superseded, which the worker heeds (its heartbeat fails, and
    # mark_running refuses): Redis only makes it quicker.
    try:
        await call
    except QueueUnavailable as exc:
        log.warning("could not " + what + ": %s", *args, exc.render())


async def _notify(hook: SupersededHook | None, run_id: UUID) -> None:
    if hook is None:
        return
    try:
        await hook(run_id)
    except Exception:  # telling Slack is best effort: the store already says superseded
        log.exception("on_superseded hook failed for run %s", run_id)


async def _enqueue_after(services: Services, run: Run, window_s: float) -> None:
    """Queues the run once its window has passed, if it is still queued; waits out a short
    Redis or PostgreSQL outage, then gives the run up as an error (never silently)."""
    await asyncio.sleep(window_s)
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + ENQUEUE_PATIENCE_S
    delay = 0.2
    while True:
        try:
            current = await services.store.get_run(run.id)
            if current is None or current.status is not RunStatus.QUEUED:
                return  # superseded (or cancelled) while it waited
            await services.queue.enqueue(str(run.id), run.environment)
            return
        except (StoreError, QueueUnavailable) as exc:
            if loop.time() >= give_up_at:
                log.error("deploy run %s could not be queued: %s", run.id, exc.render())
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
    try:
        await services.store.mark_error(
            run.id, f"the run could not be queued within {ENQUEUE_PATIENCE_S:g} s: the run "
                    f"queue (Redis) or the history store was unavailable")
        await services.queue.release_environment(run.environment, str(run.id))
    except (StoreError, QueueUnavailable) as exc:
        log.error("deploy run %s left queued: %s", run.id, exc.render())


# --- waiting for the rollout ---------------------------------------------------------------------

def with_rollout_wait(plan: RunPlan) -> RunPlan:
    """`plan` with a `k8s.rollout` check first that every other check depends on, when the
    environment's `deploy.wait_for_rollout` asks for it; else `plan` unchanged. A rollout that
    does not complete in time fails that check, and the others are reported as skipped."""
    env = plan.suite.environments[plan.environment]
    wait = env.deploy.wait_for_rollout if env.deploy is not None else None
    if wait is None:
        return plan
    taken = {check.id for _, _, _, check in plan.suite.all_checks()}
    check_id = ROLLOUT_CHECK_ID
    while check_id in taken:
        check_id += "-wait"
    deployment = str(interpolate(wait.deployment, plan.variables))
    namespace = interpolate(wait.namespace, plan.variables) if wait.namespace else None
    params: dict[str, Any] = {"deployment": deployment, "wait": wait.timeout}
    if namespace:
        params["namespace"] = str(namespace)
    kind = load_kind("k8s.rollout")
    validated = kind.Params.model_validate(params)
    spec = CheckSpec(id=check_id, name=f"Rollout of {deployment} complete", type="k8s.rollout",
                     timeout=wait.timeout + _ROLLOUT_MARGIN_S, retries=0, **params)
    rollout = PlannedCheck(spec=spec, category=ROLLOUT_CATEGORY, kind=kind, params=validated,
                           timeout=wait.timeout + _ROLLOUT_MARGIN_S, retries=0,
                           retry_backoff=plan.suite.defaults.retry_backoff,
                           description=plan.redactor.redact(kind.describe(validated)))
    others = [dataclasses.replace(check, spec=check.spec.model_copy(
        update={"depends_on": [*check.spec.depends_on, check_id]})) for check in plan.checks]
    # The check goes into the plan's own copy of the suite, so reports list its category first.
    categories = [CategorySpec(name=ROLLOUT_CATEGORY, checks=[spec])]
    for category in plan.suite.categories:
        if category.name == ROLLOUT_CATEGORY:  # the suite has one of that name: join it
            categories[0] = category.model_copy(update={"checks": [spec, *category.checks]})
        else:
            categories.append(category)
    suite = plan.suite.model_copy(update={"categories": categories})
    return dataclasses.replace(plan, suite=suite, checks=[rollout, *others])
