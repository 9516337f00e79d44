"""The records that cross `bot/`'s modules: runs and what is known of them, Slack messages,
acknowledgements, audit entries, outbox messages, webhook deliveries, the verdicts a deploy's run
reports back to its source, and the start requests a confirmation carries, with their str enums.

Frozen dataclasses; this module imports nothing of `bot/`, so every module may import it
(rq keeps `JobStatus` with the job: a status is spelled once, here, and never as a string
elsewhere).
"""

from __future__ import annotations

import dataclasses
import enum
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from checks.errors import UsageError
from checks.results import CheckResult, Status, Verdict

__all__ = ["Acknowledgement", "AuditAction", "AuditEntry", "DeployFacts", "FlakyHistory",
           "OutboxEntry", "OutboxMessage", "PastResult", "PreviousFailure", "ReportBack",
           "ReportState", "ReportTarget", "Run", "RunCounts", "RunRequest", "RunStart",
           "RunStatus", "RunTicket", "SlackMessage",
           "SlackMessageKind", "StartRequest", "TriggerKind", "WebhookDelivery", "WebhookOutcome",
           "as_uuid"]


def as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))

# --- vocabulary -------------------------------------------------------------------------------

class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its worker died or stopped heartbeating
    SUPERSEDED = "superseded"  # a newer deploy of the environment replaced it
    ERROR = "error"  # the run could not be carried out (suite failed to load, ...)

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


class TriggerKind(str, enum.Enum):
    SLASH = "slash"
    BUTTON = "button"
    MENTION = "mention"
    WEBHOOK = "webhook"
    CLI = "cli"


class AuditAction(str, enum.Enum):
    """What an audit entry records. A refusal is the action asked for with allowed=false and
    the reason in its detail; the entries about a run carry its id (`AuditEntry.run_id`)."""

    RUN = "run"  # a person's request started a run
    JOIN = "join"  # a request found its environment being tested and joined that run
    RERUN = "rerun"  # a re-run (button or mention) started; detail.rerun_of is the original
    CONFIRM_REQUESTED = "confirm-requested"  # a confirming environment asked to confirm first
    CONFIRMED = "confirmed"  # the confirmation's button; run, rerun or join follows
    CONFIRM_CANCELLED = "confirm-cancelled"  # the confirmation's Cancel button
    CANCEL = "cancel"  # `/smoketest cancel` of an active run
    OPEN_ACKNOWLEDGE = "open-acknowledge"  # the Acknowledge button (opens the modal)
    ACKNOWLEDGE = "acknowledge"  # one failing check acknowledged by the modal's submission


class SlackMessageKind(str, enum.Enum):
    SUMMARY = "summary"  # the run's parent message, updated in place; one per run
    FAILURE_REPLY = "failure_reply"  # one thread reply per failed check
    MENTION = "mention"  # the user group mentioned in the thread when a run fails
    REPORT = "report"  # the Markdown report file shared in the thread
    NOTICE = "notice"  # anything else posted for the run (superseded, acknowledged, ...)


# Deprecated: deploy sources are the registry's names (bot/webhooks/sources.py), plain str. Kept
# only until the store and `smokebot deliveries` take a str; a new source is not listed here.
class WebhookOutcome(str, enum.Enum):
    ACCEPTED = "accepted"  # authenticated and mapped: a run was created
    IGNORED = "ignored"  # authenticated, but nothing to do (unmapped environment, a ping)
    REJECTED = "rejected"  # bad signature, stale, malformed or too large


class ReportState(str, enum.Enum):
    """Where a deploy's report back to its source stands (bot/report_back/)."""

    PENDING = "pending"  # owed: sent once the run has ended, retried until it is taken
    DELIVERED = "delivered"  # the source took it (or an earlier attempt was found there)
    FAILED = "failed"  # refused for good, or out of tries: `last_error` says why
    SKIPPED = "skipped"  # nothing to tell this source (a superseded run, to GitHub)


# --- records ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ReportTarget:
    """Where a deploy's run reports its verdict, as the deploy told us; never a credential
    (the token or secret that authenticates the report is read from the settings when it is
    sent). `kind` names a reporter in bot/report_back/ ("github-deployment", "callback")."""

    kind: str
    source: str  # the deploy source that asked (bot/webhooks/sources.py): its secret signs
    repository: str | None = None  # GitHub's "owner/name"
    deployment_id: str | None = None  # GitHub's deployment id, digits
    callback_url: str | None = None  # the generic webhook's `callback_url`

    def as_json(self) -> dict[str, str]:
        return {k: v for k, v in dataclasses.asdict(self).items()
                if v is not None and k not in ("kind", "source")}

    @classmethod
    def from_json(cls, kind: str, source: str, value: Mapping[str, Any]) -> ReportTarget:
        return cls(kind=kind, source=source, repository=value.get("repository"),
                   deployment_id=value.get("deployment_id"),
                   callback_url=value.get("callback_url"))


