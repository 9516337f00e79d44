"""Retention: pruning what is older than the store keeps, in batches, one pruner at a time, and
rejected webhook deliveries bounded per source however many arrive."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import UUID

import psycopg
import pytest

from bot.records import OutboxMessage, WebhookDelivery
from bot.store import (
    PruneReport,
    PruneTarget,
    RetentionPolicy,
    RunStatus,
    SlackMessageKind,
    Store,
    WebhookOutcome,
    prune_history,
)
from bot.store.retention import _lock_key
from tests.bot.store.store_support import result, run_result, slash, sql_rows

DEFAULTS = RetentionPolicy()  # runs 90 days, deliveries 90, rejected 30, audit 365


async def age(dsn: str, table: str, column: str, row_id: object, days: int) -> None:
    """Moves a row's timestamp `days` into the past, as if it had been written then."""
    await sql_rows(dsn, f"UPDATE smokebot.{table} SET {column} = now() - make_interval("
                        f"days => %s) WHERE id = %s", days, row_id)


async def finished_run(store: Store, environment: str = "staging") -> UUID:
    run = await store.create_run(slash(environment))
    await store.finish_run(run.id, run_result(result("health")))
    return run.id


async def run_ids(dsn: str) -> set[UUID]:
    rows = await sql_rows(dsn, "SELECT id FROM smokebot.runs")
    return {UUID(str(row[0])) for row in rows}


async def count(dsn: str, table: str, where: str = "true") -> int:
    [(n,)] = await sql_rows(dsn, f"SELECT count(*) FROM smokebot.{table} WHERE {where}")
    return int(n)  # type: ignore[call-overload]


# --- by age -------------------------------------------------------------------------------------

async def test_rows_older_than_their_retention_are_pruned_and_younger_ones_kept(
        store: Store, pg_dsn: str) -> None:
    old_run, young_run = await finished_run(store), await finished_run(store)
    await age(pg_dsn, "runs", "created_at", old_run, 91)
    await age(pg_dsn, "runs", "created_at", young_run, 89)
    newest = await finished_run(store)  # the environment's latest: kept whatever its age

    deliveries = {}
    for name, outcome, days in [("accepted-old", WebhookOutcome.ACCEPTED, 91),
                                ("ignored-old", WebhookOutcome.IGNORED, 91),
                                ("accepted-young", WebhookOutcome.ACCEPTED, 89),
                                ("rejected-old", WebhookOutcome.REJECTED, 31),
                                ("rejected-young", WebhookOutcome.REJECTED, 29)]:
        delivery = await store.record_webhook_delivery("github", name, outcome,
                                                       reason=f"reason of {name}")
        await age(pg_dsn, "webhook_deliveries", "received_at", delivery.id, days)
        deliveries[name] = delivery.id
    audit = {}
    for name, days in [("audit-old", 366), ("audit-young", 364)]:
        entry = await store.audit("U1", name, allowed=True)
        await age(pg_dsn, "audit_log", "at", entry.id, days)
        audit[name] = entry.id

    report = await prune_history(store, DEFAULTS)

    assert report.deleted == {PruneTarget.RUNS: 1, PruneTarget.DELIVERIES: 2,
                              PruneTarget.REJECTED: 1, PruneTarget.AUDIT: 1}
    assert (report.total, report.contended) == (5, False)
    assert await run_ids(pg_dsn) == {young_run, newest}
    assert await count(pg_dsn, "check_results", f"run_id = '{old_run}'") == 0  # cascaded
    assert {d.delivery_id for d in await store.recent_webhook_deliveries()} == {
        "accepted-young", "rejected-young"}
    assert [e.action for e in await store.recent_audit()] == ["audit-young"]
    again = await prune_history(store, DEFAULTS)
    assert again.total == 0


