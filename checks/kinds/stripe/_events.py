"""Waiting for a flow's events to be acknowledged: Stripe's `pending_webhooks` on an event is
how many of the account's webhook endpoints have not yet answered it with a 2xx, so 0 means
every registered endpoint (our app's among them) took it.

Only the flow's own events count: those whose object is one the flow made, or belongs to its
customer. Events are listed by type from the flow's start (`created[gte]`, bounded pages), and
filtered here by object.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import stripe

from checks.kinds.stripe._client import as_document
from checks.kinds.stripe._steps import Steps

__all__ = ["EventWait", "wait_for_events"]

POLL_S = 0.5
PAGE_SIZE = 100
MAX_PAGES = 3
CLOCK_SKEW_S = 60  # events from a little before the flow's start, in case clocks differ


@dataclass
class EventWait:
    """What was seen of each expected type: the pending_webhooks of each matching event (None
    when Stripe's event does not say)."""

    expected: list[str]
    seen: dict[str, list[int | None]] = field(default_factory=dict)

    def missing(self) -> list[str]:
        return [t for t in self.expected if 0 not in self.seen.get(t, [])]

    def problems(self, waited_s: float) -> str:
        parts = []
        for event_type in self.missing():
            pending = self.seen.get(event_type, [])
            if not pending:
                parts.append(f"{event_type}: no such event for this flow within {waited_s:g}s")
            elif all(p is None for p in pending):
                parts.append(f"{event_type}: seen, but the event has no pending_webhooks, so "
                             "whether endpoints acknowledged it cannot be told (an emulator?)")
            else:
                fewest = min(p for p in pending if p is not None)
                noun = "endpoint has" if fewest == 1 else "endpoints have"
                parts.append(f"{event_type}: seen, but {fewest} webhook {noun} not "
                             f"acknowledged it within {waited_s:g}s")
        return "; ".join(parts)


async def wait_for_events(steps: Steps, client: stripe.StripeClient, expected: list[str],
                          related: set[str], since: int, timeout_s: float) -> EventWait:
    """Polls until each expected type has an event of the flow's with pending_webhooks 0, or
    `timeout_s` has passed; fails the current step in that case, naming what is missing."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    wait = EventWait(list(expected))
    while True:
        # Only the types still missing: a type once acknowledged stays so.
        wait.seen.update(await _related_events(steps, client, wait.missing(), related, since))
        if not wait.missing():
            return wait
        remaining = deadline - loop.time()
        if remaining <= 0:
            steps.fail(wait.problems(timeout_s))
        await asyncio.sleep(min(POLL_S, remaining))


async def _related_events(steps: Steps, client: stripe.StripeClient, types: list[str],
                          related: set[str], since: int) -> dict[str, list[int | None]]:
    """The pending_webhooks of the flow's events of each type. One query per type: emulators
    list oldest first, and the flow's own events are the newest."""
    seen: dict[str, list[int | None]] = {}
    for event_type in types:
        after: str | None = None
        for _ in range(MAX_PAGES):
            query: dict[str, Any] = {"type": event_type, "limit": PAGE_SIZE,
                                     "created": {"gte": since - CLOCK_SKEW_S}}
            if after is not None:
                query["starting_after"] = after
            page = await steps.call(client.v1.events.list_async(query),
                                    f"the account's {event_type} events")
            assert page is not None
            events = [as_document(event) for event in page.data]
            seen.setdefault(event_type, []).extend(
                event.get("pending_webhooks") for event in events
                if event.get("type") == event_type and _belongs(event, related))
            if not page.has_more or not events:
                break
            after = events[-1]["id"]
    return seen


def _belongs(event: dict[str, Any], related: set[str]) -> bool:
    obj = (event.get("data") or {}).get("object") or {}
    return obj.get("id") in related or obj.get("customer") in related
