"""Report back, end to end: a signed deploy webhook -> the web app -> a real worker process -> the
verdict told to the deploy's source: GitHub (a fake GitHub API on loopback) as one deployment
status linking the run page, or the generic webhook's callback URL (a test receiver on loopback
that verifies the signature); the deployment status GitHub echoes back is not a new deploy; the
token never leaves for anywhere but GitHub; and `smokebot deliveries` shows how each went."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.cli import cli
from bot.records import ReportState, RunStatus
from bot.report_back.deliverer import deliver_run_reports
from bot.web import create_web_app
from bot.webhooks import github
from bot.webhooks.notice import Ignored, MalformedPayload
from bot.webhooks.verify import verify_generic
from bot.worker_main import run_worker_process
from checks.results import Status
from checks.secrets import Secret
from tests.bot.webhook_payloads import (
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    to_body,
)
from tests.bot.webhooks.report_back_support import (
    DEPLOY_SECRET,
    DEPLOYMENT_ID,
    FAST,
    GITHUB_SECRET,
    PUBLIC_URL,
    REPOSITORY,
    TOKEN,
    Stack,
    ended_run,
    generic_notice,
    github_notice,
    open_stack,
    report_of,
    wait_for,
)
from tests.support.asgi import serve_asgi
from tests.support.fake_github import rate_limited, status


@pytest.fixture
async def stack(pg_dsn: str, tmp_path: Path) -> AsyncIterator[Stack]:
    async with open_stack(pg_dsn, tmp_path) as opened:
        yield opened


async def _post(url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.post(url, content=body, headers=headers)


def _runs(dsn: str) -> list[tuple[str, str]]:
    with psycopg.connect(dsn) as conn:
        return [(str(r[0]), r[1]) for r in conn.execute(
            "SELECT id, status FROM smokebot.runs ORDER BY created_at").fetchall()]


# --- GitHub ------------------------------------------------------------------------------------

async def test_a_deployment_webhook_gets_its_verdict_once_as_a_deployment_status(
        stack: Stack, pg_dsn: str) -> None:
    settings = stack.services.settings
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker_process(settings, concurrency=1, stop=stop,
                                                    handle_signals=False))
    try:
        with serve_asgi(create_web_app(settings), lifespan="on", log_config=None) as web:
            body = to_body(github_deployment_status())
            answer = await _post(f"{web}/webhooks/github", body,
                                 github_headers(GITHUB_SECRET, body, delivery="gh-1"))
            assert answer.status_code == 202, answer.text
            run_id = answer.json()["run_id"]

            await wait_for(lambda: len(stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)) == 1,
                           what="the deployment status")
            [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
            assert posted["state"] == "success"  # the check read the fake's /zen
            assert posted["description"] == (f"smokebot: staging passed: 1 of 1 checks "
                                              f"(run {run_id[:8]})")
            assert posted["log_url"].startswith(f"{PUBLIC_URL}/runs/{run_id}?exp=")

            # GitHub tells every webhook of the new status: it is smokebot's own verdict, not a
            # deploy, so it starts nothing (a success would otherwise start the next run).
            echo = github_deployment_status()
            echo["deployment_status"].update(
                id=posted["id"], description=posted["description"],
                log_url=posted["log_url"], target_url=posted["target_url"], creator=None)
            echoed = to_body(echo)
            answer = await _post(f"{web}/webhooks/github", echoed,
                                 github_headers(GITHUB_SECRET, echoed, delivery="gh-2"))
            assert answer.status_code == 202, answer.text
            assert answer.json()["outcome"] == "ignored"
            assert "as smokebot's own verdict" in answer.json()["message"]

            await asyncio.sleep(2.5)  # an outbox loop's pass (2 s) finds nothing left to send
            assert len(stack.fake.posts()) == 1
            assert _runs(pg_dsn) == [(run_id, "passed")]
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
    report = await report_of(stack.services, run_id)
    assert (report.state, report.attempts) == (ReportState.DELIVERED, 1)


async def test_a_failed_deploy_run_reports_failure(stack: Stack) -> None:
    from bot.execution import execute_run  # the worker's own job, in this process

    run = await ended_run(stack, github_notice(environment="qa"),
                          end=lambda store, run: asyncio.sleep(0, run))
    stack.fake.add_deployment(REPOSITORY, DEPLOYMENT_ID, environment="qa")

    ended = await execute_run(str(run.id), stack.services, worker_id="test-worker")
    assert ended is not None and ended.status is RunStatus.FAILED  # nothing on 127.0.0.1:9
    assert await deliver_run_reports(stack.services, run.id, policy=FAST)

    [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)
    assert (posted["state"], posted["description"]) == (
        "failure", f"smokebot: qa failed: 1 of 1 checks failed (run {str(run.id)[:8]})")


def test_only_the_deploys_own_status_starts_a_run() -> None:
    def parsed(description: str | None) -> Any:
        payload = github_deployment_status()
        payload["deployment_status"]["description"] = description
        body = to_body(payload)
        return github.parse(github_headers(GITHUB_SECRET, body), body)

    ours = parsed("smokebot: staging passed: 1 of 1 checks (run 1a2b3c4d)")
    assert isinstance(ours, Ignored)
    assert ours.reason == ("GitHub deployment 1204885102 of acme/shop to staging reports "
                           "'success' as smokebot's own verdict (reported back); only the "
                           "deploy's own status starts a run")
    for theirs in ("Deployed by the pipeline", None, "Smokebot deployed it"):
        notice = parsed(theirs)
        assert not isinstance(notice, Ignored)
        assert notice.report_to is not None
        assert (notice.report_to.repository, notice.report_to.deployment_id) == (
            REPOSITORY, str(DEPLOYMENT_ID))


def test_a_repository_github_could_not_have_owes_no_report() -> None:
    payload = github_deployment_status()
    payload["repository"] = {**payload["repository"], "full_name": "acme/shop/../../users"}
    body = to_body(payload)
    notice = github.parse(github_headers(GITHUB_SECRET, body), body)
    assert not isinstance(notice, Ignored) and notice.report_to is None


# --- the generic webhook's callback ------------------------------------------------------------

class Receiver:
    """A CI system's endpoint for smokebot's verdicts: verifies each delivery's signature with
    the shared secret, as its documentation tells it to, and answers `answers` in turn."""

    def __init__(self, *answers: int) -> None:
        self.answers = list(answers)
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.app = Starlette(routes=[Route("/hooks/smokebot", self._hook, methods=["POST"])])

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verify_generic(Secret(DEPLOY_SECRET), body, headers.get("x-smokebot-signature"),
                       headers.get("x-smokebot-timestamp"))  # raises: the test server 500s
        self.received.append((headers, body))
        code = self.answers.pop(0) if self.answers else 200
        return JSONResponse({"ok": code < 300}, status_code=code)


async def test_a_callback_gets_the_verdict_signed_and_retried_with_one_delivery_id(
        stack: Stack, pg_dsn: str) -> None:
    receiver = Receiver(503)
    with serve_asgi(receiver.app) as hooks, serve_asgi(
            create_web_app(stack.services.settings), lifespan="on", log_config=None) as web:
        body = to_body(generic_body(environment="qa",
                                    callback_url=f"{hooks}/hooks/smokebot?key=abc"))
        answer = await _post(f"{web}/webhooks/deploy", body,
                             generic_headers(DEPLOY_SECRET, body))
        assert answer.status_code == 202, answer.text
        run_id = answer.json()["run_id"]
        await stack.services.store.mark_error(run_id, "the suite could not be planned: x")

        assert await deliver_run_reports(stack.services, run_id, policy=FAST)

    assert len(receiver.received) == 2  # a 503, then taken
    (first, first_body), (second, second_body) = receiver.received
    assert first["x-smokebot-delivery"] == second["x-smokebot-delivery"] == run_id
    assert first_body == second_body
    verdict = json.loads(second_body)
    assert {k: verdict[k] for k in ("type", "run_id", "environment", "status", "passed",
                                    "description", "reason")} == {
        "type": "smokebot.verdict", "run_id": run_id, "environment": "qa", "status": "error",
        "passed": False, "description": "qa: could not be tested: the suite could not be "
                                        "planned: x",
        "reason": "the suite could not be planned: x"}
    assert verdict["deploy"] == {"source": "deploy", "version": "1.4.2",
                                 "commit": "0c8e4a1b2f3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f",
                                 "ref": "main", "deployer": "ci@example.com",
                                 "url": "https://shop.example.com",
                                 "link": "https://ci.example.com/pipelines/812"}
    assert verdict["run_url"].startswith(f"{PUBLIC_URL}/runs/{run_id}?exp=")
    assert set(verdict["counts"]) == {"passed", "failed", "errors", "skipped", "warnings",
                                      "flaky", "slow", "total"}
    report = await report_of(stack.services, run_id)
    assert (report.state, report.reported, report.attempts, report.last_status) == (
        ReportState.DELIVERED, "error", 2, 200)


@pytest.mark.parametrize(("code", "reason"), [
    (401, "the callback refused the verdict (HTTP 401)"),
    (307, "the callback answered HTTP 307 (a redirect, not followed); expected callback_url to "
          "be the receiver itself"),
])
async def test_a_callback_that_refuses_is_failed_for_good(
        stack: Stack, code: int, reason: str) -> None:
    receiver = Receiver(code)
    with serve_asgi(receiver.app) as hooks:
        run = await ended_run(stack, generic_notice(f"{hooks}/hooks/smokebot"), Status.PASS)

        assert await deliver_run_reports(stack.services, run.id, policy=FAST)

    report = await report_of(stack.services, run.id)
    assert (report.state, report.attempts, report.last_error, report.last_status) == (
        ReportState.FAILED, 1, reason, code)
    assert len(receiver.received) == 1


@pytest.mark.parametrize(("url", "problem"), [
    ("http://ci.example.com/hooks", "must be https:// for a host other than a loopback address "
                                    "(127.0.0.1, ::1, localhost); the verdict is not sent in "
                                    "clear over a network"),
    ("https://ci:hunter2@ci.example.com/hooks", "must not carry a user name or password; the "
                                                "receiver verifies the X-Smokebot-Signature "
                                                "instead"),
    ("ftp://ci.example.com/hooks", "must be an https:// URL with a host (http:// only to a "
                                   "loopback address such as 127.0.0.1)"),
])
async def test_a_callback_url_that_cannot_be_used_is_refused_with_the_reason(
        stack: Stack, pg_dsn: str, url: str, problem: str) -> None:
    with pytest.raises(MalformedPayload) as refused:
        generic_notice(url)
    assert refused.value.reason == f"field 'callback_url' {problem}"
    with serve_asgi(create_web_app(stack.services.settings), lifespan="on",
                    log_config=None) as web:
        body = to_body(generic_body(environment="qa", callback_url=url))
        answer = await _post(f"{web}/webhooks/deploy", body,
                             generic_headers(DEPLOY_SECRET, body))
    assert (answer.status_code, answer.json()["message"]) == (
        400, f"rejected: field 'callback_url' {problem}")
    assert "hunter2" not in answer.text
    assert _runs(pg_dsn) == []


# --- what `smokebot deliveries` shows, and where the token goes ---------------------------------

async def test_deliveries_show_each_report_and_the_token_is_nowhere_but_github(
        stack: Stack, pg_dsn: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    stack.fake.script(status(500), rate_limited(retry_after=0))
    delivered = await ended_run(stack, github_notice(delivery="d-1"), Status.PASS)
    assert await deliver_run_reports(stack.services, delivered.id, policy=FAST)
    stack.fake.script(status(422, "Validation Failed"))
    failed = await ended_run(stack, github_notice(delivery="d-2"), Status.FAIL)
    assert await deliver_run_reports(stack.services, failed.id, policy=FAST)
    waiting = await ended_run(stack, github_notice(delivery="d-3"),
                              end=lambda store, run: asyncio.sleep(0, run))
    [posted] = stack.fake.statuses(REPOSITORY, DEPLOYMENT_ID)

    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    monkeypatch.setenv("SMOKEBOT_GITHUB_TOKEN", TOKEN)  # as a deployment would have it
    shown = await asyncio.to_thread(CliRunner().invoke, cli, ["deliveries"])

    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "no deliveries yet"  # these runs were recorded without a webhook
    assert lines[1:3] == ["", "Reported back:"]
    short = {run.id: str(run.id)[:8] for run in (delivered, failed, waiting)}
    reports = [line.split(" ", 2)[2] for line in lines[3:]]  # after the date and time
    assert reports == [
        f"github  run {short[waiting.id]} pending   acme/shop deployment 1204885102  "
        f"not sent yet: sent once the run has ended",
        f"github  run {short[failed.id]} failed    acme/shop deployment 1204885102  GitHub "
        f"refused the deployment status (HTTP 422: Validation Failed) (1 attempt)",
        f"github  run {short[delivered.id]} delivered acme/shop deployment 1204885102  "
        f"success (status {posted['id']}), 3 attempts",
    ]

    # The canary: GitHub saw the token; no log line, row or output holds it.
    assert sum(TOKEN in r.headers.get("authorization", "") for r in stack.fake.received) == 5
    assert TOKEN not in shown.output
    assert sum(TOKEN in record.getMessage() for record in caplog.records) == 0
    assert TOKEN not in caplog.text
    with psycopg.connect(pg_dsn) as conn:
        tables = [row[0] for row in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'smokebot'")]
        rows = sum(conn.execute(
            f"SELECT count(*) FROM smokebot.{table} t WHERE t::text LIKE %s",  # noqa: S608
            (f"%{TOKEN}%",)).fetchone()[0] for table in tables)
    assert "report_backs" in tables and rows == 0
