"""The history store against the machine's real PostgreSQL, each test in a database of its own."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

import bot.store
from bot.errors import DuplicateRun, MigrationError, RunNotFound, StoreError, StoreUnavailable
from bot.migrate import migrate
from bot.migrations import Migration, apply_migrations, discover_migrations
from bot.records import OutboxMessage
from bot.store import (
    DeployFacts,
    RunCounts,
    RunRequest,
    RunStatus,
    SlackMessageKind,
    Store,
    TriggerKind,
    WebhookOutcome,
)
from checks.errors import SmokebotError, UsageError
from checks.results import CheckResult, RunResult, Severity, Status, Verdict
from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN

TABLES = ["acknowledgements", "audit_log", "check_results", "outbox_leases", "outbox_messages",
          "runs", "schema_migrations", "slack_messages", "webhook_deliveries"]
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=timezone.utc)
VERSIONS = [m.version for m in discover_migrations()]


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[Store]:
    async with Store.open(pg_dsn) as opened:
        await opened.migrate()
        yield opened


async def sql_rows(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """Reads (or changes) the test database directly, as an operator would with psql."""
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        cursor = await conn.execute(query, params or None)  # type: ignore[arg-type]
        return await cursor.fetchall() if cursor.description else []


def result(check_id: str, status: Status = Status.PASS, *, category: str = "api",
           **changes: object) -> CheckResult:
    return CheckResult(check_id=check_id, name=f"check {check_id}", category=category,
                       kind="http", severity=Severity.CRITICAL, status=status,
                       summary=f"{check_id}: {status.value}", **changes)  # type: ignore[arg-type]


def run_result(*results: CheckResult, cancelled: bool = False) -> RunResult:
    now = datetime.now(timezone.utc)
    return RunResult(suite="shop", environment="staging", started_at=now, finished_at=now,
                     results=results, categories=("api",), cancelled=cancelled)


def slash(environment: str = "staging", **changes: object) -> RunRequest:
    fields: dict[str, object] = {"trigger_detail": f"/smoketest {environment}",
                                 "requested_by": "U024BE7LH", "channel": "C0SMOKE", **changes}
    return RunRequest(environment=environment, trigger_kind=TriggerKind.SLASH,
                      **fields)  # type: ignore[arg-type]


# --- public surface and errors --------------------------------------------------------------

def test_public_surface_is_the_documented_list() -> None:
    assert bot.store.__all__ == sorted(bot.store.__all__, key=lambda n: (not n.isupper(), n))
    assert set(bot.store.__all__) == {
        "DEFAULT_SCHEMA", "Acknowledgement", "AuditEntry", "DeployFacts", "OutboxEntry",
        "PreviousFailure", "Run", "RunCounts", "RunRequest", "RunStatus", "SlackMessage",
        "SlackMessageKind", "Store", "TriggerKind", "WebhookDelivery", "WebhookOutcome"}


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


# --- migrations -------------------------------------------------------------------------------

async def test_migrate_creates_every_table_in_its_schema_and_a_second_run_applies_nothing(
        pg_dsn: str) -> None:
    async with Store.open(pg_dsn, schema="smoke_a") as store:
        assert await store.migrate() == VERSIONS
        assert await store.migrate() == []

    tables = await sql_rows(pg_dsn, "SELECT table_schema, table_name FROM information_schema.tables"
                            " WHERE table_schema NOT IN ('pg_catalog', 'information_schema')"
                            " ORDER BY 1, 2")
    assert tables == [("smoke_a", name) for name in TABLES]
    versions = await sql_rows(pg_dsn, "SELECT version FROM smoke_a.schema_migrations"
                              " ORDER BY version")
    assert versions == [(version,) for version in VERSIONS]


async def test_two_processes_migrating_at_once_apply_each_file_exactly_once(pg_dsn: str) -> None:
    async with Store.open(pg_dsn) as first, Store.open(pg_dsn) as second:
        applied = await asyncio.gather(first.migrate(), second.migrate(), first.migrate())
    assert sorted(version for versions in applied for version in versions) == VERSIONS
    assert await sql_rows(pg_dsn, "SELECT count(*) FROM smokebot.schema_migrations") == [
        (len(VERSIONS),)]


async def test_cli_migrate_returns_applied_versions_and_schemas_are_isolated(pg_dsn: str) -> None:
    assert await migrate(pg_dsn, "tenant_one") == VERSIONS
    assert await migrate(pg_dsn, "tenant_one") == []
    assert await migrate(pg_dsn, "tenant_two") == VERSIONS

    async with Store.open(pg_dsn, "tenant_one") as one, Store.open(pg_dsn, "tenant_two") as two:
        run = await one.create_run(slash())
        assert await one.get_run(run.id) == run
        assert await two.get_run(run.id) is None
        assert await two.recent_runs() == []


async def test_migration_edited_after_it_was_applied_is_refused(store: Store,
                                                                pg_dsn: str) -> None:
    await sql_rows(pg_dsn, "UPDATE smokebot.schema_migrations SET checksum = 'abcdef0123456789'")
    checksum = discover_migrations()[0].checksum
    with pytest.raises(MigrationError) as caught:
        await store.migrate()
    assert caught.value.message == (
        f"migration 0001_initial was edited after it was applied (recorded checksum "
        f"abcdef012345, file {checksum[:12]}); expected applied migrations to stay as they "
        f"are: put the change in a new numbered file")


async def test_failing_migration_is_rolled_back_and_not_recorded(pg_dsn: str) -> None:
    migrations = discover_migrations() + (Migration(
        "9999_broken", "CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;"),)
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        with pytest.raises(MigrationError) as caught:
            await apply_migrations(conn, "smokebot", migrations)  # type: ignore[arg-type]
        assert caught.value.message == ('migration 9999_broken failed and was rolled back: '
                                        'relation "no_such_table" does not exist')
    assert await sql_rows(pg_dsn, "SELECT version FROM smokebot.schema_migrations"
                          " ORDER BY version") == [(version,) for version in VERSIONS]
    assert await sql_rows(pg_dsn, "SELECT to_regclass('smokebot.half_done')::text") == [(None,)]


# --- runs -------------------------------------------------------------------------------------

async def test_run_goes_queued_running_finished_and_ended_runs_stay_ended(store: Store) -> None:
    deploy = DeployFacts(source="github", version="v1.42.0", commit="3f9c2ab", ref="main",
                         deployer="octocat", url="https://staging.example.test")
    queued = await store.create_run(slash(filters=("api", "db"), deploy=deploy, suite="shop"))
    assert (queued.status, queued.environment, queued.filters) == (
        RunStatus.QUEUED, "staging", ("api", "db"))
    assert (queued.trigger_kind, queued.trigger_detail, queued.requested_by, queued.channel) == (
        TriggerKind.SLASH, "/smoketest staging", "U024BE7LH", "C0SMOKE")
    assert queued.deploy == deploy
    assert deploy.as_variables() == {"source": "github", "version": "v1.42.0",
                                     "commit": "3f9c2ab", "ref": "main", "deployer": "octocat",
                                     "url": "https://staging.example.test"}
    assert queued.started_at is None and queued.verdict is None and queued.is_active

    running = await store.mark_running(queued.id, "worker-1")
    assert running is not None
    assert (running.status, running.worker_id) == (RunStatus.RUNNING, "worker-1")
    assert running.started_at is not None and running.heartbeat_at == running.started_at
    assert await store.mark_running(queued.id, "worker-2") is None  # taken already
    assert await store.heartbeat(queued.id) is True

    await store.save_result(queued.id, result("home"))
    finished = await store.finish_run(queued.id, run_result(
        result("home"), result("login", Status.FAIL), result("cart", Status.ERROR),
        result("search", Status.SKIP), result("banner", Status.WARN)))
    assert finished is not None
    assert (finished.status, finished.verdict) == (RunStatus.FAILED, Verdict.FAILED)
    assert finished.counts == RunCounts(passed=1, failed=1, errors=1, skipped=1, warnings=1)
    assert finished.finished_at is not None and finished.duration_s is not None
    assert not finished.is_active
    assert [r.check_id for r in await store.results(queued.id)] == [
        "home", "banner", "cart", "login", "search"]  # first saved first, then by id

    assert await store.heartbeat(queued.id) is False  # tells a late worker to stop
    assert await store.finish_run(queued.id, run_result()) is None
    assert await store.mark_interrupted(queued.id, "worker lost") is None
    assert await store.get_run(queued.id) == finished


async def test_cancelled_run_result_and_cancelling_a_queued_run(store: Store) -> None:
    one = await store.create_run(slash())
    await store.mark_running(one.id, "w")
    cancelled = await store.finish_run(one.id, run_result(result("a"), cancelled=True))
    assert cancelled is not None
    assert (cancelled.status, cancelled.verdict) == (RunStatus.CANCELLED, Verdict.CANCELLED)

    two = await store.create_run(slash())
    stopped = await store.mark_cancelled(two.id, "cancelled by U024BE7LH")
    assert stopped is not None
    assert (stopped.status, stopped.verdict, stopped.status_reason) == (
        RunStatus.CANCELLED, Verdict.CANCELLED, "cancelled by U024BE7LH")
    assert await store.mark_running(two.id, "w") is None  # a cancelled run is never started

    three = await store.create_run(slash())
    errored = await store.mark_error(three.id, "suite file smoketest.yaml:4:3: unknown kind")
    assert errored is not None
    assert (errored.status, errored.verdict) == (RunStatus.ERROR, None)


async def test_second_run_with_the_same_idempotency_key_is_a_duplicate(store: Store) -> None:
    first = await store.create_run(slash(idempotency_key="slack-event:Ev0PV52K25"))
    with pytest.raises(DuplicateRun) as caught:
        await store.create_run(slash(idempotency_key="slack-event:Ev0PV52K25"))
    assert caught.value.existing == first
    assert caught.value.message == (f"a run already exists for idempotency key "
                                    f"'slack-event:Ev0PV52K25': {first.id} (queued)")
    # Runs without a key never collide.
    await store.create_run(slash("production"))
    await store.create_run(slash("qa"))
    assert len(await store.recent_runs()) == 3


async def test_writes_for_an_unknown_run_raise_run_not_found(store: Store) -> None:
    ghost = uuid4()
    with pytest.raises(RunNotFound) as caught:
        await store.save_result(ghost, result("home"))
    assert caught.value.message == f"no run with id {ghost} in the history store"
    with pytest.raises(RunNotFound):
        await store.create_run(slash(rerun_of=ghost))
    with pytest.raises(RunNotFound):
        await store.set_slack_message(ghost, SlackMessageKind.SUMMARY, "C0SMOKE", "1.1")
    assert await store.get_run(ghost) is None
    assert await store.mark_running(ghost, "w") is None


async def test_saving_a_result_again_replaces_it(store: Store) -> None:
    run = await store.create_run(slash())
    await store.save_result(run.id, result("login", Status.FAIL, attempts=1, details="500"))
    await store.save_result(run.id, result("login", Status.PASS, attempts=2, duration_s=0.25,
                                           measurements={"latency_ms": 41.5}))
    assert await store.results(str(run.id)) == [
        result("login", Status.PASS, attempts=2, duration_s=0.25,
               measurements={"latency_ms": 41.5})]


async def test_awkward_evidence_is_stored_as_plain_json(store: Store) -> None:
    run = await store.create_run(slash())
    await store.save_result(run.id, result(
        "db", Status.FAIL, details="body: a\x00b", duration_s=math.nan, tags=("db",),
        measurements={"ratio": math.inf, "rows": Decimal("3"), 7: "seven"},
        evidence={"at": datetime(2030, 1, 1, tzinfo=timezone.utc), "raw": b"\xffok",
                  "statuses": (Status.FAIL, Status.PASS), "id": UUID(int=1)}))
    [saved] = await store.results(run.id)
    assert saved.details == "body: a\ufffdb"
    assert saved.duration_s == 0.0
    assert saved.tags == ("db",)
    assert saved.measurements == {"ratio": "inf", "rows": 3.0, "7": "seven"}
    assert saved.evidence == {"at": "2030-01-01T00:00:00+00:00", "raw": "\ufffdok",
                              "statuses": ["fail", "pass"],
                              "id": "00000000-0000-0000-0000-000000000001"}


async def test_active_and_recent_runs_filter_and_order(store: Store) -> None:
    a = await store.create_run(slash("staging"))
    b = await store.create_run(slash("production"))
    await store.mark_running(a.id, "w")
    await store.finish_run(a.id, run_result(result("x")))
    c = await store.create_run(RunRequest("staging", TriggerKind.WEBHOOK,
                                          deploy=DeployFacts(version="v2")))

    assert [r.id for r in await store.active_runs()] == [b.id, c.id]
    assert [r.id for r in await store.active_runs("staging")] == [c.id]
    assert [r.id for r in await store.recent_runs()] == [c.id, b.id, a.id]
    assert [r.id for r in await store.recent_runs("staging", limit=1)] == [c.id]
    assert [r.id for r in await store.recent_runs(trigger_kind=TriggerKind.WEBHOOK)] == [c.id]


async def test_stale_running_runs_are_found_and_a_fresh_heartbeat_saves_a_run(
        store: Store, pg_dsn: str) -> None:
    stale = await store.create_run(slash("staging"))
    fresh = await store.create_run(slash("production"))
    queued = await store.create_run(slash("qa"))
    for run in (stale, fresh):
        await store.mark_running(run.id, "w")
    # Two minutes pass without a heartbeat from the first run's worker.
    await sql_rows(pg_dsn, "UPDATE smokebot.runs SET heartbeat_at = now() - interval '2 minutes',"
                   " started_at = now() - interval '3 minutes' WHERE id = %s", stale.id)

    assert [r.id for r in await store.stale_running_runs(60)] == [stale.id]
    assert queued.id not in [r.id for r in await store.stale_running_runs(0)]

    await store.save_result(stale.id, result("home"))
    interrupted = await store.mark_interrupted(stale.id, "worker w stopped heartbeating",
                                               only_if_stale_s=60)
    assert interrupted is not None
    assert (interrupted.status, interrupted.status_reason, interrupted.counts) == (
        RunStatus.INTERRUPTED, "worker w stopped heartbeating", RunCounts(passed=1))
    assert interrupted.verdict is None
    assert await store.stale_running_runs(60) == []

    # The reaper looked, then the worker heartbeated: the run is left alone.
    assert await store.heartbeat(fresh.id) is True
    assert await store.mark_interrupted(fresh.id, "late", only_if_stale_s=60) is None
    assert (await store.get_run(fresh.id)).status is RunStatus.RUNNING  # type: ignore[union-attr]


async def test_a_deploy_supersedes_every_active_run_of_its_environment(store: Store) -> None:
    running = await store.create_run(slash("staging"))
    await store.mark_running(running.id, "w")
    await store.save_result(running.id, result("home"))
    other = await store.create_run(slash("production"))

    first = await store.start_superseding(RunRequest(
        "staging", TriggerKind.WEBHOOK, deploy=DeployFacts(version="v5"),
        idempotency_key="webhook:github:d-5"))
    assert [r.id for r in first.superseded] == [running.id]
    [replaced] = first.superseded
    assert (replaced.status, replaced.superseded_by, replaced.status_reason, replaced.counts) == (
        RunStatus.SUPERSEDED, first.run.id,
        f"superseded by a newer deploy of v5 (run {first.run.id})", RunCounts(passed=1))
    assert replaced.started_at is not None  # it was running: its caller asks it to stop

    second = await store.start_superseding(RunRequest(
        "staging", TriggerKind.WEBHOOK, deploy=DeployFacts(commit="3f9c2ab")))
    assert [r.id for r in second.superseded] == [first.run.id]
    assert second.superseded[0].status_reason == (
        f"superseded by a newer deploy of 3f9c2ab (run {second.run.id})")
    assert [r.id for r in await store.active_runs()] == [other.id, second.run.id]
    assert [r.id for r in await store.runs_superseded_by(second.run.id)] == [first.run.id]
    assert await store.mark_running(first.run.id, "w") is None  # a superseded run never runs

    # The same delivery again changes nothing.
    with pytest.raises(DuplicateRun) as caught:
        await store.start_superseding(RunRequest("staging", TriggerKind.WEBHOOK,
                                                 idempotency_key="webhook:github:d-5"))
    assert caught.value.existing.id == first.run.id
    assert [r.id for r in await store.active_runs("staging")] == [second.run.id]


async def test_a_request_starts_a_run_or_joins_the_one_going_and_the_join_is_audited(
        store: Store) -> None:
    started = await store.start_or_join(slash())
    assert (started.joined, started.run.status, started.run.requested_by) == (
        False, RunStatus.QUEUED, "U024BE7LH")
    elsewhere = await store.start_or_join(slash("production"))
    assert not elsewhere.joined

    await store.mark_running(started.run.id, "w")
    joined = await store.start_or_join(slash(requested_by="U0BOB", filters=("api",)))
    assert joined.joined
    assert (joined.run.id, joined.run.status) == (started.run.id, RunStatus.RUNNING)
    [entry] = await store.recent_audit(environment="staging")
    assert (entry.actor, entry.action, entry.allowed, entry.detail) == (
        "U0BOB", "join", True, {"run_id": str(started.run.id), "trigger": "slash",
                                "trigger_detail": "/smoketest staging", "filters": ["api"]})
    assert len(await store.recent_runs("staging")) == 1, "a join leaves no run row"

    await store.finish_run(started.run.id, run_result(result("home")))
    after = await store.start_or_join(slash())
    assert not after.joined and after.run.id != started.run.id


async def test_a_request_whose_idempotency_key_was_used_records_nothing(store: Store) -> None:
    first = await store.start_or_join(slash(idempotency_key="slack-event:Ev0PV52K25"))
    for attempt in range(2):  # while that run is active, and after it ended
        with pytest.raises(DuplicateRun) as caught:
            await store.start_or_join(slash(idempotency_key="slack-event:Ev0PV52K25",
                                            requested_by="U0BOB"))
        assert caught.value.existing.id == first.run.id
        await store.mark_error(first.run.id, "ended")
    assert await store.recent_audit() == []
    assert len(await store.recent_runs()) == 1


async def test_100_concurrent_requests_start_exactly_one_run_and_99_join_it(
        pg_dsn: str) -> None:
    async with Store.open(pg_dsn, max_size=20, acquire_timeout=30) as store:
        await store.migrate()
        tickets = await asyncio.gather(*(
            store.start_or_join(slash(requested_by=f"U{n:03d}")) for n in range(100)))

        started = [t for t in tickets if not t.joined]
        assert len(started) == 1
        assert {t.run.id for t in tickets} == {started[0].run.id}
        [run] = await store.recent_runs("staging", limit=100)
        assert run.id == started[0].run.id
        joins = await store.recent_audit(limit=200)
        assert len(joins) == 99
        assert {(e.action, e.detail["run_id"]) for e in joins} == {("join", str(run.id))}
        assert sorted(e.actor for e in joins) == sorted(
            f"U{n:03d}" for n in range(100) if f"U{n:03d}" != run.requested_by)


async def test_deploys_and_requests_at_once_leave_one_active_run(pg_dsn: str) -> None:
    async with Store.open(pg_dsn, max_size=20, acquire_timeout=30) as store:
        await store.migrate()
        deploys = [store.start_superseding(RunRequest(
            "staging", TriggerKind.WEBHOOK, deploy=DeployFacts(version=f"v{n}")))
            for n in range(10)]
        requests = [store.start_or_join(slash(requested_by=f"U{n:03d}")) for n in range(30)]
        await asyncio.gather(*deploys, *requests)

        runs = await store.recent_runs("staging", limit=100)
        assert [r.status for r in runs if r.is_active] == [RunStatus.QUEUED]
        [newest] = [r for r in runs if r.is_active]
        assert newest.trigger_kind is TriggerKind.WEBHOOK, "the last deploy supersedes the rest"
        assert all(r.status is RunStatus.SUPERSEDED for r in runs if r.id != newest.id)


async def test_a_second_active_run_recorded_behind_the_stores_back_is_a_clear_error(
        store: Store) -> None:
    await store.create_run(slash())
    with pytest.raises(StoreError) as caught:
        await store.create_run(slash(requested_by="U0BOB"))
    assert caught.value.message == (
        "could not record a run of staging: the environment already has a queued or running "
        "run, and the store keeps one at a time; expected the request to join that run")
    assert len(await store.recent_runs()) == 1


async def test_the_migration_keeps_one_active_run_per_environment_of_an_old_store(
        pg_dsn: str) -> None:
    migrations = discover_migrations()
    at = VERSIONS.index("0004_one_active_run_per_environment")
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await apply_migrations(conn, "smokebot", migrations[:at])  # type: ignore[arg-type]
    async with Store.open(pg_dsn) as store:
        # What the Redis claim let through: four runs of staging at once.
        ids = [(await store.create_run(slash())).id for _ in range(4)]
        await store.mark_running(ids[1], "w")
        await store.mark_running(ids[2], "w")
        kept_elsewhere = await store.create_run(slash("production"))

        assert await store.migrate() == VERSIONS[at:]
        active = await store.active_runs()
        assert [r.id for r in active] == [ids[2], kept_elsewhere.id]
        for run_id in (ids[0], ids[1], ids[3]):
            run = await store.get_run(run_id)
            assert run is not None
            assert (run.status, run.superseded_by) == (RunStatus.SUPERSEDED, ids[2])


# --- history across runs ----------------------------------------------------------------------

async def finished_run(store: Store, environment: str, *results: CheckResult) -> UUID:
    run = await store.create_run(slash(environment))
    await store.mark_running(run.id, "w")
    await store.finish_run(run.id, run_result(*results))
    return run.id


async def test_previous_failure_finds_the_latest_earlier_failure_and_its_thread(
        store: Store) -> None:
    first = await finished_run(store, "staging", result("login", Status.FAIL),
                               result("cart", Status.FAIL), result("home"))
    await store.set_slack_message(first, SlackMessageKind.SUMMARY, "C0SMOKE", "1700000000.000100")
    await store.set_slack_message(first, SlackMessageKind.FAILURE_REPLY, "C0SMOKE",
                                  "1700000000.000200", thread_ts="1700000000.000100",
                                  check_id="login")
    second = await finished_run(store, "staging", result("login"),
                                result("cart", Status.ERROR))
    await finished_run(store, "production", result("login", Status.FAIL))  # other environment
    third = await finished_run(store, "staging", result("cart", Status.SKIP))
    current = await store.create_run(slash("staging"))

    login = await store.previous_failure("staging", "login", current.id)
    assert login is not None
    assert (login.run_id, login.status, login.summary, login.still_failing) == (
        first, Status.FAIL, "login: fail", False)  # it passed in between: a regression
    assert (login.channel, login.thread_ts, login.reply_ts) == (
        "C0SMOKE", "1700000000.000100", "1700000000.000200")

    cart = await store.previous_failure("staging", "cart", current.id)
    assert cart is not None
    assert (cart.run_id, cart.status, cart.still_failing) == (second, Status.ERROR, True)
    assert (cart.channel, cart.thread_ts, cart.reply_ts) == (None, None, None)

    assert await store.previous_failure("staging", "home", current.id) is None
    assert await store.previous_failure("staging", "login", first) is None  # nothing earlier
    assert await store.previous_failure("staging", "cart", third) == cart
    assert set(await store.previous_failures("staging", ["login", "cart", "home"],
                                             current.id)) == {"login", "cart"}


async def test_slack_messages_keep_one_summary_per_run_and_find_runs_by_thread(
        store: Store) -> None:
    run = await store.create_run(slash())
    await store.set_slack_message(run.id, SlackMessageKind.SUMMARY, "C0SMOKE", "100.1")
    await store.set_slack_message(run.id, SlackMessageKind.FAILURE_REPLY, "C0SMOKE", "100.2",
                                  thread_ts="100.1", check_id="login")
    await store.set_slack_message(run.id, SlackMessageKind.NOTICE, "C0SMOKE", "100.3",
                                  thread_ts="100.1")
    await store.set_slack_message(run.id, SlackMessageKind.NOTICE, "C0SMOKE", "100.4",
                                  thread_ts="100.1")
    # Slack was down: the summary was posted again later, with a new ts.
    reposted = await store.set_slack_message(run.id, SlackMessageKind.SUMMARY, "C0SMOKE",
                                             "100.9")
    assert reposted.thread_root == "100.9"

    messages = await store.slack_messages(run.id)
    assert [(m.kind, m.ts, m.thread_ts, m.check_id) for m in messages] == [
        (SlackMessageKind.SUMMARY, "100.9", None, None),
        (SlackMessageKind.FAILURE_REPLY, "100.2", "100.1", "login"),
        (SlackMessageKind.NOTICE, "100.3", "100.1", None),
        (SlackMessageKind.NOTICE, "100.4", "100.1", None)]

    await store.mark_cancelled(run.id, "ended before its re-run")
    rerun = await store.create_run(slash(rerun_of=run.id))
    await store.set_slack_message(rerun.id, SlackMessageKind.SUMMARY, "C0SMOKE", "200.1",
                                  thread_ts="100.9")
    assert (await store.run_for_thread("C0SMOKE", "100.9")) == rerun
    assert (await store.run_for_thread("C0SMOKE", "200.1")) == rerun
    assert await store.run_for_thread("C0OTHER", "100.9") is None
    summaries = await store.summary_messages([run.id, rerun.id, uuid4()])
    assert {k: v.ts for k, v in summaries.items()} == {run.id: "100.9", rerun.id: "200.1"}


async def test_acknowledgements_are_active_until_they_expire(store: Store) -> None:
    now = datetime.now(timezone.utc)
    run = await store.create_run(slash())
    await store.add_acknowledgement("staging", "login", "SSO sandbox is down", "U1",
                                    expires_at=now + timedelta(hours=1), run_id=run.id)
    cart = await store.add_acknowledgement("staging", "cart", "known flake", "U2",
                                           expires_at=now + timedelta(hours=3))
    forever = await store.add_acknowledgement("staging", "banner", "decommissioned", "U3")
    await store.add_acknowledgement("production", "login", "other environment", "U4")

    active_now = await store.active_acknowledgements("staging", now)
    assert [(a.check_id, a.reason, a.acknowledged_by) for a in active_now] == [
        ("banner", "decommissioned", "U3"), ("cart", "known flake", "U2"),
        ("login", "SSO sandbox is down", "U1")]
    assert active_now[2].run_id == run.id
    assert await store.active_acknowledgements("staging", now + timedelta(hours=2)) == [
        forever, cart]
    assert await store.active_acknowledgements("staging", now + timedelta(days=9)) == [forever]

    newer = await store.add_acknowledgement("staging", "cart", "still flaky", "U5",
                                            expires_at=now + timedelta(hours=5))
    assert await store.active_acknowledgements("staging", now + timedelta(hours=2)) == [
        forever, newer]  # the newest acknowledgement of a check speaks for it


async def test_acknowledgement_needs_a_reason_and_a_future_expiry(store: Store) -> None:
    with pytest.raises(UsageError) as no_reason:
        await store.add_acknowledgement("staging", "login", "  ", "U1")
    assert no_reason.value.message == ("an acknowledgement needs a reason; expected a few words "
                                       "on why the failure is known")
    past = datetime(2020, 5, 1, tzinfo=timezone.utc)
    with pytest.raises(UsageError) as expired:
        await store.add_acknowledgement("staging", "login", "flaky", "U1", expires_at=past)
    assert expired.value.message == ("the acknowledgement's expiry 2020-05-01T00:00:00+00:00 has "
                                     "passed; expected a time in the future")
    with pytest.raises(ValueError, match="timezone-aware"):
        await store.active_acknowledgements("staging", datetime(2030, 1, 1))


async def test_audit_log_records_refusals_and_reads_newest_first(store: Store) -> None:
    await store.audit("U1", "run", environment="staging", allowed=True,
                      detail={"channel": "C0SMOKE", "filters": ["api"]})
    refused = await store.audit("U2", "run", environment="production", allowed=False,
                                detail={"why": "user not in @deployers"})
    await store.audit("U1", "cancel", allowed=True)
    assert [(e.actor, e.action, e.allowed) for e in await store.recent_audit()] == [
        ("U1", "cancel", True), ("U2", "run", False), ("U1", "run", True)]
    assert await store.recent_audit(environment="production") == [refused]
    assert refused.detail == {"why": "user not in @deployers"}


# --- Slack outbox -----------------------------------------------------------------------------

async def test_outbox_lease_lets_one_deliverer_at_a_time_send_a_runs_messages_in_order(
        store: Store) -> None:
    run = await store.create_run(RunRequest(environment="staging", trigger_kind="slash",
                                            channel="C0SMOKE"))
    messages = [OutboxMessage(SlackMessageKind.SUMMARY, "C0SMOKE", {"text": "s"}),
                OutboxMessage(SlackMessageKind.FAILURE_REPLY, "C0SMOKE", {"text": "r"},
                              check_id="health")]
    await store.outbox_add(run.id, messages)
    stream = f"run:{run.id}"
    assert await store.outbox_due_streams() == [stream]
    taken = await store.outbox_take(stream, "a", 30)
    assert [e.kind for e in taken or []] == [SlackMessageKind.SUMMARY,
                                             SlackMessageKind.FAILURE_REPLY]
    assert await store.outbox_take(stream, "b", 30) is None  # held: b sends nothing
    assert await store.outbox_due_streams() == []
    assert await store.outbox_attempting(taken[0].id, stream, "b", 30) is False
    assert await store.outbox_attempting(taken[0].id, stream, "a", 30) is True
    recorded = await store.outbox_delivered(taken[0], "1.1", thread_ts=None)
    assert recorded is not None and recorded.kind is SlackMessageKind.SUMMARY
    assert await store.outbox_delivered(taken[0], "1.1", thread_ts=None) is None  # once
    assert await store.outbox_release(stream, "a") is False  # a message is still pending
    await store.outbox_abandon(stream, "a")
    [left] = await store.outbox_take(stream, "b", 30) or []
    assert left.check_id == "health" and not left.in_doubt
    await store.outbox_give_up([left.id], "not_in_channel")
    assert await store.outbox_pending_count() == 0
    assert await store.outbox_release(stream, "b") is True
    assert await store.outbox_take(stream, "a", 30) == []  # free again, nothing pending

# --- webhook deliveries -----------------------------------------------------------------------

async def test_100_concurrent_deliveries_of_one_id_record_one_new_delivery_and_one_run(
        pg_dsn: str) -> None:
    async with Store.open(pg_dsn, max_size=20, acquire_timeout=30) as store:
        await store.migrate()
        request = RunRequest("staging", TriggerKind.WEBHOOK, trigger_detail="deployment_status",
                             deploy=DeployFacts(source="github", commit="3f9c2ab"))
        recorded = await asyncio.gather(*(
            store.record_webhook_delivery(
                "github", "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                WebhookOutcome.ACCEPTED, environment="staging", run=request)
            for _ in range(100)))

        assert sum(d.is_new for d in recorded) == 1
        run_ids = {d.run_id for d in recorded}
        assert len(run_ids) == 1 and None not in run_ids
        runs = await store.recent_runs(limit=100)
        assert [r.id for r in runs] == list(run_ids)
        assert runs[0].idempotency_key == "webhook:github:72d3162e-cc78-11e3-81ab-4c9367dc0958"
        [delivery] = await store.recent_webhook_deliveries()
        assert delivery.redeliveries == 99


async def test_rejected_delivery_never_shadows_the_genuine_one(store: Store) -> None:
    forged = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.REJECTED, reason="bad signature")
    again = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.REJECTED, reason="bad signature")
    genuine = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.ACCEPTED, environment="staging",
        run=RunRequest("staging", TriggerKind.WEBHOOK))
    ignored = await store.record_webhook_delivery(
        "argocd", "key-1", WebhookOutcome.IGNORED, reason="ignored: unmapped app")
    redelivered = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.ACCEPTED, environment="staging",
        run=RunRequest("staging", TriggerKind.WEBHOOK))
    assert [d.is_new for d in (forged, again, genuine, ignored, redelivered)] == [
        True, True, True, True, False]
    assert (redelivered.id, redelivered.run_id) == (genuine.id, genuine.run_id)
    assert len(await store.recent_runs()) == 1
    assert [(d.source, d.outcome, d.reason) for d in await store.recent_webhook_deliveries(
        source="deploy")] == [
        ("deploy", WebhookOutcome.ACCEPTED, ""),
        ("deploy", WebhookOutcome.REJECTED, "bad signature"),
        ("deploy", WebhookOutcome.REJECTED, "bad signature")]
    with pytest.raises(ValueError):
        await store.record_webhook_delivery("github", "x", WebhookOutcome.IGNORED,
                                            run=RunRequest("staging", TriggerKind.WEBHOOK))


async def test_no_credential_header_reaches_the_database(store: Store, pg_dsn: str) -> None:
    canary = "canary-5f0c1e9ab7d2"
    delivery = await store.record_webhook_delivery(
        "github", "d-1", WebhookOutcome.REJECTED, reason="bad signature",
        headers={"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "d-1",
                 "X-Hub-Signature-256": f"sha256={canary}", "Authorization": f"Bearer {canary}",
                 "X-Argocd-Secret": canary, "Cookie": f"session={canary}",
                 "X-Api-Key": canary, "X-Auth-Token": canary},
        summary={"environment": "staging"})
    assert delivery.headers == {"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "d-1"}
    dump = await sql_rows(pg_dsn, " UNION ALL ".join(
        f"SELECT row_to_json(t)::text FROM smokebot.{table} t" for table in TABLES))
    assert sum(str(row[0]).count(canary) for row in dump) == 0
    assert any("deployment_status" in str(row[0]) for row in dump)  # the dump does see rows


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