@dataclass(frozen=True)
class ReportBack:
    """One run's report to its deploy's source, as stored: owed from the moment the run is
    recorded, due once it has ended."""

    id: int
    run_id: UUID
    target: ReportTarget
    state: ReportState
    attempts: int
    in_doubt: bool  # an earlier attempt may have been taken: look before sending again
    created_at: datetime
    next_attempt_at: datetime
    finished_at: datetime | None  # delivered, failed or skipped
    reported: str | None  # what was said: GitHub's state ("success"), the run's status
    remote_id: str | None  # what the source answered: the deployment status's id
    last_status: int | None  # the HTTP status of the last answer, if there was one
    last_error: str | None  # never a token: errors are redacted before they are stored


@dataclass(frozen=True)
class DeployFacts:
    """What a deploy webhook told us; exposed to checks as `${deploy.<field>}`."""

    source: str | None = None  # the deploy source's name (bot/webhooks/sources.py): github, ...
    version: str | None = None
    commit: str | None = None
    ref: str | None = None
    deployer: str | None = None
    url: str | None = None  # the environment's URL
    link: str | None = None  # the deployment's own page (GitHub deployment, Argo CD app)

    def as_variables(self) -> dict[str, str]:
        """The known facts, for `build_plan(deploy=...)`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class RunCounts:
    passed: int = 0  # every check that passed: flaky and slow ones too
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    warnings: int = 0
    flaky: int = 0  # of `passed`, those that passed on a retry
    slow: int = 0  # of `passed`, those slower than their warn_latency

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped + self.warnings

    @classmethod
    def from_statuses(cls, counts: Mapping[Status, int]) -> RunCounts:
        return cls(passed=sum(n for status, n in counts.items() if status.passed),
                   failed=counts.get(Status.FAIL, 0), errors=counts.get(Status.ERROR, 0),
                   skipped=counts.get(Status.SKIP, 0), warnings=counts.get(Status.WARN, 0),
                   flaky=counts.get(Status.FLAKY, 0), slow=counts.get(Status.SLOW, 0))


@dataclass(frozen=True)
class RunRequest:
    """What is known when a run is asked for; `Store.create_run` turns it into a queued Run."""

    environment: str
    trigger_kind: TriggerKind
    trigger_detail: str = ""  # who or what: "/smoketest staging api", "deployment_status 4242"
    requested_by: str | None = None  # a Slack user id, a deployer, a CI job
    filters: tuple[str, ...] = ()
    channel: str | None = None
    deploy: DeployFacts | None = None
    suite: str | None = None
    rerun_of: UUID | None = None
    idempotency_key: str | None = None  # a second request with the same key is a DuplicateRun
    # The production confirmation button started it (a traffic probe in production needs it).
    confirmed: bool = False
    report_to: ReportTarget | None = None  # a deploy's source, told the verdict at the end

    def __post_init__(self) -> None:
        if not self.environment:
            raise UsageError("a run needs an environment")
        object.__setattr__(self, "trigger_kind", TriggerKind(self.trigger_kind))
        object.__setattr__(self, "filters", tuple(self.filters))
        if self.rerun_of is not None:
            object.__setattr__(self, "rerun_of", as_uuid(self.rerun_of))


@dataclass(frozen=True)
class Run:
    id: UUID
    environment: str
    status: RunStatus
    trigger_kind: TriggerKind
    trigger_detail: str
    requested_by: str | None
    filters: tuple[str, ...]
    channel: str | None
    deploy: DeployFacts | None
    suite: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker_id: str | None
    counts: RunCounts
    verdict: Verdict | None  # set when the run reached one: passed, failed or cancelled
    status_reason: str | None  # why it was interrupted, superseded, cancelled or errored
    rerun_of: UUID | None
    superseded_by: UUID | None
    idempotency_key: str | None
    confirmed: bool = False  # started by the production confirmation button

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class SlackMessage:
    id: int
    run_id: UUID
    kind: SlackMessageKind
    channel: str
    ts: str
    thread_ts: str | None  # set when this message is itself a reply in a thread
    check_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def thread_root(self) -> str:
        """The ts that replies to this message's thread go under."""
        return self.thread_ts or self.ts


@dataclass(frozen=True)
class PreviousFailure:
    """The latest earlier run of the environment in which a check failed (or errored)."""

    check_id: str
    run_id: UUID
    run_created_at: datetime
    status: Status
    summary: str
    # True when that check's latest earlier result (skips aside) was this failure: "still
    # failing"; False when it passed since, so the new failure is a regression.
    still_failing: bool
    channel: str | None  # where that run's thread is, if it was posted to Slack
    thread_ts: str | None
    reply_ts: str | None  # that check's own failure reply in the thread, if any


