"""Webhook deliveries: every deploy notice received, accepted, ignored or rejected.

Accepted and ignored deliveries are authenticated: one row per delivery id. Rejected ones come
from anyone, so they are bounded (migration 0005): each source has a fixed number of slots, and
a rejection goes to the slot its reason, remote address and hour hash to. A repeat of the same
rejection within the hour is counted in the row already there (`redeliveries`,
`last_received_at`); a different one that lands on a taken slot replaces it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

from bot.errors import StoreError
from bot.records import RunRequest, WebhookDelivery, WebhookOutcome
from bot.store._base import StoreBase
from bot.store._rows import one_active_run, start_superseding
from bot.store._values import clean_text, jsonb, positive

_CREDENTIAL_HEADER = re.compile(
    r"authorization|cookie|secret|token|signature|password|passwd|api[-_]?key|credential", re.I)
_MAX_HEADER_VALUE = 1000
DEFAULT_MAX_REJECTED_DELIVERIES = 10_000  # per source: SMOKEBOT_MAX_REJECTED_DELIVERIES

# The same rejection as the slot's row: same reason, remote address and (UTC) hour.
_SAME_REJECTION = (
    "(d.reason = excluded.reason"
    " AND d.headers->>'remote-addr' IS NOT DISTINCT FROM excluded.headers->>'remote-addr'"
    " AND floor(extract(epoch FROM d.received_at) / 3600)"
    " = floor(extract(epoch FROM now()) / 3600))")


def _kept_or_new(column: str) -> str:
    return f" {column} = CASE WHEN {_SAME_REJECTION} THEN d.{column} ELSE excluded.{column} END"


# One statement, no transaction: it is on the request path of whoever floods the endpoint.
# Its commit does not wait for the WAL flush (synchronous_commit off, for this statement's
# transaction only): a server crash may lose the last rejections recorded, never a run.
_RECORD_REJECTED = (
    "INSERT INTO webhook_deliveries AS d (source, delivery_id, outcome, reason, environment,"
    " headers, summary, slot) SELECT %(source)s, %(delivery)s, 'rejected', %(reason)s,"
    " %(env)s, %(headers)s, %(summary)s, abs(hashtextextended(concat_ws(chr(31),"
    " %(reason)s::text, %(addr)s::text, floor(extract(epoch FROM now()) / 3600)::text), 0)"
    " %% %(slots)s)"
    " FROM (SELECT set_config('synchronous_commit', 'off', true)) AS unflushed"
    " ON CONFLICT (slot, source) WHERE outcome = 'rejected' DO UPDATE SET"
    f" redeliveries = CASE WHEN {_SAME_REJECTION} THEN d.redeliveries + 1 ELSE 0 END,"
    " last_received_at = greatest(d.last_received_at, now()),"  # now(): when each began
    f" received_at = CASE WHEN {_SAME_REJECTION} THEN d.received_at ELSE now() END,"
    + ",".join(_kept_or_new(column) for column in
               ("delivery_id", "reason", "environment", "headers", "summary"))
    + " RETURNING *")

__all__ = ['WebhookDeliveriesTable']


class WebhookDeliveriesTable(StoreBase):
    # --- webhook deliveries -------------------------------------------------------------------

    _max_rejected: int = DEFAULT_MAX_REJECTED_DELIVERIES

    def keep_rejected_deliveries(self, per_source: int) -> None:
        """How many rejected deliveries to keep per source (SMOKEBOT_MAX_REJECTED_DELIVERIES);
        set by the factory that opened the store, before it serves requests."""
        if per_source < 1:
            raise ValueError(f"expected at least 1 rejected delivery kept per source, "
                             f"got {per_source}")
        self._max_rejected = per_source

    @property
    def max_rejected_deliveries(self) -> int:
        return self._max_rejected

    async def record_webhook_delivery(
            self, source: str, delivery_id: str | None, outcome: WebhookOutcome, *,
            reason: str = "", environment: str | None = None,
            headers: Mapping[str, str] | None = None, summary: Mapping[str, Any] | None = None,
            run: RunRequest | None = None) -> WebhookDelivery:
        """Records a delivery; `is_new` on the result is False for a redelivery.

        Accepted and ignored deliveries are unique per (source, delivery_id): of any number of
        concurrent deliveries of one id, exactly one is new. With `run` (accepted only), the run
        is created in the same transaction, only for the new delivery, and its id returned:
        a redelivery returns the first delivery's run. That run is a deploy's: it supersedes
        the environment's active runs as `Store.start_superseding` does (the caller finds them
        with `runs_superseded_by`). Headers whose names suggest a credential are dropped.

        Rejected deliveries never claim their id (a forged request must not shadow the genuine
        one) and are bounded per source (see the module): a repeat of a rejection recorded
        within the hour (same reason and remote address) is counted in it and comes back with
        `is_new` False."""
        outcome = WebhookOutcome(outcome)
        if run is not None and outcome is not WebhookOutcome.ACCEPTED:
            raise ValueError(f"only an accepted delivery creates a run, not an {outcome.value} one")
        kept_headers = _safe_headers(headers or {})
        params = {"source": source, "delivery": delivery_id, "outcome": outcome.value,
                  "reason": clean_text(reason), "env": environment,
                  "headers": jsonb(kept_headers), "summary": jsonb(summary or {})}
        if outcome is WebhookOutcome.REJECTED:
            return await self._record_rejected(
                {**params, "addr": kept_headers.get("remote-addr"), "slots": self._max_rejected})
        environment_of_run = run.environment if run is not None else ""
        async with self._transaction() as conn, one_active_run(environment_of_run):
            cursor = await conn.execute(
                "INSERT INTO webhook_deliveries (source, delivery_id, outcome, reason,"
                " environment, headers, summary) VALUES (%(source)s, %(delivery)s, %(outcome)s,"
                " %(reason)s, %(env)s, %(headers)s, %(summary)s)"
                " ON CONFLICT (source, delivery_id) WHERE outcome <> 'rejected' DO NOTHING"
                " RETURNING *", params)
            row = await cursor.fetchone()
            if row is None:
                cursor = await conn.execute(
                    "UPDATE webhook_deliveries SET redeliveries = redeliveries + 1,"
                    " last_received_at = now() WHERE source = %(source)s"
                    " AND delivery_id = %(delivery)s AND outcome <> 'rejected' RETURNING *", params)
                row = await cursor.fetchone()
                if row is None:  # the first delivery's transaction rolled back meanwhile
                    raise StoreError(f"webhook delivery {source}/{delivery_id} vanished "
                                     f"while being recorded; expected a retry to succeed")
                return _webhook_delivery(row, is_new=False)
            if run is not None:
                if run.idempotency_key is None and delivery_id is not None:
                    run = dataclasses.replace(
                        run, idempotency_key=f"webhook:{source}:{delivery_id}")
                created = (await start_superseding(conn, self._schema, run)).run
                cursor = await conn.execute(
                    "UPDATE webhook_deliveries SET run_id = %s WHERE id = %s RETURNING *",
                    (created.id, row["id"]))
                row = await cursor.fetchone()
                assert row is not None
        return _webhook_delivery(row, is_new=True)

    async def _record_rejected(self, params: Mapping[str, Any]) -> WebhookDelivery:
        async with self._connection() as conn:
            cursor = await conn.execute(_RECORD_REJECTED, params)
            row = await cursor.fetchone()
        assert row is not None  # DO UPDATE always returns the row
        return _webhook_delivery(row, is_new=row["redeliveries"] == 0)

    async def recent_webhook_deliveries(self, limit: int = 50, *,
                                        source: str | None = None
                                        ) -> list[WebhookDelivery]:
        """The latest deliveries, newest first: why did (or didn't) a deploy trigger a run."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM webhook_deliveries"
                " WHERE (%(source)s::text IS NULL OR source = %(source)s)"
                " ORDER BY received_at DESC, id DESC LIMIT %(limit)s",
                {"source": source or None,
                 "limit": positive(limit)})
            return [_webhook_delivery(row, is_new=False) for row in await cursor.fetchall()]



def _webhook_delivery(row: Mapping[str, Any], *, is_new: bool) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"], source=row["source"], delivery_id=row["delivery_id"],
        received_at=row["received_at"], last_received_at=row["last_received_at"],
        redeliveries=row["redeliveries"], outcome=WebhookOutcome(row["outcome"]),
        reason=row["reason"], environment=row["environment"], run_id=row["run_id"],
        headers=row["headers"], summary=row["summary"], is_new=is_new)


def _safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: clean_text(str(value))[:_MAX_HEADER_VALUE] for name, value in headers.items()
            if not _CREDENTIAL_HEADER.search(name)}

