"""The PostgreSQL session every postgres.* kind looks through: where a DSN points, connecting,
and psycopg's errors translated into CheckError.

A session sets `statement_timeout`, registers the DSN's password with the run's redactor and is
closed however the check ends. psycopg's exceptions become CheckError here, at the edge: a
person reads what to fix, never a traceback, and never the password (libpq's own error objects
carry it, so they are not chained onto ours).
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, KindParams
from checks.redact import Redactor

__all__ = ["APPLICATION_NAME", "READ_ONLY_HINT", "PostgresParams", "Session", "Target",
           "describe_target", "duration_text", "primary_message", "schema_exists",
           "with_session"]

T = TypeVar("T")

APPLICATION_NAME = "smokebot"  # so a DBA can tell our sessions apart in pg_stat_activity
READ_ONLY_HINT = "set read_only: false to allow it (it is rolled back either way)"


class PostgresParams(KindParams):
    dsn: str = Field(min_length=1)
    connect_timeout: Duration = 5.0
    statement_timeout: Duration = 5.0


# ------------------------------------------------------------------------------ the target

@dataclass(frozen=True)
class Target:
    """Where a DSN points, without its password: what error messages may name."""

    host: str
    port: str
    user: str
    sets_application_name: bool

    @property
    def label(self) -> str:
        return f"{self.host}:{self.port}"


def _register_password(dsn: str, redactor: Redactor) -> None:
    """Registers the password even when the DSN is too broken to parse: libpq's parse errors
    quote pieces of the DSN."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.Error:
        password = None
        if "://" in dsn:
            try:
                password = unquote(urlsplit(dsn).password or "")
            except ValueError:
                pass
        else:
            match = re.search(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", dsn)
            password = match.group(1).strip("'") if match else None
    if password:
        redactor.register(str(password))


def _target(dsn: str, redactor: Redactor) -> Target:
    _register_password(dsn, redactor)
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error as exc:
        problem = _invalid_dsn(str(exc))
    else:
        host = str(params.get("host") or params.get("hostaddr") or "localhost")
        return Target(host=host, port=str(params.get("port") or 5432),
                      user=str(params.get("user") or ""),
                      sets_application_name="application_name" in params)
    raise problem  # outside the except block: libpq's exception must not ride along


def _invalid_dsn(reason: str) -> CheckError:
    # libpq quotes the offending piece of the DSN, which may be (part of) the password; only
    # the names of connection options are safe to repeat.
    reason = reason.strip().splitlines()[0] if reason.strip() else "cannot be read"
    reason = re.sub(r'"([^"]*)"',
                    lambda m: m.group(0) if m.group(1) in _SAFE_IN_DSN_ERRORS else '"…"', reason)
    return CheckError(f"invalid DSN: {reason}; expected postgresql://user:password@host:port/"
                      "dbname or key=value pairs", permanent=True)


_SAFE_IN_DSN_ERRORS = frozenset(
    ["=", *(o.keyword.decode() for o in psycopg.pq.Conninfo.get_defaults())])


def describe_target(dsn: str) -> str:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.Error:
        return "PostgreSQL"
    host = params.get("host") or params.get("hostaddr") or "localhost"
    return f"PostgreSQL at {host}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


# ------------------------------------------------------------------------------ sessions

@dataclass(frozen=True)
class Session:
    conn: psycopg.AsyncConnection[Any]
    target: Target
    connect_ms: float


async def with_session(params: PostgresParams, ctx: CheckContext,
                       work: Callable[[Session], Awaitable[T]], *, action: str,
                       privilege: str, read_only_hint: str = READ_ONLY_HINT) -> T:
    """Connects, sets statement_timeout, runs `work`, closes. psycopg errors raised by `work`
    become CheckError; `action` and `privilege` word them ("query", "SELECT"), and
    `read_only_hint` says what to do when a READ ONLY transaction refused a write."""
    target = _target(params.dsn, ctx.redactor)
    session = await _connect(params, target, ctx.redactor)
    problem: CheckError
    try:
        await session.conn.execute("SELECT set_config('statement_timeout', %s, false)",
                                   [f"{max(1, round(params.statement_timeout * 1000))}ms"])
        return await work(session)
    except psycopg.Error as exc:
        problem = _statement_error(exc, session, params, action=action, privilege=privilege,
                                   read_only_hint=read_only_hint)
    finally:
        await session.conn.close()  # also ends (and so discards) an open transaction
    raise _redacted(problem, ctx.redactor)


async def _connect(params: PostgresParams, target: Target, redactor: Redactor) -> Session:
    options: dict[str, Any] = {
        "autocommit": True,  # transactions are opened explicitly, and always rolled back
        "connect_timeout": max(2, math.ceil(params.connect_timeout)),  # libpq's minimum is 2s
    }
    if not target.sets_application_name:
        options["application_name"] = APPLICATION_NAME
    started = time.perf_counter()
    problem: CheckError
    try:
        async with asyncio.timeout(params.connect_timeout):  # libpq's own is whole seconds
            conn = await psycopg.AsyncConnection.connect(params.dsn, **options)
        return Session(conn, target, (time.perf_counter() - started) * 1000)
    except TimeoutError:
        problem = CheckError(f"cannot connect to PostgreSQL at {target.label}: no answer within "
                             f"{duration_text(params.connect_timeout)}")
    except psycopg.Error as exc:
        problem = _connect_error(str(exc), target, params)
    raise _redacted(problem, redactor)


def _redacted(error: CheckError, redactor: Redactor) -> CheckError:
    return CheckError(redactor.redact(error.message), permanent=error.permanent,
                      details=redactor.redact(error.details))


_DB_MISSING = re.compile(r'database "(?P<name>[^"]*)" does not exist')
_ROLE_MISSING = re.compile(r'role "(?P<name>[^"]*)" does not exist')


def _connect_error(message: str, target: Target, params: PostgresParams) -> CheckError:
    """libpq reports connection failures as text only (no SQLSTATE), so they are read from it."""
    if message.startswith("connection is bad:") or "invalid URI" in message or \
            "bad value for" in message or "invalid connection option" in message:
        return _invalid_dsn(message.removeprefix("connection is bad:"))
    reason = _connect_reason(message)
    where = f"PostgreSQL at {target.label}"
    lower = reason.lower()
    if "connection refused" in lower:
        return CheckError(f"cannot connect to {where}: connection refused")
    if "timeout expired" in lower or "timed out" in lower:
        return CheckError(f"cannot connect to {where}: no answer within "
                          f"{duration_text(params.connect_timeout)}")
    if "resolve host" in lower or "translate host name" in lower:
        return CheckError(f"cannot connect to {where}: host name not found")
    if "password authentication failed" in lower or "authentication failed" in lower:
        named = re.search(r'for user "([^"]*)"', reason)
        who = f'user "{named.group(1) if named else target.user}"'
        return CheckError(f"{where} rejected the password of {who}: check the user and "
                          "password in the DSN", permanent=True)
    if match := _DB_MISSING.search(reason):
        return CheckError(f'database "{match["name"]}" does not exist on {where}: check the '
                          "database name in the DSN", permanent=True)
    if match := _ROLE_MISSING.search(reason):
        return CheckError(f'role "{match["name"]}" does not exist on {where}: check the user '
                          "in the DSN", permanent=True)
    if "no pg_hba.conf entry" in lower or "not permitted to log in" in lower or \
            "permission denied for database" in lower:
        return CheckError(f"{where} refused this login: {reason}", permanent=True)
    if "ssl" in lower and ("required" in lower or "not support" in lower):
        return CheckError(f"cannot connect to {where}: {reason}: check sslmode in the DSN",
                          permanent=True)
    return CheckError(f"cannot connect to {where}: {reason}")


def _connect_reason(message: str) -> str:
    """'connection failed: connection to server at "h", port 5432 failed: FATAL:  database "x"
    does not exist' -> 'database "x" does not exist'."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    text = lines[0] if lines else message
    text = re.sub(r"^connection failed:\s*", "", text)
    text = re.sub(r'^connection to server (at|on) .*? failed:\s*', "", text)
    text = re.sub(r"^(FATAL|ERROR):\s*", "", text)
    return text.strip() or message.strip()


_PERMISSION = re.compile(r"permission denied for (?P<what>materialized view|table|view|sequence|"
                         r"schema|function|procedure|relation|database|column|type) "
                         r"(?P<name>\S+)")
_PRIVILEGE_BY_OBJECT = {"schema": "USAGE", "sequence": "USAGE", "function": "EXECUTE",
                        "procedure": "EXECUTE", "database": "CONNECT", "type": "USAGE"}
_LOST = ("08", "57P01", "57P02", "57P03")
_HINTS = {"42P01": ": check the schema and table names", "3F000": ": check the schema name",
          "42703": ": check the column names", "42601": ": check the SQL",
          "42883": ": check the function name and argument types"}


def _statement_error(exc: psycopg.Error, session: Session, params: PostgresParams, *,
                     action: str, privilege: str, read_only_hint: str) -> CheckError:
    state = exc.sqlstate or ""
    primary = primary_message(exc)
    detail = "\n".join(p for p in (exc.diag.message_detail, exc.diag.message_hint) if p)
    where = f"PostgreSQL at {session.target.label}"
    if session.conn.closed or state.startswith(_LOST):
        return CheckError(f"lost the connection to {where}: {primary}", details=detail)
    if state == "57014":
        if "statement timeout" in primary:
            return CheckError(f"query exceeded statement_timeout of "
                              f"{duration_text(params.statement_timeout)}")
        return CheckError(f"{action} was cancelled on the server: {primary}")
    if state == "55P03":
        return CheckError(f"{action} waited too long for a lock: {primary}")
    if state == "42501":
        role = session.conn.info.user
        if match := _PERMISSION.search(primary):
            needed = _PRIVILEGE_BY_OBJECT.get(match["what"], privilege)
            return CheckError(f"permission denied for {match['what']} {match['name']}: grant "
                              f"{needed} on it to the {role} role", permanent=True)
        return CheckError(f"{primary}: grant the privilege it needs to the {role} role",
                          permanent=True, details=detail)
    if state == "25006":
        return CheckError(f"{action} tried to write in a read-only transaction ({primary})"
                          + (f": {read_only_hint}" if read_only_hint else ""), permanent=True)
    if state.startswith(("42", "3F", "22", "23", "0A", "2B")) or (
            not state and isinstance(exc, psycopg.ProgrammingError)):
        # A mistake in the suite (unknown table or column, bad value, bad SQL): retrying the
        # same statement cannot help.
        hint = _HINTS.get(state, "")
        return CheckError(f"{action} failed: {primary}{hint}", permanent=True, details=detail)
    return CheckError(f"{action} failed: {primary}", details=detail)


async def schema_exists(conn: psycopg.AsyncConnection[Any], schema: str) -> bool:
    cursor = await conn.execute(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s)", [schema])
    row = await cursor.fetchone()
    return bool(row and row[0])


def primary_message(exc: psycopg.Error) -> str:
    primary = exc.diag.message_primary
    if not primary:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        primary = lines[0] if lines else type(exc).__name__
        primary = re.sub(r"^consuming input failed:\s*", "", primary)
    return primary


def duration_text(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    return f"{seconds:g}s"
