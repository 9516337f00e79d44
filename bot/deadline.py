"""The time a request may still spend on its dependencies.

Slack gives up on a request after 3 s, whatever PostgreSQL or Redis are doing. The web routes
set a deadline for the whole answer (`answer_by`), and every store and queue call made while
answering takes no more than what is left of it (`remaining`): a dependency that accepts
connections and never answers is reported ("... is not answering") before Slack gives up,
instead of being waited for. Work started in the background off a request (`detached`) has no
deadline. Kept in a context variable, so it follows the request through every call without
being passed along.
"""

from __future__ import annotations

import time
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

__all__ = ["REQUEST_BUDGET_S", "answer_by", "detached", "remaining"]

T = TypeVar("T")

# What a web request may spend on its dependencies: Slack waits 3 s for an answer, and the
# rest is for Bolt, the network and a margin.
REQUEST_BUDGET_S = 2.3

_deadline: ContextVar[float | None] = ContextVar("smokebot_deadline", default=None)


@contextmanager
def answer_by(seconds: float) -> Iterator[None]:
    """Within the block, calls take at most `seconds` from now in all (or what an enclosing
    deadline leaves, if less)."""
    ends = time.monotonic() + seconds
    current = _deadline.get()
    token = _deadline.set(ends if current is None else min(current, ends))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining(default: float | None = None) -> float | None:
    """Seconds left before the deadline (never below a millisecond), or `default` when none
    is set; `default` also caps what is left."""
    ends = _deadline.get()
    if ends is None:
        return default
    left = max(0.001, ends - time.monotonic())
    return left if default is None else min(left, default)


async def detached(work: Coroutine[Any, Any, T]) -> T:
    """Runs `work` free of the deadline of the request that started it (for a task created
    off a request, which otherwise inherits the request's context)."""
    _deadline.set(None)
    return await work
