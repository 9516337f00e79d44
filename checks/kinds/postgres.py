"""PostgreSQL checks: the "Database Schema" and "Customer Provisioning" parts of a smoke test.

    postgres.connect   connects, runs `SELECT version()`, measures connect_ms
    postgres.tables    the expected tables exist in a schema
    postgres.columns   the expected columns exist, with their information_schema data_type
    postgres.query     runs one query in a transaction that is always rolled back; asserts on rows
    postgres.probe     inserts one row and reads it back with its defaults, then rolls back

Every kind opens its own connection through `checks.kinds.postgres_session` (psycopg 3, async),
which sets `statement_timeout`, registers the DSN's password with the run's redactor, closes the
connection however the check ends and translates psycopg's exceptions into CheckError.

Nothing a check does is ever committed: queries and probes run inside a transaction that ends in
ROLLBACK, and a transaction that never sees COMMIT is discarded by the server when the
connection drops, so a cancelled task or a killed backend leaves nothing behind either. (A probe
does advance the table's id sequence: sequences are not transactional.)
"""

from __future__ import annotations

import enum
import json
import math
import re
import time
from datetime import date, datetime, timedelta
from datetime import time as time_of_day
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb
from pydantic import ConfigDict, Field, field_validator

from checks.assertions import AssertionList, evaluate
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.postgres_session import (
    PostgresParams, Session, describe_target, primary_message, schema_exists, with_session,
)
from checks.redact import Redactor
from checks.results import Outcome

__all__ = [
    "ColumnsCheck", "ColumnsParams", "ConnectCheck", "PostgresParams", "ProbeCheck",
    "ProbeParams", "QueryCheck", "QueryParams", "TablesCheck", "TablesParams",
]

ROWS_IN_EVIDENCE = 20  # a query may return up to max_rows; reports show the first few
FAILURES_IN_SUMMARY = 3


# ------------------------------------------------------------------------------ parameters

class TablesParams(PostgresParams):
    schema_: str = Field("public", alias="schema", min_length=1)
    tables: list[str] = Field(min_length=1)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ColumnsParams(PostgresParams):
    schema_: str = Field("public", alias="schema", min_length=1)
    columns: dict[str, str | None] = Field(min_length=1)  # "table.column" -> data_type or None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("columns")
    @classmethod
    def _table_dot_column(cls, columns: dict[str, str | None]) -> dict[str, str | None]:
        for key in columns:
            table, _, column = key.partition(".")
            if not table or not column:
                raise ValueError(f"expected 'table.column' keys such as 'api_keys.key_hash', "
                                 f"got {key!r}")
        return columns


class QueryParams(PostgresParams):
    sql: str = Field(min_length=1)
    params: list[Any] | dict[str, Any] | None = None
    assertions: AssertionList = Field(default_factory=list, alias="assert")
    read_only: bool = True
    max_rows: int = Field(1000, ge=1, le=100_000)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ProbeParams(PostgresParams):
    schema_: str = Field("public", alias="schema", min_length=1)
    table: str = Field(min_length=1)
    values: dict[str, Any] = Field(default_factory=dict)
    assertions: AssertionList = Field(default_factory=list, alias="assert")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


# ------------------------------------------------------------------------------ values

