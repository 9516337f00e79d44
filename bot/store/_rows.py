"""Rows that more than one table family writes or reads on the caller's connection, so that
writes which belong together share a transaction without one table module importing another:
a run (and a deploy's run started under the environment's lock, superseding older ones, with
the report back it owes its deploy's source), a check result, a Slack message record, and the
outbox messages a run owes Slack."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, LiteralString
from uuid import UUID, uuid4

import psycopg

from bot.errors import DuplicateRun, StoreError
from bot.records import (
    DeployFacts,
    OutboxMessage,
    ReportTarget,
    Run,
    RunCounts,
    RunRequest,
    RunStart,
    RunStatus,
    SlackMessage,
    SlackMessageKind,
    TriggerKind,
    as_uuid,
)
from bot.store._values import Conn, clean_text, jsonb
from checks.results import CheckResult, Severity, Status, Verdict

__all__ = ["check_result_from_row", "duplicate", "insert_outbox_messages",
           "insert_report_back", "insert_run", "lock_environment", "one_active_run",
           "record_slack_message", "run_from_row",
           "run_stream", "run_values", "slack_message_from_row", "slack_message_upsert",
           "start_superseding"]


_ONE_ACTIVE_INDEX = "runs_one_active_per_environment_idx"  # migration 0004


# Counts come from the results saved so far, so a superseded run shows how far it got. The
# key check leaves everything alone for a request delivered twice.
_SUPERSEDE_ACTIVE: LiteralString = """
UPDATE runs r
SET status = 'superseded', superseded_by = %(id)s, status_reason = %(reason)s,
    finished_at = now(),
    (passed_count, failed_count, error_count, skipped_count, warned_count, flaky_count,
     slow_count) = (
        SELECT count(*) FILTER (WHERE c.status IN ('pass', 'flaky', 'slow')),
               count(*) FILTER (WHERE c.status = 'fail'),
               count(*) FILTER (WHERE c.status = 'error'),
               count(*) FILTER (WHERE c.status = 'skip'),
               count(*) FILTER (WHERE c.status = 'warn'),
               count(*) FILTER (WHERE c.status = 'flaky'),
               count(*) FILTER (WHERE c.status = 'slow')
        FROM check_results c WHERE c.run_id = r.id)
WHERE r.environment = %(environment)s AND r.status IN ('queued', 'running')
  AND NOT EXISTS (SELECT FROM runs k WHERE k.idempotency_key = %(key)s::text)
RETURNING r.*
"""


_INSERT_RUN: LiteralString = """
INSERT INTO runs (id, created_at, environment, suite, trigger_kind, trigger_detail,
                  requested_by, filters, channel, deploy_source, deploy_version, deploy_commit,
                  deploy_ref, deployer, deploy_url, deploy_link, rerun_of, idempotency_key,
                  confirmed)
VALUES (coalesce(%(id)s, gen_random_uuid()), clock_timestamp(), %(environment)s, %(suite)s,
        %(kind)s, %(detail)s, %(by)s, %(filters)s, %(channel)s, %(source)s, %(version)s,
        %(commit)s, %(ref)s, %(deployer)s, %(url)s, %(link)s, %(rerun_of)s, %(key)s,
        %(confirmed)s)
