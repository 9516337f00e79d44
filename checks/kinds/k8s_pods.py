"""`k8s.pods`: the pods matching a label selector are there, Running and Ready, have not
restarted more than allowed and (optionally) are recent. The report's

    kubectl get pods -n rsolv-staging -l app=rsolv-platform

read by a machine. A failing pod's phase, container states, last termination and the last
log lines of its failing container go into the details, for the Slack thread."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, ClassVar

from pydantic import Field

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.k8s_client import Cluster, K8sParams, open_cluster, resolve_target
from checks.kinds.k8s_objects import ContainerView, PodView, format_age, plural, read_pod
from checks.redact import Redactor
from checks.results import Outcome

__all__ = ["PodsCheck", "PodsParams"]

LOGGED_PODS = 3  # logs of more failing pods than this would bury the first one
MAX_LINE = 400  # characters kept of one log line


class PodsParams(K8sParams):
    selector: Annotated[str, Field(min_length=1)]  # e.g. app=rsolv-platform
    min_pods: Annotated[int, Field(ge=0)] = 1
    max_restarts: Annotated[int, Field(ge=0)] = 0  # per pod, all containers together
    max_age: Duration | None = None  # every pod started at most this long ago
    log_lines: Annotated[int, Field(ge=0, le=500)] = 50


def _problems(pod: PodView, params: PodsParams, now: datetime) -> list[str]:
    """What is wrong with one pod, the most telling first."""
    found: list[str] = []
    if pod.phase != "Running" or pod.status != "Running":
        found.append(pod.status + (f" (restarts {pod.restarts})" if pod.restarts else ""))
    elif not pod.ready:
        found.append(f"Running but not Ready ({pod.ready_containers} containers ready)")
    if pod.restarts > params.max_restarts:
        found.append(f"{plural(pod.restarts, 'restart')}, expected at most "
                     f"{params.max_restarts}")
    age = pod.age_s(now)
    if params.max_age is not None and age is not None and age > params.max_age:
        found.append(f"started {format_age(age)} ago, expected at most "
                     f"{format_age(params.max_age)}")
    return found


def _culprit(pod: PodView) -> ContainerView | None:
    """The container to explain a failing pod with: the first one not healthy, else the
    first that restarted."""
    for container in pod.containers:
        if not container.healthy:
            return container
    return next((c for c in pod.containers if c.restarts), None)


def _headline(pod: PodView, problems: list[str]) -> str:
    line = f"pod {pod.name}: {problems[0]}"
    culprit = _culprit(pod)
    ended = culprit and (culprit.termination or culprit.last_termination)
    if ended:
        line += f": last termination: {ended}"
    return line


def _table(pods: list[PodView], now: datetime) -> str:
    """The `kubectl get pods` table the report quoted."""
    rows = [("NAME", "READY", "STATUS", "RESTARTS", "AGE")]
    for pod in pods:
        age = pod.age_s(now)
        rows.append((pod.name, pod.ready_containers, pod.status, str(pod.restarts),
                     format_age(age) if age is not None else "?"))
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    return "\n".join("   ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip()
                     for row in rows)


def _describe_pod(pod: PodView, problems: list[str], log: str | None) -> str:
    """`kubectl describe pod`, cut to what explains a failure."""
    ready = "True" if pod.ready else f"False ({pod.not_ready_because or 'no reason given'})"
    lines = [f"pod {pod.name}: " + "; ".join(problems),
             f"  phase {pod.phase}, Ready {ready}, restarts {pod.restarts}"]
    for c in pod.containers:
        state = c.state + (f": {c.reason}" if c.reason else "") + (
            f": {c.message}" if c.message else "")
        lines.append(f"  container {c.name}: {state}; ready {str(c.ready).lower()}, "
                     f"restarts {c.restarts}")
        for label, ended in (("termination", c.termination),
                             ("last termination", c.last_termination)):
            if ended:
                at = f" at {ended.finished_at.isoformat()}" if ended.finished_at else ""
                message = f": {ended.message.strip()}" if ended.message else ""
                lines.append(f"    {label}: {ended}{at}{message}")
    if log is not None:
        lines.append(log)
    return "\n".join(lines)


async def _log_excerpt(cluster: Cluster, namespace: str, pod: PodView, lines: int,
                       redactor: Redactor) -> str | None:
    culprit = _culprit(pod)
    if culprit is None or lines == 0:
        return None
    # A container that crashed is explained by its previous run, as `kubectl logs --previous`.
    attempts = [True, False] if culprit.last_termination else [False]
    failure = ""
    for previous in attempts:
        try:
            text = await cluster.pod_log(namespace, pod.name, culprit.name, tail_lines=lines,
                                         previous=previous)
        except CheckError as exc:
            failure = exc.message
            continue
        which = "previous run" if previous else "current run"
        body = [redactor.redact(line[:MAX_LINE]) for line in text.splitlines()[-lines:]]
        if not body:
            return f"  container {culprit.name} ({which}) logged nothing"
        header = f"  last {plural(len(body), 'log line')} of container {culprit.name} ({which}):"
        return "\n".join([header, *(f"    {line}" for line in body)])
    return f"  logs of container {culprit.name} unavailable: {failure}"


class PodsCheck(CheckKind[PodsParams]):
    Params: ClassVar[type[PodsParams]] = PodsParams

    def describe(self, params: PodsParams) -> str:
        where = f" in {params.namespace}" if params.namespace else ""
        recent = f", started within {format_age(params.max_age)}" if params.max_age else ""
        return (f"at least {plural(params.min_pods, 'pod')} {params.selector}{where} Running "
                f"and Ready, at most {plural(params.max_restarts, 'restart')}{recent}")

    async def run(self, params: PodsParams, ctx: CheckContext) -> Outcome:
        target = resolve_target(ctx, params.namespace)
        namespace = target.namespace
        async with open_cluster(target, ctx.redactor, params.request_timeout) as cluster:
            found = [read_pod(p) for p in await cluster.list_pods(namespace, params.selector)]
            now = datetime.now(timezone.utc)
            # Pods being deleted belong to the previous rollout; they are not the service.
            pods = [p for p in found if not p.terminating]
            judged = [(pod, _problems(pod, params, now)) for pod in pods]
            failing = [(pod, problems) for pod, problems in judged if problems]
            logs = {pod.name: await _log_excerpt(cluster, namespace, pod, params.log_lines,
                                                 ctx.redactor)
                    for pod, _ in failing[:LOGGED_PODS]}

        ready = sum(p.ready for p in pods)
        restarts = sum(p.restarts for p in pods)
        measurements = {"pods": len(pods), "ready": ready, "restarts": restarts}
        evidence = {"namespace": namespace, "selector": params.selector,
                    "pods": [p.to_evidence(now) for p in pods],
                    "failing": [pod.name for pod, _ in failing],
                    "terminating": [p.name for p in found if p.terminating]}
        lines = [f"pods matching {params.selector} in {namespace}:"]
        lines.append(_table(found, now) if found else "(none)")
        for pod, problems in failing:
            lines.append("")
            lines.append(_describe_pod(pod, problems, logs.get(pod.name)))
        # Termination messages and waiting reasons are the app's words, like its logs.
        details = ctx.redactor.redact("\n".join(lines))

        short = len(pods) < params.min_pods
        if not short and not failing:
            summary = (f"{len(pods)}/{len(pods)} pods Running and Ready, "
                       f"{plural(restarts, 'restart')}")
            if params.max_age is not None and pods:
                oldest = max(p.age_s(now) or 0 for p in pods)
                summary += f", oldest started {format_age(oldest)} ago"
            return Outcome.ok(summary, details=details, measurements=measurements,
                              evidence=evidence)
        parts = []
        if short:
            parts.append(f"expected at least {plural(params.min_pods, 'pod')} matching "
                         f"{params.selector} in {namespace}, found {len(pods)}")
        if failing:
            first, problems = failing[0]
            more = f" (and {plural(len(failing) - 1, 'more failing pod')})" \
                if len(failing) > 1 else ""
            parts.append(_headline(first, problems) + more)
        return Outcome.failed("; ".join(parts), details=details,
                              measurements=measurements, evidence=evidence)