async def test_forever_keeps_every_row_of_that_kind(store: Store, pg_dsn: str) -> None:
    old = await finished_run(store)
    await finished_run(store)
    await age(pg_dsn, "runs", "created_at", old, 5000)
    entry = await store.audit("U1", "run", allowed=True)
    await age(pg_dsn, "audit_log", "at", entry.id, 5000)

    report = await prune_history(store, RetentionPolicy(runs_days=None, audit_days=None))

    assert report.total == 0
    assert old in await run_ids(pg_dsn)
    assert len(await store.recent_audit()) == 1
    assert (await prune_history(store, RetentionPolicy(runs_days=1, audit_days=1))).deleted[
        PruneTarget.RUNS] == 1


# --- what a run's pruning keeps -----------------------------------------------------------------

async def test_active_runs_runs_owing_slack_messages_and_each_environments_latest_survive(
        store: Store, pg_dsn: str) -> None:
    owing, delivered, plain, latest = [await finished_run(store) for _ in range(4)]
    message = OutboxMessage(SlackMessageKind.SUMMARY, "C0SMOKE", {"text": "passed"})
    await store.outbox_add(owing, [message])
    await store.outbox_add(delivered, [message])
    await sql_rows(pg_dsn, "UPDATE smokebot.outbox_messages SET delivered_at = now(), ts = '1.2'"
                           " WHERE run_id = %s", delivered)
    await sql_rows(pg_dsn, "INSERT INTO smokebot.outbox_leases VALUES (%s, 'dead-worker',"
                           " now() - interval '1 day')", f"run:{delivered}")
    await store.set_slack_message(plain, SlackMessageKind.SUMMARY, "C0SMOKE", "1.1")
    active = (await store.create_run(slash())).id
    lone = await finished_run(store, "production")  # production's only run
    rerun = (await store.create_run(slash("qa", rerun_of=plain))).id
    await store.mark_error(rerun, "suite did not load")
    await store.add_acknowledgement("staging", "health", "known flake", "U1", run_id=plain)
    genuine = await store.record_webhook_delivery("github", "d-1", WebhookOutcome.ACCEPTED,
                                                  environment="staging")
    await sql_rows(pg_dsn, "UPDATE smokebot.webhook_deliveries SET run_id = %s", plain)
    for days, run_id in zip(range(100, 94, -1), (active, owing, delivered, plain, latest, lone),
                            strict=True):
        await age(pg_dsn, "runs", "created_at", run_id, days)

    report = await prune_history(store, DEFAULTS)

    assert report.deleted[PruneTarget.RUNS] == 2
    assert await run_ids(pg_dsn) == {active, owing, latest, lone, rerun}
    run = await store.get_run(active)
    assert run is not None and run.status is RunStatus.QUEUED
    assert await count(pg_dsn, "outbox_leases") == 0
    assert await count(pg_dsn, "slack_messages") == 0
    assert await count(pg_dsn, "outbox_messages", "delivered_at IS NULL") == 1
    # References to a pruned run are cleared, not left dangling.
    assert await sql_rows(pg_dsn, "SELECT run_id FROM smokebot.acknowledgements") == [(None,)]
    [kept] = await store.recent_webhook_deliveries()
    assert (kept.id, kept.run_id) == (genuine.id, None)
    rerun_run = await store.get_run(rerun)
    assert rerun_run is not None and rerun_run.rerun_of is None


# --- batches and other pruners ------------------------------------------------------------------

async def test_more_rows_than_one_batch_are_pruned_batch_after_batch(
        store: Store, pg_dsn: str) -> None:
    await sql_rows(pg_dsn, "INSERT INTO smokebot.audit_log (at, actor, action, allowed)"
                           " SELECT now() - interval '400 days', 'U1', 'run', true"
                           " FROM generate_series(1, 2500)")
    await sql_rows(pg_dsn, "INSERT INTO smokebot.webhook_deliveries (source, delivery_id,"
                           " received_at, outcome) SELECT 'github', 'd-' || i,"
                           " now() - interval '100 days', 'ignored'"
                           " FROM generate_series(1, 1200) i")
    await store.audit("U1", "recent", allowed=True)

    report = await prune_history(store, RetentionPolicy(batch_size=1000))

    assert report.deleted == {PruneTarget.RUNS: 0, PruneTarget.DELIVERIES: 1200,
                              PruneTarget.REJECTED: 0, PruneTarget.AUDIT: 2500}
    # runs 1, deliveries 1000 + 200, rejected 1, audit 1000 + 1000 + 500
    assert report.batches == 7
    assert [e.action for e in await store.recent_audit()] == ["recent"]


