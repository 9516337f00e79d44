"""The one backoff schedule and the stop-aware wait every retry loop in bot/ uses."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from bot.backoff import Backoff, sleep_unless


def test_exponential_doubles_from_the_first_delay_up_to_the_cap_and_stays_there() -> None:
    backoff = Backoff.exponential(first_s=0.5, factor=2.0, cap_s=5.0)
    assert backoff.steps == (0.5, 1.0, 2.0, 4.0, 5.0)
    assert [backoff.delay(n) for n in range(8)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0]


def test_a_factor_of_one_or_a_first_delay_at_the_cap_is_constant() -> None:
    assert Backoff.exponential(first_s=3.0, factor=1.0, cap_s=60.0).steps == (3.0,)
    assert Backoff.exponential(first_s=3.0, factor=2.0, cap_s=3.0).steps == (3.0,)
    constant = Backoff.constant(2.0)
    assert [constant.delay(n) for n in (0, 1, 100)] == [2.0, 2.0, 2.0]


def test_explicit_steps_are_taken_in_order_and_the_last_one_repeats() -> None:
    backoff = Backoff((0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0))
    assert [backoff.delay(n) for n in range(9)] == [0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0,
                                                     60.0, 60.0]
    assert backoff.delay(10_000) == 60.0


def test_jitter_takes_off_at_most_its_fraction_and_never_adds() -> None:
    backoff = Backoff.exponential(first_s=1.0, factor=2.0, cap_s=8.0, jitter=0.25)
    assert backoff.delay(3, rand=lambda: 0.0) == 8.0
    assert backoff.delay(3, rand=lambda: 0.5) == 7.0
    assert backoff.delay(3, rand=lambda: 0.999999) == pytest.approx(6.0, abs=1e-5)
    drawn = {n: [backoff.delay(n) for _ in range(200)] for n in range(10)}
    for n, delays in drawn.items():
        step = (1.0, 2.0, 4.0, 8.0)[min(n, 3)]
        assert all(0.75 * step <= d <= step for d in delays)  # the cap holds with jitter too
        assert len(set(delays)) > 10  # it is random


@pytest.mark.parametrize("make", [
    lambda: Backoff(()),
    lambda: Backoff((1.0, -0.5)),
    lambda: Backoff((float("inf"),)),
    lambda: Backoff((1.0,), jitter=1.5),
    lambda: Backoff.exponential(first_s=0.0, cap_s=5.0),
    lambda: Backoff.exponential(first_s=6.0, cap_s=5.0),
    lambda: Backoff.exponential(first_s=1.0, factor=0.5, cap_s=5.0),
    lambda: Backoff.exponential(first_s=1.0, cap_s=float("inf")),
])
def test_a_schedule_that_makes_no_sense_is_refused(make: Callable[[], Backoff]) -> None:
    with pytest.raises(ValueError):
        make()


def test_a_negative_attempt_is_refused() -> None:
    with pytest.raises(ValueError):
        Backoff.constant(1.0).delay(-1)


async def test_sleep_unless_sleeps_the_whole_time_when_not_stopped() -> None:
    started = time.monotonic()
    assert await sleep_unless(asyncio.Event(), 0.2) is False
    assert time.monotonic() - started >= 0.19


async def test_sleep_unless_returns_as_soon_as_the_stop_event_is_set() -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, stop.set)
    started = time.monotonic()
    assert await sleep_unless(stop, 30.0) is True
    assert time.monotonic() - started < 1.0


async def test_sleep_unless_does_not_wait_when_already_stopped() -> None:
    stop = asyncio.Event()
    stop.set()
    started = time.monotonic()
    assert await sleep_unless(stop, 30.0) is True
    assert time.monotonic() - started < 0.05


async def test_sleep_unless_without_a_stop_event_just_sleeps() -> None:
    started = time.monotonic()
    assert await sleep_unless(None, 0.1) is False
    assert await sleep_unless(None, -1.0) is False  # a due time already past: no wait
    assert time.monotonic() - started >= 0.09
