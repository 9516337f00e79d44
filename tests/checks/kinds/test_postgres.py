"""The postgres.* check kinds against this machine's real PostgreSQL, one database per test,
shaped by demo/schema.sql (the billing tables of the staging report)."""

from __future__ import annotations

import asyncio
import gc
import json
import socket
import struct
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.postgres import (
    ColumnsCheck,
    ConnectCheck,
    ProbeCheck,
    QueryCheck,
    TablesCheck,
)
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from tests.support.services import PG_ADMIN_DSN

ROOT = Path(__file__).resolve().parents[3]
SCHEMA_SQL = ROOT / "demo" / "schema.sql"
SCHEMA = "demo_billing"
BILLING_TABLES = ["credit_transactions", "subscriptions", "billing_events",
                  "customer_onboarding_events"]
# The report's "Customer Provisioning": a new customer's trial defaults.
TRIAL_DEFAULTS = ["id exists", "subscription_type == trial", "credit_balance == 0",
                  "trial_fixes_limit == 5", "stripe_customer_id == null",
                  "stripe_subscription_id == null", "stripe_payment_method_id == null",
                  "subscription_state == null", "billing_consent_given == false",
                  "has_payment_method == false", "inserted_at exists", "updated_at exists"]
NEW_CUSTOMER = {"name": "Smoke Test Customer", "email": "smoke-test@example.com"}


# ------------------------------------------------------------------------------ helpers

@pytest.fixture
def pg_billing_dsn(pg_dsn: str) -> str:
    """A database of this test's own with demo/schema.sql loaded."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
    return pg_dsn


@pytest.fixture
def pg_grantless_role(pg_billing_dsn: str) -> Iterator[str]:
    """A login role that may use schema demo_billing but holds no privilege on its tables."""
    role = f"smokebot_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(
            sql.Identifier(SCHEMA), sql.Identifier(role)))
    try:
        yield role
    finally:
        with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def with_user(dsn: str, user: str, password: str | None = None) -> str:
    """The same database as `dsn`, logged in as `user` (trust auth ignores the password)."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    secret = f":{password}" if password else ""
    return f"postgresql://{user}{secret}@{info['host']}:{info.get('port', 5432)}/{info['dbname']}"


def dbname(dsn: str) -> str:
    return str(psycopg.conninfo.conninfo_to_dict(dsn)["dbname"])


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def context(redactor: Redactor | None = None) -> CheckContext:
    return CheckContext(environment="test",
                        redactor=Redactor() if redactor is None else redactor)


async def check(kind: CheckKind[Any], ctx: CheckContext | None = None, **params: Any) -> Outcome:
    """Validates params as a suite would (aliases such as `assert` included) and runs."""
    return await kind.run(kind.Params.model_validate(params), ctx or context())


async def check_error(kind: CheckKind[Any], ctx: CheckContext | None = None,
                      **params: Any) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await check(kind, ctx, **params)
    return caught.value


