"""The store's pool and its error translation: opening the connection pool, taking a
connection (psycopg's and psycopg_pool's errors become StoreUnavailable, RunNotFound), the
migrations, and the small value helpers every table module uses."""

from __future__ import annotations

import asyncio
import functools
import inspect
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Generator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot import deadline
from bot.errors import RunNotFound, StoreError, StoreUnavailable
from bot.migrations import apply_migrations
from bot.store._values import Conn
from checks.errors import UsageError

__all__ = ["DEFAULT_SCHEMA", "Conn", "StoreBase"]

DEFAULT_SCHEMA = "smokebot"

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PROBE_RESERVE_S = 0.3
DEFAULT_OPERATION_TIMEOUT_S = 10.0  # a call that takes longer is a server that stopped answering

T = TypeVar("T")
_in_operation: ContextVar[bool] = ContextVar("smokebot_store_operation", default=False)
# Operations given up on, kept referenced while psycopg cleans up after them in the background.
_abandoned: set[asyncio.Task[Any]] = set()

Operation = Callable[..., Coroutine[Any, Any, T]]


def _bounded(operation: Operation[T]) -> Operation[T]:
    """`operation` given at most the store's operation timeout, or what is left of the
    request's deadline. Run as a task of its own and, past its time, abandoned rather than
    cancelled and awaited: psycopg answers a cancellation by asking the server to cancel the
    query and waiting up to 10 s for it, which a server that stopped answering never does. The
    abandoned task finishes that in the background; its connection is closed, a transaction it
    had open is rolled back, and the caller hears StoreUnavailable at once."""

    @functools.wraps(operation)
    async def bounded(self: StoreBase, *args: Any, **kwargs: Any) -> T:
        budget = deadline.remaining(self._operation_timeout)
        if budget is None or _in_operation.get():  # an operation's own calls share its time
            return await operation(self, *args, **kwargs)

        async def operate() -> T:
            _in_operation.set(True)
            return await operation(self, *args, **kwargs)

        task = asyncio.ensure_future(operate())
        try:
            await asyncio.wait({task}, timeout=budget)
        except asyncio.CancelledError:
            _abandon(task)
            raise
        if task.done():
            return task.result()
        _abandon(task)
        raise self._not_answering(budget)
    return bounded


def _abandon(task: asyncio.Task[Any]) -> None:
    task.cancel()
    _abandoned.add(task)

    def forget(finished: asyncio.Task[Any]) -> None:
        _abandoned.discard(finished)
        if not finished.cancelled():
            finished.exception()  # retrieved: it was reported as StoreUnavailable already
    task.add_done_callback(forget)


class _Opening:
    """What `StoreBase.open` returns: `await` it for a StoreBase, or use it in `async with`."""

    def __init__(self, factory: Callable[[], Awaitable[StoreBase]]) -> None:
        self._factory = factory
        self._store: StoreBase | None = None

    def __await__(self) -> Generator[Any, None, StoreBase]:
        return self._factory().__await__()

    async def __aenter__(self) -> StoreBase:
        self._store = await self._factory()
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.close()


