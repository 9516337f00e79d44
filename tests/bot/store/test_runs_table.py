"""Runs and their results, and the history across runs."""

from __future__ import annotations

import asyncio
import math
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from uuid import UUID, uuid4

import psycopg
import pytest

from bot.errors import DuplicateRun, RunNotFound, StoreError
from bot.migrations import apply_migrations, discover_migrations
from bot.store import (
    DeployFacts,
    RunCounts,
    RunRequest,
    RunStatus,
    SlackMessageKind,
    Store,
    TriggerKind,
)
from checks.errors import UsageError
from checks.results import CheckResult, Status, Verdict
from tests.bot.store.store_support import VERSIONS, result, run_result, slash, sql_rows

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
        # What the Redis claim let through: four runs of staging at once. Written as the code
        # of that time did: today's writes columns that later migrations add.
        await conn.execute("SET search_path TO smokebot")
        ids, kept_elsewhere = [], None
        for environment, status in (("staging", "queued"), ("staging", "running"),
                                    ("staging", "running"), ("staging", "queued"),
                                    ("production", "queued")):
            cursor = await conn.execute(
                "INSERT INTO runs (environment, status, trigger_kind, created_at, worker_id,"
                " started_at, heartbeat_at) VALUES (%(env)s, %(status)s, 'slash',"
                " clock_timestamp(), %(worker)s, %(started)s, %(started)s) RETURNING id",
                {"env": environment, "status": status,
                 "worker": "w" if status == "running" else None,
                 "started": datetime.now(timezone.utc) if status == "running" else None})
            row = await cursor.fetchone()
            assert row is not None
            ids.append(row[0])
        kept_elsewhere = ids.pop()
    async with Store.open(pg_dsn) as store:
        assert await store.migrate() == VERSIONS[at:]
        active = await store.active_runs()
        assert [r.id for r in active] == [ids[2], kept_elsewhere]
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
