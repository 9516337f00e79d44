"""The migration bookkeeping tables postgres.migrations reads: which framework's a schema holds,
and what each says is applied, and failed.

    Ecto      schema_migrations.version (bigint)
    Rails     schema_migrations.version (text; ar_internal_metadata beside it)
    Alembic   alembic_version.version_num: only the current heads
    Django    django_migrations (app, name)
    Flyway    flyway_schema_history, replayed in installed_rank order, failed rows included
    Prisma    _prisma_migrations, unfinished rows included
    custom    any table and column

Every query names its table and columns with `sql.Identifier`; the caller runs them in a READ
ONLY transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from checks.errors import CheckError
from checks.kinds.postgres_migration_files import Framework, flyway_version
from checks.kinds.postgres_session import schema_exists

__all__ = ["DEFAULT_TABLES", "Bookkeeping", "FailedMigration", "NoBookkeeping",
           "read_bookkeeping"]

LOG_LINE_LIMIT = 200

DEFAULT_TABLES = {
    Framework.ECTO: "schema_migrations", Framework.RAILS: "schema_migrations",
    Framework.ALEMBIC: "alembic_version", Framework.DJANGO: "django_migrations",
    Framework.FLYWAY: "flyway_schema_history", Framework.PRISMA: "_prisma_migrations",
}
_RECORDS_FAILURES = (Framework.FLYWAY, Framework.PRISMA)


@dataclass(frozen=True)
class FailedMigration:
    key: str
    name: str
    detail: str


@dataclass(frozen=True)
class Bookkeeping:
    """What the table says: the keys applied (in the order the table keeps them), and the
    migrations that were started and did not succeed."""

    framework: Framework
    table: str
    applied: tuple[str, ...]
    failed: tuple[FailedMigration, ...] = ()
    baseline: str | None = None  # Flyway: versions up to here count as applied
    detected: str = ""  # why auto-detection chose the framework

    @property
    def records_failures(self) -> bool:
        return self.framework in _RECORDS_FAILURES


_DETECT_SQL = """
SELECT c.relname,
  (SELECT format_type(a.atttypid, NULL) FROM pg_catalog.pg_attribute a
    WHERE a.attrelid = c.oid AND a.attname = 'version' AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(names)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""
_INTEGER_TYPES = ("bigint", "integer", "smallint", "numeric")


class NoBookkeeping(Exception):
    """No bookkeeping where the check looked: a failed check, with this summary."""

    def __init__(self, summary: str, evidence: dict[str, Any]) -> None:
        super().__init__(summary)
        self.summary = summary
        self.evidence = evidence


async def _detect(conn: psycopg.AsyncConnection[Any], schema: str) -> tuple[Framework, str, str]:
    """(framework, table, why) from the tables the schema holds."""
    names = sorted({*DEFAULT_TABLES.values(), "ar_internal_metadata"})
    rows = await (await conn.execute(_DETECT_SQL, {"schema": schema, "names": names})).fetchall()
    present = {name: version_type for name, version_type in rows}
    found: list[tuple[Framework, str, str]] = []
    if "schema_migrations" in present:
        version_type = str(present["schema_migrations"] or "no version column")
        if version_type in _INTEGER_TYPES:
            found.append((Framework.ECTO, "schema_migrations",
                          f"schema_migrations.version is {version_type}; Rails keeps "
                          "versions as text"))
        else:
            also = " and ar_internal_metadata exists" if "ar_internal_metadata" in present else ""
            found.append((Framework.RAILS, "schema_migrations",
                          f"schema_migrations.version is {version_type}{also}; Ecto "
                          "keeps versions as bigint"))
    for framework in (Framework.ALEMBIC, Framework.DJANGO, Framework.FLYWAY, Framework.PRISMA):
        table = DEFAULT_TABLES[framework]
        if table in present:
            found.append((framework, table, f"{table} exists"))
    if len(found) > 1:
        both = " and ".join(f"{f.display_name} ({t})" for f, t, _ in found)
        raise CheckError(f"schema {schema} holds the bookkeeping of {both}; set framework to "
                         "the one this release migrates with", permanent=True)
    if not found:
        tables = ", ".join(sorted(set(DEFAULT_TABLES.values())))
        summary = f"no migration bookkeeping in schema {schema}: none of {tables} exists"
        if not await schema_exists(conn, schema):
            summary = f"schema {schema} does not exist, so no migration has run there"
        raise NoBookkeeping(summary + " (check schema, or set framework and table)",
                            {"schema": schema, "looked_for": tables.split(", ")})
    return found[0]


async def read_bookkeeping(conn: psycopg.AsyncConnection[Any], framework: Framework,
                           schema: str, table: str | None = None,
                           column: str | None = None) -> Bookkeeping:
    """The bookkeeping of `framework` (AUTO: whichever the schema holds) in `schema`; `table`
    when it is not the framework's own name, `column` for a custom table. NoBookkeeping when
    there is none to read."""
    detected = ""
    if framework is Framework.AUTO:
        framework, table, detected = await _detect(conn, schema)
    else:
        table = table or DEFAULT_TABLES[framework]
        cursor = await conn.execute("SELECT to_regclass(format('%%I.%%I', %s::text, %s::text))",
                                    [schema, table])
        row = await cursor.fetchone()
        if row is None or row[0] is None:
            where = f"table {schema}.{table} does not exist"
            if not await schema_exists(conn, schema):
                where = f"schema {schema} does not exist"
            raise NoBookkeeping(f"no {framework.display_name} bookkeeping: {where} (no "
                                "migration has run here, or check schema and table)",
                                {"framework": framework.value, "table": f"{schema}.{table}"})
    book = await _READERS[framework](conn, sql.Identifier(schema, table), column)
    return Bookkeeping(framework, f"{schema}.{table}", book.applied, book.failed, book.baseline,
                       detected)


@dataclass(frozen=True)
class _Read:
    applied: tuple[str, ...]
    failed: tuple[FailedMigration, ...] = ()
    baseline: str | None = None


async def _rows(conn: psycopg.AsyncConnection[Any], query: sql.Composed) -> list[Any]:
    return await (await conn.execute(query)).fetchall()


async def _read_versions(conn: psycopg.AsyncConnection[Any], target: sql.Identifier,
                         column: str | None) -> _Read:
    """Ecto, Rails and custom tables: one row per applied version."""
    name = sql.Identifier(column or "version")
    rows = await _rows(conn, sql.SQL("SELECT {c}::text FROM {t} WHERE {c} IS NOT NULL")
                       .format(c=name, t=target))
    return _Read(tuple(row[0] for row in rows))


async def _read_alembic(conn: psycopg.AsyncConnection[Any], target: sql.Identifier,
                        column: str | None) -> _Read:
    rows = await _rows(conn, sql.SQL("SELECT version_num FROM {t} ORDER BY version_num")
                       .format(t=target))
    return _Read(tuple(row[0] for row in rows))


async def _read_django(conn: psycopg.AsyncConnection[Any], target: sql.Identifier,
                       column: str | None) -> _Read:
    rows = await _rows(conn, sql.SQL("SELECT app, name FROM {t} ORDER BY id").format(t=target))
    return _Read(tuple(f"{app}/{name}" for app, name in rows))


async def _read_flyway(conn: psycopg.AsyncConnection[Any], target: sql.Identifier,
                       column: str | None) -> _Read:
    """Replays the history in installed_rank order: an undo or a repair's DELETE row takes a
    version back out, a baseline stands for every version up to it."""
    rows = await _rows(conn, sql.SQL(
        "SELECT installed_rank, version, description, type, script, success FROM {t} "
        "ORDER BY installed_rank").format(t=target))
    applied: dict[str, None] = {}
    failed: list[FailedMigration] = []
    baseline: str | None = None
    for rank, raw_version, description, raw_kind, script, success in rows:
        version = flyway_version(raw_version) if raw_version else None
        key = version or Path(script or description or "").name
        kind = (raw_kind or "").upper()
        if not success:
            failed.append(FailedMigration(key, script or description or key,
                                          f"installed_rank {rank}, {kind}, success = false"))
        elif kind == "SCHEMA":  # "<< Flyway Schema Creation >>"
            continue
        elif kind in ("BASELINE", "SQL_BASELINE", "JDBC_BASELINE"):
            baseline = version
            applied[key] = None
        elif kind == "DELETE" or kind.startswith("UNDO"):
            applied.pop(key, None)
        else:
            applied[key] = None
    return _Read(tuple(applied), tuple(failed), baseline)


async def _read_prisma(conn: psycopg.AsyncConnection[Any], target: sql.Identifier,
                       column: str | None) -> _Read:
    """Applied: finished and not rolled back. Unfinished and not rolled back is what
    `prisma migrate deploy` refuses to go past (P3009): failed, or still running."""
    rows = await _rows(conn, sql.SQL(
        "SELECT migration_name, started_at, finished_at, rolled_back_at, logs FROM {t} "
        "ORDER BY started_at, migration_name").format(t=target))
    applied: dict[str, None] = {}
    failed: list[FailedMigration] = []
    for name, started_at, finished_at, rolled_back_at, logs in rows:
        if rolled_back_at is not None:
            continue
        if finished_at is not None:
            applied[name] = None
            continue
        started = f"started {started_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() if started_at else \
            "started"
        detail = f"{started}, never finished"
        first_line = next((line.strip() for line in (logs or "").splitlines() if line.strip()),
                          "")
        if first_line:
            cut = first_line if len(first_line) <= LOG_LINE_LIMIT else \
                first_line[:LOG_LINE_LIMIT - 1] + "…"
            detail += f": {cut}"
        failed.append(FailedMigration(name, name, detail))
    return _Read(tuple(applied), tuple(failed))


_READERS = {
    Framework.ECTO: _read_versions, Framework.RAILS: _read_versions,
    Framework.CUSTOM: _read_versions, Framework.ALEMBIC: _read_alembic,
    Framework.DJANGO: _read_django, Framework.FLYWAY: _read_flyway,
    Framework.PRISMA: _read_prisma,
}