def _jsonable(value: Any) -> Any:
    """A database value as JSON: what evidence shows and what assertions compare."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, (datetime, date, time_of_day)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\x" + bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    return str(value)  # UUID, inet, ranges: their PostgreSQL text form


def _adapted(value: Any) -> Any:
    """A suite value as a query parameter: mappings (and lists holding them) go as jsonb."""
    if isinstance(value, dict) or (isinstance(value, list) and
                                   any(isinstance(v, (dict, list)) for v in value)):
        return Jsonb(value)
    return value


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _failure_summary(failures: list[str]) -> str:
    shown = "; ".join(failures[:FAILURES_IN_SUMMARY])
    hidden = len(failures) - FAILURES_IN_SUMMARY
    return f"{shown} (and {hidden} more)" if hidden > 0 else shown


def _assertions_outcome(assertions: Any, data: Any, passed: str, **kw: Any) -> Outcome:
    failures = evaluate(assertions, data)
    if failures:
        return Outcome.failed(_failure_summary(failures), details="\n".join(failures), **kw)
    if assertions:
        passed = f"{passed}; {_plural(len(assertions), 'assertion')} held"
    return Outcome.ok(passed, **kw)


# ------------------------------------------------------------------------------ kinds

class ConnectCheck(CheckKind[PostgresParams]):
    """The database answers: connect, `SELECT version()`, measure how long connecting took."""

    Params = PostgresParams

    async def run(self, params: PostgresParams, ctx: CheckContext) -> Outcome:
        async def look(session: Session) -> Outcome:
            cursor = await session.conn.execute(
                "SELECT version(), current_setting('server_version'), current_database(), "
                "current_user")
            row = await cursor.fetchone()
            assert row is not None  # SELECT without FROM returns one row
            version, server_version, database, user = row
            number = str(server_version).split()[0]
            return Outcome.ok(
                f"connected to PostgreSQL {number} (database {database} as {user})",
                measurements={"connect_ms": round(session.connect_ms, 1)},
                evidence={"version": version, "server_version": server_version,
                          "database": database, "user": user, "host": session.target.host,
                          "port": session.target.port})

        return await with_session(params, ctx, look, action="connection check",
                                  privilege="CONNECT")

    def describe(self, params: PostgresParams) -> str:
        return f"connects to {describe_target(params.dsn)} and reads its version"


# Relations as information_schema.tables lists them (tables, views, foreign and partitioned
# tables), read from pg_catalog: information_schema hides what the role has no privilege on,
# and whether a migration ran is not a question of the smoke-test role's grants.
_TABLES_SQL = """
SELECT c.relname
FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(names)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
"""

# information_schema.columns' own definition of data_type (arrays are 'ARRAY', enums and
# composites 'USER-DEFINED', domains their base type), over pg_catalog for the reason above.
_COLUMNS_SQL = """
SELECT c.relname, a.attname,
  CASE WHEN t.typtype = 'd' THEN
         CASE WHEN bt.typelem <> 0 AND bt.typlen = -1 THEN 'ARRAY'
              WHEN nbt.nspname = 'pg_catalog' THEN format_type(t.typbasetype, NULL)
              ELSE 'USER-DEFINED' END
       ELSE
         CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN 'ARRAY'
              WHEN nt.nspname = 'pg_catalog' THEN format_type(a.atttypid, NULL)
              ELSE 'USER-DEFINED' END
  END AS data_type,
  format_type(a.atttypid, NULL) AS declared_type
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
JOIN pg_catalog.pg_namespace nt ON nt.oid = t.typnamespace
LEFT JOIN pg_catalog.pg_type bt ON t.typtype = 'd' AND bt.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_namespace nbt ON nbt.oid = bt.typnamespace
WHERE n.nspname = %(schema)s AND c.relname = ANY(%(tables)s)
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
"""


class TablesCheck(CheckKind[TablesParams]):
    """The expected tables exist in a schema (the report's "4/4 tables found")."""

    Params = TablesParams

    async def run(self, params: TablesParams, ctx: CheckContext) -> Outcome:
        schema, expected = params.schema_, list(dict.fromkeys(params.tables))

        async def look(session: Session) -> Outcome:
            cursor = await session.conn.execute(_TABLES_SQL, {"schema": schema,
                                                               "names": expected})
            present = {row[0] for row in await cursor.fetchall()}
            found = [t for t in expected if t in present]
            missing = [t for t in expected if t not in present]
            evidence: dict[str, Any] = {"schema": schema, "found": found, "missing": missing}
            if not missing:
                return Outcome.ok(f"{len(found)}/{len(expected)} tables found in {schema}",
                                  evidence=evidence)
            counted = f"found {len(found)} of {len(expected)}"
            if not await schema_exists(session.conn, schema):
                evidence["schema_exists"] = False
                counted += f"; schema {schema} does not exist"
            return Outcome.failed(
                f"expected tables in {schema}: {', '.join(expected)}; missing: "
                f"{', '.join(missing)} ({counted})",
                details="\n".join([*(f"found: {t}" for t in found),
                                   *(f"missing: {t}" for t in missing)]),
                evidence=evidence)

        return await with_session(params, ctx, look, action="table lookup",
                                  privilege="SELECT")

    def describe(self, params: TablesParams) -> str:
        return f"tables {', '.join(params.tables)} exist in schema {params.schema_}"


class ColumnsCheck(CheckKind[ColumnsParams]):
    """The expected columns exist with the expected information_schema data_type."""

    Params = ColumnsParams

    async def run(self, params: ColumnsParams, ctx: CheckContext) -> Outcome:
        schema = params.schema_
        wanted = [(key, *key.split(".", 1), expected) for key, expected in params.columns.items()]

        async def look(session: Session) -> Outcome:
            tables = sorted({table for _, table, _, _ in wanted})
            cursor = await session.conn.execute(_COLUMNS_SQL, {"schema": schema,
                                                                "tables": tables})
            actual = {(t, c): (data_type, declared)
                      for t, c, data_type, declared in await cursor.fetchall()}
            seen_tables = {t for t, _ in actual}
            failures: list[str] = []
            found: dict[str, str] = {}
            missing: list[str] = []
            notes: list[str] = []
            for key, table, column, expected in wanted:
                if (table, column) not in actual:
                    missing.append(key)
                    failures.append(f"{key}: column missing")
                    if table not in seen_tables:
                        notes.append(f"{key}: table {table} does not exist in {schema}")
                    continue
                data_type, declared = actual[(table, column)]
                found[key] = data_type
                if expected is not None and not await _same_type(session.conn, expected,
                                                                 data_type, declared):
                    failures.append(f"{key}: expected {expected}, got {data_type}")
            evidence = {"schema": schema, "found": found, "missing": missing,
                        "expected": dict(params.columns)}
            if failures:
                return Outcome.failed(_failure_summary(failures),
                                      details="\n".join(failures + notes), evidence=evidence)
            total = len(wanted)
            return Outcome.ok(f"{total}/{total} columns found in {schema} with the expected "
                              "types", evidence=evidence)

        return await with_session(params, ctx, look, action="column lookup",
                                  privilege="SELECT")

    def describe(self, params: ColumnsParams) -> str:
        shown = ", ".join(f"{key} ({expected or 'any type'})"
                          for key, expected in params.columns.items())
        return f"columns {shown} exist in schema {params.schema_}"


async def _same_type(conn: psycopg.AsyncConnection[Any], expected: str, data_type: str,
                     declared: str) -> bool:
    """`character varying` matches a varchar column; so do `varchar` and `varchar(255)`, which
    PostgreSQL itself resolves (asked only when the plain comparison fails)."""
    wanted = expected.strip().lower()
    if wanted in (data_type.lower(), declared.lower()):
        return True
    try:
        cursor = await conn.execute("SELECT format_type(to_regtype(%s), NULL)", [wanted])
    except psycopg.DatabaseError as exc:
        if (exc.sqlstate or "")[:2] in ("42", "22"):  # not a type name PostgreSQL can read
            return False
        raise
    row = await cursor.fetchone()
    resolved = row[0] if row else None
    return resolved is not None and resolved in (data_type, declared)


class QueryCheck(CheckKind[QueryParams]):
    """One query in a transaction that is always rolled back; assertions over its rows."""

    Params = QueryParams

    async def run(self, params: QueryParams, ctx: CheckContext) -> Outcome:
        args: Any = None
        if isinstance(params.params, dict):
            args = {k: _adapted(v) for k, v in params.params.items()}
        elif params.params is not None:
            args = [_adapted(v) for v in params.params]

        async def look(session: Session) -> Outcome:
            conn = session.conn
            if params.read_only:
                await conn.set_read_only(True)  # BEGIN READ ONLY: the server refuses writes
            started = time.perf_counter()
            async with conn.transaction(force_rollback=True):
                cursor = conn.cursor(row_factory=dict_row)
                await cursor.execute(params.sql, args)
                raw = await cursor.fetchmany(params.max_rows + 1) if cursor.description else []
                columns = [c.name for c in cursor.description or []]
            query_ms = (time.perf_counter() - started) * 1000
            if len(raw) > params.max_rows:
                raise CheckError(f"query returned more than max_rows ({params.max_rows}) rows: "
                                 "add a LIMIT or raise max_rows", permanent=True)
            rows = [_jsonable(row) for row in raw]
            evidence = {"sql": params.sql, "read_only": params.read_only,
                        "row_count": len(rows), "columns": columns,
                        "rows": rows[:ROWS_IN_EVIDENCE]}
            return _assertions_outcome(params.assertions, rows,
                                       f"query returned {_plural(len(rows), 'row')}",
                                       measurements={"query_ms": round(query_ms, 1)},
                                       evidence=evidence)

        return await with_session(params, ctx, look, action="query",
                                  privilege="SELECT" if params.read_only else "the privileges")

    def describe(self, params: QueryParams) -> str:
        text = " ".join(params.sql.split())
        text = text if len(text) <= 60 else text[:59] + "…"
        mode = "read-only" if params.read_only else "rolled back"
        checks = "; ".join(str(a) for a in params.assertions) or "no assertions"
        return f"runs `{text}` ({mode}) and checks: {checks}"


class ProbeCheck(CheckKind[ProbeParams]):
    """Inserts one row, reads it back with every default (RETURNING *), asserts, rolls back.

    The report's "Customer Provisioning": a customer can be created, and gets the trial
    defaults. The transaction is never committed, whatever happens."""

    Params = ProbeParams

    async def run(self, params: ProbeParams, ctx: CheckContext) -> Outcome:
        table = f"{params.schema_}.{params.table}"
        statement = _insert_statement(params)
        values = [_adapted(v) for v in params.values.values()]

        async def look(session: Session) -> Outcome:
            conn = session.conn
            try:
                async with conn.transaction(force_rollback=True):
                    cursor = conn.cursor(row_factory=dict_row)
                    await cursor.execute(statement, values)
                    inserted = await cursor.fetchone()
            except psycopg.errors.IntegrityError as exc:
                # The target refused a row the suite expects it to accept: a failed check.
                detail = exc.diag.message_detail or ""
                return Outcome.failed(f"insert into {table} was rejected: "
                                      f"{primary_message(exc)}", details=detail,
                                      evidence={"table": table, "values": _jsonable(
                                          params.values), "rolled_back": True})
            row = _jsonable(inserted or {})
            _register_secret_columns(row, ctx.redactor)
            evidence = {"table": table, "row": row, "rolled_back": True}
            failures = evaluate(params.assertions, row)
            details = "\n".join([*failures, *([""] if failures else []),
                                  *_read_back_lines(table, row, params.assertions, failures)])
            if failures:
                return Outcome.failed(_failure_summary(failures), details=details,
                                      evidence=evidence)
            summary = f"inserted a row into {table} and rolled it back"
            if params.assertions:
                summary += f"; {_plural(len(params.assertions), 'assertion')} held"
            return Outcome.ok(summary, details=details, evidence=evidence)

        return await with_session(params, ctx, look, action=f"insert into {table}",
                                  privilege="INSERT and SELECT")

    def describe(self, params: ProbeParams) -> str:
        columns = ", ".join(params.values) or "defaults only"
        return (f"inserts a row ({columns}) into {params.schema_}.{params.table}, rolls it back, "
                f"and checks {_plural(len(params.assertions), 'assertion')}")


# Columns whose values are credentials by their name: registered with the run's redactor
# when read back, so a generated token shows in no report, log or store.
_SECRET_COLUMN = re.compile(r"password|passwd|secret|token|api_?key|private_?key|credential",
                            re.IGNORECASE)
READ_BACK_NAME_WIDTH = 28


def _register_secret_columns(row: dict[str, Any], redactor: Redactor) -> None:
    for column, value in row.items():
        if _SECRET_COLUMN.search(column) and isinstance(value, str):
            redactor.register(value)


def _read_back_lines(table: str, row: dict[str, Any], assertions: AssertionList,
                     failures: list[str]) -> list[str]:
    """The row as the table filled it in, then each assertion that held: what the report's
    "Verification" list used to say by hand (`✓ Credit balance: 0 (default)`)."""
    width = min(READ_BACK_NAME_WIDTH, max((len(c) for c in row), default=0))
    lines = [f"read back from {table} (then rolled back):"]
    lines += [f"  {column:<{width}}  {_shown_value(value)}" for column, value in row.items()]
    held = [a for a in assertions if not evaluate([a], row)] if failures else list(assertions)
    if held:
        lines += ["", f"{_plural(len(held), 'assertion')} held:", *(f"  ✓ {a}" for a in held)]
    return lines


def _shown_value(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _insert_statement(params: ProbeParams) -> sql.Composed:
    target = sql.Identifier(params.schema_, params.table)
    if not params.values:
        return sql.SQL("INSERT INTO {} DEFAULT VALUES RETURNING *").format(target)
    return sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        target,
        sql.SQL(", ").join(sql.Identifier(column) for column in params.values),
        sql.SQL(", ").join(sql.Placeholder() for _ in params.values))
