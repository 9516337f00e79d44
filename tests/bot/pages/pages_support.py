"""What the run pages' tests share (not a test module): a suite, the web app's settings, and a
history seeded through the real store: a finished staging run with one check of each status,
earlier staging runs of the `version` check for its history, and a production run still
running."""

from __future__ import annotations

import asyncio
import time
import warnings
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit
from uuid import UUID

from starlette.exceptions import StarletteDeprecationWarning

from bot.pages.signing import LinkSigner
from bot.records import DeployFacts, RunRequest, SlackMessageKind, TriggerKind
from bot.settings import Settings
from bot.store import Store
from checks.results import CheckResult, RunResult, Severity, Status
from checks.secrets import Secret
from tests.bot.services_support import CHANNEL, SIGNING_SECRET, slack_emulator
from tests.support.services import redis_url, unique_prefix

with warnings.catch_warnings():  # this Starlette would rather have httpx2 behind its client
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["CHANNEL", "HISTORY", "SUITE", "SUMMARY_TS", "Element", "Html", "Seeded", "TestClient",
           "failed_run_results", "page_settings", "query", "result", "run_aside", "seed",
           "seeded", "signer", "web_settings"]

SUITE = f"""\
suite: shop
environments:
  staging:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}}}
  production:
    variables: {{base_url: "http://127.0.0.1:9"}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: API
    checks:
      - {{id: health, name: Health endpoint, type: http, url: "${{base_url}}/health"}}
      - {{id: version, name: Deployed version, type: http, url: "${{base_url}}/version"}}
  - name: Checkout
    checks:
      - {{id: checkout, name: Checkout flow, type: http, url: "${{base_url}}/checkout"}}
      - {{id: search, name: Product search, type: http, url: "${{base_url}}/search"}}
      - {{id: login, name: Login page, type: http, url: "${{base_url}}/login"}}
"""

T = TypeVar("T")
SUMMARY_TS = "1700000000.000100"
HISTORY = [(Status.PASS, 0.21), (Status.PASS, 0.25), (Status.FLAKY, 0.9), (Status.SLOW, 1.4),
           (Status.ERROR, 3.0), (Status.PASS, 0.3)]  # the version check's earlier runs


def signer(secret: str = SIGNING_SECRET) -> LinkSigner:
    return LinkSigner(Secret(secret))


def query(link: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(link).query))


def result(check_id: str, status: Status, category: str, **changes: object) -> CheckResult:
    fields: dict[str, object] = {"name": f"check {check_id}", "kind": "http",
                                 "severity": Severity.CRITICAL,
                                 "summary": f"{check_id}: {status.value}", "duration_s": 0.2,
                                 "attempts": 1, **changes}
    return CheckResult(check_id=check_id, category=category, status=status,
                       **fields)  # type: ignore[arg-type]


def failed_run_results() -> tuple[CheckResult, ...]:
    return (
        result("health", Status.PASS, "API", name="Health endpoint", summary="200 OK in 120 ms",
               duration_s=0.12, measurements={"response_ms": 120, "status": 200},
               evidence={"method": "GET", "url": "http://127.0.0.1:9/health", "status": 200}),
        result("version", Status.FAIL, "API", name="Deployed version",
               summary="expected status 200, got 503", duration_s=0.34,
               details="expected status 200, got 503\n\nHTTP/1.1 503 Service Unavailable\n"
                       "content-type: text/plain\n\nupstream <b>down</b>",
               measurements={"response_ms": 340, "status": 503, "bytes": 13},
               evidence={"method": "GET", "url": "http://127.0.0.1:9/version", "status": 503,
                         "failures": ["expected status 200, got 503"]}),
        result("checkout", Status.FLAKY, "Checkout", name="Checkout flow", attempts=2,
               summary="200 OK in 800 ms", duration_s=0.8,
               evidence={"failed_attempts": ["expected status 200, got 502"]}),
        result("search", Status.SLOW, "Checkout", name="Product search",
               summary="200 OK in 412 ms, over the 300 ms warn_latency", duration_s=0.41,
               evidence={"warning": "412 ms, over the 300 ms warn_latency"}),
        result("login", Status.SKIP, "Checkout", name="Login page",
               summary="skipped: depends on version, which failed", duration_s=0.0,
               attempts=0),
    )


@dataclass(frozen=True)
class Seeded:
    failed: UUID  # staging's latest run: failed, with a check of each status
    running: UUID  # production's, still running, one result so far
    history: tuple[UUID, ...]  # staging's earlier runs, oldest first


def _run_result(results: tuple[CheckResult, ...]) -> RunResult:
    now = datetime.now(timezone.utc)
    return RunResult(suite="shop", environment="staging", started_at=now, finished_at=now,
                     results=results, categories=("API", "Checkout"))


