"""A finished probe as an Outcome: a one-line summary, the figures as measurements, a table of
them for the Markdown report and the Slack thread, and the first failures as evidence."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from checks.kinds.load._params import LoadParams, Schedule
from checks.kinds.load._stats import LoadFigures, format_ms, format_percent
from checks.kinds.load._thresholds import ThresholdResult
from checks.results import Outcome

__all__ = ["ProbeReport", "figures_line"]


def figures_line(figures: LoadFigures) -> str:
    """`2,998 requests in 30.0 s: 99.9 rps (99.9% of 100), p95 41 ms, p99 77 ms, 0.1% errors`."""
    share = figures.achieved_rps / figures.target_rps
    line = (f"{figures.answered:,} requests in {figures.duration_s:.1f} s: "
            f"{figures.achieved_rps:,.1f} rps ({format_percent(share)} of "
            f"{figures.target_rps:g})")
    if figures.answered:
        line += f", p95 {format_ms(figures.latency(95))}, p99 {format_ms(figures.latency(99))}"
    return f"{line}, {format_percent(figures.error_rate)} errors"


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{name} × {count:,}" for name, count in counts.items()) or "none"


@dataclass(frozen=True)
class ProbeReport:
    params: LoadParams
    schedule: Schedule
    figures: LoadFigures
    thresholds: list[ThresholdResult]
    warnings: list[ThresholdResult]
    aborted: str | None  # why the probe stopped early
    warmup_requests: int
    first_failures: list[dict[str, Any]]

    def outcome(self) -> Outcome:
        failed = [r for r in self.thresholds if not r.passed]
        slow = [r for r in self.warnings if not r.passed]
        figures = figures_line(self.figures)
        kw: dict[str, Any] = {"details": self.details(),
                              "measurements": self.figures.measurements(),
                              "evidence": self.evidence()}
        if self.aborted is not None:
            took = f"{self.figures.duration_s:.1f} s"
            return Outcome.failed(f"aborted after {took}: {self.aborted}. {figures}", **kw)
        if failed:
            return Outcome.failed(f"{'; '.join(r.describe() for r in failed)}. {figures}", **kw)
        warning = "; ".join(r.describe("warn threshold") for r in slow) or None
        return Outcome.ok(figures, warning=warning, **kw)

    def details(self) -> str:
        p, f = self.params, self.figures
        warm = f" after a {p.warmup:g} s warm-up ({self.warmup_requests:,} requests)" \
            if p.warmup else ""
        lines = [f"{p.method} {p.url}",
                 f"{p.rps:g} rps for {p.duration:g} s{warm}, at most "
                 f"{self.schedule.concurrency} in flight", ""]
        if self.aborted is not None:
            lines += [f"ABORTED after {f.duration_s:.1f} s: {self.aborted}", ""]
        lines += [
            f"requests   {f.sent:,} sent · {f.answered:,} answered · {f.dropped:,} dropped · "
            f"{f.failed:,} failed ({format_percent(f.error_rate)})",
            f"rate       {f.achieved_rps:,.1f} rps "
            f"({format_percent(f.achieved_rps / f.target_rps)} of {f.target_rps:g})",
        ]
        if f.answered:
            lines.append("latency    " + " · ".join(
                [f"p{p_} {format_ms(f.latency(p_))}" for p_ in (50, 90, 95, 99)]
                + [f"max {format_ms(f.max_ms)}"]))
        lines.append(f"statuses   {_counts(f.statuses)}")
        if f.errors:
            lines.append(f"errors     {_counts(f.errors)}")
        for title, results in (("thresholds", self.thresholds), ("warnings", self.warnings)):
            if results:
                width = max(len(str(r.threshold)) for r in results)
                lines += ["", title] + [
                    f"  {'pass' if r.passed else 'FAIL'}  {str(r.threshold):<{width}}  "
                    f"{r.shown_value()}" for r in results]
        if self.first_failures:
            lines += ["", "first failures"]
            for failure in self.first_failures:
                lines += _failure_lines(failure)
        return "\n".join(lines)

    def evidence(self) -> dict[str, Any]:
        p = self.params
        return {
            "method": p.method, "url": p.url, "target_rps": p.rps, "duration_s": p.duration,
            "warmup_s": p.warmup, "warmup_requests": self.warmup_requests,
            "concurrency": self.schedule.concurrency, "aborted": self.aborted,
            "thresholds": [_threshold_fact(r) for r in self.thresholds],
            "warnings": [_threshold_fact(r) for r in self.warnings],
            "first_failures": list(self.first_failures),
        }


def _threshold_fact(result: ThresholdResult) -> dict[str, Any]:
    return {"threshold": str(result.threshold), "observed": result.shown_value(),
            "passed": result.passed}


def _failure_lines(failure: dict[str, Any]) -> list[str]:
    head = f"  #{failure['request'] + 1:,} at {failure['at_s']:.2f} s: "
    if "error" in failure:
        return [f"{head}{failure['error']}: {failure['message']}"]
    lines = [f"{head}{failure['status']} {failure.get('reason', '')}".rstrip()
             + f" ({format_ms(failure['ms'])})"]
    lines += [f"    {problem}" for problem in failure.get("problems", [])]
    lines += [f"    {name}: {value}" for name, value in failure.get("headers", {}).items()]
    if failure.get("body"):
        lines += [f"    {line}" for line in failure["body"].splitlines()]
    return lines
