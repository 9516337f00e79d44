"""k6-style thresholds: one line each, `METRIC OP VALUE`, judged on a probe's figures.

    p95 < 300ms               any percentile: p50, p90, p99.9; k6's p(95) and med too
    max <= 2s                 also avg
    error_rate < 1%           or a fraction: < 0.01
    achieved_rps >= 95%       of the target rate; or an absolute rate: >= 950
    dropped < 1%              of the scheduled requests; or a count: < 10

OP is one of <, <=, >, >=. A latency needs a unit (ms or s): a bare number would be
milliseconds to k6 and seconds everywhere else in a suite file, so neither is assumed.
A line that cannot be read raises ValueError saying what was expected; the suite loader puts
it at the threshold's file:line.
"""

from __future__ import annotations

import difflib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer, WithJsonSchema

from checks.kinds.load._stats import LoadFigures, format_ms, format_percent

__all__ = ["Threshold", "ThresholdField", "ThresholdResult", "parse_fraction", "parse_threshold"]

_LINE = re.compile(r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_.()]*)\s*(?P<op><=|>=|<|>|==|=)\s*"
                   r"(?P<value>.*?)\s*$")
_PERCENTILE = re.compile(r"^(?:p(\d+(?:\.\d+)?)|p\((\d+(?:\.\d+)?)\))$")
_NUMBER = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)$")
_LATENCY = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*(ms|s)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*%$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?|\.\d+)\s*(?:rps|/s)?$")
_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
METRICS = ("p50", "p90", "p95", "p99", "max", "avg", "error_rate", "achieved_rps", "dropped")
_ALIASES = {"med": "p50", "median": "p50", "mean": "avg"}


@dataclass(frozen=True)
class Threshold:
    """One threshold as read. `value` is in the metric's unit: milliseconds for latencies, a
    fraction for error_rate, rps (or, when `relative`, a fraction of the target) for
    achieved_rps, a count (or, when `relative`, a fraction of the scheduled) for dropped."""

    metric: str  # canonical: p95, p99.9, max, avg, error_rate, achieved_rps, dropped
    op: str
    value: float
    relative: bool = False
    text: str = ""  # as written, for reports

    def __str__(self) -> str:
        return self.text or f"{self.metric} {self.op} {self.shown_limit()}"

    @property
    def percentile(self) -> float | None:
        return float(self.metric[1:]) if self.metric.startswith("p") else None

    @property
    def is_latency(self) -> bool:
        return self.percentile is not None or self.metric in ("max", "avg")

    def observed(self, figures: LoadFigures) -> float:
        """The figure this threshold judges, in the unit of `value`."""
        if self.percentile is not None:
            return figures.latency(self.percentile)
        if self.metric == "max":
            return figures.max_ms
        if self.metric == "avg":
            return figures.mean_ms
        if self.metric == "error_rate":
            return figures.error_rate
        if self.metric == "achieved_rps":
            return figures.achieved_rps / figures.target_rps if self.relative \
                else figures.achieved_rps
        scheduled = max(figures.scheduled, 1)
        return figures.dropped / scheduled if self.relative else float(figures.dropped)

    def judge(self, figures: LoadFigures) -> ThresholdResult:
        seen = self.observed(figures)
        return ThresholdResult(self, seen, _OPS[self.op](seen, self.value), figures)

    def shown_limit(self) -> str:
        if self.is_latency:
            return f"{self.value:,g} ms"  # as written: 5 ms, not 5.0 ms
        if self.metric == "error_rate" or self.relative:
            return format_percent(self.value)
        if self.metric == "achieved_rps":
            return f"{self.value:g} rps"
        return f"{self.value:g}"


@dataclass(frozen=True)
class ThresholdResult:
    threshold: Threshold
    observed: float
    passed: bool
    figures: LoadFigures

    def shown_value(self) -> str:
        t = self.threshold
        if t.is_latency:
            return format_ms(self.observed)
        if t.metric == "error_rate":
            return format_percent(self.observed)
        if t.metric == "achieved_rps":
            rps = self.figures.achieved_rps
            share = rps / self.figures.target_rps
            return f"{rps:,.1f} rps ({format_percent(share)} of {self.figures.target_rps:g})"
        if t.relative:  # dropped
            return f"{self.figures.dropped:,} ({format_percent(self.observed)})"
        return f"{self.figures.dropped:,}"

    def describe(self, what: str = "threshold") -> str:
        """`p95 412 ms, over the 300 ms threshold`; `what` is "warn threshold" for a warning."""
        t = self.threshold
        name = {"error_rate": "errors", "achieved_rps": "achieved", "dropped": "dropped"}.get(
            t.metric, t.metric)
        if t.metric == "error_rate":
            seen = f"{self.shown_value()} errors"
        else:
            seen = f"{name} {self.shown_value()}"
        upper = t.op in ("<", "<=")
        if self.observed == t.value:
            side = f"at the {t.shown_limit()} {what} (expected {'under' if upper else 'over'} it)"
        else:
            side = f"{'over' if upper else 'under'} the {t.shown_limit()} {what}"
        return f"{seen}, {side}"


