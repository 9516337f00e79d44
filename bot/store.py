"""The history store: runs, their check results, the Slack messages that show them,
acknowledgements, the audit log, Slack calls waiting for delivery and webhook deliveries, kept
in PostgreSQL through psycopg 3 (async) and a psycopg_pool connection pool.

Every table lives in one schema (default "smokebot"), so several stores can share a database.
`Store.open()` does not wait for PostgreSQL: the bot starts while the database is down, each call
then raises StoreUnavailable (a clear message for the user), and the pool reconnects by itself
when PostgreSQL is back. Connections are checked when taken from the pool, so one that the server
dropped (a restart, pg_terminate_backend) is replaced instead of failing the call.

Secrets: the store writes what it is given and redacts nothing. Callers hand it text that is
already redacted: `save_result` and `finish_run` take the CheckResults the runner produced, which
the runner passed through the run's Redactor; outbox payloads are Slack API arguments without the
token (the deliverer adds it when it sends); audit details, webhook summaries and status reasons
carry facts, never credentials. As a last line of defence, webhook headers whose names suggest a
credential (Authorization, *signature*, *secret*, *token*, Cookie) are dropped before writing.

Times: every datetime passed in must be timezone-aware; timestamps the store sets itself come from
the database's clock (`now()`), so stale-run detection does not depend on the workers' clocks.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timezone
from decimal import Decimal
from typing import Any, LiteralString
from uuid import UUID

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from bot.errors import DuplicateRun, RunNotFound, StoreError, StoreUnavailable
from bot.migrations import apply_migrations
from checks.errors import UsageError
from checks.results import CheckResult, RunResult, Severity, Status, Verdict

__all__ = [
    "DEFAULT_SCHEMA",
    "Acknowledgement",
    "AuditEntry",
    "DeployFacts",
    "OutboxEntry",
    "PreviousFailure",
    "Run",
    "RunCounts",
    "RunRequest",
    "RunStatus",
    "SlackMessage",
    "SlackMessageKind",
    "Store",
    "TriggerKind",
    "WebhookDelivery",
    "WebhookOutcome",
    "WebhookSource",
]

DEFAULT_SCHEMA = "smokebot"

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_PROBLEM_STATUSES = [Status.FAIL.value, Status.ERROR.value]
_CREDENTIAL_HEADER = re.compile(
    r"authorization|cookie|secret|token|signature|password|passwd|api[-_]?key|credential", re.I)
_MAX_HEADER_VALUE = 1000

Conn = psycopg.AsyncConnection[DictRow]


# --- vocabulary -------------------------------------------------------------------------------

class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    INTERRUPTED = "interrupted"  # its worker died or stopped heartbeating
    SUPERSEDED = "superseded"  # a newer deploy of the environment replaced it
    ERROR = "error"  # the run could not be carried out (suite failed to load, ...)

    @property
    def is_active(self) -> bool:
        return self in (RunStatus.QUEUED, RunStatus.RUNNING)


class TriggerKind(str, enum.Enum):
    SLASH = "slash"
    BUTTON = "button"
    MENTION = "mention"
    WEBHOOK = "webhook"
    CLI = "cli"


class SlackMessageKind(str, enum.Enum):
    SUMMARY = "summary"  # the run's parent message, updated in place; one per run
    FAILURE_REPLY = "failure_reply"  # one thread reply per failed check
    NOTICE = "notice"  # anything else posted for the run (superseded, acknowledged, ...)


class WebhookSource(str, enum.Enum):
    GITHUB = "github"
    ARGOCD = "argocd"
    DEPLOY = "deploy"


class WebhookOutcome(str, enum.Enum):
    ACCEPTED = "accepted"  # authenticated and mapped: a run was created
    IGNORED = "ignored"  # authenticated, but nothing to do (unmapped environment, a ping)
    REJECTED = "rejected"  # bad signature, stale, malformed or too large


# --- records ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class DeployFacts:
    """What a deploy webhook told us; exposed to checks as `${deploy.<field>}`."""

    source: str | None = None  # github, argocd, deploy
    version: str | None = None
    commit: str | None = None
    ref: str | None = None
    deployer: str | None = None
    url: str | None = None  # the environment's URL
    link: str | None = None  # the deployment's own page (GitHub deployment, Argo CD app)

    def as_variables(self) -> dict[str, str]:
        """The known facts, for `build_plan(deploy=...)`."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class RunCounts:
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    warnings: int = 0

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped + self.warnings

    @classmethod
    def from_statuses(cls, counts: Mapping[Status, int]) -> RunCounts:
        return cls(passed=counts.get(Status.PASS, 0), failed=counts.get(Status.FAIL, 0),
                   errors=counts.get(Status.ERROR, 0), skipped=counts.get(Status.SKIP, 0),
                   warnings=counts.get(Status.WARN, 0))


@dataclass(frozen=True)
class RunRequest:
    """What is known when a run is asked for; `Store.create_run` turns it into a queued Run."""

    environment: str
    trigger_kind: TriggerKind
    trigger_detail: str = ""  # who or what: "/smoketest staging api", "deployment_status 4242"
    requested_by: str | None = None  # a Slack user id, a deployer, a CI job
    filters: tuple[str, ...] = ()
    channel: str | None = None
    deploy: DeployFacts | None = None
    suite: str | None = None
    rerun_of: UUID | None = None
    idempotency_key: str | None = None  # a second request with the same key is a DuplicateRun

    def __post_init__(self) -> None:
        if not self.environment:
            raise UsageError("a run needs an environment")
        object.__setattr__(self, "trigger_kind", TriggerKind(self.trigger_kind))
        object.__setattr__(self, "filters", tuple(self.filters))
        if self.rerun_of is not None:
            object.__setattr__(self, "rerun_of", _as_uuid(self.rerun_of))


