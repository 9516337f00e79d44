"""What a load probe counts while it runs (`Tally`) and the figures it ends with
(`LoadFigures`).

Latencies are kept whole (8 bytes each; the hard cap of 100,000 requests a check is 800 kB),
so percentiles are exact: the nearest-rank percentile of the stored values, which is always
one of the latencies measured (p100 is the slowest, p0 the fastest).
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FIRST_FAILURES", "LoadFigures", "Tally", "format_ms", "format_percent", "percentile"]

FIRST_FAILURES = 5  # kept whole (status, headers, body excerpt) for the report
_RECENT = 2000  # latencies the live p95 is computed over


def percentile(ordered: Sequence[float], p: float) -> float:
    """The nearest-rank `p`th percentile (0-100) of values sorted in ascending order."""
    if not ordered:
        return 0.0
    rank = math.ceil(p / 100 * len(ordered))
    return ordered[min(max(rank, 1), len(ordered)) - 1]


def format_ms(ms: float) -> str:
    """`0.8 ms`, `41 ms`, `1,250 ms`, `12.5 s`: short, and precise where it matters."""
    if ms >= 10_000:
        return f"{ms / 1000:.1f} s"
    if ms < 10:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def format_percent(fraction: float) -> str:
    """`0%`, `0.12%`, `3.1%`, `42%`, `99.9%`, `100%`."""
    value = float(fraction) * 100
    if value == 0:
        return "0%"
    text = f"{value:.2g}" if value < 1 else f"{value:.1f}".removesuffix(".0")
    return f"{text}%"


@dataclass(frozen=True)
class LoadFigures:
    """The measured phase of a probe, after it ended."""

    target_rps: float
    duration_s: float  # the measured window
    scheduled: int  # requests the schedule asked for in that window (so far, if it stopped)
    sent: int
    answered: int  # got an HTTP response, whatever its status
    failed: int  # transport errors, unexpected statuses, failed assertions
    dropped: int  # not sent: `concurrency` requests were already in flight
    statuses: dict[str, int]
    errors: dict[str, int]  # transport error classes
    ordered_ms: tuple[float, ...] = field(repr=False)

    @property
    def finished(self) -> int:
        return self.answered + sum(self.errors.values())

    @property
    def achieved_rps(self) -> float:
        return self.answered / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def error_rate(self) -> float:
        return self.failed / self.finished if self.finished else 0.0

    def latency(self, p: float) -> float:
        return percentile(self.ordered_ms, p)

    @property
    def max_ms(self) -> float:
        return self.ordered_ms[-1] if self.ordered_ms else 0.0

    @property
    def mean_ms(self) -> float:
        return sum(self.ordered_ms) / len(self.ordered_ms) if self.ordered_ms else 0.0

    def measurements(self) -> dict[str, Any]:
        def ms(value: float) -> float:
            return round(value, 1)
        return {
            "requests_sent": self.sent, "requests_completed": self.answered,
            "dropped": self.dropped, "duration_s": round(self.duration_s, 2),
            "achieved_rps": round(self.achieved_rps, 1), "target_rps": self.target_rps,
            "p50_ms": ms(self.latency(50)), "p90_ms": ms(self.latency(90)),
            "p95_ms": ms(self.latency(95)), "p99_ms": ms(self.latency(99)),
            "max_ms": ms(self.max_ms), "error_rate": round(self.error_rate, 4),
            "statuses": dict(self.statuses), "errors": dict(self.errors),
        }


@dataclass
class Tally:
    """Counts of one probe, updated as answers come in: warm-up requests only count towards
    the early-abort rules, the measured ones towards the figures too."""

    measured_from: int  # request index where the measured phase starts
    sent: int = 0  # warm-up included
    dropped: int = 0
    finished_all: int = 0  # warm-up included, for the abort rules
    failed_all: int = 0
    consecutive_5xx: int = 0
    answers: int = 0  # warm-up included, for the live rate
    measured_sent: int = 0
    measured_dropped: int = 0
    answered: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))
    failures: list[dict[str, Any]] = field(default_factory=list)

    def is_measured(self, index: int) -> bool:
        return index >= self.measured_from

    def on_sent(self, index: int) -> None:
        self.sent += 1
        if index >= self.measured_from:
            self.measured_sent += 1

    def on_dropped(self, index: int) -> None:
        self.dropped += 1
        if index >= self.measured_from:
            self.measured_dropped += 1

    def on_answer(self, index: int, status: int, ms: float, ok: bool) -> None:
        self.finished_all += 1
        self.answers += 1
        self.consecutive_5xx = self.consecutive_5xx + 1 if status >= 500 else 0
        if not ok:
            self.failed_all += 1
        if index >= self.measured_from:
            self.answered += 1
            self.statuses[str(status)] += 1
            self.latencies.append(ms)
            if not ok:
                self.failed += 1

    def on_transport_error(self, index: int, error_class: str) -> None:
        self.finished_all += 1
        self.failed_all += 1
        if index >= self.measured_from:
            self.errors[error_class] += 1
            self.failed += 1

    def wants_failure(self) -> bool:
        return len(self.failures) < FIRST_FAILURES

    def recent_p95(self) -> float | None:
        recent = sorted(self.latencies[-_RECENT:])
        return percentile(recent, 95) if recent else None

    def figures(self, target_rps: float, duration_s: float, scheduled: int) -> LoadFigures:
        return LoadFigures(
            target_rps=target_rps, duration_s=duration_s, scheduled=scheduled,
            sent=self.measured_sent, answered=self.answered, failed=self.failed,
            dropped=self.measured_dropped,
            statuses=dict(sorted(self.statuses.items())),
            errors=dict(self.errors.most_common()), ordered_ms=tuple(sorted(self.latencies)))
