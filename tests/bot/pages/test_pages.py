"""The run pages over Starlette's test client, against the real web app on this module's own
PostgreSQL database: a run's page, the live part, the environment's runs and a check's
history; signed links only, and bad input answered with a 4xx that shows nothing of a run."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import pytest

from bot.pages.signing import LinkSigner
from bot.settings import Settings
from bot.web import create_web_app
from tests.bot.pages.pages_support import (
    CHANNEL,
    HISTORY,
    SUMMARY_TS,
    Html,
    Seeded,
    TestClient,
    query,
    seeded,
    signer,
    web_settings,
)
from tests.support.services import temporary_database

NO_SUCH_RUN = "0b9c1d2e-3f40-4152-8a63-7b8c9d0e1f2a"

@dataclass(frozen=True)
class Site:
    client: TestClient
    runs: Seeded
    settings: Settings
    signer: LinkSigner

    def get(self, path: str, params: list[tuple[str, str]] | None = None, **kw: object):
        return self.client.get(self.signer.sign(path, params or [], **kw))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    with temporary_database() as dsn:
        runs = seeded(dsn)
        with web_settings(dsn, tmp_path_factory.mktemp("pages")) as settings, \
                TestClient(create_web_app(settings)) as client:
            yield Site(client, runs, settings, signer())


# --- a run's page ------------------------------------------------------------------------------

def test_a_run_page_shows_its_header_table_and_every_check(site: Site) -> None:
    answer = site.get(f"/runs/{site.runs.failed}")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    page = Html(answer.text)
    assert page.by_id("run-status").text == "failed"
    assert page.by_id("verdict").text == "1 of 5 checks failed"
    assert page.by_id("environment").text == "staging"
    assert page.by_id("trigger").text == "/smoketest staging (by U0HUMAN001)"
    assert "Deploy of v1.4.2 to staging" in page.find("h1")[0].text
    assert page.by_id("duration").text.endswith("ms")
    rows = [page.cells(row) for row in page.find("tr", inside="categories")[1:3]]
    assert rows == [["API", "FAIL", "1", "1", "0", "0", "0", "0", "2", "460ms"],
                    ["Checkout", "FLAKY", "2", "0", "0", "1", "1", "1", "3", "1.2s"]]
    # Every check, in suite order, each with its status.
    checks = [(a.attrs["id"], a.attrs["data-status"]) for a in page.find("article")]
    assert checks == [("check-health", "pass"), ("check-version", "fail"),
                      ("check-checkout", "flaky"), ("check-search", "slow"),
                      ("check-login", "skip")]


def test_pages_are_gzipped_for_browsers_that_ask(site: Site) -> None:
    path = site.signer.sign(f"/runs/{site.runs.failed}", [])
    zipped = site.client.get(path, headers={"Accept-Encoding": "gzip"})
    plain = site.client.get(path, headers={"Accept-Encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in plain.headers
    # The client decodes it: the same page, but for each response's own CSP nonce.
    unnonced = [re.sub(r'nonce="[^"]+"', "nonce", a.text) for a in (zipped, plain)]
    assert unnonced[0] == unnonced[1]
    assert int(zipped.headers["content-length"]) < len(plain.content) / 2


def test_the_failing_check_shows_expected_actual_evidence_and_measurements(site: Site) -> None:
    page = Html(site.get(f"/runs/{site.runs.failed}").text)
    assert [e.text for e in page.find("td", class_="expected", inside="check-version")] == \
        ["status 200"]
    assert [e.text for e in page.find("td", class_="actual", inside="check-version")] == ["503"]
    details = page.by_id("check-version-details")
    assert "open" in details.attrs  # a problem's details are open
    assert "upstream <b>down</b>" in details.text  # shown as text, not markup
    assert not page.find("b")
    evidence = page.by_id("check-version-evidence").text
    assert '"url": "http://127.0.0.1:9/version"' in evidence
    table = page.find("table", class_="measurements", inside="check-version")[0]
    assert [page.cells(row) for row in page.find("tr", inside=table)] == [
        ["Measurement", "Value"], ["bytes", "13"], ["response_ms", "340"], ["status", "503"]]
    assert [li.text for li in page.find("li", inside="problems")] == \
        ["Deployed version version: expected status 200, got 503"]


def test_flaky_slow_and_skipped_checks_say_why(site: Site) -> None:
    page = Html(site.get(f"/runs/{site.runs.failed}").text)
    flaky = page.by_id("check-checkout").text
    assert "2 attempts" in flaky and "(passed on attempt 2)" in flaky
    assert [li.text for li in page.find("li", inside="check-checkout")] == \
        ["expected status 200, got 502"]
    assert "412 ms, over the 300 ms warn_latency" in page.by_id("check-search").text
    assert "skipped: depends on version, which failed" in page.by_id("check-login").text


def test_the_page_links_to_the_slack_thread_and_signs_its_own_links(site: Site) -> None:
    answer = site.get(f"/runs/{site.runs.failed}")
    page = Html(answer.text)
    slack = page.by_id("slack-link").attrs["href"]
    assert slack.startswith("https://") and f"/archives/{CHANNEL}/p" in slack
    assert SUMMARY_TS.replace(".", "") in slack
    assert page.by_id("slack-link").attrs["rel"] == "noopener noreferrer"
    own_exp = query(str(answer.url))["exp"]
    history = page.find("a", class_="history", inside="check-version")[0].attrs["href"]
    assert history.startswith("/envs/staging/checks/version?exp=")
    assert query(history)["exp"] == own_exp  # following links never extends access
    assert site.client.get(history).status_code == 200
    runs = page.by_id("runs-link").attrs["href"]
    assert query(runs)["env"] == "staging" and query(runs)["exp"] == own_exp
    assert site.client.get(runs).status_code == 200


def test_behind_a_proxy_path_the_pages_links_keep_it(site: Site) -> None:
    mounted = dataclasses.replace(site.settings, public_url="https://bot.example/smoke/")
    with TestClient(create_web_app(mounted)) as client:
        page = Html(client.get(site.signer.sign(f"/runs/{site.runs.failed}")).text)
    history = page.find("a", class_="history", inside="check-version")[0].attrs["href"]
    assert history.startswith("/smoke/envs/staging/checks/version?exp=")
    assert page.by_id("live").attrs["data-src"].startswith(f"/smoke/runs/{site.runs.failed}/live?")
    # What it signs is the path the web process sees once the proxy took /smoke off.
    assert site.client.get(history.removeprefix("/smoke")).status_code == 200


def test_pages_keep_their_signed_url_to_themselves(site: Site) -> None:
    answer = site.get(f"/runs/{site.runs.failed}")
    headers = answer.headers
    assert headers["cache-control"] == "no-store"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    csp = headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    nonce = csp.split("'nonce-")[1].split("'")[0]
    page = Html(answer.text)
    assert [s.attrs.get("nonce") for s in page.find("style")] == [nonce]
    assert page.find("script") == []  # a finished run's page runs no script
    assert site.get(f"/runs/{site.runs.failed}").headers["content-security-policy"] != csp


def test_a_running_run_follows_itself_with_the_live_part(site: Site) -> None:
    answer = site.get(f"/runs/{site.runs.running}")
    page = Html(answer.text)
    assert page.by_id("run-status").text == "running"
    assert page.by_id("run-header").attrs["data-active"] == "true"
    assert page.by_id("verdict").text == "1 of 5 checks done"
    assert page.by_id("progress").attrs["value"] == "20"
    nonce = answer.headers["content-security-policy"].split("'nonce-")[1].split("'")[0]
    assert [s.attrs.get("nonce") for s in page.find("script")] == [nonce]
    [refresh] = page.find("meta", inside=page.find("noscript")[0])
    assert (refresh.attrs["http-equiv"], refresh.attrs["content"]) == ("refresh", "5")
    live = page.by_id("live").attrs["data-src"]
    assert live.startswith(f"/runs/{site.runs.running}/live?exp=")
    part = site.client.get(live)
    assert part.status_code == 200
    fragment = Html(part.text)
    assert fragment.by_id("run-header").attrs["data-active"] == "true"
    assert not fragment.find("html") and not fragment.find("script")
    # The live part needs its own signature: the page's does not open it.
    page_sig = signer().sign(f"/runs/{site.runs.running}")
    assert site.client.get(page_sig.replace(f"/runs/{site.runs.running}",
                                            f"/runs/{site.runs.running}/live")).status_code == 403


# --- the environment's runs and a check's history ---------------------------------------------

def test_the_environment_lists_its_runs_newest_first_with_signed_links(site: Site) -> None:
    page = Html(site.get("/runs", [("env", "staging")]).text)
    links = [a.attrs["href"] for a in page.find("a", inside="runs")]
    expected = [site.runs.failed, *reversed(site.runs.history)]
    assert [link.split("?")[0] for link in links] == [f"/runs/{i}" for i in expected]
    assert site.client.get(links[-1]).status_code == 200
    everything = Html(site.get("/runs").text)
    assert len(everything.find("a", inside="runs")) == len(expected) + 1  # production's too
    assert len(Html(site.get("/runs", [("env", "staging"), ("limit", "2")]).text)
               .find("a", inside="runs")) == 2


def test_a_checks_history_has_a_chart_of_its_durations_coloured_by_status(site: Site) -> None:
    answer = site.get("/envs/staging/checks/version")
    assert answer.status_code == 200
    page = Html(answer.text)
    chart = page.by_id("chart")
    assert chart.tag == "svg"
    points = page.find("circle", inside="chart")
    statuses = [p.attrs["data-status"] for p in points]
    assert statuses == [s.value for s, _ in HISTORY] + ["fail"]  # oldest first
    assert [p.attrs["class"] for p in points][:2] == ["s-pass", "s-pass"]
    ys = [float(p.attrs["cy"]) for p in points]
    assert ys[4] == min(ys)  # the 3 s error is the slowest: highest on the chart
    rows = page.find("tr", inside="history")
    assert len(rows) == 1 + len(HISTORY) + 1
    first_link = page.find("a", inside="history")[0].attrs["href"]
    assert first_link.startswith(f"/runs/{site.runs.failed}?")
    assert site.client.get(first_link).status_code == 200
    counts = page.by_id("counts").text
    assert "pass 3" in counts and "fail 1" in counts and "error 1" in counts


def test_a_check_of_the_suite_without_results_has_an_empty_history(site: Site) -> None:
    page = Html(site.get("/envs/production/checks/version").text)
    assert page.by_id("no-history").text == "This check has no results in production yet."


# --- refusals -------------------------------------------------------------------------------

def _refused(answer, status: int, site: Site) -> Html:  # type: ignore[no-untyped-def]
    assert answer.status_code == status, answer.text[-500:]
    for leak in ("Deployed version", "expected status 200", "v1.4.2", "U0HUMAN001"):
        assert leak not in answer.text
    return Html(answer.text)


@pytest.mark.parametrize("path", ["/runs/{failed}", "/runs/{failed}/live", "/runs?env=staging",
                                  "/envs/staging/checks/version"])
def test_without_a_signature_every_page_is_401_and_shows_nothing(site: Site, path: str) -> None:
    page = _refused(site.client.get(path.format(failed=site.runs.failed)), 401, site)
    assert "needs a signed link" in page.by_id("problem").text


def test_a_tampered_expired_or_foreign_signature_is_403_and_shows_nothing(site: Site) -> None:
    path = f"/runs/{site.runs.failed}"
    link = site.signer.sign(path)
    sig = query(link)["sig"]
    flipped = link.replace(sig, sig[:-1] + ("A" if sig[-1] != "A" else "B"))
    other_run = link.replace(path, f"/runs/{site.runs.history[0]}")
    expired = site.signer.sign(path, expires=int(time.time()) - 1)
    foreign = signer("some-other-signing-secret-42").sign(path)
    more = link + "&limit=5"
    for bad in (flipped, other_run, expired, foreign, more, f"{path}?exp=1&sig=x",
                f"{path}?exp={'9' * 30}&sig={'A' * 43}", f"{path}?sig={sig}"):
        _refused(site.client.get(bad), 403, site)
    assert "expired" in Html(site.client.get(expired).text).by_id("problem").text


@pytest.mark.parametrize("path", [
    "/runs/not-a-run", "/runs/" + "9" * 300, f"/runs/{NO_SUCH_RUN.upper()}",
    "/runs/%00", f"/runs/{NO_SUCH_RUN}",  # well-formed, but no such run
    "/envs/nowhere/checks/version", "/envs/staging/checks/no-such-check",
    "/envs/staging/checks/UPPER%20CASE!", "/envs/" + "e" * 500 + "/checks/version",
])
def test_a_bad_or_unknown_id_is_404(site: Site, path: str) -> None:
    page = _refused(site.client.get(site.signer.sign(unquote(path))), 404, site)
    assert page.by_id("problem").text.startswith("no ")


@pytest.mark.parametrize(("path", "params", "status"), [
    ("/runs", [("env", "nowhere")], 404),
    ("/runs", [("env", "x" * 5000)], 404),
    ("/runs", [("env", "staging"), ("limit", "0")], 400),
    ("/runs", [("env", "staging"), ("limit", "201")], 400),
    ("/runs", [("env", "staging"), ("limit", "9" * 400)], 400),
    ("/runs", [("env", "staging"), ("limit", "-1")], 400),
    ("/runs", [("env", "staging"), ("limit", "²")], 400),
    ("/runs", [("env", "staging"), ("env", "production")], 400),
    ("/envs/staging/checks/version", [("limit", "1e9")], 400),
])
def test_absurd_query_parameters_are_4xx(site: Site, path: str, params: list[tuple[str, str]],
                                         status: int) -> None:
    answer = site.get(path, params)
    _refused(answer, status, site)
    assert len(answer.text) < 10_000  # an absurd value is not quoted back whole


def test_only_get_is_served(site: Site) -> None:
    assert site.client.post(site.signer.sign(f"/runs/{site.runs.failed}")).status_code == 405
