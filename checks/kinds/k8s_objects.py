"""Pods and their containers read into small frozen views: the state a person reads in
`kubectl get pods` and `kubectl describe pod`, without the client's deep model objects, so
that the k8s.* kinds judge and report plain values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubernetes.client.models import V1ContainerState, V1ContainerStatus, V1LabelSelector, V1Pod

__all__ = ["ContainerView", "PodView", "Termination", "format_age", "plural", "read_pod",
           "selector_string"]


@dataclass(frozen=True)
class Termination:
    reason: str | None
    exit_code: int
    message: str | None = None
    finished_at: datetime | None = None

    def __str__(self) -> str:
        return f"{self.reason or 'Terminated'} exit {self.exit_code}"


@dataclass(frozen=True)
class ContainerView:
    name: str
    image: str
    image_id: str
    ready: bool
    restarts: int
    state: str  # running, waiting, terminated, unknown
    reason: str | None = None  # CrashLoopBackOff, ImagePullBackOff, OOMKilled, ...
    message: str | None = None
    termination: Termination | None = None  # the current state, when terminated
    last_termination: Termination | None = None  # the previous run's end

    @property
    def healthy(self) -> bool:
        return self.ready and self.state == "running"

    def to_evidence(self) -> dict[str, Any]:
        return {"name": self.name, "ready": self.ready, "restarts": self.restarts,
                "state": self.state, "reason": self.reason, "image": self.image,
                "image_id": self.image_id,
                "last_termination": str(self.last_termination) if self.last_termination else None}


@dataclass(frozen=True)
class PodView:
    name: str
    phase: str
    ready: bool  # the pod's Ready condition
    not_ready_because: str | None
    containers: tuple[ContainerView, ...]
    started_at: datetime | None
    terminating: bool
    reason: str | None = None  # the pod's own reason, e.g. Evicted

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    @property
    def ready_containers(self) -> str:
        """`1/1`, as kubectl's READY column."""
        return f"{sum(c.ready for c in self.containers)}/{len(self.containers)}"

    @property
    def status(self) -> str:
        """kubectl's STATUS column: a container's waiting or terminated reason wins over the
        phase, so a crash loop reads `CrashLoopBackOff`, not `Running`."""
        if self.terminating:
            return "Terminating"
        for container in self.containers:
            if container.state in ("waiting", "terminated") and container.reason:
                return container.reason
        return self.reason or self.phase

    def age_s(self, now: datetime) -> float | None:
        return (now - self.started_at).total_seconds() if self.started_at else None

    def to_evidence(self, now: datetime) -> dict[str, Any]:
        age = self.age_s(now)
        return {"name": self.name, "phase": self.phase, "status": self.status,
                "ready": self.ready, "restarts": self.restarts,
                "age_s": round(age, 1) if age is not None else None,
                "containers": [c.to_evidence() for c in self.containers]}


def _termination(state: Any) -> Termination | None:
    if state is None:
        return None
    return Termination(reason=state.reason, exit_code=state.exit_code, message=state.message,
                       finished_at=state.finished_at)


def _read_state(state: V1ContainerState | None) -> tuple[str, str | None, str | None,
                                                        Termination | None]:
    if state is None:
        return "unknown", None, None, None
    if state.running is not None:
        return "running", None, None, None
    if state.waiting is not None:
        return "waiting", state.waiting.reason, state.waiting.message, None
    if state.terminated is not None:
        return ("terminated", state.terminated.reason, state.terminated.message,
                _termination(state.terminated))
    return "unknown", None, None, None


def _read_container(status: V1ContainerStatus) -> ContainerView:
    state, reason, message, termination = _read_state(status.state)
    last = status.last_state.terminated if status.last_state else None
    return ContainerView(name=status.name, image=status.image, image_id=status.image_id,
                         ready=bool(status.ready), restarts=status.restart_count or 0,
                         state=state, reason=reason, message=message, termination=termination,
                         last_termination=_termination(last))


def read_pod(pod: V1Pod) -> PodView:
    meta, status = pod.metadata, pod.status
    statuses = {s.name: s for s in (status.container_statuses or [])} if status else {}
    declared = [c.name for c in (pod.spec.containers if pod.spec else [])] or list(statuses)
    containers = []
    for name in declared:
        if name in statuses:
            containers.append(_read_container(statuses[name]))
        else:  # not created yet: the kubelet has no status for it
            containers.append(ContainerView(name=name, image="", image_id="", ready=False,
                                            restarts=0, state="waiting", reason="Pending"))
    ready, because = False, None
    for condition in (status.conditions or []) if status else []:
        if condition.type == "Ready":
            ready = condition.status == "True"
            if not ready:
                because = ": ".join(p for p in (condition.reason, condition.message) if p)
    started = (status.start_time if status else None) or (meta.creation_timestamp if meta else None)
    return PodView(name=meta.name if meta else "?", phase=(status.phase if status else None)
                   or "Unknown", ready=ready, not_ready_because=because or None,
                   containers=tuple(containers), started_at=started,
                   terminating=bool(meta and meta.deletion_timestamp),
                   reason=status.reason if status else None)


def selector_string(selector: V1LabelSelector | None) -> str:
    """A deployment's label selector in the form the API takes as `labelSelector`."""
    if selector is None:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expression in selector.match_expressions or []:
        values = ",".join(expression.values or [])
        operator = expression.operator
        if operator == "In":
            parts.append(f"{expression.key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{expression.key} notin ({values})")
        elif operator == "Exists":
            parts.append(expression.key)
        elif operator == "DoesNotExist":
            parts.append(f"!{expression.key}")
    return ",".join(parts)


def format_age(seconds: float) -> str:
    """`45s`, `2m 15s`, `5m`, `3h 02m`, `2d 4h`: as a person reads an age."""
    total = int(max(seconds, 0))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m" if secs == 0 else f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h" if minutes == 0 else f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d" if hours == 0 else f"{days}d {hours}h"


def plural(count: int, word: str) -> str:
    """`1 restart`, `0 restarts`, `2 pods`."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"
