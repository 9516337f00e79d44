"""Deploy webhooks: signatures, payloads, the HTTP endpoints served by the real web app (over
real HTTP, with its services started in the server's own lifespan against this machine's
PostgreSQL and Redis), coalescing of deploys, and the rollout wait.

Canary webhook secrets are planted in the server's settings; none may appear in a response or
anywhere in the store."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest
from redis import asyncio as aioredis

import bot.deploys
import bot.webhooks.generic
from bot.deploys import (
    ROLLOUT_CHECK_ID,
    find_environment,
    trigger_deploy_run,
    with_rollout_wait,
)
from bot.queue import RunQueue
from bot.reaper import requeue_lost
from bot.records import ReportTarget
from bot.runs import request_run
from bot.services import Services
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.store import (
    DeployFacts,
    Run,
    RunRequest,
    RunStatus,
    Store,
    TriggerKind,
    WebhookOutcome,
)
from bot.suites import SuiteSource, load_suite
from bot.web import create_web_app
from bot.webhooks.argocd import parse_notification
from bot.webhooks.generic import parse_deploy
from bot.webhooks.github import parse_deployment_status
from bot.webhooks.notice import DeployNotice, MalformedPayload, Unauthenticated
from bot.webhooks.verify import (
    generic_signature,
    github_signature,
    verify_generic,
    verify_github,
    verify_shared_secret,
)
from checks.errors import ConfigError
from checks.plan import build_plan
from checks.results import Status
from checks.runner import run_plan
from checks.secrets import Secret
from tests.bot.webhook_payloads import (
    argocd_headers,
    argocd_notification,
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    github_ping,
    to_body,
)
from tests.support.asgi import free_port, serve_asgi
from tests.support.fake_k8s import DEPLOYMENT, NAMESPACE, make_deployment, serving, staging_cluster
from tests.support.services import redis_url, unique_prefix

GITHUB_SECRET = "gh-webhook-CANARY-5c1f0e9a7b3d4c2e"
ARGOCD_SECRET = "argocd-token-CANARY-8e2d4f6a1b3c5d7e"
DEPLOY_SECRET = "deploy-hmac-CANARY-3a9c7e5b1d2f4a6c"
CANARIES = (GITHUB_SECRET, ARGOCD_SECRET, DEPLOY_SECRET)
SHA = "9f2c1e7ab4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9"
DELIVERY = "72d3162e-cc78-11e3-81ab-4c9367dc0958"
MIB = 1024 * 1024

SUITE = """
suite: shop
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
    slack: {channel: C0STAGING, mention_on_failure: S0ONCALL}
    deploy:
      github: [staging]
      argocd: [shop-staging]
      coalesce_window: 200ms
  production:
    variables: {base_url: "http://127.0.0.1:9"}
    slack: {channel: C0PROD}
    deploy:
      github: [production]
      generic: [prod]
      coalesce_window: 2s
  qa:
    variables: {base_url: "http://127.0.0.1:9"}
categories:
  - name: API
    checks:
      - id: health
        type: http
        url: ${base_url}/healthz
      - id: version
        type: http
        url: ${base_url}/version
        depends_on: [health]
"""


# --- fixtures -------------------------------------------------------------------------------------

@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


@pytest.fixture
def settings(pg_dsn: str, suite_path: Path) -> Settings:
    return Settings(
        slack_bot_token=Secret("xoxb-webhook-tests-0000000000"),
        slack_signing_secret=Secret("signing-secret-webhook-tests-000"),
        slack_api_url="http://127.0.0.1:9/api/", redis_url=redis_url(), database_url=pg_dsn,
        config_path=str(suite_path), key_prefix=unique_prefix("webhooks"),
        webhook_secrets={"github": Secret(GITHUB_SECRET), "argocd": Secret(ARGOCD_SECRET),
                         "deploy": Secret(DEPLOY_SECRET)})


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[Store]:
    async with Store.open(pg_dsn) as opened:
        await opened.migrate()
        yield opened


@pytest.fixture
async def queue(settings: Settings) -> AsyncIterator[RunQueue]:
    run_queue = RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix)
    yield run_queue
    await run_queue.close()
    redis = aioredis.Redis.from_url(settings.redis_url)
    keys = [key async for key in redis.scan_iter(match=f"*{settings.key_prefix}*")]
    if keys:
        await redis.delete(*keys)
    await redis.aclose()


@pytest.fixture
def server(settings: Settings, store: Store, queue: RunQueue) -> Iterator[str]:
    """The real web app; its lifespan opens the services inside the server's event loop."""
    with serve_asgi(create_web_app(settings), lifespan="on") as base_url:
        yield base_url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=30) as http:
        yield http


@pytest.fixture
def services(settings: Settings, store: Store, queue: RunQueue) -> Services:
    """The same services, in the test's own event loop, for driving bot.deploys directly."""
    return Services(settings=settings, store=store, queue=queue,
                    slack=create_slack_client(settings), suites=SuiteSource(settings.config_path))


# --- helpers --------------------------------------------------------------------------------------

