"""The open-model scheduler: request i starts at `i / rps` seconds whatever the earlier ones are
doing (an arrival rate, as k6's constant-arrival-rate executor, not a fixed number of users
waiting on each other). At most `concurrency` requests are in flight: one that is due when
the bound is reached is dropped and counted (k6's dropped_iterations), never queued, so a
slow target shows as dropped requests and latency, not as a probe that runs on for ever.

The scheduler knows nothing of HTTP: it starts `fire(i)` tasks on time, polls `stop()` (the
early-abort rules) and calls `tick(i)` a few times a second for the progress line. However
it ends (done, aborted, cancelled by the runner's timeout or Ctrl-C), every request still in
flight is cancelled before it returns, so no traffic goes on after it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from checks.kinds.load._params import Schedule
from checks.kinds.load._stats import Tally

__all__ = ["Timeline", "generate"]

TICK_S = 0.3
TIMER_SLACK_S = 0.003


@dataclass(frozen=True)
class Timeline:
    """When the probe ran, in event-loop seconds."""

    started: float
    measured_from: float  # when the first measured request was due
    ended: float  # when the scheduler stopped starting requests
    launched: int  # schedule slots handled (sent or dropped)
    stop_reason: str | None  # why it stopped early; None when the schedule ran out
    interval: float

    def measured_s(self, schedule: Schedule) -> float:
        """The measured window: up to the last slot's end when the schedule ran out, up to
        the stop otherwise."""
        if self.stop_reason is None and self.launched >= schedule.total:
            nominal = schedule.measured_requests * self.interval
            actual = self.ended + self.interval - self.measured_from
            # The loop's timers wake up to ~1 ms late: that is not the target's doing.
            return nominal if actual - nominal <= TIMER_SLACK_S else actual
        return max(0.0, self.ended - self.measured_from)

    def measured_scheduled(self, schedule: Schedule) -> int:
        return max(0, self.launched - schedule.warmup_requests)


async def generate(schedule: Schedule, fire: Callable[[int], Coroutine[Any, Any, None]],
                   tally: Tally, *, stop: Callable[[], str | None],
                   tick: Callable[[int], None], drain_s: float,
                   tick_s: float = TICK_S) -> Timeline:
    """Runs the schedule; returns once every request started has finished (or, after
    `drain_s` or on an abort, been cancelled). An exception escaping a `fire` task stops the
    schedule and is raised here."""
    loop = asyncio.get_running_loop()
    in_flight: set[asyncio.Task[None]] = set()
    crashed: list[BaseException] = []

    def finished(task: asyncio.Task[None]) -> None:
        in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            crashed.append(task.exception())  # type: ignore[arg-type]

    interval = schedule.interval
    started = loop.time()
    next_tick = started + tick_s
    index = 0
    reason: str | None = None
    try:
        while index < schedule.total:
            now = loop.time()
            if crashed:
                break
            reason = stop()
            if reason is not None:
                break
            if now >= next_tick:
                tick(index)
                next_tick = now + tick_s
            due = started + index * interval
            if due > now:
                await asyncio.sleep(min(due, next_tick) - now)
                continue
            # Everything due by now starts now: a late wake-up must not lower the rate.
            while index < schedule.total and started + index * interval <= now:
                if len(in_flight) >= schedule.concurrency:
                    tally.on_dropped(index)
                else:
                    task = loop.create_task(fire(index))
                    in_flight.add(task)
                    task.add_done_callback(finished)
                    tally.on_sent(index)
                index += 1
            await asyncio.sleep(0)  # let the requests run even when the loop is behind
        ended = loop.time()
        if in_flight and not crashed and reason is None:  # an abort does not wait for them
            await asyncio.wait(set(in_flight), timeout=drain_s)
    finally:
        for task in in_flight:
            task.cancel()
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
    if crashed:
        raise crashed[0]
    return Timeline(started=started,
                    measured_from=started + schedule.warmup_requests * interval,
                    ended=ended, launched=index, stop_reason=reason, interval=interval)
