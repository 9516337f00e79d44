"""Reporting a deploy run's verdict to GitHub as a deployment status, against a fake GitHub API on
loopback that speaks the real paths and shapes (tests/support/fake_github.py): what is posted,
and what each answer leads to (a retry, a look before posting again, giving up), never touching
the run. test_report_back_leases.py: bounded, never twice, and when a report is owed."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from bot.pages.links import link_signer
from bot.records import ReportState, RunStatus
from bot.report_back.deliverer import deliver_due_reports, deliver_run_reports
from checks.results import Status
from tests.bot.metrics_support import read_exposition
from tests.bot.webhooks.report_back_support import (
    DEPLOYMENT_ID,
    FAST,
    PUBLIC_URL,
    REPOSITORY,
    TOKEN,
    ended_run,
    github_notice,
    open_stack,
    report_of,
)
from tests.support.fake_github import Scripted, hang, rate_limited, status


async def test_a_passed_run_is_one_success_status_linking_its_run_page(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        run = await ended_run(stack, github_notice(), Status.PASS, Status.FLAKY)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert posted["state"] == "success"
        assert posted["description"] == (f"smokebot: staging passed: 2 of 2 checks (1 flaky) "
                                          f"(run {str(run.id)[:8]})")
        assert posted["environment_url"] == "https://staging.shop.example.com"
        link = urlsplit(posted["log_url"])
        assert posted["target_url"] == posted["log_url"]  # GitHub copies log_url
        assert f"{link.scheme}://{link.netloc}{link.path}" == f"{PUBLIC_URL}/runs/{run.id}"
        signer = link_signer(stack.services.settings)
        assert signer is not None
        signer.verify(link.path, parse_qsl(link.query))  # the run page opens with it
        [post] = stack.fake.posts()
        assert post.path == f"/repos/{REPOSITORY}/deployments/{DEPLOYMENT_ID}/statuses"
        assert post.body["auto_inactive"] is False
        assert sorted(post.body) == ["auto_inactive", "description", "environment_url",
                                     "log_url", "state"]
        assert post.headers["authorization"] == f"Bearer {TOKEN}"
        assert post.headers["accept"] == "application/vnd.github+json"
        assert post.headers["x-github-api-version"] == "2022-11-28"
        assert post.headers["user-agent"].startswith("smokebot/")
        report = await report_of(stack.services, run.id)
        assert (report.state, report.reported, report.remote_id, report.attempts,
                report.in_doubt, report.last_status) == (
            ReportState.DELIVERED, "success", str(posted["id"]), 1, False, 201)
        assert stack.fake.lookups() == []  # nothing was in doubt


@pytest.mark.parametrize(("ending", "state", "words"), [
    ("failed", "failure", "staging failed: 1 of 2 checks failed"),
    ("error", "error", "staging: could not be tested: the suite could not be planned: "
                       "unknown check 'nope'"),
    ("interrupted", "error", "staging: smoke test interrupted: its worker (w-1) was stopped "
                             "before the run finished"),
    ("cancelled", "error", "staging: smoke test cancelled: cancelled by @U0HUMAN001"),
])
async def test_a_run_that_did_not_pass_says_so_in_the_state(
        pg_dsn: str, tmp_path: Path, ending: str, state: str, words: str) -> None:
    ends = {
        "error": lambda store, run: store.mark_error(
            run.id, "the suite could not be planned: unknown check 'nope'"),
        "interrupted": lambda store, run: store.mark_interrupted(
            run.id, "its worker (w-1) was stopped before the run finished"),
        "cancelled": lambda store, run: store.mark_cancelled(run.id,
                                                             "cancelled by <@U0HUMAN001>"),
    }
    async with open_stack(pg_dsn, tmp_path) as stack:
        if ending == "failed":
            run = await ended_run(stack, github_notice(), Status.PASS, Status.FAIL)
        else:
            run = await ended_run(stack, github_notice(), end=ends[ending])

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert (posted["state"], posted["description"]) == (
            state, f"smokebot: {words} (run {str(run.id)[:8]})")
        assert len(posted["description"]) <= 140


async def test_a_long_reason_is_cut_to_140_characters_keeping_the_runs_mark(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        run = await ended_run(stack, github_notice(), end=lambda store, run: store.mark_error(
            run.id, "the suite could not be planned: " + "a very long reason " * 20))

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        assert len(posted["description"]) == 140
        assert posted["description"].endswith(f"… (run {str(run.id)[:8]})")


async def test_a_500_is_retried_after_looking_and_posted_once(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(status(500))
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        assert len(stack.fake.posts()) == 2
        assert len(stack.fake.lookups()) == 1  # a 5xx may have created it: looked first
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.remote_id) == (
            ReportState.DELIVERED, 2, str(posted["id"]))
        metrics = read_exposition(stack.services.metrics.exposition().decode())
        counted = {outcome: metrics.value("smokebot_report_backs_total",
                                          target="github-deployment", outcome=outcome)
                   for outcome in ("retry", "delivered", "failed")}
        assert counted == {"retry": 1, "delivered": 1, "failed": None}


async def test_a_500_after_github_created_the_status_is_found_not_posted_again(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(Scripted(status=500, body={"message": "Server Error"}, create=True))
        run = await ended_run(stack, github_notice(), Status.FAIL)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        assert len(stack.fake.posts()) == 1
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.remote_id, report.reported) == (
            ReportState.DELIVERED, 2, str(posted["id"]), "failure")


async def test_a_422_is_recorded_as_failed_and_never_retried(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(Scripted(status=422, body={
            "message": "Validation Failed", "status": "422",
            "errors": [{"resource": "DeploymentStatus", "code": "invalid", "field": "state"}]}))
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)
        await asyncio.sleep(0.5)  # longer than FAST's backoff: a retry would have come
        assert await deliver_due_reports(stack.services, policy=FAST) == 0

        assert len(stack.fake.posts()) == 1
        assert stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID) == []
        metrics = read_exposition(stack.services.metrics.exposition().decode())
        assert metrics.value("smokebot_report_backs_total", outcome="failed") == 1
        assert metrics.value("smokebot_report_backs_total", outcome="retry") is None
        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.last_status, report.last_error) == (
            ReportState.FAILED, 1, 422,
            "GitHub refused the deployment status (HTTP 422: Validation Failed (state: "
            "invalid))")
        ended = await stack.services.store.get_run(run.id)
        assert ended is not None and ended.status is RunStatus.PASSED  # the run is its own


@pytest.mark.parametrize(("answer", "expected"), [
    (status(401, "Bad credentials"),
     "GitHub refused the token (HTTP 401: Bad credentials); expected SMOKEBOT_GITHUB_TOKEN to "
     "be a valid token"),
    (status(403, "Resource not accessible by personal access token"),
     "GitHub refused the token for acme/shop (HTTP 403: Resource not accessible by personal "
     "access token); it needs the Deployments: write permission (repo_deployment for a "
     "classic token)"),
    (status(404, "Not Found"),
     "GitHub has no deployment 1204885102 in acme/shop that the token can see (HTTP 404: Not "
     "Found)"),
])
async def test_a_refusal_for_good_is_not_retried_and_says_what_to_fix(
        pg_dsn: str, tmp_path: Path, answer: Scripted, expected: str) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(answer)
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.last_error) == (
            ReportState.FAILED, 1, expected)
        assert len(stack.fake.posts()) == 1


@pytest.mark.parametrize("created", [False, True], ids=["hang-before", "hang-after-creating"])
async def test_a_hang_times_out_and_is_retried_posting_at_most_once(
        pg_dsn: str, tmp_path: Path, created: bool) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(hang(5, create=created))
        run = await ended_run(stack, github_notice(), Status.PASS)

        started = time.monotonic()
        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        assert time.monotonic() - started < 4  # the timeout, not the hang, ended attempt 1
        assert len(stack.fake.lookups()) == 1
        assert len(stack.fake.posts()) == (1 if created else 2)
        [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
        report = await report_of(stack.services, run.id)
        assert (report.state, report.attempts, report.remote_id) == (
            ReportState.DELIVERED, 2, str(posted["id"]))


async def test_a_secondary_rate_limit_waits_its_retry_after_and_needs_no_look(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(rate_limited(retry_after=1))
        run = await ended_run(stack, github_notice(), Status.PASS)

        started = time.monotonic()
        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

        assert time.monotonic() - started >= 0.9  # Retry-After: 1, not FAST's 0.2 s backoff
        assert len(stack.fake.posts()) == 2
        assert stack.fake.lookups() == []  # a rate limit proves nothing was created
        assert len(stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)) == 1


async def test_a_rate_limit_beyond_the_patience_is_left_to_the_outbox_loop(
        pg_dsn: str, tmp_path: Path) -> None:
    async with open_stack(pg_dsn, tmp_path) as stack:
        stack.fake.script(rate_limited(secondary=False, retry_after=120, code=429))
        run = await ended_run(stack, github_notice(), Status.PASS)

        assert not await deliver_run_reports(stack.services, run.id, policy=FAST,
                                             patience_s=1.0)

        report = await report_of(stack.services, run.id)
        assert (report.state, report.in_doubt, report.last_status) == (
            ReportState.PENDING, False, 429)
        assert report.last_error == ("GitHub rate limit (HTTP 429: API rate limit exceeded for "
                                     "user ID 41898282.)")
        wait = (report.next_attempt_at - report.created_at).total_seconds()
        assert 100 < wait < 125  # x-ratelimit-reset, about two minutes away
        assert await deliver_due_reports(stack.services, policy=FAST) == 0  # not due yet