async def eventually(probe: Callable[[], Awaitable[Any]], *, timeout_s: float = 15.0) -> Any:
    """Polls `probe` until it returns something truthy (a background enqueue has happened)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not reached within {timeout_s} s")
        await asyncio.sleep(0.05)


async def post_github(client: httpx.AsyncClient, payload: Any, *, event: str = "deployment_status",
                      delivery: str = DELIVERY, secret: str = GITHUB_SECRET,
                      **header_changes: str | None) -> httpx.Response:
    body = to_body(payload)
    headers = github_headers(secret, body, event=event, delivery=delivery)
    for name, value in header_changes.items():
        headers.pop(name.replace("_", "-"), None)
        if value is not None:
            headers[name.replace("_", "-")] = value
    return await client.post("/webhooks/github", content=body, headers=headers)


async def post_generic(client: httpx.AsyncClient, payload: Any, **options: Any) -> httpx.Response:
    body = payload if isinstance(payload, bytes) else to_body(payload)
    return await client.post("/webhooks/deploy", content=body,
                             headers=generic_headers(DEPLOY_SECRET, body, **options))


async def all_runs(store: Store) -> list[Run]:
    return await store.recent_runs(limit=500)


async def table_text(dsn: str, table: str) -> str:
    async with await psycopg.AsyncConnection.connect(dsn) as conn:
        query = f"SELECT t::text FROM smokebot.{table} t"
        cursor = await conn.execute(query)  # type: ignore[arg-type]
        return "\n".join(row[0] for row in await cursor.fetchall())


async def queued_exactly(queue: RunQueue, run_ids: list[UUID]) -> bool:
    return await queue.queued_run_ids() == [str(run_id) for run_id in run_ids]


async def queued_at_least(queue: RunQueue, count: int) -> bool:
    return len(await queue.queued_run_ids()) >= count


def github_notice(delivery: str = DELIVERY, **changes: Any) -> DeployNotice:
    return parse_deployment_status(delivery, github_deployment_status(**changes))


# --- signatures -----------------------------------------------------------------------------------

def test_github_signature_matches_githubs_documented_example() -> None:
    signature = github_signature("It's a Secret to Everybody", b"Hello, World!")

    assert signature == "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    verify_github(Secret("It's a Secret to Everybody"), b"Hello, World!", signature)


@pytest.mark.parametrize(("presented", "reason"), [
    (None, ("missing X-Hub-Signature-256 header; expected 'sha256=' and the HMAC-SHA256 of the "
           "request, in hex")),
    ("", ("missing X-Hub-Signature-256 header; expected 'sha256=' and the HMAC-SHA256 of the "
         "request, in hex")),
    ("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
     "X-Hub-Signature-256 must start with 'sha256='"),
    ("sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e18",
     ("X-Hub-Signature-256 does not match the request; check that the sender uses the same "
     "secret and signs the raw body")),
    ("sha256=é", ("X-Hub-Signature-256 does not match the request; check that the sender uses "
                 "the same secret and signs the raw body")),
])
def test_a_github_signature_that_does_not_match_is_refused(presented: str | None,
                                                            reason: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify_github(Secret("It's a Secret to Everybody"), b"Hello, World!", presented)

    assert refused.value.reason == reason
    assert refused.value.status == 401


def test_a_github_signature_of_another_body_is_refused() -> None:
    signature = github_signature("It's a Secret to Everybody", b"Hello, World!")

    with pytest.raises(Unauthenticated):
        verify_github(Secret("It's a Secret to Everybody"), b"Hello, World?", signature)


def test_the_generic_signature_covers_timestamp_and_body() -> None:
    secret, body = Secret("s3cret-for-the-generic-hook"), b'{"environment":"prod"}'
    signature = generic_signature(secret, 1_700_000_000, body)

    verify_generic(secret, body, signature, "1700000000", now=1_700_000_000 + 299)
    for other_body, other_ts in ((b'{"environment":"qa"}', "1700000000"),
                                 (body, "1700000001")):
        with pytest.raises(Unauthenticated, match="X-Smokebot-Signature does not match"):
            verify_generic(secret, other_body, signature, other_ts, now=1_700_000_000)


@pytest.mark.parametrize("skew", [301, -301, 86_400])
def test_a_generic_request_outside_the_replay_window_is_stale(skew: int) -> None:
    secret, body = Secret("s3cret-for-the-generic-hook"), b"{}"
    signature = generic_signature(secret, 1_700_000_000, body)

    with pytest.raises(Unauthenticated) as refused:
        verify_generic(secret, body, signature, "1700000000", now=1_700_000_000 + skew)

    assert refused.value.reason == (
        f"stale request: X-Smokebot-Timestamp is {abs(skew)} s away from the server's clock; "
        f"expected within 300 s (sign each request when sending it)")


@pytest.mark.parametrize(("timestamp", "reason"), [
    (None, ("missing X-Smokebot-Timestamp header; expected the unix time in seconds at which "
           "the request was signed")),
    ("2030-01-01T00:00:00Z", "X-Smokebot-Timestamp must be unix seconds, such as 1700000000"),
    ("-5", "X-Smokebot-Timestamp must be unix seconds, such as 1700000000"),
])
def test_a_generic_request_needs_a_unix_timestamp(timestamp: str | None, reason: str) -> None:
    with pytest.raises(Unauthenticated) as refused:
        verify_generic(Secret("s3cret-for-the-generic-hook"), b"{}", "sha256=00", timestamp)

    assert refused.value.reason == reason


def test_the_argocd_shared_secret_must_match_exactly() -> None:
    secret = Secret(ARGOCD_SECRET)
    verify_shared_secret(secret, ARGOCD_SECRET, "X-Smokebot-Token")
    for presented, reason in ((None, ("missing X-Smokebot-Token header; expected the shared "
                                     "webhook secret")),
                              (ARGOCD_SECRET[:-1], ("X-Smokebot-Token does not match the shared "
                                                   "webhook secret")),
                              (ARGOCD_SECRET + "x", ("X-Smokebot-Token does not match the shared "
                                                    "webhook secret"))):
        with pytest.raises(Unauthenticated) as refused:
            verify_shared_secret(secret, presented, "X-Smokebot-Token")
        assert refused.value.reason == reason


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_the_documented_shell_signing_line_makes_a_signature_we_accept() -> None:
    doc = bot.webhooks.generic.__doc__ or ""
    [sign_line] = [line.strip() for line in doc.splitlines() if line.strip().startswith("sig=")]
    body = '{"environment":"prod","version":"1.4.2"}'
    script = f"ts=1700000000; body='{body}'\n{sign_line}\nprintf '%s' \"$sig\""

    made = subprocess.run(["bash", "-c", script],
                          env={"SECRET": DEPLOY_SECRET, "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, check=True).stdout

    assert "sha256=" + made == generic_signature(DEPLOY_SECRET, 1_700_000_000, body.encode())


# --- payloads -------------------------------------------------------------------------------------

def test_a_github_deployment_status_gives_the_deploy_facts() -> None:
    notice = github_notice(version="2.8.1")

    assert notice == DeployNotice(
        source="github", delivery_id=DELIVERY, environment="staging",
        state="success", succeeded=True,
        description="GitHub deployment 1204885102 of acme/shop to staging",
        version="2.8.1", commit=SHA, ref="main", deployer="octocat",
        url="https://staging.shop.example.com",
        link="https://github.com/acme/shop/actions/runs/7781774",
        report_to=ReportTarget(kind="github-deployment", source="github",
                               repository="acme/shop", deployment_id="1204885102"))
    assert notice.idempotency_key == f"webhook:github:{DELIVERY}"
    assert notice.facts() == DeployFacts(
        source="github", version="2.8.1", commit=SHA, ref="main", deployer="octocat",
        url="https://staging.shop.example.com",
        link="https://github.com/acme/shop/actions/runs/7781774")


def test_a_github_deployment_without_a_version_uses_its_ref_and_the_deployments_page() -> None:
    payload = github_deployment_status(ref="v2.8.1")
    payload["deployment_status"].update(log_url="", target_url="")

    notice = parse_deployment_status(DELIVERY, payload)

    assert (notice.version, notice.ref) == ("v2.8.1", "v2.8.1")
    assert notice.link == "https://github.com/acme/shop/deployments/staging"


@pytest.mark.parametrize(("change", "reason"), [
    (lambda p: p["deployment"].pop("sha"), "missing field 'deployment.sha'"),
    (lambda p: p.pop("deployment_status"), "missing field 'deployment_status.state'"),
    (lambda p: p["deployment"].update(sha=["9f2c"]),
     "field 'deployment.sha' must be a string, got an array"),
    (lambda p: p.update(deployment="1204885102"),
     "expected 'deployment' to be an object, got a string"),
])
def test_a_github_payload_missing_a_field_names_it(change: Callable[[dict[str, Any]], Any],
                                                   reason: str) -> None:
    payload = github_deployment_status()
    change(payload)

    with pytest.raises(MalformedPayload) as refused:
        parse_deployment_status(DELIVERY, payload)

    assert refused.value.reason == reason


def test_an_argocd_notification_gives_the_deploy_facts() -> None:
    notice = parse_notification(argocd_notification())

    assert notice == DeployNotice(
        source="argocd",
        delivery_id="shop-staging:4b6e2f1c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f:2030-01-02T08:05:31Z",
        environment="shop-staging", state="Synced/Healthy (operation Succeeded)",
        succeeded=True, description="Argo CD sync of shop-staging", version="v2.8.1",
        commit="4b6e2f1c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f", ref="v2.8.1", deployer=None,
        url=None, link="https://argocd.example.com/applications/shop-staging")


@pytest.mark.parametrize(("sync", "health", "phase"), [
    ("Synced", "Degraded", "Succeeded"), ("OutOfSync", "Healthy", "Succeeded"),
    ("Synced", "Healthy", "Failed"), ("Synced", "Progressing", "Running"),
])
def test_an_argocd_sync_that_is_not_synced_and_healthy_is_not_a_success(
        sync: str, health: str, phase: str) -> None:
    notice = parse_notification(argocd_notification(sync=sync, health=health, phase=phase))

    assert not notice.succeeded
    assert notice.state == f"{sync}/{health} (operation {phase})"


def test_the_generic_body_gives_the_deploy_facts_and_its_key() -> None:
    payload = generic_body(idempotency_key="pipeline-812")

    notice = parse_deploy(payload, to_body(payload))

    assert notice == DeployNotice(
        source="deploy", delivery_id="pipeline-812", environment="prod",
        state="success", succeeded=True, description="deploy webhook for prod", version="1.4.2",
        commit="0c8e4a1b2f3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f", ref="main",
        deployer="ci@example.com", url="https://shop.example.com",
        link="https://ci.example.com/pipelines/812")


def test_a_generic_body_without_a_key_is_keyed_by_its_content() -> None:
    first, same = parse_deploy(generic_body(), to_body(generic_body())), \
        parse_deploy(generic_body(), to_body(generic_body()))
    other = parse_deploy(generic_body(version="1.4.3"), to_body(generic_body(version="1.4.3")))

    assert first.delivery_id == same.delivery_id
    assert first.delivery_id.startswith("body-sha256:")
    assert other.delivery_id != first.delivery_id


@pytest.mark.parametrize(("payload", "reason"), [
    ({"version": "1.4.2"}, "missing field 'environment'"),
    ({"environment": "prod"}, "missing field 'version' or 'commit'; expected at least one"),
    ({"environment": "prod", "version": 142}, None),
    ({"environment": "prod", "version": True},
     "field 'version' must be a string, got a boolean"),
    ({"environment": "prod", "version": "1", "enviroment": "x"},
     ("unknown field 'enviroment'; expected any of: environment, version, commit, ref, "
     "deployer, url, link, status, idempotency_key, callback_url")),
    (["prod"], 'expected a JSON object such as {"environment": "staging", "version": "1.4.2"}'),
])
def test_a_generic_body_with_a_wrong_field_names_it(payload: Any, reason: str | None) -> None:
    if reason is None:
        assert parse_deploy(payload, b"").version == "142"
        return
    with pytest.raises(MalformedPayload) as refused:
        parse_deploy(payload, b"")

    assert refused.value.reason == reason


@pytest.mark.parametrize(("deploy", "message"), [
    ("{githb: [staging]}", "4:14: environments.staging.deploy.githb: unknown field 'githb' "
                           "(did you mean 'github'?); expected one of: github, argocd, generic, "
                           "wait_for_rollout, coalesce_window"),
    ("{coalesce_window: soon}", "4:31: environments.staging.deploy.coalesce_window: expected a "
                                "duration such as 10, '500ms', '10s' or '2m', got 'soon'"),
    ("{wait_for_rollout: {timeout: 1m}}",
     "4:32: environments.staging.deploy.wait_for_rollout.deployment: missing required field "
     "'deployment'"),
])
def test_a_wrong_deploy_mapping_is_reported_where_it_is(tmp_path: Path, deploy: str,
                                                        message: str) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("environments:\n"
                    "  staging:\n"
                    "    slack: {channel: C0STAGING}\n"
                    f"    deploy: {deploy}\n"
                    "categories: []\n", encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_suite(path)

    assert refused.value.render() == f"{path}:{message}"


def test_a_deploy_mapping_defaults_generic_to_the_environments_own_name(
        suite_path: Path) -> None:
    suite = load_suite(suite_path)

    assert find_environment(suite, "deploy", "staging") == "staging"
    assert find_environment(suite, "deploy", "production") is None  # generic: [prod]
    assert find_environment(suite, "deploy", "prod") == "production"
    assert find_environment(suite, "deploy", "qa") is None  # no deploy: block
    assert find_environment(suite, "argocd", "shop-staging") == "staging"


# --- the endpoints: accepted ----------------------------------------------------------------------

async def test_a_successful_github_deployment_queues_a_run_for_the_mapped_environment(
        client: httpx.AsyncClient, store: Store, queue: RunQueue, pg_dsn: str) -> None:
    response = await post_github(client, github_deployment_status(version="2.8.1"))

    assert response.status_code == 202
    answer = response.json()
    [run] = await all_runs(store)
    assert answer == {
        "outcome": "accepted",
        "message": "accepted: GitHub deployment 1204885102 of acme/shop to staging starts a "
                   "smoke test run of staging",
        "delivery_id": DELIVERY, "environment": "staging", "run_id": str(run.id),
        "redelivery": False}
    assert (run.environment, run.status, run.trigger_kind, run.channel, run.suite) == (
        "staging", RunStatus.QUEUED, TriggerKind.WEBHOOK, "C0STAGING", "shop")
    assert run.trigger_detail == "GitHub deployment 1204885102 of acme/shop to staging"
    assert run.requested_by == "octocat"
    assert run.idempotency_key == f"webhook:github:{DELIVERY}"
    assert run.deploy == DeployFacts(
        source="github", version="2.8.1", commit=SHA, ref="main", deployer="octocat",
        url="https://staging.shop.example.com",
        link="https://github.com/acme/shop/actions/runs/7781774")
    assert await eventually(queue.queued_run_ids) == [str(run.id)]
    assert [r.id for r in await store.active_runs("staging")] == [run.id]

    [delivery] = await store.recent_webhook_deliveries()
    assert (delivery.source, delivery.delivery_id, delivery.outcome, delivery.environment,
            delivery.run_id) == ("github", DELIVERY, WebhookOutcome.ACCEPTED,
                                 "staging", run.id)
    assert delivery.summary == {
        "source_environment": "staging", "state": "success",
        "description": "GitHub deployment 1204885102 of acme/shop to staging",
        "version": "2.8.1", "commit": SHA, "ref": "main", "deployer": "octocat",
        "url": "https://staging.shop.example.com",
        "link": "https://github.com/acme/shop/actions/runs/7781774"}
    assert set(delivery.headers) == {
        "user-agent", "content-type", "content-length", "x-github-event", "x-github-delivery",
        "x-github-hook-id", "x-github-hook-installation-target-type",
        "x-github-hook-installation-target-id", "remote-addr"}


async def test_deploy_facts_reach_the_checks_as_variables(services: Services,
                                                          store: Store) -> None:
    run = await trigger_deploy_run(services, github_notice(version="2.8.1"), "staging")
    stored = await store.get_run(run.id)
    assert stored is not None and stored.deploy is not None

    plan = build_plan(load_suite(services.settings.config_path), "staging",
                      deploy=stored.deploy.as_variables())

    assert plan.variables["deploy"]["commit"] == SHA
    assert plan.variables["deploy"]["version"] == "2.8.1"


async def test_an_argocd_sync_with_the_shared_secret_queues_a_run(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    body = to_body(argocd_notification())

    response = await client.post("/webhooks/argocd", content=body,
                                 headers=argocd_headers(ARGOCD_SECRET))

    assert response.status_code == 202, response.text
    [run] = await all_runs(store)
    assert response.json()["run_id"] == str(run.id)
    assert run.deploy == DeployFacts(
        source="argocd", version="v2.8.1", commit="4b6e2f1c0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f",
        ref="v2.8.1", link="https://argocd.example.com/applications/shop-staging")
    assert await eventually(queue.queued_run_ids) == [str(run.id)]


async def test_a_signed_generic_deploy_queues_a_run_and_a_retry_is_the_same_delivery(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    payload = generic_body()

    first = await post_generic(client, payload)
    retry = await post_generic(client, payload)  # a CI retry: same body, signed again

    assert first.status_code == 202, first.text
    assert retry.status_code == 202  # the first answer again, status included
    assert retry.json() == {**first.json(), "redelivery": True}
    [run] = await all_runs(store)
    assert (run.environment, run.channel, run.deploy and run.deploy.version) == (
        "production", "C0PROD", "1.4.2")
    assert await eventually(queue.queued_run_ids, timeout_s=20) == [str(run.id)]


async def test_a_body_of_exactly_one_mebibyte_is_read(client: httpx.AsyncClient,
                                                      store: Store) -> None:
    compact = to_body(generic_body(environment="qa"))
    body = compact[:-1] + b" " * (MIB - len(compact)) + b"}"
    assert len(body) == MIB

    response = await post_generic(client, body)

    assert response.status_code == 202, response.text
    assert response.json()["outcome"] == "ignored"  # read, parsed, and qa is not mapped


# --- the endpoints: ignored -----------------------------------------------------------------------

async def test_a_github_ping_is_answered_and_starts_nothing(client: httpx.AsyncClient,
                                                            store: Store) -> None:
    response = await post_github(client, github_ping(), event="ping")

    assert response.status_code == 200
    assert response.json() == {
        "outcome": "ignored", "message": "ignored: ping: the GitHub webhook reaches smokebot",
        "delivery_id": DELIVERY, "environment": None, "run_id": None, "redelivery": False}
    assert await all_runs(store) == []
    [delivery] = await store.recent_webhook_deliveries()
    assert delivery.summary == {"event": "ping", "hook_id": 431775102}


@pytest.mark.parametrize(("payload", "message"), [
    (github_deployment_status(state="failure"),
     ("ignored: GitHub deployment 1204885102 of acme/shop to staging reports 'failure'; only a "
     "successful deploy starts a run")),
    (github_deployment_status(state="in_progress"),
     ("ignored: GitHub deployment 1204885102 of acme/shop to staging reports 'in_progress'; "
     "only a successful deploy starts a run")),
    (github_deployment_status(environment="preview-481"),
     ("ignored: GitHub environment 'preview-481' is not mapped to a smokebot environment; "
     "expected it under environments.<name>.deploy.github")),
    (github_deployment_status(environment="qa"),  # qa has no deploy: block at all
     ("ignored: GitHub environment 'qa' is not mapped to a smokebot environment; expected it "
     "under environments.<name>.deploy.github")),
])
async def test_a_deployment_that_did_not_succeed_or_is_not_mapped_is_ignored(
        client: httpx.AsyncClient, store: Store, queue: RunQueue, payload: dict[str, Any],
        message: str) -> None:
    response = await post_github(client, payload)

    assert response.status_code == 202
    assert response.json()["outcome"] == "ignored"
    assert response.json()["message"] == message
    assert await all_runs(store) == []
    [delivery] = await store.recent_webhook_deliveries()
    assert (delivery.outcome, f"ignored: {delivery.reason}") == (WebhookOutcome.IGNORED, message)


async def test_another_github_event_is_ignored(client: httpx.AsyncClient, store: Store) -> None:
    response = await post_github(client, {"ref": "refs/heads/main"}, event="push")

    assert response.status_code == 202
    assert response.json()["message"] == (
        "ignored: event 'push' is not deployment_status; expected the webhook to send "
        "deployment statuses only")
    assert await all_runs(store) == []


async def test_an_unmapped_argocd_application_is_ignored(client: httpx.AsyncClient,
                                                         store: Store) -> None:
    body = to_body(argocd_notification(application="billing-staging"))

    response = await client.post("/webhooks/argocd", content=body,
                                 headers=argocd_headers(ARGOCD_SECRET))

    assert response.status_code == 202
    assert response.json()["message"] == (
        "ignored: Argo CD application 'billing-staging' is not mapped to a smokebot "
        "environment; expected it under environments.<name>.deploy.argocd")
    assert await all_runs(store) == []


# --- the endpoints: rejected ----------------------------------------------------------------------

async def assert_nothing_started(store: Store, queue: RunQueue) -> None:
    assert await all_runs(store) == []
    assert await queue.queued_run_ids() == []


async def test_a_forged_github_delivery_is_refused_and_recorded(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    response = await post_github(client, github_deployment_status(),
                                 secret="not-the-webhook-secret")

    assert response.status_code == 401
    assert response.json() == {
        "outcome": "rejected",
        "message": "rejected: X-Hub-Signature-256 does not match the request; check that the "
                   "sender uses the same secret and signs the raw body"}
    await assert_nothing_started(store, queue)
    [delivery] = await store.recent_webhook_deliveries()
    assert (delivery.outcome, delivery.delivery_id, delivery.summary) == (
        WebhookOutcome.REJECTED, DELIVERY, {"status": 401})
    assert "x-hub-signature-256" not in delivery.headers


async def test_a_forged_delivery_does_not_shadow_the_genuine_one(
        client: httpx.AsyncClient, store: Store) -> None:
    forged = await post_github(client, github_deployment_status(), secret="forger")
    genuine = await post_github(client, github_deployment_status())

    assert (forged.status_code, genuine.status_code) == (401, 202)
    assert len(await all_runs(store)) == 1


async def test_a_github_delivery_without_a_signature_is_refused(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    response = await post_github(client, github_deployment_status(), X_Hub_Signature_256=None)

    assert response.status_code == 401
    assert response.json()["message"] == (
        "rejected: missing X-Hub-Signature-256 header; expected 'sha256=' and the HMAC-SHA256 "
        "of the request, in hex")
    await assert_nothing_started(store, queue)


async def test_an_argocd_delivery_with_the_wrong_token_is_refused(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    body = to_body(argocd_notification())

    response = await client.post("/webhooks/argocd", content=body,
                                 headers=argocd_headers("guessed-token"))

    assert response.status_code == 401
    assert response.json()["message"] == (
        "rejected: X-Smokebot-Token does not match the shared webhook secret")
    await assert_nothing_started(store, queue)


async def test_a_stale_generic_delivery_is_refused(client: httpx.AsyncClient, store: Store,
                                                   queue: RunQueue) -> None:
    stale = int(time.time()) - 600

    response = await post_generic(client, generic_body(), timestamp=stale)

    assert response.status_code == 401
    message = response.json()["message"]
    assert message.startswith("rejected: stale request: X-Smokebot-Timestamp is ")
    assert message.endswith(" s away from the server's clock; expected within 300 s (sign "
                            "each request when sending it)")
    await assert_nothing_started(store, queue)


async def test_a_generic_delivery_signed_with_another_secret_is_refused(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    body = to_body(generic_body())
    headers = generic_headers("another-secret-entirely", body)

    response = await client.post("/webhooks/deploy", content=body, headers=headers)

    assert response.status_code == 401
    await assert_nothing_started(store, queue)


@pytest.mark.parametrize("declared", [True, False])
async def test_a_body_over_one_mebibyte_is_refused_with_413(
        client: httpx.AsyncClient, store: Store, queue: RunQueue, declared: bool) -> None:
    body = b'{"environment":"prod","version":"' + b"9" * MIB + b'"}'
    headers = generic_headers(DEPLOY_SECRET, body)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: read until over the limit
        for start in range(0, len(body), 64 * 1024):
            yield body[start:start + 64 * 1024]

    response = await client.post("/webhooks/deploy", headers=headers,
                                 content=body if declared else chunks())

    assert response.status_code == 413
    expected = (f"rejected: body is {len(body)} bytes; expected at most {MIB} (1 MiB)" if declared
                else f"rejected: body is over {MIB} bytes; expected at most {MIB} (1 MiB)")
    assert response.json()["message"] == expected
    await assert_nothing_started(store, queue)
    [delivery] = await store.recent_webhook_deliveries()
    assert delivery.outcome is WebhookOutcome.REJECTED


@pytest.mark.parametrize(("body", "message"), [
    (b'{"deployment_status": {"state": "success"', ("rejected: body is not valid JSON: Expecting "
                                                   "',' delimiter at line 1 column 42")),
    (b"", "rejected: body is empty; expected a JSON object"),
    (b"\xff\xfe{}", "rejected: body is not UTF-8 text; expected a JSON object"),
    (to_body({"deployment_status": {"state": "success", "environment": "staging"},
              "deployment": {"id": 7}}), "rejected: missing field 'deployment.sha'"),
])
async def test_a_malformed_github_delivery_is_refused_with_the_reason(
        client: httpx.AsyncClient, store: Store, queue: RunQueue, body: bytes,
        message: str) -> None:
    headers = github_headers(GITHUB_SECRET, body)

    response = await client.post("/webhooks/github", content=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"outcome": "rejected", "message": message}
    await assert_nothing_started(store, queue)


async def test_a_github_delivery_without_its_delivery_id_is_refused(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    response = await post_github(client, github_deployment_status(), X_GitHub_Delivery=None)

    assert response.status_code == 400
    assert response.json()["message"] == "rejected: missing X-GitHub-Delivery header"
    await assert_nothing_started(store, queue)


async def test_a_form_encoded_github_delivery_is_415_and_says_to_send_json(
        client: httpx.AsyncClient, store: Store) -> None:
    body = b"payload=%7B%7D"
    headers = {**github_headers(GITHUB_SECRET, body),
               "Content-Type": "application/x-www-form-urlencoded"}

    response = await client.post("/webhooks/github", content=body, headers=headers)

    assert response.status_code == 415
    assert response.json()["message"] == (
        "rejected: body is form-encoded; expected JSON (set the webhook's content type to "
        "application/json)")


# --- idempotency and coalescing -----------------------------------------------------------------

async def test_a_redelivered_github_event_gets_the_first_outcome_and_no_second_run(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    first = await post_github(client, github_deployment_status())
    again = await post_github(client, github_deployment_status())

    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == {**first.json(), "redelivery": True}
    assert len(await all_runs(store)) == 1
    [delivery] = await store.recent_webhook_deliveries()
    assert delivery.redeliveries == 1


async def test_a_hundred_concurrent_copies_of_one_delivery_start_exactly_one_run(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    body = to_body(github_deployment_status(version="2.8.1"))
    headers = github_headers(GITHUB_SECRET, body)

    responses = await asyncio.gather(*[
        client.post("/webhooks/github", content=body, headers=headers) for _ in range(100)])

    assert [r.status_code for r in responses] == [202] * 100
    [run] = await all_runs(store)
    assert {r.json()["run_id"] for r in responses} == {str(run.id)}
    assert sum(not r.json()["redelivery"] for r in responses) == 1
    [delivery] = await store.recent_webhook_deliveries()
    assert (delivery.redeliveries, delivery.run_id) == (99, run.id)
    assert await eventually(queue.queued_run_ids) == [str(run.id)]


async def test_five_deploys_in_two_seconds_run_only_the_newest(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    for n in range(1, 6):
        response = await post_github(
            client, github_deployment_status(environment="production", version=f"3.0.{n}",
                                             deployment_id=5000 + n, status_id=9000 + n),
            delivery=f"deploy-{n}")
        assert response.status_code == 202, response.text
        await asyncio.sleep(0.3)

    runs = sorted(await all_runs(store), key=lambda r: r.created_at)
    assert [r.deploy and r.deploy.version for r in runs] == [f"3.0.{n}" for n in range(1, 6)]
    await eventually(lambda: queued_exactly(queue, [runs[-1].id]), timeout_s=20)
    runs = sorted(await all_runs(store), key=lambda r: r.created_at)
    assert [r.status for r in runs] == [RunStatus.SUPERSEDED] * 4 + [RunStatus.QUEUED]
    for older, newer in itertools.pairwise(runs):
        assert older.superseded_by == newer.id
        assert older.status_reason == (
            f"superseded by a newer deploy of {newer.deploy and newer.deploy.version} "
            f"(run {newer.id})")
    assert [r.id for r in await store.active_runs("production")] == [runs[-1].id]


async def test_deploys_recorded_concurrently_leave_only_the_newest(services: Services,
                                                                  store: Store,
                                                                  queue: RunQueue) -> None:
    notices = [github_notice(f"burst-{n}", version=f"4.0.{n}") for n in range(5)]

    created = await asyncio.gather(*[trigger_deploy_run(services, notice, "staging")
                                     for notice in notices])

    runs = {r.id: r for r in await all_runs(store)}
    assert set(runs) == {r.id for r in created}
    newest = max(runs.values(), key=lambda r: (r.created_at, str(r.id)))
    assert [r.id for r in runs.values() if r.status is RunStatus.QUEUED] == [newest.id]
    assert sum(r.status is RunStatus.SUPERSEDED for r in runs.values()) == 4
    await eventually(lambda: queued_exactly(queue, [newest.id]))


async def test_a_deploy_stops_a_running_run_of_its_environment(services: Services,
                                                               store: Store,
                                                               queue: RunQueue) -> None:
    running = await store.create_run(RunRequest(environment="staging",
                                                trigger_kind=TriggerKind.SLASH,
                                                requested_by="U0ALICE"))
    await store.mark_running(running.id, "worker-1")
    told: list[UUID] = []

    async def on_superseded(run_id: UUID) -> None:
        told.append(run_id)

    run = await trigger_deploy_run(services, github_notice(version="2.8.2"), "staging",
                                   on_superseded=on_superseded)

    old = await store.get_run(running.id)
    assert old is not None
    assert (old.status, old.superseded_by) == (RunStatus.SUPERSEDED, run.id)
    assert old.status_reason == f"superseded by a newer deploy of 2.8.2 (run {run.id})"
    assert await queue.cancel_requested(str(running.id))
    assert told == [running.id]
    assert [r.id for r in await store.active_runs("staging")] == [run.id]
    assert await store.mark_running(running.id, "worker-2") is None  # never runs again


async def test_a_slash_command_during_the_window_joins_the_deploy_run(
        services: Services, queue: RunQueue) -> None:
    run = await trigger_deploy_run(services, github_notice(), "staging")

    ticket = await request_run(services, environment="staging", trigger_kind=TriggerKind.SLASH,
                               requested_by="U0BOB", trigger_detail="/smoketest staging")

    assert ticket.joined
    assert ticket.run.id == run.id
    assert await eventually(queue.queued_run_ids) == [str(run.id)]


async def test_triggering_the_same_notice_twice_returns_the_first_run(
        services: Services, store: Store, queue: RunQueue) -> None:
    first = await trigger_deploy_run(services, github_notice(), "staging")
    second = await trigger_deploy_run(services, github_notice(), "staging")

    assert second.id == first.id
    assert len(await all_runs(store)) == 1
    assert await eventually(queue.queued_run_ids) == [str(first.id)]


async def test_a_deploy_in_its_window_waits_in_redis_not_in_the_web_process(
        services: Services, store: Store, queue: RunQueue) -> None:
    before = time.time()
    run = await trigger_deploy_run(services, github_notice(environment="production"),
                                   "production")  # a two-second window

    assert await queue.queued_run_ids() == [str(run.id)]  # scheduled, in Redis
    job = await queue._saq.job(str(run.id))
    assert job is not None and job.scheduled >= before + 2


async def test_no_webhook_secret_ever_reaches_a_response_or_the_store(
        client: httpx.AsyncClient, store: Store, queue: RunQueue, pg_dsn: str) -> None:
    answers = [
        await post_github(client, github_deployment_status()),
        await post_github(client, github_deployment_status(), secret="forged",
                          delivery="forged-1"),
        await client.post("/webhooks/argocd", content=to_body(argocd_notification()),
                          headers=argocd_headers(ARGOCD_SECRET)),
        await client.post("/webhooks/argocd", content=to_body(argocd_notification()),
                          headers=argocd_headers(ARGOCD_SECRET[:-2])),
        await post_generic(client, generic_body()),
    ]
    # Both runs (the Argo CD sync superseded GitHub's run of staging) reach the queue.
    await eventually(lambda: queued_at_least(queue, 2), timeout_s=20)

    stored = "\n".join([await table_text(pg_dsn, "webhook_deliveries"),
                        await table_text(pg_dsn, "runs")])
    seen = "\n".join([stored, *(a.text for a in answers)])
    assert "webhook:github" in stored  # the dump is of the real rows
    for canary in (*CANARIES, ARGOCD_SECRET[:-2]):
        assert canary not in seen
    sent = [github_signature(GITHUB_SECRET, to_body(github_deployment_status())),
            github_signature("forged", to_body(github_deployment_status()))]
    for signature in sent:  # nor do the signatures that came with the deliveries
        assert signature.removeprefix("sha256=") not in stored
    for delivery in await store.recent_webhook_deliveries():
        assert not [h for h in delivery.headers if "signature" in h or "token" in h]


async def test_a_source_without_a_configured_secret_refuses_every_delivery(
        settings: Settings, store: Store) -> None:
    only_github = dataclasses.replace(settings, webhook_secrets={"github": Secret(GITHUB_SECRET)})
    with serve_asgi(create_web_app(only_github), lifespan="on") as base_url:
        async with httpx.AsyncClient(base_url=base_url) as http:
            response = await http.post("/webhooks/argocd", content=to_body(argocd_notification()),
                                       headers=argocd_headers(ARGOCD_SECRET))

    assert response.status_code == 401
    assert response.json()["message"] == (
        "rejected: Argo CD webhooks are not enabled on this server; expected "
        "SMOKEBOT_ARGOCD_WEBHOOK_SECRET to be set")
    [delivery] = await store.recent_webhook_deliveries()
    assert delivery.outcome is WebhookOutcome.REJECTED


async def test_a_deploy_during_a_redis_outage_is_kept_and_queued_once_redis_is_back(
        settings: Settings, store: Store, queue: RunQueue, pg_dsn: str) -> None:
    dead = RunQueue.from_url(f"redis://127.0.0.1:{free_port()}/0", prefix=settings.key_prefix)
    services = Services(settings=settings, store=store, queue=dead,
                        slack=create_slack_client(settings),
                        suites=SuiteSource(settings.config_path))

    run = await trigger_deploy_run(services, github_notice(), "staging")

    assert (await store.get_run(run.id)).status is RunStatus.QUEUED  # type: ignore[union-attr]
    await dead.close()
    # Two minutes on, a worker's reaper (Redis back) finds it without a job and queues it.
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute("UPDATE smokebot.runs SET created_at = now() - interval '3 minutes'"
                           " WHERE id = %s", (run.id,))
    assert await requeue_lost(store, queue) == [str(run.id)]
    assert await queue.queued_run_ids() == [str(run.id)]


# --- waiting for the rollout ----------------------------------------------------------------------

ROLLOUT_SUITE = """
suite: shop
environments:
  staging:
    kubernetes: {{kubeconfig: "{kubeconfig}", context: staging, namespace: {namespace}}}
    variables: {{base_url: "http://127.0.0.1:9", app: {deployment}}}
    deploy:
      github: [staging]
      wait_for_rollout: {{deployment: "${{app}}", timeout: 1s}}
  qa:
    variables: {{base_url: "http://127.0.0.1:9"}}
