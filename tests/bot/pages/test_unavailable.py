"""A run page when PostgreSQL is down or hangs: a 503 page that says so, within the page's
deadline, never the run and never a traceback; and the page again once PostgreSQL is back.
The web app reaches PostgreSQL through a relay this test cuts and freezes."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.pages.routes import PAGE_BUDGET_S
from bot.web import create_web_app
from tests.bot.pages.pages_support import Html, Seeded, TestClient, seeded, signer, web_settings
from tests.support.relay import TcpRelay


@pytest.fixture
def through_relay(pg_dsn: str, tmp_path: Path) -> Iterator[tuple[TestClient, TcpRelay, Seeded]]:
    runs = seeded(pg_dsn)
    params = conninfo_to_dict(pg_dsn)
    relay = TcpRelay(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    relay.start()
    try:
        dsn = make_conninfo(pg_dsn, host="127.0.0.1", port=str(relay.port))
        with web_settings(dsn, tmp_path) as settings, \
                TestClient(create_web_app(settings)) as client:
            yield client, relay, runs
    finally:
        relay.cut()


def _timed(client: TestClient, link: str) -> tuple[int, str, float]:
    started = time.monotonic()
    answer = client.get(link)
    return answer.status_code, answer.text, time.monotonic() - started


def _until_served(client: TestClient, link: str) -> None:
    deadline = time.monotonic() + 15
    while client.get(link).status_code != 200:
        assert time.monotonic() < deadline, "the page did not come back with PostgreSQL"
        time.sleep(0.2)


def test_a_hung_store_is_a_503_page_within_the_deadline_then_the_page_again(
        through_relay: tuple[TestClient, TcpRelay, Seeded]) -> None:
    client, relay, runs = through_relay
    link = signer().sign(f"/runs/{runs.failed}")
    assert client.get(link).status_code == 200
    relay.freeze()
    try:
        status, text, took = _timed(client, link)
    finally:
        relay.thaw()
    assert status == 503
    assert took < PAGE_BUDGET_S + 1.0
    problem = Html(text).by_id("problem").text
    assert problem.startswith("The run history cannot be read right now (not answering")
    assert problem.endswith("try again shortly.")
    assert "Deployed version" not in text and "Traceback" not in text
    _until_served(client, link)


def test_a_store_that_is_down_is_a_503_page_then_the_page_again(
        through_relay: tuple[TestClient, TcpRelay, Seeded]) -> None:
    client, relay, runs = through_relay
    link = signer().sign("/envs/staging/checks/version")
    assert client.get(link).status_code == 200
    relay.cut()
    status, text, took = _timed(client, link)
    assert status == 503 and took < PAGE_BUDGET_S + 1.0
    assert "connection refused" in Html(text).by_id("problem").text
    relay.start()
    _until_served(client, link)
