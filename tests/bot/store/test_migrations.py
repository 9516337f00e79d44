"""The store's migrations."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bot.errors import MigrationError
from bot.migrate import migrate
from bot.migrations import Migration, apply_migrations, discover_migrations
from bot.store import (
    Store,
)
from tests.bot.store.store_support import TABLES, VERSIONS, slash, sql_rows

# --- migrations -------------------------------------------------------------------------------

async def test_migrate_creates_every_table_in_its_schema_and_a_second_run_applies_nothing(
        pg_dsn: str) -> None:
    async with Store.open(pg_dsn, schema="smoke_a") as store:
        assert await store.migrate() == VERSIONS
        assert await store.migrate() == []

    tables = await sql_rows(pg_dsn, "SELECT table_schema, table_name FROM information_schema.tables"
                            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                            " ORDER BY 1, 2")
    assert tables == [("smoke_a", name) for name in TABLES]
    versions = await sql_rows(pg_dsn, "SELECT version FROM smoke_a.schema_migrations"
                              " ORDER BY version")
    assert versions == [(version,) for version in VERSIONS]


async def test_two_processes_migrating_at_once_apply_each_file_exactly_once(pg_dsn: str) -> None:
    async with Store.open(pg_dsn) as first, Store.open(pg_dsn) as second:
        applied = await asyncio.gather(first.migrate(), second.migrate(), first.migrate())
    assert sorted(version for versions in applied for version in versions) == VERSIONS
    assert await sql_rows(pg_dsn, "SELECT count(*) FROM smokebot.schema_migrations") == [
        (len(VERSIONS),)]


async def test_cli_migrate_returns_applied_versions_and_schemas_are_isolated(pg_dsn: str) -> None:
    assert await migrate(pg_dsn, "tenant_one") == VERSIONS
    assert await migrate(pg_dsn, "tenant_one") == []
    assert await migrate(pg_dsn, "tenant_two") == VERSIONS

    async with Store.open(pg_dsn, "tenant_one") as one, Store.open(pg_dsn, "tenant_two") as two:
        run = await one.create_run(slash())
        assert await one.get_run(run.id) == run
        assert await two.get_run(run.id) is None
        assert await two.recent_runs() == []


async def test_migration_edited_after_it_was_applied_is_refused(store: Store,
                                                                pg_dsn: str) -> None:
    await sql_rows(pg_dsn, "UPDATE smokebot.schema_migrations SET checksum = 'abcdef0123456789'")
    checksum = discover_migrations()[0].checksum
    with pytest.raises(MigrationError) as caught:
        await store.migrate()
    assert caught.value.message == (
        f"migration 0001_initial was edited after it was applied (recorded checksum "
        f"abcdef012345, file {checksum[:12]}); expected applied migrations to stay as they "
        f"are: put the change in a new numbered file")


async def test_failing_migration_is_rolled_back_and_not_recorded(pg_dsn: str) -> None:
    migrations = discover_migrations() + (Migration(
        "9999_broken", "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;"),)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(MigrationError) as caught:
            await apply_migrations(conn, "smokebot", migrations)  # type: ignore[arg-type]
        assert caught.value.message == ('migration 9999_broken failed and was rolled back: '
                                        'relation "no_such_table" does not exist')
    assert await sql_rows(pg_dsn, "SELECT version FROM smokebot.schema_migrations"
                          " ORDER BY version") == [(version,) for version in VERSIONS]
    assert await sql_rows(pg_dsn, "SELECT to_regclass('smokebot.half_done')::text") == [(None,)]
