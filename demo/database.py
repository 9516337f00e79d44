"""The demo's database on the local PostgreSQL: `smokebot_demo`, schema `demo_billing`
(demo/schema.sql), with the Oban jobs of demo/oban.py.

Demos share it (its job table above all, which each fills afresh), so one demo at a time uses
it: each holds a PostgreSQL advisory lock from before it loads the schema until it stops, and a
second one waits for it (at most LOCK_WAIT_S). A demo whose PostgreSQL is unreachable shares
nothing and waits for no one.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from psycopg import sql

from demo.oban import seed_jobs

__all__ = ["ADMIN_DSN", "DEMO_DATABASE", "DatabaseBusy", "demo_dsn", "first_line",
           "prepared_database"]

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEMO_DATABASE = "smokebot_demo"
SCHEMA_SQL = Path(__file__).resolve().parent / "schema.sql"
LOCK_KEY = 0x736D6F6B65626F74  # "smokebot"
LOCK_WAIT_S = 120
CONNECT_TIMEOUT_S = 3


class DatabaseBusy(Exception):
    """Another demo held the database for longer than LOCK_WAIT_S."""


def first_line(exc: BaseException) -> str:
    """What a driver's error says, in one line (its first), or its class when it says nothing."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def demo_dsn(admin_dsn: str) -> str:
    """The demo database on the server of `admin_dsn`; ValueError if that is not a DSN."""
    try:
        return psycopg.conninfo.make_conninfo(admin_dsn, dbname=DEMO_DATABASE)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"{str(exc).strip()}; expected a URL such as {ADMIN_DSN}") from None


def _take_lock(conn: psycopg.Connection) -> None:
    if conn.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY]).fetchone() == (True,):
        return
    print(f"demo: another demo is using database {DEMO_DATABASE}; waiting for it to finish",
          file=sys.stderr)
    conn.execute(sql.SQL("SET lock_timeout = {}").format(sql.Literal(f"{LOCK_WAIT_S}s")))
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", [LOCK_KEY])
    except psycopg.errors.LockNotAvailable:
        raise DatabaseBusy(f"another demo has used database {DEMO_DATABASE} for over "
                           f"{LOCK_WAIT_S} s; stop it, or wait for it to finish") from None
    conn.execute("RESET lock_timeout")


@contextmanager
def prepared_database(admin_dsn: str, *, stuck_jobs: bool = False) -> Iterator[bool]:
    """Creates the demo database and schema and fills its Oban job table (with two stuck jobs
    if `stuck_jobs`), holding the demo's lock until the block ends. Yields False if PostgreSQL
    is unreachable (the suite then reports the connect check's error and the other database
    checks as skipped, and the Stripe checks whose events the target must record fail)."""
    try:
        with psycopg.connect(admin_dsn, autocommit=True,
                             connect_timeout=CONNECT_TIMEOUT_S) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   [DEMO_DATABASE]).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
        conn = psycopg.connect(demo_dsn(admin_dsn), autocommit=True,
                               connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.OperationalError as exc:
        print(f"demo: PostgreSQL is not reachable ({first_line(exc)}); the database checks will "
              "be skipped, and the target cannot record Stripe events", file=sys.stderr)
        yield False
        return
    with conn:  # closing it releases the lock
        _take_lock(conn)
        conn.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
        seed_jobs(conn, stuck=stuck_jobs)
        yield True
