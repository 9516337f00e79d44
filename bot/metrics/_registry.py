"""Every metric of one process, defined once, in a registry of the process's own (a fresh one
per `Metrics()`: tests make theirs), with the functions the rest of the bot calls to move them.

Each label's values come from a bounded list: environment and check id from the suite file,
check kind from the kinds registry, trigger, verdict and result from our enums, Slack method
from our own calls. Never a run id, a user id or any other value a request brings.
"""

from __future__ import annotations

import enum
import re

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

from bot.metrics._query_gauges import QueryGauges
from bot.records import Run, SlackMessageKind
from checks.results import RunResult, Status

__all__ = ["Metrics", "SlackOutcome"]

# Seconds. A check is a request or a query (ms to s); a suite or load probe can take minutes.
CHECK_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0,
                 300.0)
RUN_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0)
SLACK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A Web API method as our code names them (chat.postMessage, files.completeUploadExternal);
# anything else is counted as "other", so no stray value can grow the label.
_SLACK_METHOD = re.compile(r"[a-z]+(?:\.[A-Za-z]+){1,3}")
OTHER_METHOD = "other"
FILE_UPLOAD = "files.upload"  # the upload URL's POST between Slack's two upload calls


class SlackOutcome(str, enum.Enum):
    """How one Slack call ended."""

    OK = "ok"
    REFUSED = "refused"  # ok=false: Slack's error code (not_in_channel, ...)
    RATE_LIMITED = "rate_limited"  # 429
    SERVER_ERROR = "server_error"  # 5xx
    UNAVAILABLE = "unavailable"  # a timeout, a refused or lost connection
    CANCELLED = "cancelled"  # the caller gave up on it (a shutdown, a deadline)


class Metrics:
    """Create one per process (`Services` does); `registry` is what `/metrics` exposes."""

    def __init__(self) -> None:
        # The `_created` series double every counter's and histogram's for a value PromQL
        # never reads (the process's start time says the same).
        disable_created_metrics()
        self.registry = registry = CollectorRegistry()
        self.runs = Counter(
            "smokebot_runs", "Runs ended by a worker, by how they ended (verdict: passed, "
            "failed, cancelled, error, interrupted).",
            ["environment", "trigger", "verdict"], registry=registry)
        self.run_duration = Histogram(
            "smokebot_run_duration_seconds", "From a worker taking a run to its end.",
            ["environment"], buckets=RUN_BUCKETS, registry=registry)
        self.check_results = Counter(
            "smokebot_check_results", "Check results, by result (pass, fail, error, skip, "
            "warn, flaky, slow).", ["environment", "check", "kind", "result"],
            registry=registry)
        self.check_duration = Histogram(
            "smokebot_check_duration_seconds", "How long a check took, its retries included "
            "(skipped checks are not observed).", ["kind"], buckets=CHECK_BUCKETS,
            registry=registry)
        self.check_last_success = Gauge(
            "smokebot_check_last_success_timestamp_seconds", "When the check last passed "
            "(flaky and slow count), as seen by this process.", ["environment", "check"],
            registry=registry)
        self.slack_calls = Counter(
            "smokebot_slack_api_calls", "Slack Web API calls, by method and outcome (ok, "
            "refused, rate_limited, server_error, unavailable, cancelled); a call the client "
            "retried by itself is one call.", ["method", "outcome"], registry=registry)
        self.slack_call_duration = Histogram(
            "smokebot_slack_api_call_duration_seconds", "How long a Slack call took, its "
            "client's own retries included.", ["method"], buckets=SLACK_BUCKETS,
            registry=registry)
        self.slack_retries = Counter(
            "smokebot_slack_api_retries", "Calls the interactive Slack client sent again by "
            "itself, by reason (rate_limited, server_error, connection_error).",
            ["method", "reason"], registry=registry)
        self.delivery_retries = Counter(
            "smokebot_slack_delivery_retries", "Outbox messages whose delivery failed for now "
            "and will be tried again, by message kind and reason (rate_limited, "
            "unavailable).", ["kind", "reason"], registry=registry)
        self.report_backs = Counter(
            "smokebot_report_backs", "Attempts to report a deploy's verdict to its source, by "
            "reporter (github-deployment, callback) and outcome (delivered, retry, failed, skipped).",
            ["target", "outcome"], registry=registry)
        self.query_gauges = QueryGauges(registry)

    # --- runs and checks -----------------------------------------------------------------------

    def record_run_ended(self, run: Run | None) -> None:
        """A run that this process ended (any final status); None (not ended here) is
        ignored."""
        if run is None or run.is_active:
            return
        self.runs.labels(run.environment, run.trigger_kind.value, run.status.value).inc()
        if run.duration_s is not None:
            self.run_duration.labels(run.environment).observe(max(0.0, run.duration_s))

    def record_run_finished(self, run: Run, result: RunResult, ended: Run | None) -> None:
        """A run its worker executed: every check's result, and the run itself when this
        worker ended it (`ended` is None when it was ended elsewhere meanwhile, which counts
        it there)."""
        self.record_check_results(run.environment, result)
        self.record_run_ended(ended)

    def record_check_results(self, environment: str, result: RunResult) -> None:
        finished = result.finished_at.timestamp()
        for check in result.results:
            self.check_results.labels(environment, check.check_id, check.kind,
                                      check.status.value).inc()
            if check.status is not Status.SKIP:
                self.check_duration.labels(check.kind).observe(max(0.0, check.duration_s))
            if check.status.passed:
                self.check_last_success.labels(environment, check.check_id).set(finished)

    # --- Slack -----------------------------------------------------------------------------

    def observe_slack_call(self, method: str, outcome: SlackOutcome, seconds: float) -> None:
        method = slack_method_label(method)
        self.slack_calls.labels(method, outcome.value).inc()
        self.slack_call_duration.labels(method).observe(max(0.0, seconds))

    def slack_retry(self, method: str, reason: str) -> None:
        self.slack_retries.labels(slack_method_label(method), reason).inc()

    def delivery_retry(self, kind: SlackMessageKind, *, rate_limited: bool) -> None:
        self.delivery_retries.labels(kind.value,
                                     "rate_limited" if rate_limited else "unavailable").inc()

    # --- reporting back to a deploy's source ------------------------------------------------

    def report_back(self, target: str, outcome: str) -> None:
        self.report_backs.labels(target, outcome).inc()

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format (what a scrape of /metrics returns)."""
        return generate_latest(self.registry)


def slack_method_label(method: str) -> str:
    return method if _SLACK_METHOD.fullmatch(method) else OTHER_METHOD
