"""k6-style thresholds and the latency percentiles of the `load` kind: what is read, the
errors for what cannot be, how a failed threshold reads, and properties of both."""

from __future__ import annotations

import math

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from checks.errors import ConfigError
from checks.kinds.load import LoadFigures, Threshold, parse_threshold, percentile
from checks.schema import suite_json_schema
from tests.support.latency_server import load_check, load_plan


def _figures(latencies: list[float], *, answered: int | None = None, failed: int = 0,
             dropped: int = 0, rps: float = 100, duration_s: float = 1.0) -> LoadFigures:
    answered = len(latencies) if answered is None else answered
    return LoadFigures(target_rps=rps, duration_s=duration_s, scheduled=answered + dropped,
                       sent=answered, answered=answered, failed=failed, dropped=dropped,
                       statuses={"200": answered}, errors={},
                       ordered_ms=tuple(sorted(latencies)))


@pytest.mark.parametrize(("line", "expected"), [
    ("p95 < 300ms", Threshold("p95", "<", 300.0, False, "p95 < 300ms")),
    ("p(99)<0.8s", Threshold("p99", "<", 800.0, False, "p(99)<0.8s")),
    ("  p99.9 <=  1.5s ", Threshold("p99.9", "<=", 1500.0, False, "p99.9 <= 1.5s")),
    ("med < 50ms", Threshold("p50", "<", 50.0, False, "med < 50ms")),
    ("max < 2s", Threshold("max", "<", 2000.0, False, "max < 2s")),
    ("p100 < 2s", Threshold("max", "<", 2000.0, False, "p100 < 2s")),
    ("error_rate < 1%", Threshold("error_rate", "<", 0.01, False, "error_rate < 1%")),
    ("error_rate<0.05", Threshold("error_rate", "<", 0.05, False, "error_rate<0.05")),
    ("achieved_rps >= 95%", Threshold("achieved_rps", ">=", 0.95, True,
                                      "achieved_rps >= 95%")),
    ("achieved_rps > 900 rps", Threshold("achieved_rps", ">", 900.0, False,
                                         "achieved_rps > 900 rps")),
    ("dropped < 1%", Threshold("dropped", "<", 0.01, True, "dropped < 1%")),
    ("dropped <= 10", Threshold("dropped", "<=", 10.0, False, "dropped <= 10")),
])
def test_thresholds_are_read(line: str, expected: Threshold) -> None:
    assert parse_threshold(line) == expected


