"""The run pages in a real browser: Debian's Chromium driven by Playwright (no browser of
Playwright's own: `make test` installs the `chromium` package), against the web app served by
uvicorn on a loopback port, on this module's own PostgreSQL database.

It loads a failed run's page and reads what a person sees (the table, the failing check's
expected and actual, the page's own styles), follows the history link to the chart, and
keeps screenshots that must not be blank; it watches a running run's page follow the run to
its end without reloading. Without Chromium or Playwright the tests skip on a developer's
machine and fail in CI (`CI` set), where they must run."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import pytest

from bot.store import Store
from bot.web import create_web_app
from checks.results import RunResult, Status
from tests.bot.pages.pages_support import (
    HISTORY,
    Seeded,
    result,
    run_aside,
    seeded,
    signer,
    web_settings,
)
from tests.support.asgi import serve_asgi
from tests.support.services import temporary_database

CHROMIUM = os.environ.get("SMOKEBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
TIMEOUT_MS = 10_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing(what: str) -> NoReturn:
    if _in_ci():
        pytest.fail(f"{what}: the browser tests must run in CI (`make test` installs Debian's "
                    "chromium; Playwright comes with the test extra)", pytrace=False)
    pytest.skip(f"{what} (`make test` installs it)")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("Playwright for Python is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"Chromium is not installed at {CHROMIUM}")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Seeded, str]]:
    with temporary_database() as dsn:
        runs = seeded(dsn)
        with web_settings(dsn, tmp_path_factory.mktemp("browser"), refresh_s=0.5) as settings, \
                serve_asgi(create_web_app(settings), lifespan="on") as url:
            yield url, runs, dsn


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(TIMEOUT_MS)
    problems: list[str] = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(str(e)))
    opened.problems = problems  # CSP refusals and script errors land here
    try:
        yield opened
    finally:
        context.close()


def assert_not_blank(path: Path) -> None:
    from PIL import Image
    with Image.open(path) as shot:
        pixels = shot.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 24) or []
        width, height = pixels.size
    assert width >= 800 and height >= 600
    most = max(count for count, _ in colours)
    assert len(colours) > 50, f"{path.name}: only {len(colours)} colours"
    assert most / (width * height) < 0.95, f"{path.name}: one colour covers almost all of it"


def test_a_run_page_shows_the_table_and_the_failure_and_leads_to_the_history(
        page: Any, site: tuple[str, Seeded, str], tmp_path: Path) -> None:
    url, runs, _ = site
    response = page.goto(url + signer().sign(f"/runs/{runs.failed}"))
    assert response.status == 200
    assert page.title() == f"Run {str(runs.failed)[:8]} of staging · smokebot"
    rows = page.locator("#categories tbody tr")
    assert rows.count() == 2
    assert [rows.nth(i).locator("td").all_inner_texts()[:2] for i in range(2)] == \
        [["API", "FAIL"], ["Checkout", "FLAKY"]]
    assert page.locator("#categories").is_visible()
    failing = page.locator("#check-version")
    assert failing.locator("td.expected").inner_text() == "status 200"
    assert failing.locator("td.actual").inner_text() == "503"
    assert failing.locator("td.expected").is_visible() and failing.locator("td.actual").is_visible()
    assert "upstream <b>down</b>" in failing.locator("details pre").first.inner_text()
    # The page's own style came through its CSP nonce: the badge is red, not unstyled.
    colour = page.eval_on_selector("#run-status", "e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(207, 34, 46)"
    run_shot = tmp_path / "run.png"
    page.screenshot(path=str(run_shot), full_page=True)
    assert_not_blank(run_shot)

    failing.locator("a.history").click()
    page.wait_for_url("**/envs/staging/checks/version?*")
    assert page.locator("h1").inner_text() == "Deployed version version"
    chart = page.locator("svg#chart")
    assert chart.is_visible()
    points = chart.locator("circle")
    assert points.count() == len(HISTORY) + 1
    fill = page.eval_on_selector("svg#chart circle.s-fail", "e => getComputedStyle(e).fill")
    assert fill == "rgb(207, 34, 46)"
    history_shot = tmp_path / "history.png"
    page.screenshot(path=str(history_shot), full_page=True)
    assert_not_blank(history_shot)
    assert page.problems == []


def _finish(dsn: str, run_id: str) -> None:
    async def finish() -> None:
        async with Store.open(dsn, wait=True) as store:
            now = datetime.now(timezone.utc)
            await store.finish_run(run_id, RunResult(
                suite="shop", environment="production", started_at=now, finished_at=now,
                results=(result("health", Status.PASS, "API"),
                         result("version", Status.PASS, "API")), categories=("API",)))
    run_aside(finish)


def test_a_running_run_page_follows_the_run_to_its_end_without_reloading(
        page: Any, site: tuple[str, Seeded, str]) -> None:
    url, runs, dsn = site
    fetched: list[str] = []
    page.on("request", lambda r: fetched.append(r.url) if "/live?" in r.url else None)
    page.goto(url + signer().sign(f"/runs/{runs.running}"))
    assert page.locator("#run-status").text_content() == "running"
    assert page.locator("#categories tbody tr").count() == 1  # one check done so far
    page.evaluate("window.stillTheSamePage = true")
    _finish(dsn, str(runs.running))
    page.wait_for_function(
        "() => document.getElementById('run-status').textContent === 'passed'")
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in, not reloaded
    assert page.locator("#verdict").inner_text() == "all 2 checks passed"
    assert page.locator("#check-version").get_attribute("data-status") == "pass"
    polled = len(fetched)
    assert polled >= 1
    page.wait_for_timeout(1_500)  # three refresh intervals: the finished run is not polled
    assert len(fetched) == polled
    assert page.problems == []


def test_without_a_signature_the_browser_gets_401_and_no_run(
        page: Any, site: tuple[str, Seeded, str]) -> None:
    url, runs, _ = site
    response = page.goto(f"{url}/runs/{runs.failed}")
    assert response.status == 401
    assert "needs a signed link" in page.locator("#problem").inner_text()
    assert "Deployed version" not in page.content()
