"""What the report-back tests share: the canary token and secrets, the suite (staging passes: its
check reads the fake GitHub's /zen; qa fails: nothing listens on 127.0.0.1:9), the fake GitHub
API and the Slack emulator served on loopback, the bot's services on this test's own database
and Redis prefix, and deploy runs recorded and ended as a worker would."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from redis import asyncio as aioredis

from bot.backoff import Backoff
from bot.deploys import deploy_run_request
from bot.queue import RunQueue
from bot.records import ReportBack, Run
from bot.report_back.deliverer import ReportPolicy
from bot.report_back.reporters import owed_report
from bot.services import Services
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.store import Store
from bot.suites import SuiteSource
from bot.webhooks import generic, github
from bot.webhooks.notice import DeployNotice
from checks.redact import Redactor
from checks.results import CheckResult, RunResult, Severity, Status
from checks.secrets import Secret
from tests.bot.webhook_payloads import (
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    to_body,
)
from tests.support.fake_github import FakeGitHub
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator

__all__ = ["CHANNEL", "DEPLOYMENT_ID", "DEPLOY_SECRET", "FAST", "GITHUB_SECRET", "PUBLIC_URL",
           "REPOSITORY", "SIGNING_SECRET", "TOKEN", "Stack", "ended_run", "generic_notice",
           "github_notice", "open_stack", "report_of", "wait_for"]

# A GitHub token's shape (ghp_ and 36 more), a canary: it must reach the fake GitHub and
# nowhere else (no log line, no row, no CLI output).
TOKEN = "ghp_CANARYrb7Q2xW9kL4mN8pR1sT6vY3zA5cE0g"
GITHUB_SECRET = "gh-report-back-CANARY-5a1c9e3b7d2f"
DEPLOY_SECRET = "deploy-report-back-CANARY-8e2a6c0f4b1d"
SIGNING_SECRET = "report-back-signing-secret-0123456789"
PUBLIC_URL = "https://smokebot.example.com"
REPOSITORY = "acme/shop"
DEPLOYMENT_ID = 1_204_885_102  # webhook_payloads' default deployment
CHANNEL = "C0SMOKE001"
ENVIRONMENT_URL = "https://staging.shop.example.com"

SUITE = """\
suite: shop
environments:
  staging:
    variables: {{base_url: "{fake_url}"}}
    slack: {{channel: {channel}}}
    deploy: {{github: [staging], generic: [staging], coalesce_window: 100ms}}
  qa:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {channel}}}
    deploy: {{github: [qa], generic: [qa], coalesce_window: 100ms}}
categories:
  - name: API
    checks:
      - id: zen
        name: GitHub's zen
        type: http
        timeout: 2s
        url: ${{base_url}}/zen
"""

# Quick retries, so that a test sees several attempts within a second or two.
FAST = ReportPolicy(max_attempts=4, backoff=Backoff.constant(0.2), timeout_s=0.5)


@dataclass
class Stack:
    services: Services
    fake: FakeGitHub
    fake_url: str
    emulator: SlackEmulator
    suite_path: Path


@asynccontextmanager
async def open_stack(pg_dsn: str, directory: Path, **changes: Any) -> AsyncIterator[Stack]:
    """The fake GitHub (with acme/shop's deployment), the Slack emulator and the bot's
    services, with settings changed by `changes` (github_token=None: no token)."""
    fake = FakeGitHub(TOKEN)
    fake.add_deployment(REPOSITORY, DEPLOYMENT_ID)
    emulator = SlackEmulator()
    with fake.serve() as fake_url, emulator.serve() as slack_url:
        suite_path = directory / "smoketest.yaml"
        suite_path.write_text(SUITE.format(fake_url=fake_url, channel=CHANNEL),
                              encoding="utf-8")
        settings = Settings(
            slack_bot_token=Secret(emulator.bot_token),
            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=slack_url,
            database_url=pg_dsn, redis_url=redis_url(), key_prefix=unique_prefix("report"),
            config_path=str(suite_path),
            webhook_secrets={"github": Secret(GITHUB_SECRET), "deploy": Secret(DEPLOY_SECRET)},
            public_url=PUBLIC_URL, github_token=Secret(TOKEN), github_api_url=fake_url)
        settings = dataclasses.replace(settings, **changes)
        store = await Store.open(pg_dsn, "smokebot", wait=True)
        await store.migrate()
        services = Services(settings=settings, store=store,
                            queue=RunQueue.from_url(settings.redis_url,
                                                    prefix=settings.key_prefix),
                            slack=create_slack_client(settings, retries=0),
                            suites=SuiteSource(suite_path),
                            redactor=Redactor(settings.secrets()))
        try:
            yield Stack(services, fake, fake_url, emulator, suite_path)
        finally:
            await services.close()
            redis = aioredis.Redis.from_url(settings.redis_url)
            keys = [key async for key in redis.scan_iter(match=f"*{settings.key_prefix}*")]
            if keys:
                await redis.delete(*keys)
            await redis.aclose()


def github_notice(*, environment: str = "staging", delivery: str = "d-1",
                  **changes: Any) -> DeployNotice:
    """What the GitHub source makes of a signed `deployment_status` delivery."""
    body = to_body(github_deployment_status(environment=environment, **changes))
    notice = github.parse(github_headers(GITHUB_SECRET, body, delivery=delivery), body)
    assert isinstance(notice, DeployNotice)
    return notice


def generic_notice(callback_url: str, *, environment: str = "staging") -> DeployNotice:
    body = to_body(generic_body(environment=environment, callback_url=callback_url))
    return generic.parse(generic_headers(DEPLOY_SECRET, body), body)


async def ended_run(stack: Stack, notice: DeployNotice, *checks: Status,
                    end: Callable[[Store, Run], Awaitable[Run | None]] | None = None) -> Run:
    """The notice's run, recorded as the webhook records it and ended as its worker would:
    finished with one result per status in `checks`, or by `end(store, run)`."""
    services = stack.services
    suite = services.suites.current()
    environment = notice.environment
    request = deploy_run_request(suite, environment, notice,
                                 report_to=owed_report(services.settings, notice))
    run = (await services.store.start_superseding(request)).run
    if end is not None:
        ended = await end(services.store, run)
        assert ended is not None
        return ended
    await services.store.mark_running(run.id, "test-worker")
    now = datetime.now(timezone.utc)
    results = tuple(CheckResult(
        check_id=f"check-{n}", name=f"Check {n}", category="API", kind="http",
        severity=Severity.CRITICAL, status=status, summary=status.value)
        for n, status in enumerate(checks))
    ended = await services.store.finish_run(run.id, RunResult(
        suite="shop", environment=environment, started_at=now, finished_at=now,
        results=results, categories=("API",)))
    assert ended is not None
    return ended


async def report_of(services: Services, run_id: Any) -> ReportBack:
    [report] = await services.store.report_backs(run_id)
    return report


async def wait_for(condition: Callable[[], Awaitable[bool] | bool], *,
                   timeout_s: float = 10.0, what: str = "the condition") -> None:
    """Polls `condition` until it holds; a ceiling, never a measurement."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        outcome = condition()
        if not isinstance(outcome, bool):
            outcome = await outcome
        if outcome:
            return
        if loop.time() > deadline:
            pytest.fail(f"timed out after {timeout_s:g} s waiting for {what}")
        await asyncio.sleep(0.05)
