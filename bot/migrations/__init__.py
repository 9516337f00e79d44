"""The history store's schema migrations: numbered SQL files (`0001_initial.sql`, ...) applied
in order, each in its own transaction, and recorded in `<schema>.schema_migrations`.

Each transaction first takes a transaction-scoped advisory lock named after the schema, so two
processes starting at once (a web process and a worker) apply every file exactly once: the
second waits, then sees the version recorded and skips it. The SQL files use unqualified names;
the search_path is set to the store's schema for the transaction.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from importlib import resources
from typing import LiteralString, cast

import psycopg
from psycopg import sql
from psycopg.rows import tuple_row

from bot.errors import MigrationError

__all__ = ["Migration", "apply_migrations", "discover_migrations"]

_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: str  # the file's stem, "0001_initial"; the number orders them
    sql: str

    @property
    def number(self) -> int:
        return int(self.version[:4])

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover_migrations(package: str = __name__) -> tuple[Migration, ...]:
    """The package's `NNNN_name.sql` files, in order."""
    found: dict[int, Migration] = {}
    for entry in resources.files(package).iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is misnamed; expected "
                                 f"NNNN_lowercase_name.sql, as in 0002_add_index.sql")
        migration = Migration(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8"))
        if migration.number in found:
            raise MigrationError(f"migrations {found[migration.number].version} and "
                                 f"{migration.version} share the number {match.group(1)}; "
                                 f"expected one file per number")
        found[migration.number] = migration
    return tuple(found[n] for n in sorted(found))


def _lock_key(schema: str) -> int:
    # A stable 64-bit key per schema: migrations of different schemas do not wait for each other.
    digest = hashlib.blake2b(f"smokebot.migrate:{schema}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


async def _lock(conn: psycopg.AsyncConnection[object], schema: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))


async def apply_migrations(conn: psycopg.AsyncConnection[object], schema: str,
                           migrations: tuple[Migration, ...] | None = None) -> list[str]:
    """Applies the migrations not yet recorded; returns the versions applied by this call.

    `conn` must be in autocommit mode (each migration opens its own transaction). A migration
    that fails is rolled back, not recorded, and raised as MigrationError.
    """
    migrations = discover_migrations() if migrations is None else migrations
    schema_id = sql.Identifier(schema)
    async with conn.transaction():
        await _lock(conn, schema)
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema_id))
        await conn.execute(sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
            " version text PRIMARY KEY,"
            " checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())").format(schema_id))

    applied: list[str] = []
    for migration in migrations:
        async with conn.transaction():
            await _lock(conn, schema)
            if await _already_applied(conn, schema_id, migration):
                continue
            await conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(schema_id))
            await _execute_file(conn, migration)
            await conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (version, checksum) VALUES (%s, %s)")
                .format(schema_id), (migration.version, migration.checksum))
        applied.append(migration.version)
    return applied


async def _already_applied(conn: psycopg.AsyncConnection[object], schema_id: sql.Identifier,
                           migration: Migration) -> bool:
    cursor = conn.cursor(row_factory=tuple_row)
    await cursor.execute(
        sql.SQL("SELECT checksum FROM {}.schema_migrations WHERE version = %s").format(schema_id),
        (migration.version,))
    row = await cursor.fetchone()
    if row is None:
        return False
    if row[0] != migration.checksum:
        raise MigrationError(
            f"migration {migration.version} was edited after it was applied (recorded checksum "
            f"{row[0][:12]}, file {migration.checksum[:12]}); expected applied migrations to "
            f"stay as they are: put the change in a new numbered file")
    return True


async def _execute_file(conn: psycopg.AsyncConnection[object], migration: Migration) -> None:
    try:
        # Without parameters psycopg sends the file as one simple query: many statements at once.
        await conn.execute(cast(LiteralString, migration.sql))
    except psycopg.Error as exc:
        if conn.broken:
            raise  # a lost server, not a bad file: the store reports it as unavailable
        first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise MigrationError(f"migration {migration.version} failed and was rolled back: "
                             f"{first_line}") from exc