async def test_a_pass_stops_at_once_while_another_process_is_pruning(
        store: Store, pg_dsn: str) -> None:
    entry = await store.audit("U1", "run", allowed=True)
    await age(pg_dsn, "audit_log", "at", entry.id, 400)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as other:
        await other.execute("SELECT pg_advisory_lock(%s)", (_lock_key("smokebot"),))

        report = await prune_history(store, DEFAULTS)

        assert (report.contended, report.total, report.batches) == (True, 0, 1)
        assert len(await store.recent_audit()) == 1
        await other.execute("SELECT pg_advisory_unlock(%s)", (_lock_key("smokebot"),))
    assert (await prune_history(store, DEFAULTS)).deleted[PruneTarget.AUDIT] == 1


async def test_a_row_another_transaction_holds_is_skipped_not_waited_for(
        store: Store, pg_dsn: str) -> None:
    held, free = [await store.audit("U1", name, allowed=True) for name in ("held", "free")]
    for entry in (held, free):
        await age(pg_dsn, "audit_log", "at", entry.id, 400)
    async with await psycopg.AsyncConnection.connect(pg_dsn) as other:
        await other.execute("SELECT * FROM smokebot.audit_log WHERE id = %s FOR UPDATE",
                            (held.id,))
        started = time.monotonic()
        report = await prune_history(store, DEFAULTS)
        waited = time.monotonic() - started
        await other.rollback()

    assert (report.deleted[PruneTarget.AUDIT], report.contended) == (1, False)
    assert waited < 1.0  # the batches' lock timeout: skipping never comes near it
    assert [e.action for e in await store.recent_audit()] == ["held"]


async def test_stop_ends_a_pass_between_batches(store: Store) -> None:
    stop = asyncio.Event()
    stop.set()
    assert (await prune_history(store, DEFAULTS, stop=stop)).batches == 0


def test_report_describes_itself_in_one_line() -> None:
    report = PruneReport({PruneTarget.RUNS: 3, PruneTarget.REJECTED: 9000}, batches=12,
                         elapsed_s=0.614)
    assert report.describe() == ("pruned 3 runs, 0 deliveries, 9000 rejected deliveries and "
                                 "0 audit entries in 12 batches (0.61 s)")


# --- rejected deliveries, bounded -----------------------------------------------------------------

@pytest.fixture
async def flood_store(pg_dsn: str) -> AsyncIterator[Store]:
    async with Store.open(pg_dsn, max_size=10, acquire_timeout=30) as opened:
        await opened.migrate()
        yield opened


async def forged(store: Store, address: str, source: str = "github",
                 reason: str = "X-Hub-Signature-256 does not match the request"
                 ) -> WebhookDelivery:
    return await store.record_webhook_delivery(
        source, "72d3162e-cc78", WebhookOutcome.REJECTED, reason=reason,
        headers={"user-agent": "flood/1.0", "remote-addr": address}, summary={"status": 401})


async def test_a_flood_of_rejections_from_4000_addresses_leaves_exactly_the_bound(
        flood_store: Store, pg_dsn: str) -> None:
    flood_store.keep_rejected_deliveries(100)
    genuine = await flood_store.record_webhook_delivery(
        "github", "real-1", WebhookOutcome.ACCEPTED, environment="staging")
    addresses = [f"10.0.{i // 256}.{i % 256}" for i in range(4000)]

    recorded = await asyncio.gather(*(forged(flood_store, a) for a in addresses))

    assert len(recorded) == 4000
    # 4,000 throws into 100 slots leave none empty (the chance is below 1e-15).
    assert await count(pg_dsn, "webhook_deliveries", "outcome = 'rejected'") == 100
    assert await count(pg_dsn, "webhook_deliveries", "slot >= 100") == 0
    latest = await flood_store.recent_webhook_deliveries(limit=1000)
    assert len(latest) == 101 and latest[-1].id == genuine.id  # never overwritten
    assert {d.reason for d in latest[:-1]} == {"X-Hub-Signature-256 does not match the request"}


