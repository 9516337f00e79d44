"""Runs and their check results: starting runs (one active run per environment, decided
under the environment's advisory lock), claiming, finishing and ending them, and the queries
over them (active, stale, recent, previous failures).

An environment has at most one active (queued or running) run. `start_or_join` is the one
place a trigger's request becomes a run or joins the one going; a deploy's run goes through
`start_superseding` instead, which ends the environment's active runs for it. Both take
`pg_advisory_xact_lock` on the environment first, so concurrent requests are decided one after
the other, each seeing what the previous one committed; the partial unique index of migration
0004 is the backstop."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, LiteralString
from uuid import UUID

from bot.errors import DuplicateRun
from bot.records import (
    AuditAction,
    OutboxMessage,
    PreviousFailure,
    Run,
    RunCounts,
    RunRequest,
    RunStart,
    RunStatus,
    RunTicket,
    TriggerKind,
    as_uuid,
)
from bot.store._base import Conn, StoreBase
from bot.store._rows import (
    check_result_from_row,
    duplicate,
    insert_outbox_messages,
    insert_run,
    lock_environment,
    one_active_run,
    run_from_row,
    run_values,
    start_superseding,
)
from bot.store._values import aware, clean_text, jsonb, positive
from checks.results import CheckResult, RunResult, Severity, Status

__all__ = ["RunsTable", "insert_run", "one_active_run", "run_from_row", "start_superseding"]

_PROBLEM_STATUSES = [Status.FAIL.value, Status.ERROR.value]


class RunsTable(StoreBase):
    # --- runs ---------------------------------------------------------------------------------

    async def create_run(self, request: RunRequest) -> Run:
        """Records a queued run as asked, deciding nothing (for tools and tests: triggers call
        `start_or_join`). Raises DuplicateRun if its idempotency key was used before, and
        StoreError if the environment already has an active run."""
        async with self._connection() as conn, one_active_run(request.environment):
            return await insert_run(conn, request)

    async def start_or_join(self, request: RunRequest, *, audit_start: AuditAction | None = None,
                            audit_detail: Mapping[str, Any] | None = None) -> RunTicket:
        """Starts the requested run, or joins the environment's active run: the one decision.

        In one transaction under the environment's lock: if a run of the environment is queued
        or running, the join is written to the audit log (action "join", the requester as
        actor, the joined run and the trigger as detail) and that run comes back with
        `joined=True`; otherwise the request's run is recorded, queued, with `joined=False`,
        and audited as `audit_start` when given (a person's request: "run" or "rerun").
        `audit_detail` adds facts to either entry (the channel, the confirmation's request).
        Both statements go to PostgreSQL as one pipeline, one round trip (the web process
        acks Slack within 3 s): PostgreSQL runs the statements before a pipeline's Sync as
        one implicit transaction, so the lock holds until the decision is committed, and an
        error rolls all of it back.

        Raises DuplicateRun if the request's idempotency key was used before (then nothing is
        recorded)."""
        params = {**run_values(request),
                  "actor": request.requested_by or request.trigger_kind.value,
                  "start_action": audit_start.value if audit_start else None,
                  "audit": jsonb({"trigger": request.trigger_kind.value,
                                  "trigger_detail": request.trigger_detail,
                                  "filters": list(request.filters), **(audit_detail or {})})}
        async with self._connection() as conn, one_active_run(request.environment):
            async with conn.pipeline():  # no BEGIN and COMMIT: each would cost a round trip
                await lock_environment(conn, self._schema, request.environment)
                cursor = await conn.execute(_START_OR_JOIN, params)
            row = await cursor.fetchone()
            if row is None:  # a concurrent request with the same key committed meanwhile
                raise await duplicate(conn, request.idempotency_key)
        outcome = row["outcome"]
        if outcome == "duplicate":
            raise DuplicateRun(run_from_row(row))
        return RunTicket(run_from_row(row), joined=outcome == "joined")

    async def start_superseding(self, request: RunRequest) -> RunStart:
        """Records a deploy's run and supersedes every active run of its environment by it, in
        one transaction under the environment's lock (see `start_superseding` the function).
        Raises DuplicateRun if the idempotency key was used before (nothing changes then)."""
        async with self._transaction() as conn, one_active_run(request.environment):
            return await start_superseding(conn, self._schema, request)

    async def runs_superseded_by(self, run_id: UUID | str) -> list[Run]:
        """The runs that `run_id` superseded, oldest first."""
        return await self._select_runs(
            "SELECT * FROM runs WHERE superseded_by = %(id)s ORDER BY created_at, id",
            {"id": as_uuid(run_id)})

    async def get_run(self, run_id: UUID | str) -> Run | None:
        async with self._connection() as conn:
            cursor = await conn.execute("SELECT * FROM runs WHERE id = %s", (as_uuid(run_id),))
            row = await cursor.fetchone()
        return run_from_row(row) if row else None

    async def mark_running(self, run_id: UUID | str, worker_id: str) -> Run | None:
        """queued -> running. None if the run is no longer queued (cancelled or superseded
        before a worker took it, or already taken): the worker must then not run it."""
        return await self._update_run(
            "UPDATE runs SET status = 'running', worker_id = %(worker)s, started_at = now(),"
            " heartbeat_at = now() WHERE id = %(id)s AND status = 'queued' RETURNING *",
            {"id": as_uuid(run_id), "worker": worker_id})

    async def heartbeat(self, run_id: UUID | str) -> bool:
        """Proves the run's worker is alive. False if the run is no longer running (the reaper
        marked it interrupted, or it was cancelled or superseded): the worker should stop."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE runs SET heartbeat_at = now() WHERE id = %s AND status = 'running'"
                " RETURNING id", (as_uuid(run_id),))
            return await cursor.fetchone() is not None

    async def save_result(self, run_id: UUID | str, result: CheckResult) -> None:
        """Saves one check's result as it finishes; a later save of the same check replaces it.
        `result` must be the runner's redacted CheckResult: it is stored as given."""
        async with self._connection() as conn:
            await _upsert_results(conn, as_uuid(run_id), [result])

    async def finish_run(self, run_id: UUID | str, result: RunResult, *,
                         messages: Callable[[Run], Sequence[OutboxMessage]] | None = None
                         ) -> Run | None:
        """queued|running -> passed|failed|cancelled, from the RunResult's verdict and counts.

        Every result in `result` is saved in the same transaction (filling in any that a blip
        kept `save_result` from saving), even when the run had already ended; returns None
        then (interrupted by the reaper, cancelled or superseded meanwhile).

        `messages(run)` renders what the run owes Slack from the run as it ends up (finished
        now, or as it was ended elsewhere); they are written to the outbox in the same
        transaction, so a run is never finished without them."""
        verdict = result.verdict
        counts = RunCounts.from_statuses(result.counts())
        run_uuid = as_uuid(run_id)
        async with self._transaction() as conn:
            await _upsert_results(conn, run_uuid, result.results)
            cursor = await conn.execute(
                "UPDATE runs SET status = %(status)s, verdict = %(status)s, finished_at = now(),"
                # Who asked to cancel (note_cancel_request) stays only if the run was cancelled.
                " status_reason = CASE WHEN %(status)s = 'cancelled' THEN status_reason END,"
                " started_at = coalesce(started_at, %(started)s), suite = coalesce(suite,"
                " %(suite)s), passed_count = %(passed)s, failed_count = %(failed)s,"
                " error_count = %(errors)s, skipped_count = %(skipped)s,"
                " warned_count = %(warnings)s, flaky_count = %(flaky)s, slow_count = %(slow)s"
                " WHERE id = %(id)s AND status IN ('queued', 'running') RETURNING *",
                {"id": run_uuid, "status": verdict.value, "started": aware(result.started_at),
                 "suite": result.suite or None, **dataclasses.asdict(counts)})
            row = await cursor.fetchone()
            finished = row is not None
            if messages is not None:
                if row is None:
                    cursor = await conn.execute("SELECT * FROM runs WHERE id = %s", (run_uuid,))
                    row = await cursor.fetchone()
                if row is not None:
                    await insert_outbox_messages(conn, run_uuid, messages(run_from_row(row)))
        return run_from_row(row) if finished and row is not None else None

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
        by = as_uuid(by_run_id)
        return await self._end_run(run_id, RunStatus.SUPERSEDED,
                                   reason or f"superseded by run {by}", superseded_by=by)

    async def note_cancel_request(self, run_id: UUID | str, reason: str) -> bool:
        """Records who asked to cancel a running run (`cancelled by <@U…>`) as its reason, for
        the summary its worker writes when it stops it (`finish_run` keeps the reason only
        if the run ends cancelled). False if the run is not running."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "UPDATE runs SET status_reason = %s WHERE id = %s AND status = 'running'"
                " RETURNING id", (clean_text(reason), as_uuid(run_id)))
            return await cursor.fetchone() is not None

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
            " skipped_count = c.skipped, warned_count = c.warnings, flaky_count = c.flaky,"
            " slow_count = c.slow"
            " FROM (SELECT count(*) FILTER (WHERE status IN ('pass', 'flaky', 'slow')) AS passed,"
            "  count(*) FILTER (WHERE status = 'fail') AS failed,"
            "  count(*) FILTER (WHERE status = 'error') AS errors,"
            "  count(*) FILTER (WHERE status = 'skip') AS skipped,"
            "  count(*) FILTER (WHERE status = 'warn') AS warnings,"
            "  count(*) FILTER (WHERE status = 'flaky') AS flaky,"
            "  count(*) FILTER (WHERE status = 'slow') AS slow"
            "  FROM check_results WHERE run_id = %(id)s) c"
            " WHERE r.id = %(id)s AND r.status IN ('queued', 'running')"
            " AND (%(stale)s::float8 IS NULL OR (r.status = 'running'"
            "      AND r.heartbeat_at < now() - make_interval(secs => %(stale)s::float8)))"
            " RETURNING r.*",
            {"id": as_uuid(run_id), "status": status.value, "reason": clean_text(reason),
             "by": superseded_by, "stale": only_if_stale_s})

    async def _update_run(self, query: LiteralString, params: Mapping[str, Any]) -> Run | None:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            row = await cursor.fetchone()
        return run_from_row(row) if row else None

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
             "limit": positive(limit)})

    async def run_for_thread(self, channel: str, thread_ts: str) -> Run | None:
        """The latest run shown in this Slack thread (its summary is the thread's parent, or
        was posted in it), for `@smokebot rerun` and buttons."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT r.* FROM slack_messages m JOIN runs r ON r.id = m.run_id"
                " WHERE m.channel = %(channel)s AND (m.ts = %(ts)s OR m.thread_ts = %(ts)s)"
                " ORDER BY r.created_at DESC, r.id LIMIT 1", {"channel": channel, "ts": thread_ts})
            row = await cursor.fetchone()
        return run_from_row(row) if row else None

    async def _select_runs(self, query: LiteralString, params: Mapping[str, Any]) -> list[Run]:
        async with self._connection() as conn:
            cursor = await conn.execute(query, params)
            return [run_from_row(row) for row in await cursor.fetchall()]

    async def results(self, run_id: UUID | str) -> list[CheckResult]:
        """The run's saved results, in the order they were first saved."""
        async with self._connection() as conn:
            cursor = await conn.execute(
                "SELECT * FROM check_results WHERE run_id = %s ORDER BY recorded_at, check_id",
                (as_uuid(run_id),))
            return [check_result_from_row(row) for row in await cursor.fetchall()]

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
                "env": environment, "ids": ids, "before": as_uuid(before_run_id),
                "problems": _PROBLEM_STATUSES})
            rows = await cursor.fetchall()
        return {row["check_id"]: PreviousFailure(
            check_id=row["check_id"], run_id=row["run_id"], run_created_at=row["run_created_at"],
            status=Status(row["status"]), summary=row["summary"],
            still_failing=row["still_failing"], channel=row["channel"],
            thread_ts=row["thread_ts"], reply_ts=row["reply_ts"]) for row in rows}


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


