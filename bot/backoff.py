"""How long to wait between tries, and a wait that ends early when the process stops.

Every retry loop in `bot/` takes its delays from a `Backoff` and, where it can be asked to
stop, waits with `sleep_unless`; the loops stay in their modules because each decides
differently when to give up (a deadline, a stop event, a Retry-After, a persisted retry time).

A `Backoff` is a pure schedule: `delay(attempt)` depends only on the attempt number (and the
jitter's random draw), so a schedule can be resumed from a count stored in the database.

    Backoff.exponential(first_s=0.5, factor=2.0, cap_s=5.0)   0.5, 1, 2, 4, 5, 5, ...
    Backoff.constant(2.0)                                      2, 2, 2, ...
    Backoff((0.5, 1.0, 2.0, 5.0, 15.0))                        0.5, 1, 2, 5, 15, 15, ...

Why not tenacity or stamina: both wrap a call and own the loop; here the delay must also be
computed on its own (the outbox stores when a message is next due), and waits must end when
a stop event is set. A table and a multiplication are less than a dependency.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Backoff", "sleep_unless"]


@dataclass(frozen=True)
class Backoff:
    """Try `n` (from 0) waits `steps[n]` seconds; past the last step, the last step again.

    `jitter` (0 to 1) is the fraction of a delay that may be taken off at random, so that
    processes that failed together do not retry together; a delay never exceeds its step.
    """

    steps: tuple[float, ...]
    jitter: float = 0.0

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("a backoff needs at least one step")
        if any(not math.isfinite(s) or s < 0 for s in self.steps):
            raise ValueError(f"backoff steps must be finite and not negative: {self.steps}")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError(f"backoff jitter must be between 0 and 1, not {self.jitter}")

    @classmethod
    def exponential(cls, *, first_s: float, factor: float = 2.0, cap_s: float,
                    jitter: float = 0.0) -> Backoff:
        """`first_s`, then each delay `factor` times the one before, at most `cap_s`."""
        if not 0 < first_s <= cap_s or not math.isfinite(cap_s) or factor < 1:
            raise ValueError(f"exponential backoff needs 0 < first_s <= cap_s (finite) and "
                             f"factor >= 1: first_s={first_s}, cap_s={cap_s}, factor={factor}")
        steps = [first_s]
        while factor > 1 and steps[-1] < cap_s:
            steps.append(min(cap_s, steps[-1] * factor))
        return cls(tuple(steps), jitter)

    @classmethod
    def constant(cls, seconds: float, *, jitter: float = 0.0) -> Backoff:
        return cls((seconds,), jitter)

    def delay(self, attempt: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after failed try number `attempt` (0 for the first try).
        `rand` returns a float in [0, 1); tests pass their own."""
        if attempt < 0:
            raise ValueError(f"attempt must not be negative, not {attempt}")
        step = self.steps[min(attempt, len(self.steps) - 1)]
        if not self.jitter:
            return step
        return step * (1.0 - self.jitter * rand())


async def sleep_unless(stop: asyncio.Event | None, seconds: float) -> bool:
    """Sleeps `seconds`, or less if `stop` is set meanwhile (None: never set). True when it
    returned because `stop` is set, so a loop can end without waiting out its pause."""
    if stop is None:
        await asyncio.sleep(max(0.0, seconds))
        return False
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True
