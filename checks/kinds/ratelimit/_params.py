"""The `ratelimit` kind's parameters."""

from __future__ import annotations

import math
import re
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from checks.config import Duration
from checks.kinds.base import KindParams
from checks.kinds.http import HeaderValue, HttpMethod, HttpRequest
from checks.traffic import RUN_HEADER

__all__ = ["FAMILIES", "Family", "RateLimitParams"]

Family = Literal["retry-after", "x-ratelimit", "ratelimit"]
FAMILIES: tuple[Family, ...] = ("retry-after", "x-ratelimit", "ratelimit")
# Set on every probe request by smokebot itself (checks.traffic), so a suite cannot hide a
# probe from the target's logs and limits.
_RESERVED_HEADERS = ("user-agent", RUN_HEADER.lower())
_PERCENT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*")
# How long one request of a burst is assumed to take when no `rps` paces it, for the least
# timeout the check needs (a loopback request takes ~2 ms, a distant one ~50).
_ASSUMED_REQUEST_S = 0.05


def _tolerance(value: Any) -> Any:
    if isinstance(value, str) and value.strip().isdigit():  # `${tolerance}` is text
        return int(value)
    if isinstance(value, str) and not _PERCENT.fullmatch(value):
        raise ValueError(f"expected a number of requests (5) or a percentage of "
                         f"expected_limit ('5%'), got {value!r}")
    return value


class RateLimitParams(KindParams):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    url: str
    method: HttpMethod = "GET"
    # The client identity the limit is counted for (an API key header, typically a secret).
    headers: dict[str, HeaderValue] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    body: str | None = None
    verify_tls: bool = True
    ca_file: str | None = None

    expected_limit: Annotated[int, Field(ge=1)]
    # Requests either side of expected_limit, or a percentage of it (rounded up).
    tolerance: Annotated[int | str, Field(union_mode="left_to_right")] = "5%"
    max_requests: Annotated[int, Field(ge=1)] | None = None
    rps: Annotated[float, Field(gt=0)] | None = None
    concurrency: Annotated[int, Field(ge=1)] = 1
    status: Annotated[int, Field(ge=400, le=599)] = 429
    require_headers: Literal["any", "none"] | list[Family] = "any"
    recover: bool = True
    max_wait: Annotated[Duration, Field(gt=0)] = 60.0
    # Each request's; the check's own `timeout` bounds the whole probe.
    request_timeout: Annotated[Duration, Field(gt=0)] = 10.0
    max_consecutive_errors: Annotated[int, Field(ge=1, le=100)] = 5

    @field_validator("headers")
    @classmethod
    def _no_reserved(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if name.strip().lower() in _RESERVED_HEADERS:
                raise ValueError(f"header '{name}' is set by smokebot on every traffic-probe "
                                 "request (User-Agent: smokebot/<version> (synthetic), "
                                 f"{RUN_HEADER}: <run id>), so that the target can tell a "
                                 "probe from a customer; remove it")
        return value

    @field_validator("tolerance", mode="before")
    @classmethod
    def _tolerance_text(cls, value: Any) -> Any:
        return _tolerance(value)

    @field_validator("tolerance")
    @classmethod
    def _tolerance_sign(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value < 0:
            raise ValueError(f"expected a tolerance of 0 or more requests, got {value}")
        return value

    @field_validator("require_headers", mode="before")
    @classmethod
    def _families(cls, value: Any) -> Any:
        # One message for a wrong value, not one per branch of the union.
        expected = f"expected 'any', 'none' or a list of: {', '.join(FAMILIES)}"
        if isinstance(value, str) and value not in ("any", "none"):
            raise ValueError(f"{expected}; got {value!r}")
        if isinstance(value, list):
            unknown = [v for v in value if v not in FAMILIES]
            if unknown:
                raise ValueError(f"{expected}; got {unknown[0]!r}")
            if len(set(value)) != len(value):
                raise ValueError(f"expected each header family once, got {value}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RateLimitParams:
        if self.json_body is not None and self.body is not None:
            raise ValueError("set either 'json' or 'body', not both")
        if self.ca_file is not None and not self.verify_tls:
            raise ValueError("'ca_file' has no effect with 'verify_tls: false'; keep one")
        latest = self.latest_throttle
        if self.max_requests is not None and self.max_requests < latest:
            raise ValueError(
                f"max_requests {self.max_requests} cannot show a limit of "
                f"{self.expected_limit} ±{self.tolerance_requests}: the limit should refuse "
                f"request {latest} at the latest, so expected max_requests of at least {latest}")
        return self

    # ------------------------------------------------------------------ derived

    @property
    def tolerance_requests(self) -> int:
        if isinstance(self.tolerance, int):
            return self.tolerance
        match = _PERCENT.fullmatch(self.tolerance)
        assert match is not None  # the validator saw to it
        return math.ceil(self.expected_limit * float(match.group(1)) / 100 - 1e-9)

    @property
    def earliest_throttle(self) -> int:
        """The first request that may be refused: the limit less the tolerance, plus one."""
        return max(1, self.expected_limit - self.tolerance_requests + 1)

    @property
    def latest_throttle(self) -> int:
        return self.expected_limit + self.tolerance_requests + 1

    @property
    def burst_size(self) -> int:
        """max_requests, or by default twice the limit and ten: enough to tell a limit that
        bites late from one that is not enforced."""
        return self.max_requests or 2 * self.expected_limit + 10

    @property
    def families(self) -> tuple[Family, ...]:
        """The families that must be present; empty for "any" and "none"."""
        return tuple(self.require_headers) if isinstance(self.require_headers, list) else ()

    def http_request(self, headers: dict[str, str]) -> HttpRequest:
        """The request every probe sends, with `headers` (the suite's, and smokebot's on top:
        `TrafficPolicy.merged_headers`)."""
        return HttpRequest.model_validate({
            "url": self.url, "method": self.method, "headers": headers,
            "json": self.json_body, "body": self.body, "verify_tls": self.verify_tls,
            "ca_file": self.ca_file, "follow_redirects": False})

    def least_time_s(self) -> float:
        """The least timeout a check needs: the burst (at its rate, or an assumed pace),
        perhaps one wait for an earlier burst's window first, the recovery wait, and a few
        requests' timeouts."""
        burst = (self.burst_size / self.rps if self.rps
                 else self.burst_size * _ASSUMED_REQUEST_S / self.concurrency)
        waits = self.max_wait * (2 if self.recover else 1)
        return math.ceil(burst + waits + 3 * self.request_timeout)
