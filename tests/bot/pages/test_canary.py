"""No secret the web process holds is ever shown on a page, raw or in any spelling a page could
carry it in (HTML-escaped, URL-encoded, JSON-escaped), even when one reached the store: canary
values planted in a run's trigger, deploy facts and every field of its results."""

from __future__ import annotations

import html
import json
from collections.abc import Iterator
from urllib.parse import quote, quote_plus

import pytest
from markupsafe import escape

from bot.web import create_web_app
from checks.results import CheckResult, Status
from checks.secrets import Secret
from tests.bot.pages.pages_support import (
    Html,
    Seeded,
    TestClient,
    result,
    seeded,
    signer,
    web_settings,
)
from tests.support.services import temporary_database

# Characters that HTML, URLs and JSON each spell differently.
SIGNING = 'canary-signing-"quoted"&<tag>/+ =?%\\ 7f3a9c'
WEBHOOK = "canary-webhook-1d9e44a0b7"


def spellings(secret: str) -> set[str]:
    plain = {secret, json.dumps(secret)[1:-1], quote(secret, safe=""), quote(secret),
             quote_plus(secret)}
    # Each as HTML writes it: the standard library's way and Jinja's (markupsafe: &#34;).
    return plain | {html.escape(s) for s in plain} | {html.escape(s, quote=False) for s in plain} \
        | {str(escape(s)) for s in plain}


def planted(secrets: list[str]) -> tuple[CheckResult, ...]:
    every = " | ".join(secrets)
    return (
        result("version", Status.FAIL, f"API {every}", name=f"Deployed version {every}",
               summary=f"expected status 200, got 503 (token {every})",
               details=f"Authorization: Bearer {every}\n{html.escape(every)}",
               measurements={"echo": every, every: 1},
               evidence={"failures": [f"expected header {every}, got {every}"],
                         "headers": {"x-echo": every}, every: [every]}),
        result("checkout", Status.FLAKY, "API", attempts=2,
               evidence={"failed_attempts": [f"expected 200, got 401 for {every}"]}),
    )


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[tuple[TestClient, Seeded, list[str]]]:
    with temporary_database() as dsn, web_settings(
            dsn, tmp_path_factory.mktemp("canary"), signing_secret=SIGNING,
            webhook_secrets={"github": Secret(WEBHOOK)}) as settings:
        assert settings.slack_bot_token is not None
        secrets = [SIGNING, WEBHOOK, settings.slack_bot_token.reveal()]
        runs = seeded(dsn, failed_results=planted(secrets),
                      trigger_detail=f"/smoketest staging {' '.join(secrets)}")
        with TestClient(create_web_app(settings)) as client:
            yield client, runs, secrets


def test_no_page_shows_a_secret_in_any_spelling(
        pages: tuple[TestClient, Seeded, list[str]]) -> None:
    client, runs, secrets = pages
    at = signer(SIGNING)
    links = [at.sign(f"/runs/{runs.failed}"), at.sign(f"/runs/{runs.failed}/live"),
             at.sign("/runs", [("env", "staging")]), at.sign("/runs"),
             at.sign("/envs/staging/checks/version"), at.sign("/envs/staging/checks/checkout")]
    for link in links:
        answer = client.get(link)
        assert answer.status_code == 200, link
        for secret in secrets:
            for spelled in spellings(secret):
                assert spelled not in answer.text, (link, spelled)
    # The planted fields are there, redacted: the page did render them.
    page = Html(client.get(links[0]).text)
    assert "[redacted" in page.by_id("check-version").text
    assert "[redacted" in page.by_id("trigger").text
    assert "Deployed version" in page.by_id("check-version").text
