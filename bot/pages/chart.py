"""The geometry of a check's history chart: its duration in each run, oldest on the left, as a
line with one point per run coloured by the run's status. Pure numbers and strings; the
template (`_chart.html`) draws them as inline SVG, escaping every text, so no markup is built
here and nothing needs JavaScript."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from checks.report._text import format_duration

__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "Chart", "ChartPoint", "Tick", "duration_chart"]

CHART_WIDTH = 720
CHART_HEIGHT = 220
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 16, 36  # room for the axis labels


@dataclass(frozen=True)
class ChartPoint:
    """One run's result of the check, as the chart takes it."""

    duration_s: float
    status: str  # pass, fail, error, skip, warn, flaky, slow
    status_class: str  # its CSS class, which sets the colour
    label: str  # the point's tooltip: when, status, duration
    href: str | None = None  # that run's page


@dataclass(frozen=True)
class Placed:
    x: float
    y: float
    point: ChartPoint


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    points: tuple[Placed, ...]
    line: str  # the polyline's points attribute: "x,y x,y ..."
    ticks: tuple[Tick, ...]  # duration gridlines, bottom (0) to top
    left: int
    right: int  # x of the plot's right edge
    bottom: float  # y of the zero line
    first_label: str  # under the oldest point
    last_label: str  # under the newest point


def _nice_ceiling(value: float) -> float:
    """1, 2 or 5 times a power of ten, at least `value`: gridlines at round durations."""
    if value <= 0 or not math.isfinite(value):
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def duration_chart(points: Sequence[ChartPoint], *, first_label: str = "",
                   last_label: str = "") -> Chart:
    """`points` oldest first. A single point stands in the middle; a duration that is not a
    finite number counts as 0."""
    durations = [p.duration_s if math.isfinite(p.duration_s) and p.duration_s > 0 else 0.0
                 for p in points]
    top = _nice_ceiling(max(durations, default=0.0))
    plot_w = CHART_WIDTH - _LEFT - _RIGHT
    plot_h = CHART_HEIGHT - _TOP - _BOTTOM
    bottom = float(_TOP + plot_h)
    step = plot_w / (len(points) - 1) if len(points) > 1 else 0.0
    placed = tuple(
        Placed(x=round(_LEFT + (i * step if len(points) > 1 else plot_w / 2), 1),
               y=round(bottom - plot_h * d / top, 1), point=p)
        for i, (p, d) in enumerate(zip(points, durations, strict=True)))
    ticks = tuple(Tick(y=round(bottom - plot_h * f, 1), label=format_duration(top * f))
                  for f in (0.0, 0.5, 1.0))
    return Chart(width=CHART_WIDTH, height=CHART_HEIGHT, points=placed,
                 line=" ".join(f"{p.x},{p.y}" for p in placed), ticks=ticks, left=_LEFT,
                 right=CHART_WIDTH - _RIGHT, bottom=bottom, first_label=first_label,
                 last_label=last_label)