def customer_count(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT count(*) FROM demo_billing.customers").fetchone()
    assert row is not None
    return int(row[0])


async def wait_for(dsn: str, query: str, params: list[Any]) -> Any:
    """Polls until `query` returns a row (a state the test waits for, not a duration)."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        async with asyncio.timeout(30):
            while True:
                row = await (await conn.execute(query, params)).fetchone()
                if row is not None:
                    return row[0]
                await asyncio.sleep(0.01)


@asynccontextmanager
async def customers_locked(dsn: str) -> AsyncIterator[int]:
    """Holds a SHARE lock on customers (INSERT waits for it); yields the holder's pid."""
    async with await psycopg.AsyncConnection.connect(dsn) as holder:
        await holder.execute("LOCK TABLE demo_billing.customers IN SHARE MODE")
        try:
            yield holder.info.backend_pid
        finally:
            await holder.rollback()


BLOCKED_PROBE = """
SELECT pid FROM pg_stat_activity
WHERE datname = current_database() AND application_name = 'smokebot'
  AND %s = ANY(pg_blocking_pids(pid))
"""
NO_SMOKEBOT_SESSION = """
SELECT true WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity
                              WHERE datname = current_database() AND application_name = 'smokebot')
"""


@asynccontextmanager
async def pg_emulator(reply: str) -> AsyncIterator[tuple[int, list[bytes]]]:
    """A loopback server speaking just enough of the PostgreSQL protocol for libpq: it refuses
    TLS, then either asks for a cleartext password and rejects it ("reject-password"), or never
    answers ("silent"). Yields its port and the passwords it received."""
    received: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:  # SSLRequest / GSSENCRequest first, then the startup packet
                length, code = struct.unpack("!ii", await reader.readexactly(8))
                if code in (80877103, 80877104):
                    if reply == "silent":
                        await reader.read()  # wait for the client to give up
                        return
                    writer.write(b"N")
                    continue
                await reader.readexactly(length - 8)
                break
            writer.write(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
            await reader.readexactly(1)
            (size,) = struct.unpack("!i", await reader.readexactly(4))
            received.append((await reader.readexactly(size - 4)).rstrip(b"\0"))
            fields = (b'SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user '
                      b'"smokebot"\0\0')
            writer.write(b"E" + struct.pack("!i", len(fields) + 4) + fields)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1], received
    finally:
        server.close()
        await server.wait_closed()


# ------------------------------------------------------------------------------ registry

def test_registry_maps_every_postgres_kind_to_its_class() -> None:
    assert isinstance(load_kind("postgres.connect"), ConnectCheck)
    assert isinstance(load_kind("postgres.tables"), TablesCheck)
    assert isinstance(load_kind("postgres.columns"), ColumnsCheck)
    assert isinstance(load_kind("postgres.query"), QueryCheck)
    assert isinstance(load_kind("postgres.probe"), ProbeCheck)


def test_describe_gives_one_line_per_kind_without_the_password() -> None:
    dsn = "postgresql://smokebot:canary-describe-pw@db.internal:6432/rsolv"
    lines = {
        ConnectCheck(): {"dsn": dsn},
        TablesCheck(): {"dsn": dsn, "tables": ["subscriptions", "billing_events"]},
        ColumnsCheck(): {"dsn": dsn, "columns": {"api_keys.key_hash": "character varying",
                                                 "customers.metadata": None}},
        QueryCheck(): {"dsn": dsn, "sql": "SELECT status FROM subscriptions",
                       "assert": ["len($) == 1"]},
        ProbeCheck(): {"dsn": dsn, "schema": SCHEMA, "table": "customers",
                       "values": NEW_CUSTOMER, "assert": TRIAL_DEFAULTS[:2]},
    }
    described = [kind.describe(kind.Params.model_validate(p)) for kind, p in lines.items()]
    assert described == [
        "connects to PostgreSQL at db.internal:6432/rsolv and reads its version",
        "tables subscriptions, billing_events exist in schema public",
        "columns api_keys.key_hash (character varying), customers.metadata (any type) "
        "exist in schema public",
        "runs `SELECT status FROM subscriptions` (read-only) and checks: len($) == 1",
        "inserts a row (name, email) into demo_billing.customers, rolls it back, and checks "
        "2 assertions",
    ]
    assert not any("canary" in line or "\n" in line for line in described)


# ------------------------------------------------------------------------------ postgres.connect

async def test_connect_names_the_server_version_and_measures_connect_ms(pg_dsn: str) -> None:
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    assert row is not None
    version = row[0].split()[0]

    outcome = await check(ConnectCheck(), dsn=pg_dsn)

    assert outcome.passed
    assert outcome.summary == f"connected to PostgreSQL {version} (database {dbname(pg_dsn)} " \
                              "as postgres)"
    assert outcome.measurements["connect_ms"] >= 0
    assert outcome.evidence["version"].startswith(f"PostgreSQL {version}")
    assert (outcome.evidence["host"], outcome.evidence["port"]) == ("127.0.0.1", "5432")


async def test_connect_to_a_closed_port_is_refused_and_may_be_retried() -> None:
    port = closed_port()
    error = await check_error(ConnectCheck(),
                              dsn=f"postgresql://postgres@127.0.0.1:{port}/postgres")
    assert error.message == f"cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused"
    assert not error.permanent


async def test_connect_to_a_missing_database_says_so_permanently(pg_dsn: str) -> None:
    error = await check_error(ConnectCheck(), dsn=pg_dsn + "_missing")
    assert error.message == (f'database "{dbname(pg_dsn)}_missing" does not exist on PostgreSQL '
                             "at 127.0.0.1:5432: check the database name in the DSN")
    assert error.permanent


async def test_connect_as_a_missing_role_says_so_permanently(pg_dsn: str) -> None:
    error = await check_error(ConnectCheck(), dsn=with_user(pg_dsn, "no_such_smokebot_role"))
    assert error.message == ('role "no_such_smokebot_role" does not exist on PostgreSQL at '
                             "127.0.0.1:5432: check the user in the DSN")
    assert error.permanent


async def test_rejected_password_is_permanent_and_never_shown() -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    async with pg_emulator("reject-password") as (port, received):
        error = await check_error(
            ConnectCheck(), dsn=f"postgresql://smokebot:{canary}@127.0.0.1:{port}/rsolv")
    assert received == [canary.encode()]  # the password really went to the server
    assert error.message == (f'PostgreSQL at 127.0.0.1:{port} rejected the password of user '
                             '"smokebot": check the user and password in the DSN')
    assert error.permanent
    assert canary not in error.message + error.details


async def test_server_that_never_answers_times_out_after_connect_timeout() -> None:
    async with pg_emulator("silent") as (port, _):
        error = await check_error(ConnectCheck(), dsn=f"postgresql://smokebot@127.0.0.1:{port}/x",
                                  connect_timeout="200ms")
    assert error.message == (f"cannot connect to PostgreSQL at 127.0.0.1:{port}: no answer "
                             "within 200ms")
    assert not error.permanent


@pytest.mark.parametrize(("dsn", "message"), [
    ("postgresql://smokebot:canary pw 1234@127.0.0.1/rsolv",
     'invalid DSN: unexpected spaces found in "…", use percent-encoded spaces (%20) instead; '
     "expected postgresql://user:password@host:port/dbname or key=value pairs"),
    ("host=127.0.0.1 password=canary-pw-1234 port=fifty",
     'invalid DSN: invalid integer value "…" for connection option "port"; '
     "expected postgresql://user:password@host:port/dbname or key=value pairs"),
    ("host=127.0.0.1 password canary-pw-1234",
     'invalid DSN: missing "=" after "password" in connection info string; '
     "expected postgresql://user:password@host:port/dbname or key=value pairs"),
])
async def test_invalid_dsn_is_permanent_and_does_not_echo_the_password(dsn: str,
                                                                       message: str) -> None:
    error = await check_error(ConnectCheck(), dsn=dsn)
    assert error.message == message
    assert error.permanent
    assert "canary" not in error.message


# ------------------------------------------------------------------------------ postgres.tables

async def test_tables_all_found(pg_billing_dsn: str) -> None:
    outcome = await check(TablesCheck(), dsn=pg_billing_dsn, schema=SCHEMA, tables=BILLING_TABLES)
    assert outcome.passed
    assert outcome.summary == "4/4 tables found in demo_billing"
    assert outcome.evidence == {"schema": SCHEMA, "found": BILLING_TABLES, "missing": []}


async def test_tables_missing_one_names_it(pg_billing_dsn: str) -> None:
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE demo_billing.billing_events")

    outcome = await check(TablesCheck(), dsn=pg_billing_dsn, schema=SCHEMA, tables=BILLING_TABLES)

    assert not outcome.passed
    assert outcome.summary == (
        "expected tables in demo_billing: credit_transactions, subscriptions, billing_events, "
        "customer_onboarding_events; missing: billing_events (found 3 of 4)")
    assert outcome.evidence == {
        "schema": SCHEMA, "missing": ["billing_events"],
        "found": ["credit_transactions", "subscriptions", "customer_onboarding_events"]}


async def test_tables_default_to_the_public_schema(pg_billing_dsn: str) -> None:
    outcome = await check(TablesCheck(), dsn=pg_billing_dsn, tables=["subscriptions"])
    assert outcome.summary == ("expected tables in public: subscriptions; missing: subscriptions "
                               "(found 0 of 1)")


async def test_tables_in_a_missing_schema_say_the_schema_is_missing(pg_billing_dsn: str) -> None:
    outcome = await check(TablesCheck(), dsn=pg_billing_dsn, schema="billing",
                          tables=["subscriptions"])
    assert outcome.summary == ("expected tables in billing: subscriptions; missing: subscriptions "
                               "(found 0 of 1; schema billing does not exist)")
    assert outcome.evidence["schema_exists"] is False


async def test_tables_are_found_by_a_role_without_grants(pg_billing_dsn: str,
                                                         pg_grantless_role: str) -> None:
    # information_schema would hide them; whether migrations ran is not a question of grants.
    outcome = await check(TablesCheck(), dsn=with_user(pg_billing_dsn, pg_grantless_role),
                          schema=SCHEMA, tables=BILLING_TABLES)
    assert outcome.summary == "4/4 tables found in demo_billing"


# ------------------------------------------------------------------------------ postgres.columns

CUSTOMER_COLUMNS = {
    "api_keys.key_hash": "character varying",
    "customers.credit_balance": "integer",
    "customers.stripe_customer_id": "character varying",
    "customers.subscription_type": "character varying",
    "customers.subscription_state": "character varying",
    "customers.billing_consent_given": "boolean",
    "customers.has_payment_method": "boolean",
    "customers.stripe_payment_method_id": "character varying",
    "customers.stripe_subscription_id": "character varying",
    "customers.inserted_at": "timestamp without time zone",
    "customers.metadata": None,
}


async def test_columns_with_expected_types_pass(pg_billing_dsn: str) -> None:
    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns=CUSTOMER_COLUMNS)
    assert outcome.passed
    assert outcome.summary == "11/11 columns found in demo_billing with the expected types"
    assert outcome.evidence["found"]["api_keys.key_hash"] == "character varying"
    assert outcome.evidence["found"]["customers.metadata"] == "jsonb"  # None: any type


