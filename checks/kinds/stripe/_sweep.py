"""The customers smokebot tags, found again: to delete an earlier run's leftovers (a crash
between create and delete must not leave objects forever), and to find a customer whose create
was sent but whose answer never came (a cancellation mid-request).

Every customer smokebot creates carries `metadata.smokebot_run`. Customers are listed and
filtered here, not searched: Stripe's search is eventually consistent (a customer made a moment
ago may not be found yet) and emulators lack it. Listing is bounded (MAX_PAGES of PAGE_SIZE,
newest first on Stripe), and so is how many leftovers one run deletes (MAX_SWEPT): a backlog is
worked off over the next runs instead of blowing one run's timeout.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from checks.kinds.stripe._client import as_document
from checks.kinds.stripe._steps import Steps

__all__ = ["ATTEMPT_TAG", "MAX_SWEPT", "RUN_TAG", "Sweep", "made_by", "sweep_leftovers",
           "tagged_customers"]

RUN_TAG = "smokebot_run"
ATTEMPT_TAG = "smokebot_attempt"
PAGE_SIZE = 100
MAX_PAGES = 5
MAX_SWEPT = 25


@dataclass(frozen=True)
class Sweep:
    deleted: tuple[str, ...]
    more: bool  # leftovers remain beyond MAX_SWEPT, or beyond the pages looked at

    @property
    def said(self) -> str:
        count = len(self.deleted)
        noun = "leftover customer" if count == 1 else "leftover customers"
        ids = f" ({', '.join(self.deleted)})" if self.deleted else ""
        more = "; more remain, for the next runs" if self.more else ""
        return f"deleted {count} {noun}{ids}{more}"


async def tagged_customers(steps: Steps, client: stripe.StripeClient,
                           wanted: Callable[[dict[str, Any]], bool]) -> tuple[list[str], bool]:
    """The ids of the tagged customers for which `wanted(customer)` holds, and whether there
    were pages left unread."""
    found: list[str] = []
    after: str | None = None
    for _ in range(MAX_PAGES):
        query: dict[str, Any] = {"limit": PAGE_SIZE}
        if after is not None:
            query["starting_after"] = after
        page = await steps.call(client.v1.customers.list_async(query), "the account's customers")
        assert page is not None
        customers = [as_document(customer) for customer in page.data]
        found += [c["id"] for c in customers
                  if RUN_TAG in (c.get("metadata") or {}) and wanted(c)]
        if not page.has_more or not customers:
            return found, False
        after = customers[-1]["id"]
    return found, True


def made_by(run_id: str, attempt: int) -> Callable[[dict[str, Any]], bool]:
    """Tagged by this attempt of this run."""
    def wanted(customer: dict[str, Any]) -> bool:
        metadata = customer.get("metadata") or {}
        return metadata.get(RUN_TAG) == run_id and metadata.get(ATTEMPT_TAG) == str(attempt)
    return wanted


async def sweep_leftovers(steps: Steps, client: stripe.StripeClient,
                          older_than_s: float) -> Sweep:
    """Deletes tagged customers created more than `older_than_s` ago (by earlier runs: no run
    lasts that long), at most MAX_SWEPT of them."""
    cutoff = time.time() - older_than_s
    old, unread = await tagged_customers(
        steps, client, lambda c: isinstance(c.get("created"), int) and c["created"] < cutoff)
    deleted: list[str] = []
    for customer_id in old[:MAX_SWEPT]:
        # missing_ok: another run's sweep may have deleted it a moment ago.
        gone = await steps.call(client.v1.customers.delete_async(customer_id),
                                f"leftover customer {customer_id}", missing_ok=True)
        if gone is not None:
            deleted.append(customer_id)
    return Sweep(tuple(deleted), more=unread or len(old) > MAX_SWEPT)