@dataclass(frozen=True)
class Run:
    id: UUID
    environment: str
    status: RunStatus
    trigger_kind: TriggerKind
    trigger_detail: str
    requested_by: str | None
    filters: tuple[str, ...]
    channel: str | None
    deploy: DeployFacts | None
    suite: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    worker_id: str | None
    counts: RunCounts
    verdict: Verdict | None  # set when the run reached one: passed, failed or cancelled
    status_reason: str | None  # why it was interrupted, superseded, cancelled or errored
    rerun_of: UUID | None
    superseded_by: UUID | None
    idempotency_key: str | None

    @property
    def is_active(self) -> bool:
        return self.status.is_active

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class SlackMessage:
    id: int
    run_id: UUID
    kind: SlackMessageKind
    channel: str
    ts: str
    thread_ts: str | None  # set when this message is itself a reply in a thread
    check_id: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def thread_root(self) -> str:
        """The ts that replies to this message's thread go under."""
        return self.thread_ts or self.ts


@dataclass(frozen=True)
class PreviousFailure:
    """The latest earlier run of the environment in which a check failed (or errored)."""

    check_id: str
    run_id: UUID
    run_created_at: datetime
    status: Status
    summary: str
    # True when that check's latest earlier result (skips aside) was this failure: "still
    # failing"; False when it passed since, so the new failure is a regression.
    still_failing: bool
    channel: str | None  # where that run's thread is, if it was posted to Slack
    thread_ts: str | None
    reply_ts: str | None  # that check's own failure reply in the thread, if any


@dataclass(frozen=True)
class Acknowledgement:
    id: int
    environment: str
    check_id: str
    reason: str
    acknowledged_by: str
    created_at: datetime
    expires_at: datetime | None  # None: until removed
    run_id: UUID | None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    environment: str | None
    allowed: bool
    detail: dict[str, Any]


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    run_id: UUID | None
    method: str  # a Slack Web API method, "chat.postMessage"
    payload: dict[str, Any]  # its arguments, never the token
    coalesce_key: str | None
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    gave_up_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class WebhookDelivery:
    id: int
    source: WebhookSource
    delivery_id: str | None
    received_at: datetime
    last_received_at: datetime
    redeliveries: int
    outcome: WebhookOutcome
    reason: str
    environment: str | None
    run_id: UUID | None
    headers: dict[str, str]
    summary: dict[str, Any]
    # True when this call recorded the delivery; False when it was a redelivery of one already
    # recorded (then the other fields describe the first delivery).
    is_new: bool = False


# --- the store --------------------------------------------------------------------------------

class _Opening:
    """What `Store.open` returns: `await` it for a Store, or use it in `async with`."""

    def __init__(self, factory: Callable[[], Awaitable[Store]]) -> None:
        self._factory = factory
        self._store: Store | None = None

    def __await__(self) -> Generator[Any, None, Store]:
        return self._factory().__await__()

    async def __aenter__(self) -> Store:
        self._store = await self._factory()
        return self._store

    async def __aexit__(self, *exc_info: object) -> None:
        if self._store is not None:
            await self._store.close()


