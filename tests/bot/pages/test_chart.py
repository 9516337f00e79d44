"""The history chart's geometry: oldest on the left, durations on a round scale, one point per
run whatever the durations say."""

from __future__ import annotations

import math

from bot.pages.chart import CHART_WIDTH, ChartPoint, duration_chart


def point(duration_s: float, status: str = "pass") -> ChartPoint:
    return ChartPoint(duration_s=duration_s, status=status, status_class=f"s-{status}",
                      label=f"{status} {duration_s}")


def test_points_go_left_to_right_and_up_with_the_duration() -> None:
    chart = duration_chart([point(0.2), point(1.0, "fail"), point(0.6, "slow")],
                           first_label="a", last_label="b")
    xs = [p.x for p in chart.points]
    ys = [p.y for p in chart.points]
    assert xs == sorted(xs) and xs[0] == chart.left and xs[-1] == chart.right
    assert ys[1] < ys[2] < ys[0] < chart.bottom  # SVG's y grows downwards
    assert [t.label for t in chart.ticks] == ["0ms", "500ms", "1.0s"]  # 1 s: a round top
    assert chart.ticks[-1].y == chart.points[1].y  # the slowest touches the top gridline
    assert chart.line == " ".join(f"{p.x},{p.y}" for p in chart.points)
    assert [p.point.status for p in chart.points] == ["pass", "fail", "slow"]


def test_a_single_point_stands_in_the_middle_and_odd_durations_count_as_zero() -> None:
    one = duration_chart([point(3.0)])
    assert len(one.points) == 1 and one.left < one.points[0].x < one.right
    assert [t.label for t in one.ticks][-1] == "5.0s"
    odd = duration_chart([point(math.nan, "error"), point(-1, "skip"), point(math.inf)])
    assert {p.y for p in odd.points} == {odd.bottom}
    assert duration_chart([]).points == () and duration_chart([]).width == CHART_WIDTH
