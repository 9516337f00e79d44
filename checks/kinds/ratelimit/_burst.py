"""Sending a burst: numbered requests, paced and bounded, until the target throttles, refuses,
breaks, or the burst's cap is reached. The I/O edge of the kind: it records what came back
and judges nothing (see `_verdict`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from checks.errors import CheckError
from checks.kinds.http import Exchange
from checks.kinds.ratelimit._headers import Limits, read_limits

__all__ = ["Burst", "BurstPlan", "Sample", "Send", "Stop", "send_burst", "send_one"]

Send = Callable[[], Awaitable[Exchange]]
Progress = Callable[[int], None]


class Stop:
    """Why a burst ended."""

    THROTTLED = "throttled"  # the throttle status came back
    REFUSED = "refused"  # another 4xx: the client identity or the request is wrong
    ERRORS = "errors"  # too many 5xx or transport errors in a row
    REQUESTS = "requests"  # every request of the burst was sent
    DURATION = "duration"  # the traffic duration cap


@dataclass(frozen=True)
class Sample:
    """One request of a burst and what came back."""

    n: int  # 1-based, in the order of sending
    at_s: float  # when the response (or the error) came, from the burst's start
    status: int | None = None  # None: no response
    reason: str = ""
    error: str | None = None  # why there was no response
    limits: Limits = field(default_factory=Limits)
    throttled: bool = False

    @property
    def server_error(self) -> bool:
        return self.status is None or self.status >= 500


@dataclass(frozen=True)
class BurstPlan:
    requests: int
    rps: float
    concurrency: int
    max_duration_s: float
    throttle_status: int
    max_consecutive_errors: int


@dataclass
class Burst:
    samples: list[Sample]  # in the order of sending
    stop: str
    elapsed_s: float

    @property
    def first_throttled(self) -> Sample | None:
        return next((s for s in self.samples if s.throttled), None)

    def failures_in_a_row(self) -> list[Sample]:
        """The 5xx responses and errors at the end of the burst."""
        run: list[Sample] = []
        for sample in self.samples:
            run = [*run, sample] if sample.server_error else []
        return run


async def send_one(send: Send, n: int, throttle_status: int, started: float) -> Sample:
    """Sends request `n`; a transport error becomes a Sample, a permanent one (invalid URL)
    propagates."""
    try:
        exchange = await send()
    except CheckError as exc:
        if exc.permanent:
            raise
        return Sample(n=n, at_s=time.perf_counter() - started, error=exc.message)
    limits = read_limits(exchange.headers, datetime.now(timezone.utc))
    return Sample(n=n, at_s=time.perf_counter() - started, status=exchange.status,
                  reason=exchange.reason, limits=limits,
                  throttled=exchange.status == throttle_status)


async def send_burst(send: Send, plan: BurstPlan, progress: Progress) -> Burst:
    """Sends up to `plan.requests` requests, `plan.concurrency` at a time, no faster than
    `plan.rps`; stops sending at the first throttled, refused or errors-in-a-row response
    (the requests already in flight are still read)."""
    started = time.perf_counter()
    samples: dict[int, Sample] = {}
    state = _State()

    async def worker() -> None:
        while state.stop is None:
            if state.next_n > plan.requests:
                state.stop = Stop.REQUESTS
                return
            n = state.next_n
            state.next_n += 1
            delay = started + (n - 1) / plan.rps - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            if state.stop is not None:
                return
            if time.perf_counter() - started >= plan.max_duration_s:
                state.stop = Stop.DURATION
                return
            try:
                sample = await send_one(send, n, plan.throttle_status, started)
            except CheckError as exc:
                state.stop, state.error = Stop.ERRORS, exc
                return
            samples[n] = sample
            reason = _stop_after(sample, state, plan)
            # A response still in flight when the last request went out can still end it.
            if reason is not None and state.stop in (None, Stop.REQUESTS):
                state.stop = reason
            progress(len(samples))

    await asyncio.gather(*(worker() for _ in range(plan.concurrency)))
    if state.error is not None:
        raise state.error
    assert state.stop is not None
    return Burst(samples=[samples[n] for n in sorted(samples)], stop=state.stop,
                 elapsed_s=time.perf_counter() - started)


@dataclass
class _State:
    next_n: int = 1
    stop: str | None = None
    error: CheckError | None = None
    errors_in_a_row: int = 0


def _stop_after(sample: Sample, state: _State, plan: BurstPlan) -> str | None:
    if sample.throttled:
        return Stop.THROTTLED
    if sample.server_error:
        state.errors_in_a_row += 1
        return Stop.ERRORS if state.errors_in_a_row >= plan.max_consecutive_errors else None
    state.errors_in_a_row = 0
    if sample.status is not None and 400 <= sample.status < 500:
        return Stop.REFUSED
    return None