class Store:
    """The history store. Create with `await Store.open(dsn)` or `async with Store.open(dsn)`."""

    def __init__(self, pool: AsyncConnectionPool[Any], *, dsn: str, schema: str,
                 probe_kwargs: dict[str, Any], acquire_timeout: float) -> None:
        self._pool = pool
        self._dsn = dsn
        self._schema = schema
        self._probe_kwargs = probe_kwargs
        self._acquire_timeout = acquire_timeout
        self._where = _describe_server(dsn)
        self._password = conninfo_to_dict(dsn).get("password") or ""

    @classmethod
    def open(cls, dsn: str, schema: str = DEFAULT_SCHEMA, *, min_size: int = 1,
             max_size: int = 10, acquire_timeout: float = 2.0, connect_timeout: int = 3,
             wait: bool = False) -> _Opening:
        """Opens a pool on `dsn` whose connections use `schema`.

        `acquire_timeout`: how long a call waits for a connection before StoreUnavailable.
        `wait=True` waits for the first connections and raises StoreUnavailable if PostgreSQL
        cannot be reached; by default the pool connects in the background.
        """
        return _Opening(lambda: cls._open(dsn, schema, min_size=min_size, max_size=max_size,
                                          acquire_timeout=acquire_timeout,
                                          connect_timeout=connect_timeout, wait=wait))

    @classmethod
    async def _open(cls, dsn: str, schema: str, *, min_size: int, max_size: int,
                    acquire_timeout: float, connect_timeout: int, wait: bool) -> Store:
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

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # --- connections and error translation ----------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        try:
            async with self._pool.connection() as conn:
                try:
                    yield conn
                except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                    if not (conn.broken or conn.closed):
                        raise  # the server answered (a statement timeout, ...): not an outage
                    raise self._lost(exc) from exc
                except psycopg.errors.ForeignKeyViolation as exc:
                    raise RunNotFound(_missing_key(exc)) from exc
        except PoolTimeout as exc:
            raise await self._unreachable() from exc

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[Conn]:
        async with self._connection() as conn, conn.transaction():
            yield conn

    async def _unreachable(self) -> StoreUnavailable:
        """No connection came in time: try one directly to learn and report why."""
        try:
            conn = await psycopg.AsyncConnection.connect(self._dsn, **self._probe_kwargs)
        except psycopg.Error as exc:
            reason = self._reason(exc)
            return StoreUnavailable(
                f"history store is unavailable: cannot connect to PostgreSQL at {self._where} "
                f"({reason}); try again shortly", where=self._where, reason=reason)
        await conn.close()
        reason = (f"no connection came free within {self._acquire_timeout:g} s; the pool is "
                  f"busy or reconnecting")
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

    async def ping(self) -> None:
        """Raises StoreUnavailable unless PostgreSQL answers; for readiness probes."""
        async with self._connection() as conn:
            await conn.execute("SELECT 1")

    # --- migrations ---------------------------------------------------------------------------

    async def migrate(self) -> list[str]:
        """Applies pending migrations; returns the versions this call applied ([] if none)."""
        async with self._connection() as conn:
            return await apply_migrations(conn, self._schema)  # type: ignore[arg-type]

    # --- runs ---------------------------------------------------------------------------------

    async def create_run(self, request: RunRequest) -> Run:
        """Records a queued run. Raises DuplicateRun if its idempotency key was used before."""
        async with self._connection() as conn:
            return await _insert_run(conn, request)

    async def get_run(self, run_id: UUID | str) -> Run | None:
        async with self._connection() as conn:
            cursor = await conn.execute("SELECT * FROM runs WHERE id = %s", (_as_uuid(run_id),))
            row = await cursor.fetchone()
        return _run(row) if row else None

    async def mark_running(self, run_id: UUID | str, worker_id: str) -> Run | None:
        """queued -> running. None if the run is no longer queued (cancelled or superseded
        before a worker took it, or already taken): the worker must then not run it."""
        return await self._update_run(
            "UPDATE runs SET status = 'running', worker_id = %(worker)s, started_at = now(),"
            " heartbeat_at = now() WHERE id = %(id)s AND status = 'queued' RETURNING *",
            {"id": _as_uuid(run_id), "worker": worker_id})

    async def heartbeat(self, run_id: UUID | str) -> bool:
        """Proves the run's worker is alive. False if the run is no longer running (the reaper
        marked it interrupted, or it was cancelled or superseded): the worker should stop."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE runs SET heartbeat_at = now() WHERE id = %s AND status = 'running'"
                " RETURNING id", (_as_uuid(run_id),))
            return await cursor.fetchone() is not None

    async def save_result(self, run_id: UUID | str, result: CheckResult) -> None:
        """Saves one check's result as it finishes; a later save of the same check replaces it.
        `result` must be the runner's redacted CheckResult: it is stored as given."""
        async with self._connection() as conn:
            await _upsert_results(conn, _as_uuid(run_id), [result])

    async def finish_run(self, run_id: UUID | str, result: RunResult) -> Run | None:
        """queued|running -> passed|failed|cancelled, from the RunResult's verdict and counts.

        Every result in `result` is saved in the same transaction (filling in any that a blip
        kept `save_result` from saving), even when the run had already ended; returns None
        then (interrupted by the reaper, cancelled or superseded meanwhile)."""
        verdict = result.verdict
        counts = RunCounts.from_statuses(result.counts())
        run_uuid = _as_uuid(run_id)
        async with self._transaction() as conn:
            await _upsert_results(conn, run_uuid, result.results)
            cursor = await conn.execute(
                "UPDATE runs SET status = %(status)s, verdict = %(status)s, finished_at = now(),"
                " started_at = coalesce(started_at, %(started)s), suite = coalesce(suite,"
                " %(suite)s), passed_count = %(passed)s, failed_count = %(failed)s,"
                " error_count = %(errors)s, skipped_count = %(skipped)s,"
                " warned_count = %(warnings)s"
                " WHERE id = %(id)s AND status IN ('queued', 'running') RETURNING *",
                {"id": run_uuid, "status": verdict.value, "started": _aware(result.started_at),
                 "suite": result.suite or None, **dataclasses.asdict(counts)})
            row = await cursor.fetchone()
        return _run(row) if row else None

    async def mark_interrupted(self, run_id: UUID | str, reason: str, *,
                               only_if_stale_s: float | None = None) -> Run | None:
        """queued|running -> interrupted (a worker died). With `only_if_stale_s`, only if the
        run is running and its last heartbeat is older than that, so a worker that heartbeated
        since the reaper looked keeps its run. None if nothing changed."""
        return await self._end_run(run_id, RunStatus.INTERRUPTED, reason,
                                   only_if_stale_s=only_if_stale_s)

    async def mark_superseded(self, run_id: UUID | str, by_run_id: UUID | str,
                              reason: str | None = None) -> Run | None:
        """queued|running -> superseded by a newer run. None if it had already ended."""
        by = _as_uuid(by_run_id)
        return await self._end_run(run_id, RunStatus.SUPERSEDED,
                                   reason or f"superseded by run {by}", superseded_by=by)

    async def supersede_queued(self, environment: str, by_run_id: UUID | str,
                               reason: str | None = None) -> list[Run]:
        """Marks every queued run of `environment` created before `by_run_id` as superseded by
        it, in one statement (deploys in quick succession run only the newest)."""
        by = _as_uuid(by_run_id)
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE runs SET status = 'superseded', superseded_by = %(by)s,"
                " status_reason = %(reason)s, finished_at = now()"
                " WHERE environment = %(env)s AND status = 'queued' AND id <> %(by)s"
                " AND created_at < (SELECT created_at FROM runs WHERE id = %(by)s)"
                " RETURNING *",
                {"env": environment, "by": by, "reason": reason or f"superseded by run {by}"})
            rows = await cursor.fetchall()
        return sorted((_run(row) for row in rows), key=lambda run: run.created_at)

    async def mark_cancelled(self, run_id: UUID | str, reason: str) -> Run | None:
        """queued|running -> cancelled. A worker cancelling its own run calls `finish_run` with
        the cancelled RunResult instead, which keeps the results."""
        return await self._end_run(run_id, RunStatus.CANCELLED, reason)

    async def mark_error(self, run_id: UUID | str, reason: str) -> Run | None:
        """queued|running -> error: the run could not be carried out (reason says why)."""
        return await self._end_run(run_id, RunStatus.ERROR, reason)

    async def _end_run(self, run_id: UUID | str, status: RunStatus, reason: str, *,
                       superseded_by: UUID | None = None,
                       only_if_stale_s: float | None = None) -> Run | None:
        # Counts come from the results saved so far, so an interrupted run shows how far it got.
        return await self._update_run(
            "UPDATE runs r SET status = %(status)s, status_reason = %(reason)s,"
            " finished_at = now(), superseded_by = coalesce(%(by)s, r.superseded_by),"
            " verdict = CASE WHEN %(status)s = 'cancelled' THEN 'cancelled' END,"
            " passed_count = c.passed, failed_count = c.failed, error_count = c.errors,"
            " skipped_count = c.skipped, warned_count = c.warnings"
            " FROM (SELECT count(*) FILTER (WHERE status = 'pass') AS passed,"
            "  count(*) FILTER (WHERE status = 'fail') AS failed,"
            "  count(*) FILTER (WHERE status = 'error') AS errors,"
            "  count(*) FILTER (WHERE status = 'skip') AS skipped,"
            "  count(*) FILTER (WHERE status = 'warn') AS warnings"
            "  FROM check_results WHERE run_id = %(id)s) c"
            " WHERE r.id = %(id)s AND r.status IN ('queued', 'running')"
            " AND (%(stale)s::float8 IS NULL OR (r.status = 'running'"
            "      AND r.heartbeat_at < now() - make_interval(secs => %(stale)s::float8)))"
            " RETURNING r.*",
            {"id": _as_uuid(run_id), "status": status.value, "reason": _clean_text(reason),
             "by": superseded_by, "stale": only_if_stale_s})

    async def _update_run(self, query: LiteralString, params: Mapping[str, Any]) -> Run | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            row = await cursor.fetchone()
        return _run(row) if row else None

    async def stale_running_runs(self, older_than_s: float) -> list[Run]:
        """Running runs whose last heartbeat is older than `older_than_s` (by the database's
        clock), oldest first: for the reaper, which then calls `mark_interrupted`."""
        return await self._select_runs(
            "SELECT * FROM runs WHERE status = 'running'"
            " AND heartbeat_at < now() - make_interval(secs => %(age)s::float8)"
            " ORDER BY heartbeat_at, id", {"age": older_than_s})

    async def active_runs(self, environment: str | None = None) -> list[Run]:
        """Queued and running runs, oldest first."""
        return await self._select_runs(
            "SELECT * FROM runs WHERE status IN ('queued', 'running')"
            " AND (%(env)s::text IS NULL OR environment = %(env)s) ORDER BY created_at, id",
            {"env": environment})

    async def recent_runs(self, environment: str | None = None, limit: int = 10, *,
                          trigger_kind: TriggerKind | None = None) -> list[Run]:
        """The latest runs, newest first, for history."""
        return await self._select_runs(
            "SELECT * FROM runs WHERE (%(env)s::text IS NULL OR environment = %(env)s)"
            " AND (%(kind)s::text IS NULL OR trigger_kind = %(kind)s)"
            " ORDER BY created_at DESC, id LIMIT %(limit)s",
            {"env": environment, "kind": TriggerKind(trigger_kind).value if trigger_kind else None,
             "limit": _positive(limit)})

    async def _select_runs(self, query: LiteralString, params: Mapping[str, Any]) -> list[Run]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return [_run(row) for row in await cursor.fetchall()]

    async def results(self, run_id: UUID | str) -> list[CheckResult]:
        """The run's saved results, in the order they were first saved."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM check_results WHERE run_id = %s ORDER BY recorded_at, check_id",
                (_as_uuid(run_id),))
            return [_check_result(row) for row in await cursor.fetchall()]

    async def previous_failure(self, environment: str, check_id: str,
                               before_run_id: UUID | str) -> PreviousFailure | None:
        """The latest run of `environment` created before `before_run_id` in which `check_id`
        failed or errored, with that run's thread; None if it never did."""
        found = await self.previous_failures(environment, [check_id], before_run_id)
        return found.get(check_id)

    async def previous_failures(self, environment: str, check_ids: Iterable[str],
                                before_run_id: UUID | str) -> dict[str, PreviousFailure]:
        """`previous_failure` for many checks in one query, keyed by check id."""
        ids = sorted(set(check_ids))
        if not ids:
            return {}
        async with self._connection() as conn:
            cursor = await conn.execute(_PREVIOUS_FAILURES, {
                "env": environment, "ids": ids, "before": _as_uuid(before_run_id),
                "problems": _PROBLEM_STATUSES})
            rows = await cursor.fetchall()
        return {row["check_id"]: PreviousFailure(
            check_id=row["check_id"], run_id=row["run_id"], run_created_at=row["run_created_at"],
            status=Status(row["status"]), summary=row["summary"],
            still_failing=row["still_failing"], channel=row["channel"],
            thread_ts=row["thread_ts"], reply_ts=row["reply_ts"]) for row in rows}

    # --- Slack messages -----------------------------------------------------------------------

    async def set_slack_message(self, run_id: UUID | str, kind: SlackMessageKind, channel: str,
                                ts: str, *, thread_ts: str | None = None,
                                check_id: str | None = None) -> SlackMessage:
        """Records a message posted for a run. A run has one summary and one failure reply per
        check: recording them again (a re-post) replaces the reference. Notices accumulate."""
        kind = SlackMessageKind(kind)
        params = {"run": _as_uuid(run_id), "kind": kind.value, "channel": channel, "ts": ts,
                  "thread": thread_ts, "check": check_id}
        insert = ("INSERT INTO slack_messages (run_id, kind, channel, ts, thread_ts, check_id)"
                  " VALUES (%(run)s, %(kind)s, %(channel)s, %(ts)s, %(thread)s, %(check)s)")
        replace = (" DO UPDATE SET channel = excluded.channel, ts = excluded.ts,"
                   " thread_ts = excluded.thread_ts, updated_at = now()")
        query: LiteralString
        if kind is SlackMessageKind.SUMMARY:
            query = insert + " ON CONFLICT (run_id) WHERE kind = 'summary'" + replace
        elif kind is SlackMessageKind.FAILURE_REPLY:
            query = (insert + " ON CONFLICT (run_id, check_id) WHERE kind = 'failure_reply'"
                     + replace)
        else:
            query = insert
        async with self._connection() as conn:
            cursor = await conn.execute(query + " RETURNING *", params)
            row = await cursor.fetchone()
        assert row is not None
        return _slack_message(row)

    async def slack_messages(self, run_id: UUID | str) -> list[SlackMessage]:
        """The run's messages in the order they were first recorded."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE run_id = %s ORDER BY id", (_as_uuid(run_id),))
            return [_slack_message(row) for row in await cursor.fetchall()]

    async def summary_messages(self, run_ids: Iterable[UUID | str]) -> dict[UUID, SlackMessage]:
        """The summary message of each of these runs that has one: links for a history list."""
        ids = [_as_uuid(run_id) for run_id in run_ids]
        if not ids:
            return {}
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM slack_messages WHERE kind = 'summary' AND run_id = ANY(%s)", (ids,))
            return {row["run_id"]: _slack_message(row) for row in await cursor.fetchall()}

    async def run_for_thread(self, channel: str, thread_ts: str) -> Run | None:
        """The latest run shown in this Slack thread (its summary is the thread's parent, or
        was posted in it), for `@smokebot rerun` and buttons."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT r.* FROM slack_messages m JOIN runs r ON r.id = m.run_id"
                " WHERE m.channel = %(channel)s AND (m.ts = %(ts)s OR m.thread_ts = %(ts)s)"
                " ORDER BY r.created_at DESC, r.id LIMIT 1", {"channel": channel, "ts": thread_ts})
            row = await cursor.fetchone()
        return _run(row) if row else None

    # --- acknowledgements ---------------------------------------------------------------------

    async def add_acknowledgement(self, environment: str, check_id: str, reason: str,
                                  acknowledged_by: str, *, expires_at: datetime | None = None,
                                  run_id: UUID | str | None = None) -> Acknowledgement:
        """Records that a failing check is known; it shows as known until `expires_at`."""
        if not reason.strip():
            raise UsageError("an acknowledgement needs a reason; expected a few words on why "
                             "the failure is known")
        if expires_at is not None and _aware(expires_at) <= datetime.now(timezone.utc):
            raise UsageError(f"the acknowledgement's expiry {expires_at.isoformat()} has "
                             f"passed; expected a time in the future")
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO acknowledgements (environment, check_id, reason, acknowledged_by,"
                " expires_at, run_id) VALUES (%s, %s, %s, %s, %s, %s) RETURNING *",
                (environment, check_id, _clean_text(reason), acknowledged_by, expires_at,
                 _as_uuid(run_id) if run_id is not None else None))
            row = await cursor.fetchone()
        assert row is not None
        return _acknowledgement(row)

    async def active_acknowledgements(self, environment: str,
                                      now: datetime) -> list[Acknowledgement]:
        """The acknowledgements of `environment` in force at `now`: the newest per check,
        ordered by check id."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT DISTINCT ON (check_id) * FROM acknowledgements"
                " WHERE environment = %(env)s AND (expires_at IS NULL OR expires_at > %(now)s)"
                " ORDER BY check_id, created_at DESC, id DESC",
                {"env": environment, "now": _aware(now)})
            return [_acknowledgement(row) for row in await cursor.fetchall()]

    # --- audit log ----------------------------------------------------------------------------

    async def audit(self, actor: str, action: str, *, allowed: bool,
                    environment: str | None = None,
                    detail: Mapping[str, Any] | None = None) -> AuditEntry:
        """Records who did (or was refused) what. `detail` holds facts, never credentials."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO audit_log (actor, action, environment, allowed, detail)"
                " VALUES (%s, %s, %s, %s, %s) RETURNING *",
                (actor, action, environment, allowed, _jsonb(detail or {})))
            row = await cursor.fetchone()
        assert row is not None
        return _audit_entry(row)

    async def recent_audit(self, limit: int = 50,
                           environment: str | None = None) -> list[AuditEntry]:
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM audit_log WHERE (%(env)s::text IS NULL OR environment = %(env)s)"
                " ORDER BY at DESC, id DESC LIMIT %(limit)s",
                {"env": environment, "limit": _positive(limit)})
            return [_audit_entry(row) for row in await cursor.fetchall()]

    # --- Slack outbox -------------------------------------------------------------------------

    async def outbox_put(self, method: str, payload: Mapping[str, Any], *,
                         run_id: UUID | str | None = None, coalesce_key: str | None = None,
                         not_before: datetime | None = None) -> OutboxEntry:
        """Queues a Slack API call that could not be delivered now. `payload` is the call's
        arguments without the token. A pending call with the same `coalesce_key` (e.g.
        "summary:<run id>") is replaced, so only the latest version of a message is sent."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "INSERT INTO slack_outbox (run_id, method, payload, coalesce_key, next_attempt_at)"
                " VALUES (%(run)s, %(method)s, %(payload)s, %(key)s, coalesce(%(at)s, now()))"
                " ON CONFLICT (coalesce_key) WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                " DO UPDATE SET run_id = excluded.run_id, method = excluded.method,"
                " payload = excluded.payload, next_attempt_at = excluded.next_attempt_at"
                " RETURNING *",
                {"run": _as_uuid(run_id) if run_id is not None else None, "method": method,
                 "payload": _jsonb(payload), "key": coalesce_key,
                 "at": _aware(not_before) if not_before else None})
            row = await cursor.fetchone()
        assert row is not None
        return _outbox_entry(row)

    async def outbox_due(self, now: datetime, limit: int = 20, *,
                         lease_s: float = 60.0) -> list[OutboxEntry]:
        """Claims the pending calls due at `now`, in due order (then queue order). A claimed call
        is hidden from other callers for `lease_s` seconds: two deliverers never send the same
        call, and one whose deliverer died becomes due again when the lease runs out."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "WITH due AS (SELECT id, next_attempt_at AS due_at FROM slack_outbox"
                "  WHERE delivered_at IS NULL AND gave_up_at IS NULL"
                "  AND next_attempt_at <= %(now)s ORDER BY next_attempt_at, id"
                "  LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                " UPDATE slack_outbox o"
                " SET next_attempt_at = %(now)s + make_interval(secs => %(lease)s::float8)"
                " FROM due WHERE o.id = due.id RETURNING o.*, due.due_at",
                {"now": _aware(now), "limit": _positive(limit), "lease": lease_s})
            rows = await cursor.fetchall()
        rows.sort(key=lambda row: (row["due_at"], row["id"]))
        return [_outbox_entry(row) for row in rows]

    async def outbox_delivered(self, entry_id: int) -> OutboxEntry | None:
        return await self._update_outbox(
            "UPDATE slack_outbox SET delivered_at = now(), attempts = attempts + 1,"
            " last_error = NULL WHERE id = %(id)s AND delivered_at IS NULL AND gave_up_at IS NULL"
            " RETURNING *", {"id": entry_id})

    async def outbox_failed(self, entry_id: int, error: str,
                            next_attempt_at: datetime | None) -> OutboxEntry | None:
        """Records a failed attempt; retried at `next_attempt_at`, or never if it is None (a
        permanent error such as channel_not_found). `error` must not contain a token."""
        return await self._update_outbox(
            "UPDATE slack_outbox SET attempts = attempts + 1, last_error = %(error)s,"
            " next_attempt_at = coalesce(%(next)s, next_attempt_at),"
            " gave_up_at = CASE WHEN %(next)s::timestamptz IS NULL THEN now() END"
            " WHERE id = %(id)s AND delivered_at IS NULL AND gave_up_at IS NULL RETURNING *",
            {"id": entry_id, "error": _clean_text(error),
             "next": _aware(next_attempt_at) if next_attempt_at else None})

    async def _update_outbox(self, query: LiteralString,
                             params: Mapping[str, Any]) -> OutboxEntry | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            row = await cursor.fetchone()
        return _outbox_entry(row) if row else None

    # --- webhook deliveries -------------------------------------------------------------------

    async def record_webhook_delivery(
            self, source: WebhookSource, delivery_id: str | None, outcome: WebhookOutcome, *,
            reason: str = "", environment: str | None = None,
            headers: Mapping[str, str] | None = None, summary: Mapping[str, Any] | None = None,
            run: RunRequest | None = None) -> WebhookDelivery:
        """Records a delivery; `is_new` on the result is False for a redelivery.

        Accepted and ignored deliveries are unique per (source, delivery_id): of any number of
        concurrent deliveries of one id, exactly one is new. With `run` (accepted only), the run
        is created in the same transaction, only for the new delivery, and its id returned:
        a redelivery returns the first delivery's run. Rejected deliveries never claim their id
        (a forged request must not shadow the genuine one) and are always new.
        Headers whose names suggest a credential are dropped."""
        source, outcome = WebhookSource(source), WebhookOutcome(outcome)
        if run is not None and outcome is not WebhookOutcome.ACCEPTED:
            raise ValueError(f"only an accepted delivery creates a run, not an {outcome.value} one")
        params = {"source": source.value, "delivery": delivery_id, "outcome": outcome.value,
                  "reason": _clean_text(reason), "env": environment,
                  "headers": _jsonb(_safe_headers(headers or {})), "summary": _jsonb(summary or {})}
        async with self._transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO webhook_deliveries (source, delivery_id, outcome, reason,"
                " environment, headers, summary) VALUES (%(source)s, %(delivery)s, %(outcome)s,"
                " %(reason)s, %(env)s, %(headers)s, %(summary)s)"
                " ON CONFLICT (source, delivery_id) WHERE outcome <> 'rejected' DO NOTHING"
                " RETURNING *", params)
            row = await cursor.fetchone()
            if row is None:
                cursor = await conn.execute(
                    "UPDATE webhook_deliveries SET redeliveries = redeliveries + 1,"
                    " last_received_at = now() WHERE source = %(source)s"
                    " AND delivery_id = %(delivery)s AND outcome <> 'rejected' RETURNING *", params)
                row = await cursor.fetchone()
                if row is None:  # the first delivery's transaction rolled back meanwhile
                    raise StoreError(f"webhook delivery {source.value}/{delivery_id} vanished "
                                     f"while being recorded; expected a retry to succeed")
                return _webhook_delivery(row, is_new=False)
            if run is not None:
                if run.idempotency_key is None and delivery_id is not None:
                    run = dataclasses.replace(
                        run, idempotency_key=f"webhook:{source.value}:{delivery_id}")
                created = await _insert_run(conn, run)
                cursor = await conn.execute(
                    "UPDATE webhook_deliveries SET run_id = %s WHERE id = %s RETURNING *",
                    (created.id, row["id"]))
                row = await cursor.fetchone()
                assert row is not None
        return _webhook_delivery(row, is_new=True)

    async def recent_webhook_deliveries(self, limit: int = 50, *,
                                        source: WebhookSource | None = None
                                        ) -> list[WebhookDelivery]:
        """The latest deliveries, newest first: why did (or didn't) a deploy trigger a run."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM webhook_deliveries"
                " WHERE (%(source)s::text IS NULL OR source = %(source)s)"
                " ORDER BY received_at DESC, id DESC LIMIT %(limit)s",
                {"source": WebhookSource(source).value if source else None,
                 "limit": _positive(limit)})
            return [_webhook_delivery(row, is_new=False) for row in await cursor.fetchall()]


# --- queries shared by several methods ----------------------------------------------------------

_PREVIOUS_FAILURES: LiteralString = """
WITH earlier AS (
    SELECT c.check_id, c.status, c.summary, r.id AS run_id, r.created_at
    FROM runs r JOIN check_results c ON c.run_id = r.id
    WHERE r.environment = %(env)s
      AND r.created_at < (SELECT created_at FROM runs WHERE id = %(before)s)
      AND c.check_id = ANY(%(ids)s)
      AND c.status <> 'skip'  -- a skipped check did not look: it neither passed nor failed
), latest AS (
    SELECT DISTINCT ON (check_id) check_id, status
    FROM earlier ORDER BY check_id, created_at DESC, run_id
), last_failure AS (
    SELECT DISTINCT ON (check_id) *
    FROM earlier WHERE status = ANY(%(problems)s) ORDER BY check_id, created_at DESC, run_id
)
SELECT f.check_id, f.run_id, f.created_at AS run_created_at, f.status, f.summary,
       l.status = ANY(%(problems)s) AS still_failing,
       coalesce(s.channel, rep.channel) AS channel,
       coalesce(s.thread_ts, s.ts, rep.thread_ts) AS thread_ts,
       rep.ts AS reply_ts