class StoreBase:
    """The history store. Create with `await Store.open(dsn)` or `async with Store.open(dsn)`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every public call of a table module is one bounded operation (`_bounded`).
        super().__init_subclass__(**kwargs)
        for name, member in list(vars(cls).items()):
            if not name.startswith("_") and inspect.iscoroutinefunction(member):
                setattr(cls, name, _bounded(member))

    def __init__(self, pool: AsyncConnectionPool[Any], *, dsn: str, schema: str,
                 probe_kwargs: dict[str, Any], acquire_timeout: float,
                 operation_timeout: float | None = DEFAULT_OPERATION_TIMEOUT_S) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._probe_kwargs = probe_kwargs
        self._acquire_timeout = acquire_timeout
        self._operation_timeout = operation_timeout
        self._where = _describe_server(dsn)
        self._password = conninfo_to_dict(dsn).get("password") or ""

    @classmethod
    def open(cls, dsn: str, schema: str = DEFAULT_SCHEMA, *, min_size: int = 1,
             max_size: int = 10, acquire_timeout: float = 2.0, connect_timeout: int = 3,
             operation_timeout: float | None = DEFAULT_OPERATION_TIMEOUT_S,
             wait: bool = False) -> _Opening:
        """Opens a pool on `dsn` whose connections use `schema`.

        `acquire_timeout`: how long a call waits for a connection before StoreUnavailable.
        `operation_timeout`: how long a call may take in all (less within a request's
        deadline, `bot.deadline`) before StoreUnavailable says PostgreSQL is not answering.
        `wait=True` waits for the first connections and raises StoreUnavailable if PostgreSQL
        cannot be reached; by default the pool connects in the background.
        """
        return _Opening(lambda: cls._open(dsn, schema, min_size=min_size, max_size=max_size,
                                          acquire_timeout=acquire_timeout,
                                          connect_timeout=connect_timeout,
                                          operation_timeout=operation_timeout, wait=wait))

    @classmethod
    async def _open(cls, dsn: str, schema: str, *, min_size: int, max_size: int,
                    acquire_timeout: float, connect_timeout: int,
                    operation_timeout: float | None, wait: bool) -> StoreBase:
        if not _SCHEMA_NAME.match(schema):
            raise UsageError(f"invalid store schema name {schema!r}; expected lowercase letters, "
                             f"digits and underscores, starting with a letter or underscore")
        try:
            params = conninfo_to_dict(dsn)
        except psycopg.ProgrammingError:
            # libpq's message may quote the string, password included: say what to fix instead.
            raise StoreError("the PostgreSQL DSN is not a valid connection string; expected "
                             "postgresql://user@host:port/database") from None
        kwargs: dict[str, Any] = {"autocommit": True, "row_factory": dict_row}
        if "connect_timeout" not in params:
            kwargs["connect_timeout"] = connect_timeout
        if "application_name" not in params:
            kwargs["application_name"] = "smokebot"
        schema_id = sql.Identifier(schema)

        async def configure(conn: Conn) -> None:
            await conn.execute(sql.SQL("SET search_path TO {}").format(schema_id))

        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            dsn, kwargs=kwargs, min_size=min_size, max_size=max_size, open=False,
            configure=configure, check=AsyncConnectionPool.check_connection,
            name=f"smokebot-store[{schema}]", timeout=acquire_timeout,
            # Short reconnection rounds: when one gives up, the next caller starts a new one at
            # once, so recovery after an outage is not stuck behind a minutes-long backoff.
            reconnect_timeout=max(5.0, 5 * acquire_timeout))
        store = cls(pool, dsn=dsn, schema=schema, acquire_timeout=acquire_timeout,
                    operation_timeout=operation_timeout,
                    probe_kwargs={k: kwargs[k] for k in ("connect_timeout",) if k in kwargs})
        try:
            await pool.open(wait=wait, timeout=acquire_timeout)
        except PoolTimeout as exc:
            await pool.close()
            raise await store._unreachable() from exc
        return store

    @property
    def schema(self) -> str:
        return self._schema

    async def close(self) -> None:
        await self._pool.close()

    async def __aenter__(self) -> StoreBase:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- connections and error translation ----------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        # Within a deadline, all but a moment of what is left for a free connection: the
        # moment is for the direct attempt that says why none came (`_unreachable`), which
        # is quick unless the server hangs, and then "not answering" is the answer anyway.
        left = deadline.remaining()
        acquire = self._acquire_timeout if left is None else min(
            self._acquire_timeout, max(0.05, left - _PROBE_RESERVE_S))
        try:
            async with self._pool.connection(timeout=acquire) as conn:
                try:
                    yield conn
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if not (conn.broken or conn.closed):
                        raise  # the server answered (a statement timeout, ...): not an outage
                    raise self._lost(exc) from exc
                except psycopg.errors.ForeignKeyViolation as exc:
                    raise RunNotFound(_missing_key(exc)) from exc
        except PoolTimeout as exc:
            raise await self._unreachable(acquire) from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _unreachable(self, waited_s: float | None = None) -> StoreUnavailable:
        """No connection came in time: try one directly to learn and report why."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn, **self._probe_kwargs)
        except psycopg.Error as exc:
            reason = self._reason(exc)
            return StoreUnavailable(
                f"history store is unavailable: cannot connect to PostgreSQL at {self._where} "
                f"({reason}); try again shortly", where=self._where, reason=reason)
        await conn.close()
        waited_s = self._acquire_timeout if waited_s is None else waited_s
        reason = (f"no connection came free within {waited_s:.1f} s; the pool is busy or "
                  f"reconnecting")
        return StoreUnavailable(
            f"history store is unavailable: PostgreSQL at {self._where} answers, but {reason}; "
            f"try again shortly", where=self._where, reason=reason)

    def _lost(self, exc: Exception) -> StoreUnavailable:
        reason = self._reason(exc)
        return StoreUnavailable(
            f"history store is unavailable: lost the connection to PostgreSQL at {self._where} "
            f"({reason}); try again shortly", where=self._where, reason=reason)

    def _reason(self, exc: Exception) -> str:
        reason = _connect_failure_reason(exc)
        return reason.replace(self._password, "***") if self._password else reason

    def _not_answering(self, waited_s: float) -> StoreUnavailable:
        reason = f"not answering: no reply within {waited_s:.1f} s"
        return StoreUnavailable(
            f"history store is unavailable: PostgreSQL at {self._where} is {reason}; "
            f"try again shortly", where=self._where, reason=reason)

    @_bounded
    async def ping(self) -> None:
        """Raises StoreUnavailable unless PostgreSQL answers; for readiness probes."""
        async with self._connection() as conn:
            await conn.execute("SELECT 1")

    # --- migrations ---------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Applies pending migrations; returns the versions this call applied ([] if none)."""
        async with self._connection() as conn:
            return await apply_migrations(conn, self._schema)  # type: ignore[arg-type]


# --- describing failures --------------------------------------------------------------------------

def _describe_server(dsn: str) -> str:
    """host:port/database, for messages; never the user's password."""
    params = conninfo_to_dict(dsn)
    host = params.get("host") or params.get("hostaddr") or "local socket"
    port = params.get("port") or "5432"
    database = params.get("dbname") or params.get("user") or "postgres"
    return f"{host}:{port}/{database}"


def _connect_failure_reason(exc: Exception) -> str:
    text = (str(exc).strip().splitlines() or [""])[0].strip()
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r'^connection to server (at|on socket) "[^"]*"( \([^)]*\))?(, port \d+)? '
                  r"failed: ", "", text)
    text = re.sub(r"^(FATAL|ERROR):\s+", "", text)
    lowered = text.lower()
    if "connection refused" in lowered:
        return "connection refused"
    if "timeout expired" in lowered:
        return "connection timed out"
    return text or type(exc).__name__


def _missing_key(exc: psycopg.errors.ForeignKeyViolation) -> str:
    # "Key (run_id)=(2b0c...) is not present in table "runs"." Every foreign key names a run.
    detail = exc.diag.message_detail or ""
    match = re.search(r"=\(([^)]*)\)", detail)
    return match.group(1) if match else "?"
