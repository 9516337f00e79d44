"""Timed steps for a stripe.* flow: each step's Stripe calls counted and timed, and what became
of it kept as one line of the details, the way `http.flow` shows its steps:

    step 'create customer': ok: cus_Q2x9 in 41 ms
    step 'subscribe': FAILED: expected status active or trialing, got incomplete in 88 ms
    cleanup step 'delete customer': ok: cus_Q2x9 deleted in 23 ms

    async with steps.step("create customer") as step:
        customer = await steps.call(client.v1.customers.create_async(...), "a new customer")
        step.said = customer.id

A Stripe problem (through `_client.attempt`) or a failed expectation (`fail`) stops the step
with `StepStopped`, which the flow catches; nothing else of stripe's leaves a call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from checks.errors import CheckError
from checks.kinds.base import CheckContext
from checks.kinds.stripe._client import ProblemKind, StripeParams, StripeProblem, attempt

__all__ = ["StepRecord", "StepStopped", "Steps", "stopped_by"]

T = TypeVar("T")

# Problems that mean "could not look" (an ERROR result), not "looked and saw it fail".
_ERRORS = (ProblemKind.UNAVAILABLE, ProblemKind.REFUSED)


class StepStopped(Exception):
    """A step cannot go on. With `error` set, the check could not look (Stripe down, a refused
    key); without, the flow ran and saw something wrong (a missing price, a declined card)."""

    def __init__(self, message: str, error: CheckError | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error = error


@dataclass
class StepRecord:
    name: str
    cleanup: bool = False
    status: str = "ok"  # ok, FAILED, error, interrupted
    said: str = ""  # what was seen: an object's id, a status, why it failed
    ms: int | None = None
    calls: int = 0

    @property
    def passed(self) -> bool:
        return self.status == "ok"

    @property
    def label(self) -> str:
        return f"{'cleanup ' if self.cleanup else ''}step '{self.name}'"

    @property
    def line(self) -> str:
        calls = f", {self.calls} Stripe calls" if self.calls > 1 else ""
        timing = f" in {self.ms} ms{calls}" if self.ms is not None else ""
        said = f": {self.said}" if self.said else ""
        return f"{self.label}: {self.status}{said}{timing}"


class Steps:
    """The steps of one flow, in order, and the Stripe calls they made."""

    def __init__(self, params: StripeParams, ctx: CheckContext) -> None:
        self.params = params
        self.ctx = ctx
        self.records: list[StepRecord] = []
        self.calls = 0
        self._current: StepRecord | None = None

    @asynccontextmanager
    async def step(self, name: str, *, cleanup: bool = False) -> AsyncIterator[StepRecord]:
        record = StepRecord(name, cleanup)
        self._current = record
        started = time.perf_counter()
        try:
            yield record
        except StepStopped as exc:
            record.status = "error" if exc.error is not None else "FAILED"
            record.said = exc.message
            raise
        except (asyncio.CancelledError, TimeoutError):
            record.status = "interrupted"
            record.said = "cancelled while waiting for Stripe"
            raise
        finally:
            record.ms = round((time.perf_counter() - started) * 1000)
            self.records.append(record)
            self._current = None

    async def call(self, call: Awaitable[T], subject: str, *,
                   missing_ok: bool = False) -> T | None:
        """One Stripe call of the current step. A problem stops the step, except that with
        `missing_ok` an object that does not exist (404) comes back as None."""
        result = await self.attempt(call, subject)
        if isinstance(result, StripeProblem):
            if missing_ok and result.kind is ProblemKind.MISSING:
                return None
            raise stopped_by(result)
        return result

    async def attempt(self, call: Awaitable[T], subject: str) -> T | StripeProblem:
        """One Stripe call of the current step; a problem comes back, for the step to judge."""
        self.calls += 1
        if self._current is not None:
            self._current.calls += 1
        return await attempt(call, subject, self.params, self.ctx)

    @staticmethod
    def fail(message: str) -> NoReturn:
        """Stops the current step: the flow ran, and saw something wrong."""
        raise StepStopped(message)

    def timed(self) -> dict[str, int]:
        """Each step's milliseconds, by name (`cleanup NAME` for a cleanup step)."""
        return {f"{'cleanup ' if r.cleanup else ''}{r.name}": r.ms
                for r in self.records if r.ms is not None}


def stopped_by(problem: StripeProblem) -> StepStopped:
    error = problem.error() if problem.kind in _ERRORS else None
    return StepStopped(problem.message, error)