# --- starting runs -----------------------------------------------------------------------------


# After the environment's lock, in a statement of its own: its snapshot then shows whatever the
# previous holder of the lock committed. Of `active` and `used_key`, the first that has a row
# decides; the INSERT and the audit entry are each guarded so that only the decided one happens.
_START_OR_JOIN: LiteralString = """
WITH active AS (
    SELECT * FROM runs
    WHERE environment = %(environment)s AND status IN ('queued', 'running')
    ORDER BY created_at DESC, id LIMIT 1
), used_key AS (
    SELECT * FROM runs WHERE idempotency_key = %(key)s::text
), started AS (
    INSERT INTO runs (created_at, environment, suite, trigger_kind, trigger_detail,
                      requested_by, filters, channel, deploy_source, deploy_version,
                      deploy_commit, deploy_ref, deployer, deploy_url, deploy_link, rerun_of,
                      idempotency_key, confirmed)
    SELECT clock_timestamp(), %(environment)s::text, %(suite)s::text, %(kind)s::text,
           %(detail)s::text, %(by)s::text, %(filters)s::text[], %(channel)s::text,
           %(source)s::text, %(version)s::text, %(commit)s::text, %(ref)s::text,
           %(deployer)s::text, %(url)s::text, %(link)s::text, %(rerun_of)s::uuid,
           %(key)s::text, %(confirmed)s::boolean
    WHERE NOT EXISTS (SELECT FROM active) AND NOT EXISTS (SELECT FROM used_key)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), joined AS (
    INSERT INTO audit_log (actor, action, environment, allowed, run_id, detail)
    SELECT %(actor)s::text, 'join', %(environment)s::text, true, active.id,
           %(audit)s::jsonb || jsonb_build_object('run_id', active.id::text)
    FROM active WHERE NOT EXISTS (SELECT FROM used_key)
), audited_start AS (
    INSERT INTO audit_log (actor, action, environment, allowed, run_id, detail)
    SELECT %(actor)s::text, %(start_action)s::text, %(environment)s::text, true, started.id,
           %(audit)s::jsonb || jsonb_build_object('run_id', started.id::text)
    FROM started WHERE %(start_action)s::text IS NOT NULL
)
SELECT 'started' AS outcome, * FROM started
UNION ALL SELECT 'joined', * FROM active WHERE NOT EXISTS (SELECT FROM used_key)
UNION ALL SELECT 'duplicate', * FROM used_key
"""


async def _upsert_results(conn: Conn, run_id: UUID, results: Iterable[CheckResult]) -> None:
    rows = [{
        "run": run_id, "check": r.check_id, "name": clean_text(r.name),
        "category": clean_text(r.category), "kind": r.kind, "severity": Severity(r.severity).value,
        "status": Status(r.status).value, "summary": clean_text(r.summary),
        "details": clean_text(r.details),
        "duration": r.duration_s if math.isfinite(r.duration_s) and r.duration_s > 0 else 0.0,
        "attempts": max(0, r.attempts), "measurements": jsonb(r.measurements),
        "evidence": jsonb(r.evidence), "tags": [clean_text(t) for t in r.tags],
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