@dataclass(frozen=True)
class FlakyHistory:
    """How often a check was flaky in the latest runs of an environment that ran it (a skip
    did not run it): "flaky 3 of the last 10 runs"."""

    check_id: str
    flaky: int  # of `runs`, those in which it was flaky
    runs: int  # the runs looked at: at most the number asked for, fewer for a newer check


@dataclass(frozen=True)
class PastResult:
    """A check's result in one run, for that check's history (`smokebot history --check`)."""

    run_id: UUID
    run_created_at: datetime
    run_status: RunStatus
    result: CheckResult


@dataclass(frozen=True)
class Acknowledgement:
    id: int
    environment: str
    check_id: str
    reason: str
    acknowledged_by: str
    created_at: datetime
    expires_at: datetime | None  # None: until removed
    run_id: UUID | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str  # an AuditAction's value (older entries may hold others)
    environment: str | None
    allowed: bool
    detail: dict[str, Any]
    run_id: UUID | None = None  # the run it is about, when there is one


def _request_id() -> str:
    return secrets.token_hex(6)


@dataclass(frozen=True)
class StartRequest:
    """What a person asked to start, as a confirmation's buttons carry it: `/smoketest ENV
    [filters]` (SLASH), Re-run failed or Re-run all (BUTTON) or `@smokebot rerun` (MENTION)
    of run `rerun_of`. `request_id` ties the confirmation's audit entries to the run's."""

    environment: str
    trigger: TriggerKind
    filters: tuple[str, ...] = ()  # a re-run's are the original's, read when it starts
    rerun_of: UUID | None = None
    only_failed: bool = False
    request_id: str = field(default_factory=_request_id)

    def __post_init__(self) -> None:
        object.__setattr__(self, "trigger", TriggerKind(self.trigger))
        object.__setattr__(self, "filters", tuple(self.filters))
        if self.rerun_of is not None:
            object.__setattr__(self, "rerun_of", as_uuid(self.rerun_of))

    def to_json(self) -> str:
        value: dict[str, Any] = {"environment": self.environment, "filters": list(self.filters),
                                 "trigger": self.trigger.value, "request": self.request_id}
        if self.rerun_of is not None:
            value.update(rerun_of=str(self.rerun_of), only_failed=self.only_failed)
        return json.dumps(value, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> StartRequest:
        """Also reads the `{"environment", "filters"}` of confirmations shown before re-runs
        were confirmed too. Raises UsageError for anything else."""
        try:
            value = json.loads(text)
            return cls(environment=str(value["environment"]),
                       trigger=TriggerKind(value.get("trigger", TriggerKind.SLASH.value)),
                       filters=tuple(str(f) for f in value.get("filters", ())),
                       rerun_of=value.get("rerun_of"),
                       only_failed=bool(value.get("only_failed", False)),
                       request_id=str(value.get("request") or _request_id()))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise UsageError(f"this confirmation cannot be read ({exc}); ask again") from exc


@dataclass(frozen=True)
class OutboxMessage:
    """A message a run owes Slack, rendered, before it is written to the outbox.

    `payload` is what the message shows: `text` and `blocks` (and, for a summary that is
    itself a thread reply, `thread_ts`); for a report, `filename`, `title` and `content`.
    Where it goes follows from `kind`: a summary is posted (or its live message updated), every
    other kind goes into the summary's thread."""

    kind: SlackMessageKind
    channel: str
    payload: dict[str, Any]
    check_id: str | None = None  # a failure reply's check


@dataclass(frozen=True)
class OutboxEntry:
    """An OutboxMessage as stored: delivered in `id` order within its `stream`."""

    id: int
    stream: str  # "run:<id>"
    run_id: UUID | None
    kind: SlackMessageKind
    check_id: str | None
    channel: str
    payload: dict[str, Any]  # never the token: the deliverer adds it when it sends
    attempts: int
    in_doubt: bool  # an earlier attempt may have reached Slack: look before sending again
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    ts: str | None
    gave_up_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    id: int
    source: str  # a deploy source's name (bot/webhooks/sources.py)
    delivery_id: str | None
    received_at: datetime
    last_received_at: datetime
    redeliveries: int
    outcome: WebhookOutcome
    reason: str
    environment: str | None
    run_id: UUID | None
    headers: dict[str, str]
    summary: dict[str, Any]
    # True when this call recorded the delivery; False when it was a redelivery of one already
    # recorded (then the other fields describe the first delivery).
    is_new: bool = False


@dataclass(frozen=True)
class RunTicket:
    """What asking for a run got: the run, and whether it was already going (queued or
    running) for the environment, so the request joined it instead of starting another."""

    run: Run
    joined: bool


@dataclass(frozen=True)
class RunStart:
    """A deploy's run, just recorded, and the older active runs of its environment that it
    superseded in the same transaction (oldest first; `started_at` says which were running)."""

    run: Run
    superseded: tuple[Run, ...] = ()
