"""/metrics of the web process, served by uvicorn on a loopback port with its own services
(Services.start, as `smokebot serve` makes them) on the machine's PostgreSQL and Redis: a
slash command's Slack call and its client's retry are counted, the queue gauge sees the run it
queued, OpenMetrics is served when asked for, and nothing identifying or secret is exposed."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bot.settings import Settings
from bot.slack import usergroups
from bot.web import create_web_app
from checks.secrets import Secret
from tests.bot.metrics_support import Exposition, scrape
from tests.bot.services_support import ONCALL, SIGNING_SECRET, SUITE, slack_emulator
from tests.support.asgi import serve_asgi
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_emulator import SlackEmulator
from tests.support.slack_requests import SlackRequestFactory

WAIT_S = 10.0  # a ceiling, never a measurement


@pytest.fixture
def web(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[str, SlackEmulator, SlackRequestFactory]]:
    suite = tmp_path / "smoketest.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    with slack_emulator() as (emulator, api_url):
        settings = Settings(slack_bot_token=Secret(emulator.bot_token),
                            slack_signing_secret=Secret(SIGNING_SECRET), slack_api_url=api_url,
                            database_url=pg_dsn, redis_url=redis_url(),
                            key_prefix=unique_prefix("metrics"), config_path=str(suite),
                            metrics_refresh_s=0.2)
        with serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url, emulator, SlackRequestFactory(SIGNING_SECRET, emulator=emulator)


def _until_read(url: str, ready: object) -> Exposition:
    deadline = time.monotonic() + WAIT_S
    while True:
        metrics, _, _ = scrape(f"{url}/metrics")
        if ready(metrics):  # type: ignore[operator]
            return metrics
        assert time.monotonic() < deadline, metrics.text
        time.sleep(0.05)


def test_the_web_process_counts_its_slack_calls_and_sees_the_run_it_queued(
        web: tuple[str, SlackEmulator, SlackRequestFactory],
        monkeypatch: pytest.MonkeyPatch) -> None:
    url, emulator, factory = web
    # What is counted is the subject here, not the lookup's 1 s share of the ack deadline
    # (tests/bot/slack has those): on a loaded machine the retried lookup can take longer.
    monkeypatch.setattr(usergroups, "LOOKUP_BUDGET_S", 2.0)
    emulator.add_usergroup(ONCALL, ["U0HUMAN001"])
    # Asking who may test `guarded` is rate-limited once: the interactive client retries.
    emulator.inject_rate_limit("usergroups.users.list", times=1, retry_after=0)
    request = factory.slash_command("guarded")
    answer = httpx.post(f"{url}/slack/events", content=request.body, headers=request.headers,
                        timeout=10)
    assert "Queued a smoke test of guarded" in answer.json()["text"]
    queued_at = time.time()

    metrics = _until_read(url, lambda m: (m.value(
        "smokebot_metrics_refresh_timestamp_seconds", source="queue") or 0) > queued_at)

    assert metrics.value("smokebot_slack_api_calls_total", method="usergroups.users.list",
                         outcome="ok") == 1
    assert metrics.value("smokebot_slack_api_calls_total", method="usergroups.users.list",
                         outcome="rate_limited") is None  # the client's retry is inside it
    assert metrics.value("smokebot_slack_api_retries_total", method="usergroups.users.list",
                         reason="rate_limited") == 1
    assert metrics.value("smokebot_queue_depth", state="waiting") == 1  # no worker here
    wait = metrics.value("smokebot_queue_oldest_wait_seconds")
    assert wait is not None and 0 <= wait < WAIT_S
    assert metrics.value("smokebot_outbox_pending_messages") == 0
    assert metrics.value("smokebot_runs_total") is None  # the workers count runs
    assert metrics.identifiers_in_labels() == []
    for secret in (emulator.bot_token, SIGNING_SECRET, "U0HUMAN001", ONCALL):
        assert secret not in metrics.text


def test_metrics_are_served_in_openmetrics_when_the_scraper_asks(
        web: tuple[str, SlackEmulator, SlackRequestFactory]) -> None:
    url, _, _ = web
    plain, _, response = scrape(f"{url}/metrics")
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert "# TYPE smokebot_runs_total counter" in plain.text

    answer = httpx.get(f"{url}/metrics", timeout=5, headers={
        "Accept": "application/openmetrics-text; version=1.0.0"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/openmetrics-text")
    assert "# TYPE smokebot_runs counter" in answer.text
    assert answer.text.endswith("# EOF\n")
    assert httpx.post(f"{url}/metrics", timeout=5).status_code == 405
