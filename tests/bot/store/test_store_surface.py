"""The store's public surface, its errors, and PostgreSQL down or connections lost."""

from __future__ import annotations

import asyncio
from uuid import uuid4

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import bot.store
from bot.errors import DuplicateRun, MigrationError, RunNotFound, StoreError, StoreUnavailable
from bot.migrate import migrate
from bot.store import (
    Store,
)
from checks.errors import SmokebotError, UsageError
from tests.bot.store.store_support import slash, sql_rows
from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN

# --- public surface and errors --------------------------------------------------------------

def test_public_surface_is_the_documented_list() -> None:
    assert bot.store.__all__ == sorted(bot.store.__all__, key=lambda n: (not n.isupper(), n))
    assert set(bot.store.__all__) == {
        "DEFAULT_SCHEMA", "FLAKY_HISTORY_RUNS", "Acknowledgement", "AuditEntry", "DeployFacts",
        "FlakyHistory", "OutboxEntry", "PastResult", "PreviousFailure", "PruneReport", "PruneTarget", "RetentionPolicy", "Run", "RunCounts",
        "RunRequest", "RunStatus", "SlackMessage", "SlackMessageKind", "Store", "TriggerKind",
        "WebhookDelivery", "WebhookOutcome", "prune_history"}


def test_store_errors_belong_to_the_smokebot_error_tree() -> None:
    for error in (StoreUnavailable, RunNotFound, DuplicateRun, MigrationError):
        assert issubclass(error, StoreError)
    assert issubclass(StoreError, SmokebotError)


async def test_invalid_schema_name_is_refused_before_connecting() -> None:
    with pytest.raises(UsageError) as caught:
        await Store.open("postgresql://nobody@127.0.0.1:1/x", schema="smoke; DROP TABLE x")
    assert caught.value.message == (
        "invalid store schema name 'smoke; DROP TABLE x'; expected lowercase letters, digits "
        "and underscores, starting with a letter or underscore")


async def test_malformed_dsn_is_reported_without_echoing_it() -> None:
    with pytest.raises(StoreError) as caught:
        await Store.open("host=127.0.0.1 password=canary-pw-8d1f oops")
    assert caught.value.message == ("the PostgreSQL DSN is not a valid connection string; "
                                    "expected postgresql://user@host:port/database")


# --- PostgreSQL down, connections lost --------------------------------------------------------

async def test_closed_port_raises_store_unavailable_with_a_clear_message() -> None:
    port = free_port()  # bound, then closed: nothing listens there
    dsn = f"postgresql://smokebot:canary-pw-77ab@127.0.0.1:{port}/smokebot"
    expected = (f"history store is unavailable: cannot connect to PostgreSQL at "
                f"127.0.0.1:{port}/smokebot (connection refused); try again shortly")

    async with Store.open(dsn, acquire_timeout=0.5) as store:  # the bot starts anyway
        with pytest.raises(StoreUnavailable) as caught:
            await store.get_run(uuid4())
    assert caught.value.message == expected
    assert (caught.value.where, caught.value.reason) == (f"127.0.0.1:{port}/smokebot",
                                                         "connection refused")
    with pytest.raises(StoreUnavailable) as waiting:
        await Store.open(dsn, acquire_timeout=0.5, wait=True)
    assert waiting.value.message == expected
    with pytest.raises(StoreUnavailable) as migrating:
        await migrate(dsn)
    assert migrating.value.message == expected
    assert "canary-pw-77ab" not in repr(migrating.value.__cause__)


async def test_missing_database_is_named_in_the_unavailable_message() -> None:
    dsn = make_conninfo(PG_ADMIN_DSN, dbname="no_such_smokebot_db")
    where = conninfo_to_dict(dsn)
    async with Store.open(dsn, acquire_timeout=0.5) as store:
        with pytest.raises(StoreUnavailable) as caught:
            await store.ping()
    assert caught.value.message == (
        f"history store is unavailable: cannot connect to PostgreSQL at "
        f"{where['host']}:{where['port']}/no_such_smokebot_db (database "
        f"\"no_such_smokebot_db\" does not exist); try again shortly")


async def test_next_call_succeeds_after_the_pools_connections_were_terminated(
        pg_dsn: str) -> None:
    database = conninfo_to_dict(pg_dsn)["dbname"]
    async with Store.open(pg_dsn, min_size=2, wait=True) as store:
        await store.migrate()
        run = await store.create_run(slash())
        [(killed,)] = await sql_rows(
            PG_ADMIN_DSN, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = %s", database)
        assert killed == 2
        for _ in range(100):  # until the server has closed them, so the check cannot race
            if await sql_rows(PG_ADMIN_DSN, "SELECT 1 FROM pg_stat_activity WHERE datname = %s",
                              database) == []:
                break
            await asyncio.sleep(0.05)

        assert await store.get_run(run.id) == run
        assert await store.heartbeat(run.id) is False


class TcpRelay:
    """A loopback TCP relay to PostgreSQL that can be cut and restored: an outage on demand
    without stopping the machine's real server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self.writers -= {writer, up_writer}


async def test_store_recovers_by_itself_when_postgres_comes_back(pg_dsn: str) -> None:
    params = conninfo_to_dict(pg_dsn)
    relay = TcpRelay(str(params["host"]), int(params["port"]))
    await relay.start()
    dsn = make_conninfo(pg_dsn, port=str(relay.port))
    async with Store.open(dsn, acquire_timeout=1.0, wait=True) as store:
        await store.migrate()
        run = await store.create_run(slash())

        await relay.cut()
        with pytest.raises(StoreUnavailable) as caught:
            await store.get_run(run.id)
        assert caught.value.message == (
            f"history store is unavailable: cannot connect to PostgreSQL at "
            f"{params['host']}:{relay.port}/{params['dbname']} (connection refused); "
            f"try again shortly")

        await relay.start()  # PostgreSQL is back, on the same address
        recovered = None
        for _ in range(20):  # a few calls at most, while the pool reconnects on its own
            try:
                recovered = await store.get_run(run.id)
                break
            except StoreUnavailable:
                continue
        assert recovered == run
        await relay.cut()


async def test_ping_answers_when_postgres_is_up(store: Store) -> None:
    await store.ping()
