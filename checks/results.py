"""What a run produces: one CheckResult per check, gathered in a RunResult."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

__all__ = ["CheckResult", "Outcome", "RunResult", "Severity", "Status", "Verdict"]


class Status(str, enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    ERROR = "error"  # the check could not look (connection refused, timeout)
    SKIP = "skip"
    WARN = "warn"  # failed, but the check's severity is "warning"
    FLAKY = "flaky"  # passed, after failing at least once in this run (a retry passed)
    SLOW = "slow"  # passed, but slower than its `warn_latency`

    @property
    def is_problem(self) -> bool:
        return self in (Status.FAIL, Status.ERROR)

    @property
    def passed(self) -> bool:
        """Passed, perhaps with a remark (flaky, slow): dependents run, the run passes."""
        return self in (Status.PASS, Status.FLAKY, Status.SLOW)


class Severity(str, enum.Enum):
    CRITICAL = "critical"
    WARNING = "warning"


class Verdict(str, enum.Enum):
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def exit_code(self) -> int:
        return {Verdict.PASSED: 0, Verdict.FAILED: 1, Verdict.CANCELLED: 130}[self]


@dataclass(frozen=True)
class Outcome:
    """What a check kind returns when it managed to look: passed or not, and why."""

    passed: bool
    summary: str  # one line: "expected X, got Y" on failure, what was seen on success
    details: str = ""  # longer evidence, for the Markdown report and a Slack thread
    measurements: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)  # structured facts, e.g. the rows read
    # Set on a passed outcome that deserves a look without failing the run: "412 ms, over the
    # 300 ms warn_latency". The runner makes it a `slow` result, or with `warning_state`
    # "warn" a `warn` one (a certificate near expiry is not slow).
    warning: str | None = None
    warning_state: Literal["slow", "warn"] = "slow"
    # What the check read whole (an HTTP response's JSON body), for the suite's `version:` to
    # look into; the runner drops it, so no result, report or store ever holds it.
    document: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def ok(cls, summary: str, **kw: Any) -> Outcome:
        return cls(True, summary, **kw)

    @classmethod
    def failed(cls, summary: str, **kw: Any) -> Outcome:
        return cls(False, summary, **kw)


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    name: str
    category: str
    kind: str
    severity: Severity
    status: Status
    summary: str
    details: str = ""
    duration_s: float = 0.0
    attempts: int = 0
    measurements: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def with_changes(self, **changes: Any) -> CheckResult:
        return replace(self, **changes)


@dataclass(frozen=True)
class RunResult:
    suite: str
    environment: str
    started_at: datetime
    finished_at: datetime
    results: tuple[CheckResult, ...]
    categories: tuple[str, ...]  # in suite order, for reports
    cancelled: bool = False
    version: str | None = None
    trigger: str | None = None
    version_from: str | None = None  # the check whose result gave `version`; None: the trigger

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def verdict(self) -> Verdict:
        if self.cancelled:
            return Verdict.CANCELLED
        if any(r.status.is_problem for r in self.results):
            return Verdict.FAILED
        return Verdict.PASSED

    def counts(self, category: str | None = None) -> dict[Status, int]:
        counts = {s: 0 for s in Status}
        for r in self.results:
            if category is None or r.category == category:
                counts[r.status] += 1
        return counts

    def by_category(self) -> list[tuple[str, list[CheckResult]]]:
        return [(c, [r for r in self.results if r.category == c]) for c in self.categories]

    def problems(self) -> list[CheckResult]:
        return [r for r in self.results if r.status.is_problem]