def parse_fraction(raw: Any, what: str = "a rate") -> float:
    """A fraction from `1%`, `0.5%` or `0.01`; ValueError otherwise."""
    if isinstance(raw, bool) or not isinstance(raw, (int, float, str)):
        raise ValueError(f"expected {what} as a percentage such as 1% or a fraction between "
                         f"0 and 1, got {raw!r}")
    text = str(raw).strip()
    if match := _PERCENT.match(text):
        fraction = float(match.group(1)) / 100
    elif _NUMBER.match(text):
        fraction = float(text)
    else:
        raise ValueError(f"expected {what} as a percentage such as 1% or a fraction between "
                         f"0 and 1, got {raw!r}")
    if not 0 <= fraction <= 1:
        raise ValueError(f"expected {what} between 0% and 100%, got {raw!r}")
    return fraction


def _metric(raw: str, line: str) -> str:
    name = _ALIASES.get(raw.lower(), raw.lower())
    if match := _PERCENTILE.match(name):
        percentile = float(match.group(1) or match.group(2))
        if not 0 < percentile <= 100:
            raise ValueError(f"cannot read threshold {line!r}: a percentile is between p0 and "
                             f"p100, got {raw!r}")
        return "max" if percentile == 100 else f"p{percentile:g}"
    if name in METRICS:
        return name
    hint = difflib.get_close_matches(name, METRICS, n=1)
    suggestion = f" (did you mean '{hint[0]}'?)" if hint else ""
    raise ValueError(f"cannot read threshold {line!r}: unknown metric {raw!r}{suggestion}; "
                     f"expected a percentile (p50, p90, p95, p99, p99.9), max, avg, "
                     "error_rate, achieved_rps or dropped")


def _value(metric: str, text: str, line: str) -> tuple[float, bool]:
    lead = f"cannot read threshold {line!r}:"
    if metric.startswith("p") or metric in ("max", "avg"):
        match = _LATENCY.match(text)
        if not match:
            bare = " (a bare number has no unit)" if _NUMBER.match(text) else ""
            raise ValueError(f"{lead} expected a latency with a unit such as 300ms or 1.5s after "
                             f"'{metric}', got {text!r}{bare}")
        scale = 1000.0 if match.group(2) == "s" else 1.0
        return float(match.group(1)) * scale, False
    if metric == "error_rate":
        try:
            return parse_fraction(text, "error_rate"), False
        except ValueError as exc:
            raise ValueError(f"{lead} {exc}") from None
    if metric == "achieved_rps":
        if match := _PERCENT.match(text):
            return float(match.group(1)) / 100, True
        if match := _RATE.match(text):
            return float(match.group(1)), False
        raise ValueError(f"{lead} expected a share of the target rate such as 95% or a rate "
                         f"such as 950, got {text!r}")
    if match := _PERCENT.match(text):  # dropped
        return float(match.group(1)) / 100, True
    if text.isdigit():
        return float(text), False
    raise ValueError(f"{lead} expected a share of the scheduled requests such as 1% or a "
                     f"count such as 10, got {text!r}")


def parse_threshold(raw: Any) -> Threshold:
    """A threshold from its line; ValueError says what is wrong with it."""
    if isinstance(raw, Threshold):
        return raw
    if not isinstance(raw, str):
        raise ValueError(f"expected a threshold line such as 'p95 < 300ms', got {raw!r}")
    line = raw.strip()
    match = _LINE.match(line)
    if match is None:
        raise ValueError(f"cannot read threshold {raw!r}: expected 'METRIC OP VALUE' such as "
                         "'p95 < 300ms' or 'error_rate < 1%', with OP one of <, <=, >, >=")
    op = match.group("op")
    if op in ("=", "=="):
        raise ValueError(f"cannot read threshold {raw!r}: '{op}' is not a threshold operator; "
                         "expected one of <, <=, >, >=")
    metric = _metric(match.group("metric"), line)
    if not match.group("value"):
        raise ValueError(f"cannot read threshold {raw!r}: expected a value after '{op}'")
    value, relative = _value(metric, match.group("value"), line)
    if not math.isfinite(value):
        raise ValueError(f"cannot read threshold {raw!r}: expected a finite value")
    return Threshold(metric, op, value, relative, " ".join(line.split()))


_SCHEMA = {"type": "string",
           "pattern": r"^\s*[A-Za-z_][A-Za-z0-9_.()]*\s*(<=|>=|<|>)\s*\S.*$",
           "description": "METRIC OP VALUE: 'p95 < 300ms', 'error_rate < 1%', "
                          "'achieved_rps >= 95%', 'dropped < 1%'"}
ThresholdField = Annotated[Threshold, BeforeValidator(parse_threshold),
                           PlainSerializer(str, return_type=str), WithJsonSchema(_SCHEMA)]