async def _finished(store: Store, request: RunRequest, results: tuple[CheckResult, ...]) -> UUID:
    run = await store.create_run(request)
    await store.mark_running(run.id, "w1")
    await store.finish_run(run.id, _run_result(results))
    return run.id


async def seed(dsn: str, *, failed_results: tuple[CheckResult, ...] | None = None,
               trigger_detail: str = "/smoketest staging") -> Seeded:
    async with Store.open(dsn, wait=True) as store:
        await store.migrate()
        history = []
        for status, duration in HISTORY:
            history.append(await _finished(
                store, RunRequest("staging", TriggerKind.CLI, trigger_detail="smokebot run"),
                (result("version", status, "API", name="Deployed version", duration_s=duration,
                        summary=f"version {status.value} in {duration} s"),)))
        failed = await _finished(store, RunRequest(
            "staging", TriggerKind.SLASH, trigger_detail=trigger_detail,
            requested_by="U0HUMAN001", channel=CHANNEL,
            deploy=DeployFacts(source="github", version="v1.4.2", commit="0123abcd" * 5,
                               link="https://github.com/acme/shop/deployments/7")),
            failed_results or failed_run_results())
        await store.set_slack_message(failed, SlackMessageKind.SUMMARY, CHANNEL, SUMMARY_TS)
        running = await store.create_run(RunRequest("production", TriggerKind.WEBHOOK,
                                                    trigger_detail="deployment_status 42"))
        await store.mark_running(running.id, "w1")
        await store.save_result(running.id, result("health", Status.PASS, "API"))
        return Seeded(failed=failed, running=running.id, history=tuple(history))


def page_settings(dsn: str, suite_path: Path, api_url: str, bot_token: str, *,
                  public_url: str | None = "http://testserver", signing_secret: str =
                  SIGNING_SECRET, refresh_s: float = 5.0,
                  webhook_secrets: dict[str, Secret] | None = None) -> Settings:
    return Settings(slack_bot_token=Secret(bot_token), slack_signing_secret=Secret(signing_secret),
                    slack_api_url=api_url, database_url=dsn, redis_url=redis_url(),
                    key_prefix=unique_prefix("pages"), config_path=str(suite_path),
                    public_url=public_url, page_refresh_s=refresh_s,
                    webhook_secrets=webhook_secrets or {})


@contextmanager
def web_settings(dsn: str, directory: Path, **options: object) -> Iterator[Settings]:
    """Settings of a web app on `dsn`, with the Slack emulator answering its few calls."""
    suite_path = directory / "smoketest.yaml"
    suite_path.write_text(SUITE, encoding="utf-8")
    with slack_emulator() as (emulator, api_url):
        yield page_settings(dsn, suite_path, api_url, emulator.bot_token,
                            **options)  # type: ignore[arg-type]


def run_aside(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Runs `work()` to its end in a thread of its own, with its own event loop: callable from
    a test whose thread already runs one (Playwright's sync API does)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, work()).result(timeout=30)


def seeded(dsn: str, **options: object) -> Seeded:
    started = time.monotonic()
    found = run_aside(lambda: seed(dsn, **options))  # type: ignore[arg-type]
    assert time.monotonic() - started < 10
    return found


# --- reading the HTML --------------------------------------------------------------------------

_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                   "source", "track", "wbr"})


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parent: Element | None
    parts: list[str]

    @property
    def text(self) -> str:
        return " ".join("".join(self.parts).split())

    def is_inside(self, outer: Element) -> bool:
        at = self.parent
        while at is not None and at is not outer:
            at = at.parent
        return at is outer


class Html(HTMLParser):
    """The page's elements, each with its attributes, text and parent: enough to assert on
    what a reader sees without a browser."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs},
                          self._open[-1] if self._open else None, [])
        self.elements.append(element)
        if tag not in _VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append(Element(tag, {k: v or "" for k, v in attrs},
                                     self._open[-1] if self._open else None, []))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    def by_id(self, element_id: str) -> Element:
        found = [e for e in self.elements if e.attrs.get("id") == element_id]
        assert len(found) == 1, f"expected one element with id {element_id!r}, got {len(found)}"
        return found[0]

    def cells(self, row: Element) -> list[str]:
        """The text of each cell of a table row."""
        return [e.text for e in self.elements if e.parent is row and e.tag in ("td", "th")]

    def find(self, tag: str, *, inside: str | Element | None = None,
             **attrs: str) -> list[Element]:
        """Elements of `tag` with those attributes (`class_` names one of its classes),
        within `inside` (an element, or the id of one) if given."""
        outer = self.by_id(inside) if isinstance(inside, str) else inside
        wanted = {k.rstrip("_"): v for k, v in attrs.items()}
        return [e for e in self.elements if e.tag == tag
                and (outer is None or e.is_inside(outer))
                and all(v in e.attrs.get(k, "").split() if k == "class"
                        else e.attrs.get(k) == v for k, v in wanted.items())]