FROM last_failure f
JOIN latest l USING (check_id)
LEFT JOIN slack_messages s ON s.run_id = f.run_id AND s.kind = 'summary'
LEFT JOIN slack_messages rep
       ON rep.run_id = f.run_id AND rep.kind = 'failure_reply' AND rep.check_id = f.check_id
"""


async def _insert_run(conn: Conn, request: RunRequest) -> Run:
    deploy = request.deploy or DeployFacts()
    cursor = await conn.execute(
        "INSERT INTO runs (environment, suite, trigger_kind, trigger_detail, requested_by,"
        " filters, channel, deploy_source, deploy_version, deploy_commit, deploy_ref, deployer,"
        " deploy_url, deploy_link, rerun_of, idempotency_key)"
        " VALUES (%(environment)s, %(suite)s, %(kind)s, %(detail)s, %(by)s, %(filters)s,"
        " %(channel)s, %(source)s, %(version)s, %(commit)s, %(ref)s, %(deployer)s, %(url)s,"
        " %(link)s, %(rerun_of)s, %(key)s)"
        " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
        {"environment": request.environment, "suite": request.suite,
         "kind": request.trigger_kind.value, "detail": _clean_text(request.trigger_detail),
         "by": request.requested_by, "filters": list(request.filters),
         "channel": request.channel, "source": deploy.source, "version": deploy.version,
         "commit": deploy.commit, "ref": deploy.ref, "deployer": deploy.deployer,
         "url": deploy.url, "link": deploy.link, "rerun_of": request.rerun_of,
         "key": request.idempotency_key})
    row = await cursor.fetchone()
    if row is not None:
        return _run(row)
    cursor = await conn.execute("SELECT * FROM runs WHERE idempotency_key = %s",
                                (request.idempotency_key,))
    existing = await cursor.fetchone()
    if existing is None:  # the holder of the key rolled back meanwhile
        raise StoreError(f"run with idempotency key {request.idempotency_key!r} vanished while "
                         f"being created; expected a retry to succeed")
    raise DuplicateRun(_run(existing))


async def _upsert_results(conn: Conn, run_id: UUID, results: Iterable[CheckResult]) -> None:
    rows = [{
        "run": run_id, "check": r.check_id, "name": _clean_text(r.name),
        "category": _clean_text(r.category), "kind": r.kind, "severity": Severity(r.severity).value,
        "status": Status(r.status).value, "summary": _clean_text(r.summary),
        "details": _clean_text(r.details),
        "duration": r.duration_s if math.isfinite(r.duration_s) and r.duration_s > 0 else 0.0,
        "attempts": max(0, r.attempts), "measurements": _jsonb(r.measurements),
        "evidence": _jsonb(r.evidence), "tags": [_clean_text(t) for t in r.tags],
    } for r in results]
    if not rows:
        return
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO check_results (run_id, check_id, name, category, kind, severity, status,"
            " summary, details, duration_s, attempts, measurements, evidence, tags)"
            " VALUES (%(run)s, %(check)s, %(name)s, %(category)s, %(kind)s, %(severity)s,"
            " %(status)s, %(summary)s, %(details)s, %(duration)s, %(attempts)s,"
            " %(measurements)s, %(evidence)s, %(tags)s)"
            " ON CONFLICT (run_id, check_id) DO UPDATE SET name = excluded.name,"
            " category = excluded.category, kind = excluded.kind, severity = excluded.severity,"
            " status = excluded.status, summary = excluded.summary, details = excluded.details,"
            " duration_s = excluded.duration_s, attempts = excluded.attempts,"
            " measurements = excluded.measurements, evidence = excluded.evidence,"
            " tags = excluded.tags, updated_at = now()", rows)


# --- rows to records ------------------------------------------------------------------------------

def _run(row: Mapping[str, Any]) -> Run:
    facts = DeployFacts(source=row["deploy_source"], version=row["deploy_version"],
                        commit=row["deploy_commit"], ref=row["deploy_ref"],
                        deployer=row["deployer"], url=row["deploy_url"], link=row["deploy_link"])
    return Run(
        id=row["id"], environment=row["environment"], status=RunStatus(row["status"]),
        trigger_kind=TriggerKind(row["trigger_kind"]), trigger_detail=row["trigger_detail"],
        requested_by=row["requested_by"], filters=tuple(row["filters"]), channel=row["channel"],
        deploy=facts if facts.as_variables() else None, suite=row["suite"],
        created_at=row["created_at"], started_at=row["started_at"],
        finished_at=row["finished_at"], heartbeat_at=row["heartbeat_at"],
        worker_id=row["worker_id"],
        counts=RunCounts(passed=row["passed_count"], failed=row["failed_count"],
                         errors=row["error_count"], skipped=row["skipped_count"],
                         warnings=row["warned_count"]),
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        status_reason=row["status_reason"], rerun_of=row["rerun_of"],
        superseded_by=row["superseded_by"], idempotency_key=row["idempotency_key"])


def _check_result(row: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        check_id=row["check_id"], name=row["name"], category=row["category"], kind=row["kind"],
        severity=Severity(row["severity"]), status=Status(row["status"]), summary=row["summary"],
        details=row["details"], duration_s=row["duration_s"], attempts=row["attempts"],
        measurements=row["measurements"], evidence=row["evidence"], tags=tuple(row["tags"]))


def _slack_message(row: Mapping[str, Any]) -> SlackMessage:
    return SlackMessage(id=row["id"], run_id=row["run_id"], kind=SlackMessageKind(row["kind"]),
                        channel=row["channel"], ts=row["ts"], thread_ts=row["thread_ts"],
                        check_id=row["check_id"], created_at=row["created_at"],
                        updated_at=row["updated_at"])


def _acknowledgement(row: Mapping[str, Any]) -> Acknowledgement:
    return Acknowledgement(id=row["id"], environment=row["environment"],
                           check_id=row["check_id"], reason=row["reason"],
                           acknowledged_by=row["acknowledged_by"], created_at=row["created_at"],
                           expires_at=row["expires_at"], run_id=row["run_id"])


def _audit_entry(row: Mapping[str, Any]) -> AuditEntry:
    return AuditEntry(id=row["id"], at=row["at"], actor=row["actor"], action=row["action"],
                      environment=row["environment"], allowed=row["allowed"],
                      detail=row["detail"])


def _outbox_entry(row: Mapping[str, Any]) -> OutboxEntry:
    return OutboxEntry(id=row["id"], run_id=row["run_id"], method=row["method"],
                       payload=row["payload"], coalesce_key=row["coalesce_key"],
                       attempts=row["attempts"], created_at=row["created_at"],
                       next_attempt_at=row["next_attempt_at"], delivered_at=row["delivered_at"],
                       gave_up_at=row["gave_up_at"], last_error=row["last_error"])


def _webhook_delivery(row: Mapping[str, Any], *, is_new: bool) -> WebhookDelivery:
    return WebhookDelivery(
        id=row["id"], source=WebhookSource(row["source"]), delivery_id=row["delivery_id"],
        received_at=row["received_at"], last_received_at=row["last_received_at"],
        redeliveries=row["redeliveries"], outcome=WebhookOutcome(row["outcome"]),
        reason=row["reason"], environment=row["environment"], run_id=row["run_id"],
        headers=row["headers"], summary=row["summary"], is_new=is_new)


# --- values going in --------------------------------------------------------------------------

def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def _aware(value: datetime) -> datetime:
    # A naive datetime would be read in the server's time zone: refuse to guess.
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"expected a timezone-aware datetime, got naive {value.isoformat()}")
    return value


def _positive(limit: int) -> int:
    if limit < 1:
        raise ValueError(f"expected a limit of at least 1, got {limit}")
    return limit


def _clean_text(value: str) -> str:
    # PostgreSQL text cannot hold NUL, and raw evidence (an HTTP body) sometimes does.
    return value.replace("\x00", "\ufffd")


def _jsonable(value: Any) -> Any:
    """`value` as plain JSON that jsonb accepts (no NaN, no NUL, no Decimal or datetime)."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return _clean_text(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # jsonb has no NaN or Infinity
    if isinstance(value, enum.Enum):
        return _jsonable(value.value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return _clean_text(bytes(value).decode("utf-8", "replace"))
    if isinstance(value, Mapping):
        return {_clean_text(str(k)): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _jsonable(dataclasses.asdict(value))
    return _clean_text(str(value))


def _jsonb(value: Mapping[str, Any]) -> Jsonb:
    return Jsonb(_jsonable(value))


def _safe_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name: _clean_text(str(value))[:_MAX_HEADER_VALUE] for name, value in headers.items()
            if not _CREDENTIAL_HEADER.search(name)}


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
