"""The `load` kind's parameters, and the schedule they make."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BeforeValidator, ConfigDict, Field, WithJsonSchema, field_validator, model_validator,
)

from checks.assertions import AssertionList
from checks.config import Duration, parse_duration
from checks.kinds.base import KindParams
from checks.kinds.http import HeaderValue, HttpMethod, StatusCodes
from checks.kinds.load._thresholds import (
    Threshold, ThresholdField, parse_fraction, parse_threshold,
)
from checks.traffic import HARD_CAPS

__all__ = ["AbortRule", "LoadParams", "Schedule"]

SAFE_METHODS = ("GET", "HEAD")
# Enough requests in flight for answers of 250 ms at the target rate, and at least 10.
DEFAULT_INFLIGHT_S = 0.25
DEFAULT_THRESHOLDS = ("error_rate < 1%", "achieved_rps >= 95%")


def _fraction(value: Any) -> float:
    return parse_fraction(value, "an error rate")


def _warmup(value: Any) -> float:
    # No warm-up is spelled 0; a Duration must be above zero.
    if not isinstance(value, bool) and value in (0, "0", "0s", "0ms"):
        return 0.0
    return parse_duration(value)


# Editors read these; the validators above are what accept a value.
_FRACTION_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0, "maximum": 1},
                              {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*%\s*$"}],
                    "description": "a percentage (50%) or a fraction between 0 and 1 (0.5)"}
_WARMUP_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0},
                            {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*(ms|s|m|h)?\s*$"}],
                  "description": "seconds of traffic before the measured phase (0: none)"}
Fraction = Annotated[float, BeforeValidator(_fraction), WithJsonSchema(_FRACTION_SCHEMA)]
Warmup = Annotated[float, BeforeValidator(_warmup), WithJsonSchema(_WARMUP_SCHEMA)]


class AbortRule(KindParams):
    """When a probe stops early rather than keep hitting a target that is plainly failing."""

    error_rate: Fraction = 0.5  # of the requests finished so far, warm-up included
    min_requests: Annotated[int, Field(ge=1)] = 20  # before error_rate applies
    consecutive_5xx: Annotated[int, Field(ge=1)] = 20


class LoadParams(KindParams):
    """An open-model load probe: requests start at `rps` whatever the answers, at most
    `concurrency` in flight (a request due when that many are in flight is dropped and
    counted, not queued)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str
    method: HttpMethod = "GET"
    allow_mutating: bool = False
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = Field(default=None, alias="json")
    rps: Annotated[float, Field(gt=0)]
    duration: Duration
    warmup: Warmup = 0.0
    concurrency: Annotated[int, Field(ge=1)] | None = None
    request_timeout: Duration = 5.0  # each request's (`timeout` is the whole check's)
    status: StatusCodes | None = None  # None: any 2xx
    assertions: AssertionList = Field(default_factory=list, alias="assert")
    assert_every: Annotated[int, Field(ge=1)] = 10  # assertions judge every Nth answer
    thresholds: list[ThresholdField] | None = None  # None: DEFAULT_THRESHOLDS
    warn: list[ThresholdField] = Field(default_factory=list)
    max_latency: Duration | None = None  # shorthand for the threshold `p95 < max_latency`
    warn_latency: Duration | None = None  # shorthand for the warning `p95 < warn_latency`
    abort: AbortRule = Field(default_factory=AbortRule)
    verify_tls: bool = True
    ca_file: str | None = None

    @field_validator("rps")
    @classmethod
    def _rps(cls, value: float) -> float:
        if value > HARD_CAPS.rps:
            raise ValueError(f"{value:g} requests per second is over smokebot's hard cap of "
                             f"{HARD_CAPS.rps:g}; a test that needs more is a load test for k6")
        return value

    @field_validator("concurrency")
    @classmethod
    def _concurrency(cls, value: int | None) -> int | None:
        if value is not None and value > HARD_CAPS.concurrency:
            raise ValueError(f"{value} requests in flight is over smokebot's hard cap of "
                             f"{HARD_CAPS.concurrency}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> LoadParams:
        if self.method not in SAFE_METHODS and not self.allow_mutating:
            raise ValueError(f"method {self.method} may change the target's data, and a load "
                             f"probe repeats it hundreds of times; expected GET or HEAD, or "
                             "`allow_mutating: true` to send it anyway")
        if self.json_body is not None and self.body is not None:
            raise ValueError("set either 'json' or 'body', not both")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("'ca_file' has no effect with 'verify_tls: false'; keep one")
        span = self.warmup + self.duration
        if span > HARD_CAPS.duration_s:
            raise ValueError(f"warmup plus duration is {span:g}s, over smokebot's hard cap of "
                             f"{HARD_CAPS.duration_s:g}s of traffic")
        total = Schedule.of(self).total
        if total > HARD_CAPS.requests_per_check:
            raise ValueError(f"{total:,} requests ({self.rps:g} rps for {span:g}s) is over "
                             f"smokebot's hard cap of {HARD_CAPS.requests_per_check:,} a check")
        if self.max_latency is not None and self.warn_latency is not None \
                and self.warn_latency >= self.max_latency:
            raise ValueError(f"warn_latency ({self.warn_latency * 1000:g} ms) is meant to be "
                             f"below max_latency ({self.max_latency * 1000:g} ms); expected a "
                             "lower warn_latency")
        return self

    @property
    def expected_statuses(self) -> list[int]:
        """The statuses an answer may have; empty means any 2xx."""
        if self.status is None:
            return []
        return self.status if isinstance(self.status, list) else [self.status]

    def failing_thresholds(self) -> list[Threshold]:
        chosen = list(self.thresholds) if self.thresholds is not None else [
            parse_threshold(text) for text in DEFAULT_THRESHOLDS]
        if self.max_latency is not None:
            chosen.append(parse_threshold(f"p95 < {self.max_latency * 1000:g}ms"))
        return chosen

    def warning_thresholds(self) -> list[Threshold]:
        chosen = list(self.warn)
        if self.warn_latency is not None:
            chosen.append(parse_threshold(f"p95 < {self.warn_latency * 1000:g}ms"))
        return chosen

    def describe(self) -> str:
        warm = f" after a {self.warmup:g}s warm-up" if self.warmup else ""
        return f"{self.method} {self.url} at {self.rps:g} rps for {self.duration:g}s{warm}"


@dataclass(frozen=True)
class Schedule:
    """When the requests of one probe start: request i at i / rps seconds; the first
    `warmup_requests` are not measured."""

    rps: float
    warmup_requests: int
    measured_requests: int
    concurrency: int

    @classmethod
    def of(cls, params: LoadParams) -> Schedule:
        concurrency = params.concurrency or min(
            HARD_CAPS.concurrency, max(10, math.ceil(params.rps * DEFAULT_INFLIGHT_S)))
        return cls(rps=params.rps, warmup_requests=round(params.rps * params.warmup),
                   measured_requests=max(1, round(params.rps * params.duration)),
                   concurrency=concurrency)

    @property
    def total(self) -> int:
        return self.warmup_requests + self.measured_requests

    @property
    def interval(self) -> float:
        return 1.0 / self.rps
