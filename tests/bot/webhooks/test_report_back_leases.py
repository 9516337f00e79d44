"""Reports back, their bookkeeping: bounded retries, a deliverer that dies mid-call taken over
after its lease without posting twice, deliverers at once, what a superseded run or a missing
token owes, a report due only once its run has ended; and the settings and waits they read.
Against the fake GitHub API on loopback (tests/support/fake_github.py)."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.errors import SettingError
from bot.records import ReportState
from bot.report_back.deliverer import ReportPolicy, deliver_due_reports, deliver_run_reports
from bot.report_back.http import header_wait_s
from bot.settings import Settings
from checks.results import Status
from checks.secrets import Secret
from tests.bot.webhooks.report_back_support import (
    DEPLOYMENT_ID,
    FAST,
    REPOSITORY,
    TOKEN,
    ended_run,
    github_notice,
    open_stack,
    report_of,
    wait_for,
)
from tests.support.fake_github import hang, status


async def test_retries_are_bounded_and_the_last_error_kept(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(*[status(503, "Service Unavailable")] * 4)
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.last_error) == (
            ReportState.FAILED, 4, "gave up after 4 attempts: GitHub answered HTTP 503: "
                                   "Service Unavailable")
        assert (len(stack.fake.posts()), len(stack.fake.lookups())) == (4, 3)
        assert stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID) == []


@pytest.mark.parametrize("created", [False, True], ids=["died-before", "died-after-creating"])
async def test_a_deliverer_that_dies_mid_call_is_taken_over_after_its_lease_never_twice(
        pg_dsn: str, tmp_path: Path, created: bool) -> None:
    # A lease of 1.5 s: each call then has 0.5 s, and the takeover comes soon.
    async with open_stack(pg_dsn, tmp_path, delivery_lease_s=1.5) as stack:
        stack.fake.script(hang(10, create=created))
        run = await ended_run(stack, github_notice(), Status.PASS)
        policy = dataclasses.replace(FAST, timeout_s=5.0)  # held to 0.5 s by the lease
        first = asyncio.create_task(deliver_run_reports(stack.services, run.id, policy=policy))
        await wait_for(lambda: len(stack.fake.posts()) == 1, what="the first POST")
        first.cancel()  # the deliverer dies mid-call: no answer, no bookkeeping
        await asyncio.gather(first, return_exceptions=True)
        report = await report_of(stack.services, run.id)
        assert (report.state, report.in_doubt, report.attempts) == (
            ReportState.PENDING, True, 1)

        # While its lease lasts, nobody else sends it.
        assert not await deliver_run_reports(stack.services, run.id, policy=policy,
                                             patience_s=0)
        assert len(stack.fake.posts()) == 1

        await asyncio.sleep(1.6)  # the lease runs out
        assert await deliver_run_reports(stack.services, run.id, policy=policy)

        assert len(stack.fake.posts()) == (1 if created else 2)
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.remote_id) == (
            ReportState.DELIVERED, 2, str(posted["id"]))


async def test_deliverers_at_once_post_each_report_once(pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        runs = [await ended_run(stack, github_notice(delivery=f"d-{n}"), Status.PASS)
                for n in range(3)]

        await asyncio.gather(*[deliver_due_reports(stack.services, policy=FAST)
                               for _ in range(4)])

        posted = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert sorted(s["description"][-14:] for s in posted) == sorted(
            f"(run {str(run.id)[:8]})" for run in runs)
        assert len(stack.fake.posts()) == 3
        for run in runs:
            assert (await report_of(stack.services, run.id)).state is ReportState.DELIVERED


async def test_a_superseded_run_is_skipped_for_github_with_the_reason(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        older = await ended_run(stack, github_notice(delivery="d-old"),
                                end=lambda store, run: asyncio.sleep(0, run))
        newer = await ended_run(stack, github_notice(delivery="d-new"), Status.PASS)

        assert await deliver_due_reports(stack.services, policy=FAST) == 2

        skipped = await report_of(stack.services, older.id)
        assert (skipped.state, skipped.attempts, skipped.last_error) == (
            ReportState.SKIPPED, 0, "not reported: the run was superseded; the newer deploy's "
                                    "run reports to its own deployment")
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert posted["description"].endswith(f"(run {str(newer.id)[:8]})")


async def test_without_a_token_no_report_is_owed(pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path, github_token=None) as stack:
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        assert await stack.services.store.report_backs(run.id) == []
        assert stack.fake.received == []


async def test_a_token_removed_later_fails_the_report_saying_so(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        run = await ended_run(stack, github_notice(), Status.PASS)
        stack.services.settings = dataclasses.replace(stack.services.settings,
                                                      github_token=None)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.last_error) == (
            ReportState.FAILED, 0, "not sent: SMOKEBOT_GITHUB_TOKEN is not set")
        assert stack.fake.received == []


async def test_a_report_is_due_only_once_its_run_has_ended(pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        store = stack.services.store
        run = await ended_run(stack, github_notice(), end=lambda s, r: asyncio.sleep(0, r))
        await store.mark_running(run.id, "w-1")

        assert await deliver_due_reports(stack.services, policy=FAST) == 0
        assert not await deliver_run_reports(stack.services, run.id, policy=FAST,
                                              patience_s=0)
        assert stack.fake.received == []

        await store.mark_interrupted(run.id, "its worker (w-1) died")  # the reaper ends it
        assert await deliver_due_reports(stack.services, policy=FAST) == 1
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert posted["state"] == "error"


def test_a_wait_is_read_from_retry_after_or_the_rate_limits_reset() -> None:
    now = 1_900_000_000.0
    assert header_wait_s({"retry-after": "7"}, now=now) == 7.0
    assert header_wait_s({"retry-after": "Sun, 17 Mar 2030 08:00:30 GMT"},
                         now=1_899_964_800.0) == 30.0
    assert header_wait_s({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1900000042"},
                         now=now) == 42.0
    assert header_wait_s({"x-ratelimit-remaining": "12", "x-ratelimit-reset": "1900000042"},
                         now=now) is None
    assert header_wait_s({"retry-after": "99999999"}, now=now) == 3600.0  # not believed
    assert header_wait_s({}, now=now) is None


def test_a_policy_needs_an_attempt_and_a_timeout() -> None:
    with pytest.raises(ValueError):
        ReportPolicy(max_attempts=0)
    with pytest.raises(ValueError):
        ReportPolicy(timeout_s=0, backoff=Backoff.constant(1))


def test_the_token_and_api_url_are_read_from_the_environment_and_the_token_kept_secret(
) -> None:
    settings = Settings.from_env({"SMOKEBOT_GITHUB_TOKEN": TOKEN,
                                  "SMOKEBOT_GITHUB_API_URL": "https://ghe.example.com/api/v3/"})
    assert settings.github_token == Secret(TOKEN)
    assert settings.github_api_url == "https://ghe.example.com/api/v3"
    assert Secret(TOKEN) in settings.secrets()  # the process-wide redactor masks it
    assert TOKEN not in repr(settings)
    assert Settings.from_env({}).github_api_url == "https://api.github.com"
    with pytest.raises(SettingError) as refused:
        Settings.from_env({"SMOKEBOT_GITHUB_API_URL": "api.github.com"})
    assert refused.value.message == ("SMOKEBOT_GITHUB_API_URL='api.github.com': expected a URL "
                                     "starting with http:// or https://; it has no scheme://")
