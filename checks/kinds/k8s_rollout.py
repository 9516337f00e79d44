"""`k8s.rollout`: a deployment's rollout is complete, judged as `kubectl rollout status`
does: the controller observed the latest generation; updated, ready and available replicas
equal the desired count; no old replica is left; Available and Progressing hold. With `wait`
it polls until then, and a failure says what is still pending."""

from __future__ import annotations

import asyncio
import time
from typing import ClassVar

from kubernetes.client.models import V1Deployment

from checks.config import Duration
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.k8s_client import K8sParams, open_cluster, resolve_target
from checks.kinds.k8s_objects import format_age
from checks.results import Outcome

__all__ = ["RolloutCheck", "RolloutParams"]


def _span(seconds: float) -> str:
    return f"{seconds:g}s" if seconds < 60 else format_age(seconds)


class RolloutParams(K8sParams):
    deployment: str
    wait: Duration | None = None  # keep looking this long; give the check a longer `timeout`
    poll_interval: Duration = 2.0


def _condition(deployment: V1Deployment, kind: str) -> tuple[str, str, str]:
    """(status, reason, message) of a condition; ("Unknown", "", "") when it is absent."""
    for condition in (deployment.status.conditions or []) if deployment.status else []:
        if condition.type == kind:
            return condition.status or "Unknown", condition.reason or "", condition.message or ""
    return "Unknown", "", ""


def _counts(deployment: V1Deployment) -> dict[str, int]:
    spec, status = deployment.spec, deployment.status
    desired = spec.replicas if spec.replicas is not None else 1  # the API's default
    return {
        "desired": desired,
        "replicas": (status.replicas or 0) if status else 0,
        "updated": (status.updated_replicas or 0) if status else 0,
        "ready": (status.ready_replicas or 0) if status else 0,
        "available": (status.available_replicas or 0) if status else 0,
        "generation": (deployment.metadata.generation or 0) if deployment.metadata else 0,
        "observed_generation": (status.observed_generation or 0) if status else 0,
    }


def pending(deployment: V1Deployment) -> tuple[list[str], bool]:
    """What keeps the rollout from being complete, and whether it has stalled for good."""
    counts = _counts(deployment)
    desired = counts["desired"]
    if deployment.spec.paused:
        return ["the deployment is paused"], True
    if counts["observed_generation"] < counts["generation"]:
        return [f"the controller has not observed generation {counts['generation']} yet "
                f"(observed {counts['observed_generation']})"], False
    status, reason, message = _condition(deployment, "Progressing")
    if reason == "ProgressDeadlineExceeded":
        return [f"progress deadline exceeded: {message}" if message
                else "progress deadline exceeded"], True
    found = []
    if counts["updated"] < desired:
        found.append(f"{counts['updated']}/{desired} replicas updated")
    old = counts["replicas"] - counts["updated"]
    if old > 0:
        found.append(f"{old} old {'replica' if old == 1 else 'replicas'} pending termination")
    if counts["ready"] < desired:
        found.append(f"{counts['ready']}/{desired} ready")
    if counts["available"] < desired:
        found.append(f"{counts['available']}/{desired} available")
    available, available_reason, _ = _condition(deployment, "Available")
    if available != "True":
        found.append(f"condition Available is {available}"
                     + (f" ({available_reason})" if available_reason else ""))
    if status != "True":
        found.append(f"condition Progressing is {status}" + (f" ({reason})" if reason else ""))
    return found, False


class RolloutCheck(CheckKind[RolloutParams]):
    Params: ClassVar[type[RolloutParams]] = RolloutParams

    def describe(self, params: RolloutParams) -> str:
        wait = f", waiting up to {_span(params.wait)}" if params.wait else ""
        return f"deployment {params.deployment} fully rolled out{wait}"

    async def run(self, params: RolloutParams, ctx: CheckContext) -> Outcome:
        target = resolve_target(ctx, params.namespace)
        deadline = time.monotonic() + (params.wait or 0)
        polls = 0
        async with open_cluster(target, ctx.redactor, params.request_timeout) as cluster:
            while True:
                deployment = await cluster.deployment(target.namespace, params.deployment)
                polls += 1
                still, stalled = pending(deployment)
                remaining = deadline - time.monotonic()
                if not still or stalled or remaining <= 0:
                    break
                await asyncio.sleep(min(params.poll_interval, remaining))

        counts = _counts(deployment)
        measurements = {k: counts[k] for k in ("desired", "updated", "ready", "available")}
        evidence = {"namespace": target.namespace, "deployment": params.deployment,
                    **counts, "polls": polls, "pending": still,
                    "conditions": {kind: dict(zip(("status", "reason", "message"),
                                                  _condition(deployment, kind)))
                                   for kind in ("Available", "Progressing")}}
        desired = counts["desired"]
        details = "\n".join([
            f"deployment {params.deployment} in {target.namespace}: generation "
            f"{counts['generation']} (observed {counts['observed_generation']})",
            f"replicas: desired {desired}, current {counts['replicas']}, updated "
            f"{counts['updated']}, ready {counts['ready']}, available {counts['available']}",
            *(f"condition {kind}: {status}" + (f" ({reason}: {message})" if reason else "")
              for kind in ("Available", "Progressing")
              for status, reason, message in [_condition(deployment, kind)]),
        ])
        if not still:
            return Outcome.ok(f"deployment {params.deployment} rolled out: {desired}/{desired} "
                              f"replicas updated, ready and available", details=details,
                              measurements=measurements, evidence=evidence)
        waited = f" after {_span(params.wait)}" if params.wait and not stalled else ""
        return Outcome.failed(f"deployment {params.deployment} not rolled out{waited}: "
                              + ", ".join(still), details=details,
                              measurements=measurements, evidence=evidence)