async def test_columns_report_a_changed_type(pg_billing_dsn: str) -> None:
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE demo_billing.api_keys ALTER COLUMN key_hash TYPE text")

    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns={"api_keys.key_hash": "character varying"})

    assert not outcome.passed
    assert outcome.summary == "api_keys.key_hash: expected character varying, got text"


async def test_columns_report_a_missing_column(pg_billing_dsn: str) -> None:
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE demo_billing.api_keys DROP COLUMN key_hash")

    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns={"api_keys.key_hash": "character varying",
                                   "customers.credit_balance": "integer"})

    assert not outcome.passed
    assert outcome.summary == "api_keys.key_hash: column missing"
    assert outcome.evidence["missing"] == ["api_keys.key_hash"]


async def test_columns_of_a_missing_table_are_missing(pg_billing_dsn: str) -> None:
    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns={"api_tokens.key_hash": None})
    assert outcome.summary == "api_tokens.key_hash: column missing"
    assert outcome.details.splitlines()[-1] == ("api_tokens.key_hash: table api_tokens does not "
                                                "exist in demo_billing")


async def test_columns_accept_type_names_postgresql_resolves(pg_billing_dsn: str) -> None:
    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns={"api_keys.key_hash": "varchar(255)",
                                   "customers.credit_balance": "int4",
                                   "customers.active": "bool"})
    assert outcome.passed, outcome.summary


