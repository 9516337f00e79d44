"""The registry of deploy sources: a source registered in one entry gets its endpoint, its
secret from the environment, its key in the suite file's `deploy:` mapping, its mapping to an
environment and its delivery records, with nothing else changed; a `deploy:` key that names no
registered source is reported where it is, with the choices.

The test-only source `hooktest` is registered by a fixture for one test at a time and served
by the real web app against this machine's PostgreSQL and Redis."""

from __future__ import annotations

import dataclasses
import hmac
import json
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path

import httpx
import psycopg
import pytest
from click.testing import CliRunner
from redis import asyncio as aioredis

from bot.cli import cli
from bot.deploys import find_environment
from bot.queue import RunQueue
from bot.records import DeployFacts, WebhookOutcome
from bot.settings import Settings
from bot.store import Store
from bot.suites import SuiteSource, load_suite
from bot.web import create_web_app
from bot.webhooks import routes, sources
from bot.webhooks.notice import (
    DeployNotice,
    Unauthenticated,
    json_body,
    optional_text,
    required_text,
)
from bot.webhooks.sources import DeploySource, register_source
from bot.webhooks.verify import hmac_sha256_hex
from checks.errors import ConfigError
from checks.secrets import Secret
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix

HOOKTEST_SECRET = "hooktest-CANARY-7d1e5a9c3b2f4e6a"
SIGNATURE_HEADER = "X-Hooktest-Signature"
SUITE = """\
suite: shop
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
    slack: {channel: C0STAGING}
    deploy:
      hooktest: [stage-1, stage-one]
      coalesce_window: 100ms
  qa:
    variables: {base_url: "http://127.0.0.1:9"}
categories:
  - name: API
    checks:
      - id: health
        type: http
        url: ${base_url}/healthz
"""
CHOICES = "github, argocd, generic, wait_for_rollout, coalesce_window"


# --- the test-only source: all of it is this entry ------------------------------------------

def verify_hooktest(headers: Mapping[str, str], body: bytes, secret: Secret) -> None:
    presented = headers.get(SIGNATURE_HEADER) or ""
    if not hmac.compare_digest(presented.encode(), hmac_sha256_hex(secret, body).encode()):
        raise Unauthenticated(f"{SIGNATURE_HEADER} does not match the request")


def parse_hooktest(headers: Mapping[str, str], body: bytes) -> DeployNotice:
    payload = json_body(headers, body)
    delivery, stage = required_text(payload, "id"), required_text(payload, "stage")
    return DeployNotice(source="hooktest", delivery_id=delivery, environment=stage,
                        state="done", succeeded=True,
                        description=f"hooktest deploy {delivery} to {stage}",
                        version=optional_text(payload, "version"))


HOOKTEST = DeploySource(
    name="hooktest", label="Hook Test", mapping_key="hooktest",
    environment_noun="Hook Test stage", secret_env="SMOKEBOT_HOOKTEST_WEBHOOK_SECRET",
    verify=verify_hooktest, parse=parse_hooktest, recorded_headers=("x-hooktest-attempt",))


@pytest.fixture
def hooktest(monkeypatch: pytest.MonkeyPatch) -> DeploySource:
    # A copy of the registry for this test alone: the source is gone afterwards.
    monkeypatch.setattr(sources, "_SOURCES", dict(sources._SOURCES))
    register_source(HOOKTEST)
    return HOOKTEST


def hooktest_post(payload: dict[str, str], *, secret: str = HOOKTEST_SECRET
                  ) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"Content-Type": "application/json", "X-Hooktest-Attempt": "1",
                  SIGNATURE_HEADER: hmac_sha256_hex(secret, body)}


# --- fixtures -------------------------------------------------------------------------------

@pytest.fixture
def suite_path(tmp_path: Path) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