@pytest.mark.parametrize(("line", "message"), [
    ("p95 < 300", "cannot read threshold 'p95 < 300': expected a latency with a unit such as "
                  "300ms or 1.5s after 'p95', got '300' (a bare number has no unit)"),
    ("p95 < fast", "cannot read threshold 'p95 < fast': expected a latency with a unit such as "
                   "300ms or 1.5s after 'p95', got 'fast'"),
    ("p59x < 3ms", "cannot read threshold 'p59x < 3ms': unknown metric 'p59x'; expected a "
                   "percentile (p50, p90, p95, p99, p99.9), max, avg, error_rate, achieved_rps "
                   "or dropped"),
    ("eror_rate < 1%", "cannot read threshold 'eror_rate < 1%': unknown metric 'eror_rate' "
                       "(did you mean 'error_rate'?); expected a percentile (p50, p90, p95, "
                       "p99, p99.9), max, avg, error_rate, achieved_rps or dropped"),
    ("p95 == 3ms", "cannot read threshold 'p95 == 3ms': '==' is not a threshold operator; "
                   "expected one of <, <=, >, >="),
    ("p95 <", "cannot read threshold 'p95 <': expected a value after '<'"),
    ("error_rate < 120%", "cannot read threshold 'error_rate < 120%': expected error_rate "
                          "between 0% and 100%, got '120%'"),
    ("p95 fast", "cannot read threshold 'p95 fast': expected 'METRIC OP VALUE' such as "
                 "'p95 < 300ms' or 'error_rate < 1%', with OP one of <, <=, >, >="),
    ("p0 < 3ms", "cannot read threshold 'p0 < 3ms': a percentile is between p0 and p100, "
                 "got 'p0'"),
])
def test_a_threshold_that_cannot_be_read_says_what_was_expected(line: str,
                                                                message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_threshold(line)
    assert str(raised.value) == message


def test_a_bad_threshold_in_a_suite_is_reported_at_its_line() -> None:
    with pytest.raises(ConfigError) as raised:
        load_plan(load_check("http://127.0.0.1:9", thresholds=["p95 < 300ms", "p95 < fast"]))
    assert raised.value.message.startswith("load: cannot read threshold 'p95 < fast': ")
    assert str(raised.value.location).startswith("smoketest.yaml:7:")
    assert raised.value.field == "categories[0].checks[0].thresholds[1]"


def test_warn_latency_must_be_below_max_latency() -> None:
    with pytest.raises(ConfigError) as raised:
        load_plan(load_check("http://127.0.0.1:9", max_latency="200ms", warn_latency="300ms"))
    assert raised.value.message == ("load: warn_latency (300 ms) is meant to be below "
                                    "max_latency (200 ms); expected a lower warn_latency")


@pytest.mark.parametrize(("line", "figures", "text"), [
    ("p95 < 300ms", _figures([412.0] * 20), "p95 412 ms, over the 300 ms threshold"),
    ("p95 < 300ms", _figures([300.0] * 20),
     "p95 300 ms, at the 300 ms threshold (expected under it)"),
    ("error_rate < 1%", _figures([5.0] * 1000, failed=31), "3.1% errors, over the 1% threshold"),
    ("achieved_rps >= 95%", _figures([5.0] * 80),
     "achieved 80.0 rps (80% of 100), under the 95% threshold"),
    ("dropped < 1%", _figures([5.0] * 90, dropped=10), "dropped 10 (10%), over the 1% threshold"),
])
def test_a_failed_threshold_reads_as_what_was_seen_against_the_limit(
        line: str, figures: LoadFigures, text: str) -> None:
    result = parse_threshold(line).judge(figures)
    assert not result.passed
    assert result.describe() == text


def test_a_threshold_that_holds_passes() -> None:
    figures = _figures([float(ms) for ms in range(1, 101)])
    assert all(parse_threshold(line).judge(figures).passed for line in (
        "p95 < 96ms", "p50 <= 50ms", "max < 101ms", "avg < 51ms", "error_rate < 1%",
        "achieved_rps >= 100%", "dropped < 1"))
    assert not parse_threshold("p95 < 95ms").judge(figures).passed


def test_the_figures_give_every_measurement_the_reports_show() -> None:
    assert set(_figures([1.0, 2.0]).measurements()) == {
        "requests_sent", "requests_completed", "dropped", "duration_s", "achieved_rps",
        "target_rps", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "error_rate",
        "statuses", "errors"}


# ------------------------------------------------------------------------------ properties

_METRICS = st.sampled_from(["p50", "p90", "p95", "p99", "max", "avg", "p(95)", "p99.9"])
_OPS = st.sampled_from(["<", "<=", ">", ">="])
_AMOUNTS = st.decimals(min_value=0, max_value=100_000, places=3).map(str)


@given(_METRICS, _OPS, _AMOUNTS, st.sampled_from(["ms", "s"]), st.booleans())
def test_every_latency_threshold_written_with_a_unit_is_read(
        metric: str, op: str, amount: str, unit: str, spaced: bool) -> None:
    gap = " " if spaced else ""
    threshold = parse_threshold(f"{metric}{gap}{op}{gap}{amount}{unit}")
    assert threshold.op == op and threshold.is_latency
    assert threshold.value == pytest.approx(float(amount) * (1000 if unit == "s" else 1))


@given(_OPS, st.decimals(min_value=0, max_value=100, places=2))
def test_every_error_rate_percentage_is_read_as_a_fraction(op: str, amount: object) -> None:
    threshold = parse_threshold(f"error_rate {op} {amount}%")
    assert threshold.value == pytest.approx(float(amount) / 100)  # type: ignore[arg-type]


@given(st.text(max_size=40))
def test_any_text_is_read_or_refused_with_a_value_error(text: str) -> None:
    try:
        threshold = parse_threshold(text)
    except ValueError as exc:
        assert str(exc).startswith(("cannot read threshold", "expected a threshold"))
    else:
        assert threshold.op in ("<", "<=", ">", ">=") and math.isfinite(threshold.value)


_LATENCIES = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1,
                      max_size=300)


@given(_LATENCIES, st.floats(min_value=0, max_value=100))
def test_a_percentile_is_one_of_the_measured_latencies(values: list[float], p: float) -> None:
    ordered = sorted(values)
    assert percentile(ordered, p) in values
    assert ordered[0] <= percentile(ordered, p) <= ordered[-1]


@given(_LATENCIES, st.floats(min_value=0, max_value=100), st.floats(min_value=0, max_value=100))
def test_percentiles_rise_with_p(values: list[float], p: float, q: float) -> None:
    ordered = sorted(values)
    low, high = sorted((p, q))
    assert percentile(ordered, low) <= percentile(ordered, high)


@given(_LATENCIES, st.floats(min_value=0.1, max_value=100))
def test_the_nearest_rank_covers_at_least_p_percent(values: list[float], p: float) -> None:
    ordered = sorted(values)
    value = percentile(ordered, p)
    at_or_below = sum(1 for v in values if v <= value)
    assert at_or_below >= math.ceil(p / 100 * len(values) - 1e-9)
    assert percentile(ordered, 100) == max(values)


def test_a_load_check_using_every_field_validates_against_the_schema() -> None:
    check = load_check("http://127.0.0.1:9", warmup="2s", concurrency=20, request_timeout="1s",
                       status=[200, 204], headers={"X-Count": "5"}, assert_every=5,
                       thresholds=["p95 < 300ms", "achieved_rps >= 95%"], warn=["p99 < 1s"],
                       max_latency="500ms", warn_latency="200ms", verify_tls=True,
                       abort={"error_rate": "30%", "min_requests": 50, "consecutive_5xx": 5},
                       **{"assert": ["status == healthy"]})
    plan = load_plan(check)
    assert plan.checks[0].params.abort.error_rate == 0.3  # type: ignore[attr-defined]
    document = {"suite": "load", "environments": {"staging": {}},
                "categories": [{"name": "Load", "checks": [check]}]}
    errors = [e.message for e in
              jsonschema.Draft202012Validator(suite_json_schema()).iter_errors(document)]
    assert errors == []


def test_the_kind_package_exports_a_sorted_public_list() -> None:
    import checks.kinds.load as load

    assert load.__all__ == sorted(load.__all__)
    assert all(getattr(load, name) is not None for name in load.__all__)
