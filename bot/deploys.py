"""Deploy-triggered runs: which smokebot environment a deploy is for, the run it starts, the
coalescing of deploys that arrive in quick succession, and the optional wait for the Kubernetes
rollout before the checks start.

Coalescing: deploys of one environment within its `coalesce_window` run only the newest. The
store records a deploy's run and supersedes every active run of the environment by it, whatever
triggered them (they test what is no longer deployed), in one transaction under the
environment's lock (`Store.start_superseding`; a webhook delivery does the same inside its own
transaction): of deploys arriving together, each supersedes those before it, and exactly one
survives. Here a superseded run's job is withdrawn if it was queued, or its worker asked to stop
through the queue's cancel flag if it was running, and Slack is told (`on_superseded`). A
superseded run is never executed: the worker's `mark_running` refuses a run that is not queued.

The new run is queued at once as a job scheduled for the end of the window, so a burst of
deploys starts one run, and a restart of the web process loses none (the job waits in Redis).
While it waits, and while it runs, it is the environment's active run: `/smoketest ENV` joins it.

The run owes its verdict to the deploy's source when the source can be told (a GitHub deployment
with SMOKEBOT_GITHUB_TOKEN set, a generic webhook's callback_url): the report is recorded with
the run (`RunRequest.report_to`) and sent once the run ends (bot/report_back/).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from bot.errors import DuplicateRun, QueueUnavailable, StoreError
from bot.records import ReportTarget
from bot.report_back.reporters import owed_report
from bot.services import Services
from bot.store import Run, RunRequest, TriggerKind
from bot.webhooks.notice import DeployNotice
from bot.webhooks.sources import source_named
from checks.config import CategorySpec, CheckSpec, Suite
from checks.errors import UsageError
from checks.kinds import load_kind
from checks.plan import PlannedCheck, RunPlan, interpolate

__all__ = ["ROLLOUT_CATEGORY", "ROLLOUT_CHECK_ID", "SupersededHook", "coalesce_window",
           "deploy_run_request", "find_environment", "start_deploy_run", "trigger_deploy_run",
           "with_rollout_wait"]

log = logging.getLogger("smokebot.deploys")
MIN_SCHEDULED_WINDOW_S = 1.0

SupersededHook = Callable[[UUID], Awaitable[None]]
ROLLOUT_CHECK_ID = "deploy.rollout"
ROLLOUT_CATEGORY = "Deploy"
_ROLLOUT_MARGIN_S = 15.0  # the check's own timeout beyond the wait: the last API calls


# --- mapping ------------------------------------------------------------------------------------

def find_environment(suite: Suite, source: str, name: str) -> str | None:
    """The environment whose `deploy:` mapping names `name` under the key of the deploy source
    named `source`; the first in file order if several do. An environment without `deploy:` is
    never run by a webhook; one without the source's key is run by none of its names, unless
    the source defaults to the environment's own name (GitHub and the generic webhook; `github:
    []` opts out)."""
    found = source_named(source)
    for env_name, env in suite.environments.items():
        if env.deploy is None:
            continue
        names = env.deploy.names_for(found.mapping_key)
        if names is None:
            names = [env_name] if found.own_name_by_default else []
        if name in names:
            return env_name
    return None


def coalesce_window(suite: Suite, environment: str) -> float:
    mapping = suite.environments[environment].deploy
    return mapping.coalesce_window if mapping is not None else 0.0


def deploy_run_request(suite: Suite, environment: str, notice: DeployNotice, *,
                       report_to: ReportTarget | None = None) -> RunRequest:
    """The run a deploy asks for: the whole suite, posted to the environment's channel, its
    verdict reported to `report_to` (`owed_report`: the notice's target, if it can be told)."""
    return RunRequest(
        environment=environment, trigger_kind=TriggerKind.WEBHOOK,
        trigger_detail=notice.description, requested_by=notice.deployer,
        channel=suite.environments[environment].slack.channel, deploy=notice.facts(),
        suite=suite.suite, idempotency_key=notice.idempotency_key, report_to=report_to)


# --- triggering and coalescing -------------------------------------------------------------------

async def trigger_deploy_run(services: Services, notice: DeployNotice, environment: str, *,
                             on_superseded: SupersededHook | None = None) -> Run:
    """Records the deploy's run (or returns the one this notice already created), superseding
    the environment's active runs, and queues it for the end of the coalescing window. Raises
    UsageError for an environment the suite does not have."""
    suite = services.suites.current()
    if environment not in suite.environments:
        raise UsageError(f"unknown environment '{environment}'; expected one of: "
                         f"{', '.join(suite.environments)}")
    try:
        started = await services.store.start_superseding(deploy_run_request(
            suite, environment, notice, report_to=owed_report(services.settings, notice)))
    except DuplicateRun as exc:
        return exc.existing
    await start_deploy_run(services, started.run, window_s=coalesce_window(suite, environment),
                           on_superseded=on_superseded, superseded=started.superseded)
    return started.run


async def start_deploy_run(services: Services, run: Run, *, window_s: float,
                           on_superseded: SupersededHook | None = None,
                           superseded: tuple[Run, ...] | None = None) -> None:
    """Queues `run`, just recorded by the store's supersede-and-insert, to start once
    `window_s` has passed, then tidies after the runs it superseded (`superseded`, or those
    the store says it superseded when not given: a webhook delivery recorded the run).

    Raises nothing for the run's sake: the run is recorded. If Redis is down, it stays queued
    in the store and the reaper queues it once Redis is back (`requeue_lost`)."""
    # The queue schedules to the second: a shorter window would only add up to two seconds
    # of waiting. Such a run is queued at once; a newer deploy still supersedes it (before it
    # starts, or by stopping it).
    not_before = time.time() + window_s if window_s >= MIN_SCHEDULED_WINDOW_S else None
    try:
        await services.queue.enqueue(str(run.id), run.environment, not_before_s=not_before)
    except QueueUnavailable as exc:
        log.warning("deploy run %s not queued (%s); the reaper queues it when Redis is back",
                    run.id, exc.render())
    if superseded is None:
        try:
            superseded = tuple(await services.store.runs_superseded_by(run.id))
        except StoreError as exc:  # they are superseded all the same: only the tidying is lost
            log.warning("runs superseded by deploy run %s not tidied: %s", run.id, exc.render())
            superseded = ()
    for old in superseded:
        await _tidy_superseded(services, old, on_superseded)


async def _tidy_superseded(services: Services, old: Run,
                           on_superseded: SupersededHook | None) -> None:
    log.info("run %s of %s superseded by run %s", old.id, old.environment, old.superseded_by)
    if old.started_at is not None:  # it was running: its worker stops it
        await _best_effort(services.queue.request_cancel(str(old.id)), "ask run %s to stop",
                           old.id)
    else:  # its job, waiting or scheduled, would only be refused by the worker
        await _best_effort(services.queue.withdraw(str(old.id), old.status_reason or
                                                   "superseded"), "withdraw run %s", old.id)
    await _notify(on_superseded, old.id)


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
