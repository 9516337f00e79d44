"""`k8s.events`: no Warning events in the namespace since the deploy (BackOff, Unhealthy,
FailedScheduling, FailedMount ...): what `kubectl get events --field-selector type=Warning`
would have shown the person who read the pods by eye."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Any, ClassVar

from kubernetes.client.models import CoreV1Event
from pydantic import BeforeValidator, Field

from checks.config import Duration
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.k8s_client import K8sParams, open_cluster, resolve_target
from checks.kinds.k8s_objects import format_age, plural
from checks.results import Outcome

__all__ = ["EventsCheck", "EventsParams"]


def _blank_is_unset(value: Any) -> Any:
    """An empty `since_time` (a `${variable:-}` with no value) falls back to `since`."""
    return None if isinstance(value, str) and not value.strip() else value


class EventsParams(K8sParams):
    since: Duration = 900.0  # look back this far
    since_time: Annotated[datetime | None, BeforeValidator(_blank_is_unset)] = None  # wins
    involving: str | None = None  # only events about objects whose name starts with this
    ignore_reasons: list[str] = Field(default_factory=list)
    max_warnings: Annotated[int, Field(ge=0)] = 0


def _when(event: CoreV1Event) -> datetime | None:
    moment = (event.last_timestamp or event.event_time or event.first_timestamp
              or (event.metadata.creation_timestamp if event.metadata else None))
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _line(event: CoreV1Event) -> str:
    obj = event.involved_object
    subject = f"{(obj.kind or '?').lower()}/{obj.name}"
    count = event.count or (event.series.count if event.series else None) or 1
    times = f" (x{count})" if count > 1 else ""
    message = " ".join((event.message or "").split())
    return f"{event.reason or 'Warning'} on {subject}: {message}{times}"


class EventsCheck(CheckKind[EventsParams]):
    Params: ClassVar[type[EventsParams]] = EventsParams

    def describe(self, params: EventsParams) -> str:
        window = f"since {params.since_time.isoformat()}" if params.since_time \
            else f"in the last {format_age(params.since)}"
        about = f" about {params.involving}*" if params.involving else ""
        return f"at most {params.max_warnings} warning events{about} {window}"

    async def run(self, params: EventsParams, ctx: CheckContext) -> Outcome:
        target = resolve_target(ctx, params.namespace)
        async with open_cluster(target, ctx.redactor, params.request_timeout) as cluster:
            events = await cluster.warning_events(target.namespace)

        now = datetime.now(timezone.utc)
        since = params.since_time or now - timedelta(seconds=params.since)
        if since.tzinfo is None:
            since = since.replace(tzinfo=timezone.utc)
        ignored = set(params.ignore_reasons)
        recent = []
        for event in events:
            moment = _when(event)
            name = event.involved_object.name or ""
            if moment is None or moment < since or event.reason in ignored:
                continue
            if params.involving and not name.startswith(params.involving):
                continue
            recent.append((moment, event))
        recent.sort(key=lambda pair: pair[0], reverse=True)  # newest first

        window = (f"since {since.strftime('%Y-%m-%dT%H:%M:%SZ')}" if params.since_time
                  else f"in the last {format_age(params.since)}")
        about = f" about {params.involving}*" if params.involving else ""
        lines = [f"{format_age((now - moment).total_seconds())} ago: {_line(event)}"
                 for moment, event in recent]
        evidence = {"namespace": target.namespace, "since": since.isoformat(),
                    "events": [{"reason": e.reason, "object": f"{e.involved_object.kind or '?'}/"
                                f"{e.involved_object.name}", "message": e.message,
                                "count": e.count, "at": m.isoformat()} for m, e in recent]}
        measurements = {"warnings": len(recent)}
        details = "\n".join(lines) if lines else ""
        seen = f"{plural(len(recent), 'warning event')}{about} in {target.namespace} {window}"
        if len(recent) <= params.max_warnings:
            return Outcome.ok(seen, details=details, measurements=measurements,
                              evidence=evidence)
        more = f" (and {len(recent) - 1} more)" if len(recent) > 1 else ""
        return Outcome.failed(
            f"{seen}, expected at most {params.max_warnings}: {_line(recent[0][1])}{more}",
            details=details, measurements=measurements, evidence=evidence)
