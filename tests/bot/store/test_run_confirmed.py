"""A run records whether the production confirmation button started it (migration 0007): set
from the request, read back with the run, false for every other start; runs recorded before
the migration are confirmed when their start's audit entry says so."""

from __future__ import annotations

import psycopg

from bot.migrations import apply_migrations, discover_migrations
from bot.records import AuditAction, RunRequest, TriggerKind
from bot.store import Store
from tests.bot.store.store_support import VERSIONS, slash


async def test_a_run_carries_its_confirmation_from_request_to_record(store: Store) -> None:
    confirmed = await store.start_or_join(slash("production", confirmed=True),
                                          audit_start=AuditAction.RUN)
    plain = await store.create_run(slash("staging"))
    deploy = await store.start_superseding(RunRequest(environment="qa",
                                                      trigger_kind=TriggerKind.WEBHOOK))

    assert confirmed.run.confirmed
    fetched = await store.get_run(confirmed.run.id)
    assert fetched is not None and fetched.confirmed
    assert not plain.confirmed and not deploy.run.confirmed
    joined = await store.start_or_join(slash("staging", confirmed=True))
    assert joined.joined and not joined.run.confirmed  # a join does not confirm another's run


async def test_the_migration_marks_the_runs_whose_start_was_confirmed(pg_dsn: str) -> None:
    at = VERSIONS.index("0007_run_confirmed")
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        before = discover_migrations()[:at]
        await apply_migrations(conn, "smokebot", before)  # type: ignore[arg-type]
        await conn.execute("SET search_path TO smokebot")
        ids = []
        for action, detail in (("run", '{"confirmed": true}'), ("rerun", '{"confirmed": true}'),
                               ("run", "{}"), ("join", '{"confirmed": true}')):
            cursor = await conn.execute(
                "INSERT INTO runs (environment, status, trigger_kind, finished_at)"
                " VALUES ('production', 'passed', 'slash', now()) RETURNING id")
            row = await cursor.fetchone()
            assert row is not None
            await conn.execute("INSERT INTO audit_log (actor, action, environment, allowed,"
                               " run_id, detail) VALUES ('U1', %s, 'production', true, %s, %s)",
                               (action, row[0], detail))
            ids.append(row[0])
    async with Store.open(pg_dsn) as store:
        assert await store.migrate() == VERSIONS[at:]
        runs = [await store.get_run(run_id) for run_id in ids]
    assert [run.confirmed for run in runs if run is not None] == [True, True, False, False]