categories:
  - name: API
    checks:
      - id: health
        type: http
        url: ${{base_url}}/healthz
        timeout: 2s
      - id: version
        type: http
        url: ${{base_url}}/version
        depends_on: [health]
        timeout: 2s
"""


def rollout_suite(tmp_path: Path, kubeconfig: Path) -> Any:
    path = tmp_path / "rollout.yaml"
    path.write_text(ROLLOUT_SUITE.format(kubeconfig=kubeconfig, namespace=NAMESPACE,
                                         deployment=DEPLOYMENT), encoding="utf-8")
    return load_suite(path)


def test_the_rollout_wait_comes_first_and_every_check_depends_on_it(tmp_path: Path) -> None:
    suite = rollout_suite(tmp_path, tmp_path / "kubeconfig")

    plan = with_rollout_wait(build_plan(suite, "staging"))

    assert [c.id for c in plan.checks] == [ROLLOUT_CHECK_ID, "health", "version"]
    assert [c.spec.depends_on for c in plan.checks] == [[], [ROLLOUT_CHECK_ID],
                                                        ["health", ROLLOUT_CHECK_ID]]
    rollout = plan.checks[0]
    assert (rollout.category, rollout.spec.type, rollout.timeout, rollout.retries) == (
        "Deploy", "k8s.rollout", 16.0, 0)
    assert rollout.description == f"deployment {DEPLOYMENT} fully rolled out, waiting up to 1s"
    assert plan.categories == ("Deploy", "API")


def test_an_environment_without_a_rollout_wait_keeps_its_plan(tmp_path: Path) -> None:
    suite = rollout_suite(tmp_path, tmp_path / "kubeconfig")
    plan = build_plan(suite, "qa")

    assert with_rollout_wait(plan) is plan


async def test_a_rollout_that_never_completes_fails_and_the_checks_wait_for_it(
        tmp_path: Path) -> None:
    cluster = staging_cluster()
    cluster.set_deployment(make_deployment(generation=5, total=3, updated=1, ready=2,
                                           available=2, progressing=("True", "ReplicaSetUpdated")))
    with serving(cluster, tmp_path) as kubeconfig:
        plan = with_rollout_wait(build_plan(rollout_suite(tmp_path, kubeconfig), "staging"))
        result = await run_plan(plan)

    statuses = {r.check_id: r.status for r in result.results}
    assert statuses == {ROLLOUT_CHECK_ID: Status.FAIL, "health": Status.SKIP,
                        "version": Status.SKIP}
    skipped = next(r for r in result.results if r.check_id == "health")
    assert skipped.summary == f"skipped: depends on '{ROLLOUT_CHECK_ID}', which failed"


async def test_a_completed_rollout_lets_the_checks_run(tmp_path: Path) -> None:
    with serving(staging_cluster(), tmp_path) as kubeconfig:
        plan = with_rollout_wait(build_plan(rollout_suite(tmp_path, kubeconfig), "staging"))
        result = await run_plan(plan)

    statuses = {r.check_id: r.status for r in result.results}
    assert statuses[ROLLOUT_CHECK_ID] is Status.PASS
    assert statuses["health"] is not Status.SKIP  # it ran (and found nothing listening)


@pytest.mark.parametrize(("field", "value", "reason"), [
    ("state", 5, "field 'deployment_status.state' must be a string, got a number"),
    ("environment", 7, "field 'deployment_status.environment' must be a string, got a number"),
    ("sha", 123, "field 'deployment.sha' must be a string, got a number"),
])
def test_a_github_body_with_a_number_where_text_belongs_is_refused_naming_the_field(
        field: str, value: int, reason: str) -> None:
    payload = github_deployment_status()
    if field == "sha":
        payload["deployment"]["sha"] = value
    else:
        payload["deployment_status"][field] = value
    with pytest.raises(MalformedPayload) as refused:
        parse_deployment_status(DELIVERY, payload)
    assert refused.value.reason == reason
    assert refused.value.status == 400


def test_a_github_deployment_id_may_be_a_number() -> None:
    notice = parse_deployment_status(DELIVERY, github_deployment_status(deployment_id=42))
    assert notice is not None
