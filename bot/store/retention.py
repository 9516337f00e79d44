"""Retention: deleting what is older than the store keeps, a bounded batch at a time.

`prune_history` is one pass, as a worker runs it every hour: for each kind of row it deletes
batches (`Store.prune_batch`) until a batch comes back short. A batch is one short transaction
with a lock timeout and a statement timeout, so pruning never holds locks for long, and it
first takes a transaction-scoped advisory lock per store: when another process holds it (it is
pruning), the pass stops and leaves the rest to the next one, so many workers never prune at
once.

What is never deleted, whatever its age: an active (queued or running) run; a run with Slack
messages still waiting for delivery, or a report back to its deploy's source still pending; the
newest finished run of each environment, so history and "failing since" keep a reference.
Deleting a run deletes its check results, Slack message references, outbox messages and
reports back (ON DELETE CASCADE) and clears the references to it from
acknowledgements, webhook deliveries and other runs (ON DELETE SET NULL).
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import time
from dataclasses import dataclass, field
from typing import LiteralString

from psycopg import errors as pg_errors

from bot.store.deliveries import WebhookDeliveriesTable

__all__ = ["PruneReport", "PruneTarget", "RetentionPolicy", "RetentionPruning",
           "prune_history"]

DEFAULT_BATCH_SIZE = 1000
# A batch is a short transaction: past these it gives up and the pass ends, rather than wait
# behind (or hold up) the bot's own writes.
_BATCH_LOCK_TIMEOUT = "1s"
_BATCH_STATEMENT_TIMEOUT = "5s"


class PruneTarget(str, enum.Enum):
    RUNS = "runs"
    DELIVERIES = "deliveries"  # accepted and ignored webhook deliveries
    REJECTED = "rejected deliveries"
    AUDIT = "audit entries"


@dataclass(frozen=True)
class RetentionPolicy:
    """How many days the store keeps each kind of row; None keeps them for ever. Rejected
    deliveries are also bounded in number (`Store.keep_rejected_deliveries`), for ever or
    not."""

    runs_days: int | None = 90
    deliveries_days: int | None = 90
    rejected_days: int | None = 30
    audit_days: int | None = 365
    batch_size: int = DEFAULT_BATCH_SIZE

    def days(self, target: PruneTarget) -> int | None:
        return {PruneTarget.RUNS: self.runs_days, PruneTarget.DELIVERIES: self.deliveries_days,
                PruneTarget.REJECTED: self.rejected_days,
                PruneTarget.AUDIT: self.audit_days}[target]


@dataclass(frozen=True)
class PruneReport:
    """What one pass deleted, by target. `contended`: it stopped early because another process
    was pruning or a row it needed was locked; the next pass goes on from there."""

    deleted: dict[PruneTarget, int] = field(default_factory=dict)
    batches: int = 0
    elapsed_s: float = 0.0
    contended: bool = False

    @property
    def total(self) -> int:
        return sum(self.deleted.values())

    def describe(self) -> str:
        """`pruned 1200 runs, 0 deliveries, 9000 rejected deliveries and 4 audit entries in
        13 batches (0.61 s)`."""
        parts = [f"{self.deleted.get(target, 0)} {target.value}" for target in PruneTarget]
        counts = ", ".join(parts[:-1]) + f" and {parts[-1]}"
        stopped = "; stopped early: another pruner or a busy row" if self.contended else ""
        return (f"pruned {counts} in {self.batches} batches ({self.elapsed_s:.2f} s)"
                f"{stopped}")


class RetentionPruning(WebhookDeliveriesTable):  # it prunes past the deliveries' bound
    # --- retention ----------------------------------------------------------------------------

    async def prune_batch(self, target: PruneTarget, older_than_days: int | None,
                          limit: int = DEFAULT_BATCH_SIZE) -> int | None:
        """Deletes at most `limit` rows of `target` older than `older_than_days` (None: no age
        limit), and for rejected deliveries the slots past the per-source bound; returns how
        many. None when another process is pruning or a lock was busy: try again later."""
        target = PruneTarget(target)
        if limit < 1:
            raise ValueError(f"expected a batch of at least 1 row, got {limit}")
        statements = [_BY_AGE[target]] if older_than_days is not None else []
        if target is PruneTarget.REJECTED:
            statements.append(_REJECTED_PAST_BOUND)
        if not statements:
            return 0
        params = {"days": older_than_days, "limit": limit,
                  "bound": self.max_rejected_deliveries}
        async with self._connection() as conn:
            try:
                async with conn.transaction():
                    cursor = await conn.execute(
                        "SELECT set_config('lock_timeout', %s, true),"
                        " set_config('statement_timeout', %s, true),"
                        " pg_try_advisory_xact_lock(%s) AS locked",
                        (_BATCH_LOCK_TIMEOUT, _BATCH_STATEMENT_TIMEOUT,
                         _lock_key(self._schema)))
                    row = await cursor.fetchone()
                    if row is None or not row["locked"]:
                        return None
                    deleted = 0
                    for statement in statements:
                        cursor = await conn.execute(statement, params)
                        found = await cursor.fetchone()
                        deleted += int(found["n"]) if found else 0
                    return deleted
            except (pg_errors.LockNotAvailable, pg_errors.QueryCanceled):
                return None  # rolled back: the pass ends and the next one tries again


async def prune_history(store: RetentionPruning, policy: RetentionPolicy, *,
                        stop: asyncio.Event | None = None) -> PruneReport:
    """One pruning pass: every target, batch after batch, until a batch comes back short,
    `stop` is set, or another process turns out to be pruning."""
    started = time.monotonic()
    deleted = dict.fromkeys(PruneTarget, 0)
    batches = 0
    contended = False
    for target in PruneTarget:
        days = policy.days(target)
        if days is None and target is not PruneTarget.REJECTED:
            continue
        while stop is None or not stop.is_set():
            count = await store.prune_batch(target, days, policy.batch_size)
            batches += 1
            if count is None:
                contended = True
                break
            deleted[target] += count
            if count < policy.batch_size:
                break
        if contended:
            break
    return PruneReport(deleted, batches, time.monotonic() - started, contended)


def _lock_key(schema: str) -> int:
    # A stable 64-bit key per store; migrations and environments use other names.
    name = f"smokebot.retention:{schema}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


# --- the statements of one batch -----------------------------------------------------------------
# Each deletes the oldest rows first, through the index on its age column, and skips rows that
# another transaction holds. Each returns the count as `n`.

_CUTOFF: LiteralString = "now() - make_interval(days => %(days)s::int)"

_PRUNE_RUNS: LiteralString = f"""
WITH doomed AS (
    SELECT r.id FROM runs r
    WHERE r.created_at < {_CUTOFF}
      AND r.status NOT IN ('queued', 'running')
      AND EXISTS (SELECT FROM runs newer
                  WHERE newer.environment = r.environment
                    AND newer.status NOT IN ('queued', 'running')
                    AND (newer.created_at, newer.id) > (r.created_at, r.id))
      AND NOT EXISTS (SELECT FROM outbox_messages o
                      WHERE o.run_id = r.id AND o.delivered_at IS NULL AND o.gave_up_at IS NULL)
      AND NOT EXISTS (SELECT FROM report_backs b WHERE b.run_id = r.id AND b.state = 'pending')
    ORDER BY r.created_at
    LIMIT %(limit)s
    FOR UPDATE OF r SKIP LOCKED
), gone AS (
    DELETE FROM runs WHERE id IN (SELECT id FROM doomed) RETURNING id
), leases AS (  -- a deliverer that died may have left its lease on the run's stream
    DELETE FROM outbox_leases WHERE stream IN (SELECT 'run:' || id FROM gone)
)
SELECT count(*) AS n FROM gone
"""

_PRUNE_DELIVERIES: LiteralString = f"""
WITH gone AS (
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE outcome <> 'rejected' AND received_at < {_CUTOFF}
        ORDER BY received_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) AS n FROM gone
"""

_PRUNE_REJECTED: LiteralString = f"""
WITH gone AS (
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE outcome = 'rejected' AND received_at < {_CUTOFF}
        ORDER BY received_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) AS n FROM gone
"""

# Slots a larger bound filled before SMOKEBOT_MAX_REJECTED_DELIVERIES was lowered.
_REJECTED_PAST_BOUND: LiteralString = """
WITH gone AS (
    DELETE FROM webhook_deliveries WHERE id IN (
        SELECT id FROM webhook_deliveries
        WHERE outcome = 'rejected' AND slot >= %(bound)s
        LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) AS n FROM gone
"""

_PRUNE_AUDIT: LiteralString = f"""
WITH gone AS (
    DELETE FROM audit_log WHERE id IN (
        SELECT id FROM audit_log WHERE at < {_CUTOFF}
        ORDER BY at LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
    RETURNING 1
)
SELECT count(*) AS n FROM gone
"""

_BY_AGE: dict[PruneTarget, LiteralString] = {
    PruneTarget.RUNS: _PRUNE_RUNS, PruneTarget.DELIVERIES: _PRUNE_DELIVERIES,
    PruneTarget.REJECTED: _PRUNE_REJECTED, PruneTarget.AUDIT: _PRUNE_AUDIT}