async def test_columns_reject_a_type_name_postgresql_cannot_read(pg_billing_dsn: str) -> None:
    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA,
                          columns={"api_keys.key_hash": "character varying ("})
    assert outcome.summary == ("api_keys.key_hash: expected character varying (, got character "
                               "varying")


async def test_columns_data_type_is_information_schema_data_type(pg_billing_dsn: str) -> None:
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute("CREATE TYPE demo_billing.plan AS ENUM ('trial', 'pro')")
        conn.execute("CREATE DOMAIN demo_billing.cents AS integer CHECK (VALUE >= 0)")
        conn.execute("CREATE TABLE demo_billing.odd (tags text[], plan demo_billing.plan, "
                     "amount demo_billing.cents, price numeric(10, 2), at timestamptz)")
        rows = conn.execute("SELECT table_name || '.' || column_name, data_type FROM "
                            "information_schema.columns WHERE table_schema = %s",
                            [SCHEMA]).fetchall()
    expected = dict(rows)
    assert expected["odd.tags"] == "ARRAY" and expected["odd.plan"] == "USER-DEFINED"

    outcome = await check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA, columns=expected)

    assert outcome.passed, outcome.summary
    assert outcome.evidence["found"] == expected


def test_columns_keys_must_name_table_and_column() -> None:
    with pytest.raises(ValueError, match="expected 'table.column' keys"):
        ColumnsCheck.Params.model_validate({"dsn": "postgresql://x", "columns": {"key_hash": None}})