ON CONFLICT (idempotency_key) DO NOTHING RETURNING *
"""


async def insert_run(conn: Conn, request: RunRequest) -> Run:
    """Records a queued run as asked, deciding nothing; see `RunsTable.create_run`."""
    cursor = await conn.execute(_INSERT_RUN, {**run_values(request), "id": None})
    row = await cursor.fetchone()
    if row is None:
        raise await duplicate(conn, request.idempotency_key)
    run = run_from_row(row)
    if request.report_to is not None:
        await insert_report_back(conn, run.id, request.report_to)
    return run


async def start_superseding(conn: Conn, schema: str, request: RunRequest) -> RunStart:
    """Records a deploy's run and ends every active run of its environment as superseded by
    it ("superseded by a newer deploy of v3.0.1 (run ...)"), under the environment's lock.

    `conn` must be in a transaction, which the caller commits: `Store.start_superseding`
    opens its own, a webhook delivery records its run in the delivery's. Raises DuplicateRun
    if the idempotency key was used before; the caller's transaction must then roll back."""
    run_id = uuid4()  # known before the row, so the superseded runs can name it
    params = {**run_values(request), "id": run_id,
              "reason": _supersede_reason(request, run_id)}
    await lock_environment(conn, schema, request.environment)
    await conn.execute("SET CONSTRAINTS runs_superseded_by_fkey DEFERRED")
    superseding = await conn.execute(_SUPERSEDE_ACTIVE, params)
    inserting = await conn.execute(_INSERT_RUN, params)
    row = await inserting.fetchone()
    if row is None:
        raise await duplicate(conn, request.idempotency_key)
    superseded = sorted((run_from_row(r) for r in await superseding.fetchall()),
                        key=lambda run: (run.created_at, str(run.id)))
    if request.report_to is not None:
        await insert_report_back(conn, run_id, request.report_to)
    return RunStart(run_from_row(row), tuple(superseded))


async def insert_report_back(conn: Conn, run_id: UUID, target: ReportTarget) -> None:
    """Owes the run's verdict to `target`, on the caller's connection (the transaction that
    records the run): due once the run has ended (bot/store/report_backs.py)."""
    await conn.execute(
        "INSERT INTO report_backs (run_id, kind, source, target) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (run_id, kind) DO NOTHING",
        (run_id, target.kind, target.source, jsonb(target.as_json())))


@asynccontextmanager
async def one_active_run(environment: str) -> AsyncIterator[None]:
    """Turns a breach of the one-active-run index into a StoreError that says what happened.
    It cannot fire through `start_or_join` or `start_superseding`, which decide under the
    environment's lock: only a run recorded some other way can meet it."""
    try:
        yield
    except psycopg.errors.UniqueViolation as exc:
        if exc.diag.constraint_name != _ONE_ACTIVE_INDEX:
            raise
        raise StoreError(f"could not record a run of {environment}: the environment already "
                         f"has a queued or running run, and the store keeps one at a time; "
                         f"expected the request to join that run") from None


def _environment_lock_key(schema: str, environment: str) -> int:
    # A stable 64-bit key per store and environment; migrations lock "smokebot.migrate:...".
    name = f"smokebot.environment:{schema}:{environment}"
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big",
                          signed=True)


async def lock_environment(conn: Conn, schema: str, environment: str) -> None:
    await conn.execute("SELECT pg_advisory_xact_lock(%s)",
                       (_environment_lock_key(schema, environment),))


def run_values(request: RunRequest) -> dict[str, Any]:
    deploy = request.deploy or DeployFacts()
    return {"environment": request.environment, "suite": request.suite,
            "kind": request.trigger_kind.value, "detail": clean_text(request.trigger_detail),
            "by": request.requested_by, "filters": list(request.filters),
            "channel": request.channel, "source": deploy.source, "version": deploy.version,
            "commit": deploy.commit, "ref": deploy.ref, "deployer": deploy.deployer,
            "url": deploy.url, "link": deploy.link, "rerun_of": request.rerun_of,
            "key": request.idempotency_key, "confirmed": request.confirmed}


def _supersede_reason(by: RunRequest, run_id: UUID) -> str:
    deploy = by.deploy
    what = (deploy.version or deploy.commit) if deploy else None
    of = f" of {what}" if what else ""
    return f"superseded by a newer deploy{of} (run {run_id})"


async def duplicate(conn: Conn, key: str | None) -> StoreError:
    """The error for a run whose insert met an idempotency key already taken."""
    cursor = await conn.execute("SELECT * FROM runs WHERE idempotency_key = %s", (key,))
    existing = await cursor.fetchone()
    if existing is None:  # the holder of the key rolled back meanwhile
        return StoreError(f"run with idempotency key {key!r} vanished while being created; "
                          f"expected a retry to succeed")
    return DuplicateRun(run_from_row(existing))