@pytest.fixture
def settings(pg_dsn: str, suite_path: Path) -> Settings:
    return Settings(
        slack_bot_token=Secret("xoxb-source-tests-0000000000"),
        slack_signing_secret=Secret("signing-secret-source-tests-000"),
        slack_api_url="http://127.0.0.1:9/api/", redis_url=redis_url(), database_url=pg_dsn,
        config_path=str(suite_path), key_prefix=unique_prefix("sources"),
        webhook_secrets={"hooktest": Secret(HOOKTEST_SECRET)})


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
def server(hooktest: DeploySource, settings: Settings, store: Store,
           queue: RunQueue) -> Iterator[str]:
    """The real web app, made after the source was registered (its routes are made then)."""
    with serve_asgi(create_web_app(settings), lifespan="on") as base_url:
        yield base_url


@pytest.fixture
async def client(server: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as http:
        yield http


# --- one entry is all a source needs ----------------------------------------------------------

def test_a_registered_source_gets_its_endpoint_secret_and_suite_key(
        hooktest: DeploySource, suite_path: Path) -> None:
    paths = [route.path for route in routes.webhook_routes()]
    from_env = Settings.from_env({"SMOKEBOT_HOOKTEST_WEBHOOK_SECRET": HOOKTEST_SECRET})
    suite = load_suite(suite_path)

    assert paths == ["/webhooks/github", "/webhooks/argocd", "/webhooks/deploy",
                     "/webhooks/hooktest"]
    assert {name: s.reveal() for name, s in from_env.webhook_secrets.items()} == {
        "hooktest": HOOKTEST_SECRET}
    assert find_environment(suite, "hooktest", "stage-one") == "staging"
    assert find_environment(suite, "hooktest", "staging") is None  # no own-name default
    assert find_environment(suite, "argocd", "staging") is None  # Argo CD: no own-name default


async def test_a_signed_delivery_to_a_registered_source_creates_a_run(
        client: httpx.AsyncClient, store: Store, queue: RunQueue) -> None:
    body, headers = hooktest_post({"id": "d-1", "stage": "stage-1", "version": "7.1.0"})

    first = await client.post("/webhooks/hooktest", content=body, headers=headers)
    again = await client.post("/webhooks/hooktest", content=body, headers=headers)

    assert first.status_code == 202, first.text
    [run] = await store.recent_runs(limit=10)
    assert first.json() == {
        "outcome": "accepted",
        "message": "accepted: hooktest deploy d-1 to stage-1 starts a smoke test run of staging",
        "delivery_id": "d-1", "environment": "staging", "run_id": str(run.id),
        "redelivery": False}
    assert (again.status_code, again.json()) == (202, {**first.json(), "redelivery": True})
    assert (run.environment, run.channel, run.idempotency_key) == (
        "staging", "C0STAGING", "webhook:hooktest:d-1")
    assert run.deploy == DeployFacts(source="hooktest", version="7.1.0")
    [delivery] = await store.recent_webhook_deliveries()
    assert (delivery.source, delivery.outcome, delivery.run_id, delivery.redeliveries) == (
        "hooktest", WebhookOutcome.ACCEPTED, run.id, 1)
    assert set(delivery.headers) == {"content-type", "content-length", "user-agent",
                                     "x-hooktest-attempt", "remote-addr"}


async def test_a_registered_source_is_refused_and_ignored_in_its_own_words(
        client: httpx.AsyncClient, store: Store) -> None:
    forged_body, forged = hooktest_post({"id": "d-2", "stage": "stage-1"}, secret="guessed")
    unmapped_body, unmapped = hooktest_post({"id": "d-3", "stage": "stage-9"})

    refused = await client.post("/webhooks/hooktest", content=forged_body, headers=forged)
    ignored = await client.post("/webhooks/hooktest", content=unmapped_body, headers=unmapped)

    assert (refused.status_code, refused.json()) == (401, {
        "outcome": "rejected", "message": "rejected: X-Hooktest-Signature does not match the "
                                          "request"})
    assert ignored.status_code == 202
    assert ignored.json()["message"] == (
        "ignored: Hook Test stage 'stage-9' is not mapped to a smokebot environment; expected "
        "it under environments.<name>.deploy.hooktest")
    assert await store.recent_runs(limit=10) == []


@pytest.mark.parametrize(("change", "problem"), [
    ({"name": "Hook Test"}, ("deploy source name 'Hook Test' must be lowercase letters, "
                             "digits, '-' or '_' (it is a URL path segment)")),
    ({"name": "hooktest2", "mapping_key": "coalesce_window"},
     ("deploy source 'hooktest2': mapping key 'coalesce_window' is a setting of the deploy: "
      "mapping (coalesce_window, wait_for_rollout)")),
    ({"name": "hooktest2", "mapping_key": "generic"},
     "deploy source 'hooktest2': mapping_key 'generic' is already 'deploy''s"),
    ({"name": "github"}, "deploy source 'github': name 'github' is already 'github''s"),
])
def test_a_source_that_clashes_with_another_or_with_a_setting_is_refused(
        hooktest: DeploySource, change: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError) as refused:
        register_source(dataclasses.replace(HOOKTEST, secret_env="SMOKEBOT_OTHER", **change))

    assert str(refused.value) == problem


async def test_webhook_deliveries_take_any_well_formed_source_after_0003(
        pg_dsn: str, store: Store) -> None:
    insert = ("INSERT INTO smokebot.webhook_deliveries (source, outcome) "
              "VALUES (%s, 'ignored')")
    async with await psycopg.AsyncConnection.connect(pg_dsn, autocommit=True) as conn:
        await conn.execute(insert, ("gitlab",))
        with pytest.raises(psycopg.errors.CheckViolation,
                           match="webhook_deliveries_source_format"):
            await conn.execute(insert, ("Git Lab",))


# --- a deploy: key that names no source ------------------------------------------------------

def write_suite(tmp_path: Path, deploy: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text("environments:\n"
                    "  staging:\n"
                    "    slack: {channel: C0STAGING}\n"
                    f"    deploy: {deploy}\n"
                    "categories: []\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(("deploy", "message"), [
    ("{gitlab: [staging]}", (f"4:14: environments.staging.deploy.gitlab: unknown field "
                             f"'gitlab' (did you mean 'github'?); expected one of: {CHOICES}")),
    ("{argocd: [shop], hooktest: [stage-1]}",
     (f"4:30: environments.staging.deploy.hooktest: unknown field 'hooktest'; expected one of: "
      f"{CHOICES}")),
    # A misspelled setting is an unknown key too, not a source whose names are not a list.
    ("{coalesce_windw: 1s}", (f"4:14: environments.staging.deploy.coalesce_windw: unknown "
                              f"field 'coalesce_windw' (did you mean 'coalesce_window'?); "
                              f"expected one of: {CHOICES}")),
])
def test_a_deploy_key_that_names_no_source_is_reported_with_the_choices(
        tmp_path: Path, deploy: str, message: str) -> None:
    path = write_suite(tmp_path, deploy)

    with pytest.raises(ConfigError) as by_loader:
        load_suite(path)
    with pytest.raises(ConfigError) as by_bot:
        SuiteSource(path).current()

    assert by_loader.value.render() == f"{path}:{message}"
    assert by_bot.value.render() == f"{path}:{message}"
    assert by_loader.value.exit_code == 2


def test_every_unknown_deploy_key_of_the_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "suite.yaml"
    path.write_text("environments:\n"
                    "  staging: {deploy: {gitlab: [staging]}}\n"
                    "  production: {deploy: {bitbucket: [prod], github: [production]}}\n"
                    "categories: []\n", encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_suite(path)

    rendered = [refused.value.render(), *(e.render() for e in refused.value.others)]
    assert [line.split(": ")[1] for line in rendered] == [
        "environments.staging.deploy.gitlab", "environments.production.deploy.bitbucket"]


def test_smokebot_validate_reports_a_deploy_key_that_names_no_source(tmp_path: Path) -> None:
    path = write_suite(tmp_path, "{gitlab: [staging]}")

    result = CliRunner().invoke(cli, ["validate", "--config", str(path)], prog_name="smokebot")

    assert result.exit_code == 2, result.output
    assert result.stderr == (f"error: {path}:4:14: environments.staging.deploy.gitlab: unknown "
                             f"field 'gitlab' (did you mean 'github'?); expected one of: "
                             f"{CHOICES}\n")