# ------------------------------------------------------------------------------ postgres.query

def seed_subscription(dsn: str, status: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("""
            WITH c AS (INSERT INTO demo_billing.customers (name, email)
                       VALUES ('Seeded', 'seeded@example.com') RETURNING id)
            INSERT INTO demo_billing.subscriptions
                (customer_id, stripe_subscription_id, plan, status, price, current_period_end)
            SELECT id, 'sub_123', 'pro', %s, 599.00, '2025-11-28 21:37:04' FROM c""", [status])


async def test_query_assertions_over_rows_pass(pg_billing_dsn: str) -> None:
    seed_subscription(pg_billing_dsn, "active")
    outcome = await check(QueryCheck(), dsn=pg_billing_dsn,
                          sql="SELECT plan, status, price, current_period_end "
                              "FROM demo_billing.subscriptions WHERE plan = %(plan)s",
                          params={"plan": "pro"},
                          **{"assert": ["len($) == 1", "[*].status == active",
                                        "[0].price == 599"]})
    assert outcome.passed
    assert outcome.summary == "query returned 1 row; 3 assertions held"
    # Decimal and datetime arrive as JSON values: evidence must survive json.dumps.
    assert json.loads(json.dumps(outcome.evidence))["rows"] == [
        {"plan": "pro", "status": "active", "price": 599,
         "current_period_end": "2025-11-28T21:37:04"}]
    assert outcome.evidence["row_count"] == 1


async def test_query_failing_assertion_says_expected_and_got(pg_billing_dsn: str) -> None:
    seed_subscription(pg_billing_dsn, "canceled")
    outcome = await check(QueryCheck(), dsn=pg_billing_dsn,
                          sql="SELECT status FROM demo_billing.subscriptions",
                          **{"assert": ["len($) == 1", "[*].status == active"]})
    assert not outcome.passed
    assert outcome.summary == '[0].status: expected "active", got "canceled"'


async def test_query_values_are_json_friendly(pg_dsn: str) -> None:
    outcome = await check(QueryCheck(), dsn=pg_dsn, sql=(
        "SELECT 12.50::numeric AS amount, 0.1::numeric(30, 25) AS tiny, "
        "'2025-10-28 21:37:04+00'::timestamptz AS at, '2025-10-28'::date AS day, "
        "'90 seconds'::interval AS wait, '\\x00ff'::bytea AS raw, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id, %s::jsonb AS meta, "
        "ARRAY[1, 2] AS nums"), params=[{"plan": "pro"}])
    row = outcome.evidence["rows"][0]
    assert row == {"amount": 12.5, "tiny": 0.1, "at": "2025-10-28T21:37:04+00:00",
                   "day": "2025-10-28", "wait": 90.0, "raw": "\\x00ff",
                   "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "meta": {"plan": "pro"},
                   "nums": [1, 2]}
    json.dumps(outcome.evidence)


async def test_read_only_query_cannot_write(pg_billing_dsn: str) -> None:
    error = await check_error(QueryCheck(), dsn=pg_billing_dsn, sql=(
        "INSERT INTO demo_billing.customers (name, email) VALUES ('x', 'x@example.com') "
        "RETURNING id"))
    assert error.message == ("query tried to write in a read-only transaction (cannot execute "
                             "INSERT in a read-only transaction): set read_only: false to allow "
                             "it (it is rolled back either way)")
    assert error.permanent
    assert customer_count(pg_billing_dsn) == 0


async def test_writable_query_is_still_rolled_back(pg_billing_dsn: str) -> None:
    outcome = await check(QueryCheck(), dsn=pg_billing_dsn, read_only=False, sql=(
        "INSERT INTO demo_billing.customers (name, email) VALUES ('x', 'x@example.com') "
        "RETURNING subscription_type"), **{"assert": "[0].subscription_type == trial"})
    assert outcome.summary == "query returned 1 row; 1 assertion held"
    assert customer_count(pg_billing_dsn) == 0


async def test_query_exceeding_statement_timeout(pg_dsn: str) -> None:
    error = await check_error(QueryCheck(), dsn=pg_dsn, sql="SELECT pg_sleep(30)",
                              statement_timeout="200ms")
    assert error.message == "query exceeded statement_timeout of 200ms"
    assert not error.permanent


async def test_query_of_an_undefined_table_is_permanent(pg_billing_dsn: str) -> None:
    error = await check_error(QueryCheck(), dsn=pg_billing_dsn,
                              sql="SELECT * FROM demo_billing.customer")
    assert error.message == ('query failed: relation "demo_billing.customer" does not exist: '
                             "check the schema and table names")
    assert error.permanent


async def test_query_of_an_undefined_column_is_permanent(pg_billing_dsn: str) -> None:
    error = await check_error(QueryCheck(), dsn=pg_billing_dsn,
                              sql="SELECT credits FROM demo_billing.customers")
    assert error.message == 'query failed: column "credits" does not exist: check the column names'
    assert error.permanent


async def test_query_without_select_grant_says_what_to_grant(pg_billing_dsn: str,
                                                             pg_grantless_role: str) -> None:
    error = await check_error(QueryCheck(), dsn=with_user(pg_billing_dsn, pg_grantless_role),
                              sql="SELECT count(*) FROM demo_billing.customers")
    assert error.message == ("permission denied for table customers: grant SELECT on it to the "
                             f"{pg_grantless_role} role")
    assert error.permanent


async def test_query_returning_more_than_max_rows_refuses_to_judge(pg_dsn: str) -> None:
    error = await check_error(QueryCheck(), dsn=pg_dsn, max_rows=3,
                              sql="SELECT * FROM generate_series(1, 4)",
                              **{"assert": "len($) <= 3"})
    assert error.message == ("query returned more than max_rows (3) rows: add a LIMIT or raise "
                             "max_rows")


# ------------------------------------------------------------------------------ postgres.probe

async def probe(dsn: str, values: dict[str, Any] | None = None,
                assertions: list[str] | None = None, **params: Any) -> Outcome:
    return await check(ProbeCheck(), dsn=dsn, schema=SCHEMA, table="customers",
                       values=NEW_CUSTOMER if values is None else values,
                       **{"assert": TRIAL_DEFAULTS if assertions is None else assertions},
                       **params)


async def test_probe_reads_back_defaults_and_leaves_no_rows(pg_billing_dsn: str) -> None:
    assert customer_count(pg_billing_dsn) == 0

    outcome = await probe(pg_billing_dsn)

    assert outcome.passed
    assert outcome.summary == ("inserted a row into demo_billing.customers and rolled it back; "
                               "12 assertions held")
    row = outcome.evidence["row"]
    assert {k: row[k] for k in ("name", "email", "subscription_type", "credit_balance",
                                "trial_fixes_limit", "stripe_customer_id", "metadata")} == {
        "name": "Smoke Test Customer", "email": "smoke-test@example.com",
        "subscription_type": "trial", "credit_balance": 0, "trial_fixes_limit": 5,
        "stripe_customer_id": None, "metadata": {}}
    json.dumps(outcome.evidence)
    assert customer_count(pg_billing_dsn) == 0


async def test_probe_leaves_no_rows_when_an_assertion_fails(pg_billing_dsn: str) -> None:
    with psycopg.connect(pg_billing_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE demo_billing.customers ALTER COLUMN trial_fixes_limit SET "
                     "DEFAULT 10")

    outcome = await probe(pg_billing_dsn)

    assert not outcome.passed
    assert outcome.summary == "trial_fixes_limit: expected 5, got 10"
    assert customer_count(pg_billing_dsn) == 0


async def test_probe_leaves_no_rows_when_the_insert_violates_a_constraint(
        pg_billing_dsn: str) -> None:
    outcome = await probe(pg_billing_dsn, {**NEW_CUSTOMER, "credit_balance": -1})
    assert not outcome.passed
    assert outcome.summary == ('insert into demo_billing.customers was rejected: new row for '
                               'relation "customers" violates check constraint '
                               '"customers_credit_balance_check"')
    assert customer_count(pg_billing_dsn) == 0


async def test_probe_leaves_no_rows_when_its_connection_is_killed(pg_billing_dsn: str) -> None:
    async with customers_locked(pg_billing_dsn) as holder_pid:
        task = asyncio.ensure_future(probe(pg_billing_dsn, statement_timeout=60))
        probe_pid = await wait_for(pg_billing_dsn, BLOCKED_PROBE, [holder_pid])  # INSERT waits
        await wait_for(pg_billing_dsn, "SELECT pg_terminate_backend(%s) WHERE true",
                       [probe_pid])
        with pytest.raises(CheckError) as caught:
            await task
    assert caught.value.message == ("lost the connection to PostgreSQL at 127.0.0.1:5432: "
                                    "terminating connection due to administrator command")
    assert not caught.value.permanent
    assert customer_count(pg_billing_dsn) == 0


async def test_probe_cancelled_while_blocked_leaves_no_rows_nor_session(
        pg_billing_dsn: str) -> None:
    async with customers_locked(pg_billing_dsn) as holder_pid:
        task = asyncio.ensure_future(probe(pg_billing_dsn, statement_timeout=60))
        await wait_for(pg_billing_dsn, BLOCKED_PROBE, [holder_pid])
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    await wait_for(pg_billing_dsn, NO_SMOKEBOT_SESSION, [])  # its connection was closed
    assert customer_count(pg_billing_dsn) == 0


async def test_probe_of_an_undefined_column_is_permanent(pg_billing_dsn: str) -> None:
    with pytest.raises(CheckError) as caught:
        await probe(pg_billing_dsn, {**NEW_CUSTOMER, "plan": "pro"})
    assert caught.value.message == ('insert into demo_billing.customers failed: column "plan" of '
                                    'relation "customers" does not exist: check the column names')
    assert caught.value.permanent


async def test_probe_names_are_identifiers_not_sql(pg_billing_dsn: str) -> None:
    injection = "x; DROP TABLE demo_billing.api_keys; --"  # formatted in, it would run
    error = await check_error(ProbeCheck(), dsn=pg_billing_dsn, schema=SCHEMA, table=injection,
                              values={"name": "x"})
    assert error.message == (f'insert into demo_billing.{injection} failed: relation '
                             f'"demo_billing.{injection}" does not exist: check the schema and '
                             "table names")
    outcome = await check(TablesCheck(), dsn=pg_billing_dsn, schema=SCHEMA, tables=["api_keys"])
    assert outcome.passed


async def test_probe_without_insert_grant_says_what_to_grant(pg_billing_dsn: str,
                                                             pg_grantless_role: str) -> None:
    with pytest.raises(CheckError) as caught:
        await probe(with_user(pg_billing_dsn, pg_grantless_role))
    assert caught.value.message == ("permission denied for table customers: grant INSERT and "
                                    f"SELECT on it to the {pg_grantless_role} role")
    assert caught.value.permanent


# ------------------------------------------------------------------------------ connections

async def test_every_kind_closes_its_connection_whether_it_passes_or_errs(
        pg_billing_dsn: str) -> None:
    runs = [
        check(ConnectCheck(), dsn=pg_billing_dsn),
        check(TablesCheck(), dsn=pg_billing_dsn, schema=SCHEMA, tables=BILLING_TABLES),
        check(ColumnsCheck(), dsn=pg_billing_dsn, schema=SCHEMA, columns=CUSTOMER_COLUMNS),
        check(QueryCheck(), dsn=pg_billing_dsn, sql="SELECT 1 AS one"),
        probe(pg_billing_dsn),
        check(QueryCheck(), dsn=pg_billing_dsn, sql="SELECT * FROM nope"),
        probe(pg_billing_dsn, {"plan": "pro"}),
    ]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        await asyncio.gather(*runs, return_exceptions=True)
        gc.collect()  # psycopg warns when a connection is collected while still open
    assert [str(w.message) for w in caught if "still open" in str(w.message)] == []
    await wait_for(pg_billing_dsn, NO_SMOKEBOT_SESSION, [])


# ------------------------------------------------------------------------------ secrets

async def test_dsn_password_never_appears_in_outcomes_or_errors(pg_billing_dsn: str) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    dsn = with_user(pg_billing_dsn, "postgres", canary)  # trust auth: accepted, unused
    redactor = Redactor()
    ctx = context(redactor)
    outcomes = [
        await check(ConnectCheck(), ctx, dsn=dsn),
        await check(TablesCheck(), ctx, dsn=dsn, schema=SCHEMA, tables=["customers", "nope"]),
        await check(ColumnsCheck(), ctx, dsn=dsn, schema=SCHEMA, columns={"customers.x": None}),
        await check(QueryCheck(), ctx, dsn=dsn, sql="SELECT current_setting('application_name')",
                    **{"assert": "len($) == 2"}),
        await check(ProbeCheck(), ctx, dsn=dsn, schema=SCHEMA, table="customers",
                    values=NEW_CUSTOMER, **{"assert": "credit_balance == 1"}),
    ]
    errors = [
        await check_error(ConnectCheck(), ctx, dsn=dsn.replace(":5432/", f":{closed_port()}/")),
        await check_error(ConnectCheck(), ctx, dsn=dsn + "_missing"),
        await check_error(QueryCheck(), ctx, dsn=dsn, sql="SELECT * FROM nope"),
        await check_error(ProbeCheck(), ctx, dsn=dsn, schema=SCHEMA, table="nope", values={}),
    ]
    assert [o.passed for o in outcomes] == [True, False, False, False, False]
    text = json.dumps([asdict(o) for o in outcomes]) + "".join(
        f"{e.message}{e.details}{e!r}" for e in errors)
    assert canary not in text
    assert redactor.redact(canary) != canary  # registered with the run's redactor


# ------------------------------------------------------------------------------ in a suite

async def test_demo_suite_database_checks_pass_against_demo_schema(
        pg_billing_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEMO_DATABASE_URL", pg_billing_dsn)
    # The environment's other secrets: a plan needs them all, and the db checks use neither.
    monkeypatch.setenv("DEMO_STRIPE_KEY", "sk_" + "test_unusedByTheDbChecks0123")
    monkeypatch.setenv("DEMO_STRIPE_WEBHOOK_SECRET", "whsec_" + "unusedByTheDbChecks0123")
    monkeypatch.setenv("DEMO_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.setenv("DEMO_API_KEY", "rsk_" + "test_unusedByTheDbChecks0123")
    plan = build_plan(load_suite(ROOT / "demo" / "smoketest.yaml"), "staging", only=["db"])
    assert {c.spec.type for c in plan.checks} >= {"postgres.connect", "postgres.tables",
                                                  "postgres.columns", "postgres.probe"}
    result = await run_plan(plan)
    assert [(r.check_id, r.status, r.summary) for r in result.problems()] == []
    assert customer_count(pg_billing_dsn) == 0


SUITE = """
suite: pg
environments:
  test:
    secrets:
      database_url: {env: PG_KIND_TEST_DSN}
categories:
  - name: Database Schema
    checks:
      - id: db-connect
        type: postgres.connect
        dsn: ${secrets.database_url}
        connect_timeout: 2s
      - id: billing-tables
        type: postgres.tables
        depends_on: [db-connect]
        dsn: ${secrets.database_url}
        tables: [subscriptions]
"""


async def test_unreachable_database_skips_the_checks_that_depend_on_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    port = closed_port()
    monkeypatch.setenv("PG_KIND_TEST_DSN", f"postgresql://smokebot:{canary}@127.0.0.1:{port}/x")
    suite_file = tmp_path / "smoketest.yaml"
    suite_file.write_text(SUITE)

    result = await run_plan(build_plan(load_suite(suite_file), "test"))

    assert [(r.check_id, r.status, r.summary) for r in result.results] == [
        ("db-connect", Status.ERROR,
         f"cannot connect to PostgreSQL at 127.0.0.1:{port}: connection refused"),
        ("billing-tables", Status.SKIP,
         "skipped: depends on 'db-connect', which could not run"),
    ]
    assert canary not in repr(result)