def run_from_row(row: Mapping[str, Any]) -> Run:
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
                         warnings=row["warned_count"], flaky=row["flaky_count"],
                         slow=row["slow_count"]),
        verdict=Verdict(row["verdict"]) if row["verdict"] else None,
        status_reason=row["status_reason"], rerun_of=row["rerun_of"],
        superseded_by=row["superseded_by"], idempotency_key=row["idempotency_key"],
        confirmed=row["confirmed"])


def check_result_from_row(row: Mapping[str, Any]) -> CheckResult:
    return CheckResult(
        check_id=row["check_id"], name=row["name"], category=row["category"], kind=row["kind"],
        severity=Severity(row["severity"]), status=Status(row["status"]), summary=row["summary"],
        details=row["details"], duration_s=row["duration_s"], attempts=row["attempts"],
        measurements=row["measurements"], evidence=row["evidence"], tags=tuple(row["tags"]))


def slack_message_upsert(kind: SlackMessageKind, rows: LiteralString) -> LiteralString:
    """INSERT of slack_messages rows selected by `rows` (columns run_id, kind, channel, ts,
    thread_ts, check_id): a run has one summary and one failure reply per check, so recording
    them again (a re-post) replaces the reference; other kinds accumulate."""
    insert: LiteralString = ("INSERT INTO slack_messages (run_id, kind, channel, ts, thread_ts,"
                             " check_id) " + rows)
    replace: LiteralString = (" DO UPDATE SET channel = excluded.channel, ts = excluded.ts,"
                              " thread_ts = excluded.thread_ts, updated_at = now()")
    if kind is SlackMessageKind.SUMMARY:
        return insert + " ON CONFLICT (run_id) WHERE kind = 'summary'" + replace
    if kind is SlackMessageKind.FAILURE_REPLY:
        return insert + " ON CONFLICT (run_id, check_id) WHERE kind = 'failure_reply'" + replace
    return insert


async def record_slack_message(conn: Conn, run_id: UUID, kind: SlackMessageKind, channel: str,
                               ts: str, *, thread_ts: str | None = None,
                               check_id: str | None = None) -> SlackMessage:
    """`set_slack_message` on a connection the caller holds."""
    params = {"run": run_id, "kind": kind.value, "channel": channel, "ts": ts,
              "thread": thread_ts, "check": check_id}
    query = slack_message_upsert(kind, "VALUES (%(run)s, %(kind)s, %(channel)s, %(ts)s,"
                                       " %(thread)s, %(check)s)")
    cursor = await conn.execute(query + " RETURNING *", params)
    row = await cursor.fetchone()
    assert row is not None
    return slack_message_from_row(row)


def slack_message_from_row(row: Mapping[str, Any]) -> SlackMessage:
    return SlackMessage(id=row["id"], run_id=row["run_id"], kind=SlackMessageKind(row["kind"]),
                        channel=row["channel"], ts=row["ts"], thread_ts=row["thread_ts"],
                        check_id=row["check_id"], created_at=row["created_at"],
                        updated_at=row["updated_at"])


def run_stream(run_id: UUID | str) -> str:
    return f"run:{as_uuid(run_id)}"


async def insert_outbox_messages(conn: Conn, run_id: UUID,
                                 messages: Sequence[OutboxMessage]) -> None:
    """Writes `messages` for the run, in order, on the caller's connection (the transaction
    that ends the run)."""
    if not messages:
        return
    rows = [{"stream": run_stream(run_id), "run": run_id, "kind": SlackMessageKind(m.kind).value,
             "check": m.check_id, "channel": m.channel, "payload": jsonb(m.payload)}
            for m in messages]
    async with conn.cursor() as cursor:
        await cursor.executemany(
            "INSERT INTO outbox_messages (stream, run_id, kind, check_id, channel, payload)"
            " VALUES (%(stream)s, %(run)s, %(kind)s, %(check)s, %(channel)s, %(payload)s)", rows)