async def not_near_the_hour_end(dsn: str) -> None:
    """Waits out the last seconds of the database's hour: repeats are counted per hour."""
    [(left,)] = await sql_rows(dsn, "SELECT 3600 - extract(epoch FROM now()) % 3600")
    if float(left) < 5:  # type: ignore[arg-type]
        await asyncio.sleep(float(left) + 0.1)  # type: ignore[arg-type]


async def test_a_repeated_rejection_is_one_row_that_counts_its_repeats(
        flood_store: Store, pg_dsn: str) -> None:
    await not_near_the_hour_end(pg_dsn)
    first = await forged(flood_store, "203.0.113.7")
    repeats = await asyncio.gather(*(forged(flood_store, "203.0.113.7") for _ in range(999)))

    [counted] = await flood_store.recent_webhook_deliveries()
    assert (counted.id, counted.redeliveries, counted.received_at, counted.reason) == (
        first.id, 999, first.received_at, "X-Hub-Signature-256 does not match the request")
    assert counted.last_received_at == max(d.last_received_at for d in repeats)
    assert counted.headers == {"user-agent": "flood/1.0", "remote-addr": "203.0.113.7"}
    assert first.is_new and not any(d.is_new for d in repeats)
    elsewhere = await forged(flood_store, "198.51.100.9")  # another sender: another row
    assert elsewhere.is_new and len(await flood_store.recent_webhook_deliveries()) in (1, 2)


async def test_each_source_has_its_own_bound(flood_store: Store, pg_dsn: str) -> None:
    flood_store.keep_rejected_deliveries(100)
    for source in ("github", "argocd"):
        await asyncio.gather(*(forged(flood_store, f"10.1.{i // 256}.{i % 256}", source)
                               for i in range(1000)))
    counts = dict(await sql_rows(pg_dsn, "SELECT source, count(*) FROM"  # type: ignore[arg-type]
                                         " smokebot.webhook_deliveries GROUP BY source"))
    assert set(counts) == {"argocd", "github"}
    # 1,000 throws into 100 slots may leave one empty, never one row more.
    assert all(95 <= n <= 100 for n in counts.values()), counts


async def test_lowering_the_bound_prunes_the_slots_past_it(flood_store: Store,
                                                           pg_dsn: str) -> None:
    flood_store.keep_rejected_deliveries(200)
    await asyncio.gather(*(forged(flood_store, f"10.2.{i // 256}.{i % 256}")
                           for i in range(1000)))
    below, total = (await count(pg_dsn, "webhook_deliveries", "slot < 50"),
                    await count(pg_dsn, "webhook_deliveries"))
    assert total > 180
    flood_store.keep_rejected_deliveries(50)

    report = await prune_history(flood_store, RetentionPolicy(rejected_days=None,
                                                              batch_size=40))

    assert report.deleted[PruneTarget.REJECTED] == total - below
    assert report.batches >= 6  # at most 40 at a time
    assert await count(pg_dsn, "webhook_deliveries") == below
    await asyncio.gather(*(forged(flood_store, f"10.3.0.{i}") for i in range(200)))
    assert await count(pg_dsn, "webhook_deliveries", "slot >= 50") == 0
    assert await count(pg_dsn, "webhook_deliveries") <= 50


async def test_rejections_recorded_before_the_bound_are_pruned_by_age(
        store: Store, pg_dsn: str) -> None:
    await sql_rows(pg_dsn, "INSERT INTO smokebot.webhook_deliveries (source, received_at,"
                           " outcome, reason) SELECT 'github', now() - make_interval(days => d),"
                           " 'rejected', 'bad signature' FROM unnest(ARRAY[31, 29]) d")
    await forged(store, "203.0.113.7")

    report = await prune_history(store, DEFAULTS)

    assert report.deleted[PruneTarget.REJECTED] == 1
    assert await sql_rows(pg_dsn, "SELECT slot IS NULL, extract(day FROM now() - received_at)"
                                  "::int FROM smokebot.webhook_deliveries ORDER BY 2") == [
        (False, 0), (True, 29)]
