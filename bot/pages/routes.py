"""The run pages' routes, served by the web process beside the Slack app and the webhooks:

    GET /runs/<id>                     a run: header, table by category, every check
    GET /runs/<id>/live                the live part of that page, which it fetches while the
                                       run goes
    GET /runs?env=<environment>        the environment's latest runs (every one's without env)
    GET /envs/<env>/checks/<check id>  one check's history, with an SVG chart of its duration

Each request goes through the same steps, in this order: the link's signature (401 without
one, 403 for a wrong or expired one; nothing about the run is read before it holds), then the
input (a malformed id, an unknown environment or check, a `limit` out of range: 400 or 404,
never a 5xx), then the store within the request's deadline (`bot.deadline`; every store call is
bounded, bot/store/_base.py), and an unavailable store is a 503 page that says so.

Every answer is HTML from autoescaping templates, with headers that keep the signed URL to
the page (no Referer, no caching) and allow only the page's own inline style and script
(a per-response nonce).
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from bot import deadline
from bot.errors import RequestRefused, StoreError, StoreUnavailable
from bot.pages.chart import ChartPoint, duration_chart
from bot.pages.links import (
    NAME,
    check_path,
    link_signer,
    run_fragment_path,
    run_path,
    runs_path,
)
from bot.pages.signing import LinkSigner
from bot.pages.views import (
    Links,
    SuiteFacts,
    build_history,
    build_run_list,
    build_run_page,
)
from bot.records import Run
from bot.services import Services
from bot.slack.render import permalink
from bot.store import SlackMessageKind
from checks.config import Suite
from checks.errors import SmokebotError
from checks.plan import select_checks
from checks.redact import Redactor

__all__ = ["HISTORY_LIMIT", "PAGE_BUDGET_S", "RUNS_LIMIT", "page_routes"]

log = logging.getLogger("smokebot.pages")

PAGE_BUDGET_S = 3.0  # what one page may spend on the store, the suite file and Slack
SUITE_WAIT_S = 0.5  # a changed suite file is not waited for longer than this
RUNS_LIMIT = (25, 200)  # default and most of `limit` on /runs
HISTORY_LIMIT = (50, 200)  # and on a check's history
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_SHOWN_INPUT = 80  # characters of a refused id quoted back


@dataclass(frozen=True)
class _Page:
    template: str
    context: dict[str, Any]
    status: int = 200


@dataclass(frozen=True)
class _Asked:
    """A request whose link was verified: what every page builder gets."""

    request: Request
    services: Services
    signer: LinkSigner
    expires: int  # the link's own expiry, which every link on the page keeps
    prefix: str  # the public URL's path (a proxy's mount point), before every link

    def sign(self, path: str, params: list[tuple[str, str]] | None = None) -> str:
        return self.prefix + self.signer.sign(path, params or [], expires=self.expires)

    def links(self, environment: str | None) -> Links:
        def check(check_id: str) -> str | None:
            path = check_path(environment, check_id) if environment else None
            return self.sign(path) if path else None

        runs = (self.sign(runs_path(), [("env", environment)])
                if environment and NAME.fullmatch(environment) else None)
        return Links(runs=runs, check=check, run=lambda run_id: self.sign(run_path(run_id)))

    @property
    def redactors(self) -> list[Redactor]:
        # The process-wide one, and the bot's own secrets whatever that one was given, also
        # as HTML spells them (a target's HTML page quoting one).
        own = Redactor()
        for secret in self.services.settings.secrets():
            own.register(secret)
            own.register(html.escape(secret.reveal()))
        return [self.services.redactor, own]


Builder = Callable[[_Asked], Awaitable[_Page]]


def page_routes() -> list[Route]:
    """The pages' routes, for `create_asgi_app(extra_routes=...)`."""
    templates = Environment(loader=PackageLoader("bot.pages", "templates"), autoescape=True,
                            undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)

    def serve(build: Builder) -> Callable[[Request], Awaitable[HTMLResponse]]:
        async def endpoint(request: Request) -> HTMLResponse:
            return await _serve(templates, request, build)
        return endpoint

    # A 500-check run page is ~800 KiB of HTML and ~50 KiB gzipped: compressed here, for
    # browsers that ask, rather than left to a proxy that may not be there.
    gzip = [Middleware(GZipMiddleware, minimum_size=1024)]
    return [Route("/runs", serve(_run_list), name="page_runs", middleware=gzip),
            Route("/runs/{run_id}", serve(_run_page), name="page_run", middleware=gzip),
            Route("/runs/{run_id}/live", serve(_run_live), name="page_run_live",
                  middleware=gzip),
            Route("/envs/{environment}/checks/{check_id}", serve(_history),
                  name="page_check_history", middleware=gzip)]


async def _serve(templates: Environment, request: Request, build: Builder) -> HTMLResponse:
    nonce = secrets.token_urlsafe(16)
    try:
        page = await _answer(request, build)
    except RequestRefused as exc:
        page = _problem(exc.status, _TITLES.get(exc.status, "Refused"), exc.reason)
    except StoreUnavailable as exc:
        why = exc.reason or "PostgreSQL is not answering"
        page = _problem(503, "History store unavailable",
                        f"The run history cannot be read right now ({why}); try again shortly.")
    except StoreError:
        log.exception("a run page could not be read from the store")
        page = _problem(503, "History store unavailable",
                        "The run history cannot be read right now; try again shortly.")
    except Exception:  # noqa: BLE001 - a bug is a 500 page, never a traceback in the browser
        log.exception("a run page failed")
        page = _problem(500, "Something went wrong",
                        "This page could not be shown; the error is in the bot's log.")
    body = templates.get_template(page.template).render(nonce=nonce, **page.context)
    return HTMLResponse(body, status_code=page.status, headers=_headers(nonce))


_TITLES = {400: "Bad request", 401: "Signed link needed", 403: "Link not valid",
           404: "Not found", 503: "Unavailable"}


def _problem(status: int, title: str, message: str) -> _Page:
    return _Page("error.html", {"status": status, "title": title, "message": message}, status)


def _headers(nonce: str) -> dict[str, str]:
    return {
        # The URL carries the signature: no cache keeps the page, no link passes the URL on.
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "X-Robots-Tag": "noindex, nofollow",
        "Content-Security-Policy": (
            f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
            "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"),
    }


async def _answer(request: Request, build: Builder) -> _Page:
    services: Services = request.app.state.smokebot["services"]
    signer = link_signer(services.settings)
    if signer is None:
        raise RequestRefused("run pages need SLACK_SIGNING_SECRET, from which their links are "
                             "signed", status=503)
    expires = signer.verify(_app_path(request), request.query_params.multi_items())
    asked = _Asked(request, services, signer, expires, _prefix(services, request))
    with deadline.answer_by(PAGE_BUDGET_S):
        return await build(asked)


def _app_path(request: Request) -> str:
    """The path the router matched, without a mount point: what a link signs."""
    path: str = request.scope["path"]
    root: str = request.scope.get("root_path", "")
    return path[len(root):] if root and path.startswith(root) else path


def _prefix(services: Services, request: Request) -> str:
    public = services.settings.public_url
    if public:
        return urlsplit(public).path.rstrip("/")
    return str(request.scope.get("root_path", "")).rstrip("/")


# --- input --------------------------------------------------------------------------------------

def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN_INPUT else text[:_SHOWN_INPUT] + "…"


def _run_id(asked: _Asked) -> str:
    raw = asked.request.path_params["run_id"]
    if not _RUN_ID.fullmatch(raw):
        raise RequestRefused(f"no run with id {_shown(raw)!r}: expected a run id such as "
                             "3f2a9c4e-0b1d-4c3e-9f00-1a2b3c4d5e6f", status=404)
    return raw


def _one_param(asked: _Asked, name: str) -> str | None:
    values = asked.request.query_params.getlist(name)
    if len(values) > 1:
        raise RequestRefused(f"{name}: expected one value, got {len(values)}", status=400)
    return values[0] if values else None


def _limit(asked: _Asked, bounds: tuple[int, int]) -> int:
    default, most = bounds
    raw = _one_param(asked, "limit")
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 6 and 1 <= int(raw) <= most):
        raise RequestRefused(f"limit: expected a whole number from 1 to {most}, got "
                             f"{_shown(raw)!r}", status=400)
    return int(raw)


async def _suite(services: Services) -> Suite | None:
    """The suite in use, or None when none could be loaded (the pages work without it)."""
    try:
        return await asyncio.wait_for(services.suites.refresh(wait=0),
                                      deadline.remaining(SUITE_WAIT_S))
    except (SmokebotError, TimeoutError):
        return None


def _known_environment(suite: Suite | None, raw: str) -> str:
    if not NAME.fullmatch(raw):
        raise RequestRefused(f"no environment named {_shown(raw)!r}: expected letters, digits, "
                             "'.', '_' or '-'", status=404)
    if suite is not None and raw not in suite.environments:
        raise RequestRefused(f"no environment named {raw!r} in the suite; expected one of: "
                             f"{', '.join(sorted(suite.environments))}", status=404)
    return raw


def _suite_facts(suite: Suite | None, run: Run) -> SuiteFacts:
    if suite is None:
        return SuiteFacts()
    try:
        planned: int | None = len(select_checks(suite, run.environment, list(run.filters)))
    except SmokebotError:  # a filter the suite no longer knows
        planned = None
    return SuiteFacts(categories=tuple(c.name for c in suite.categories), planned=planned,
                      check_order=tuple(c.id for _, _, _, c in suite.all_checks()))


# --- the pages ---------------------------------------------------------------------------------

async def _run_view(asked: _Asked) -> dict[str, Any]:
    run_id = _run_id(asked)
    store = asked.services.store
    run = await store.get_run(run_id)
    if run is None:
        raise RequestRefused(f"no run with id {run_id} in the history", status=404)
    results = await store.results(run.id)
    summary = next((m for m in await store.slack_messages(run.id)
                    if m.kind is SlackMessageKind.SUMMARY), None)
    slack_href = None
    if summary is not None:
        slack_href = permalink(summary.channel, summary.ts, summary.thread_ts,
                               workspace_url=await asked.services.workspace_url())
    suite = await _suite(asked.services)
    page = build_run_page(run, results, suite=_suite_facts(suite, run),
                          links=asked.links(run.environment), redactors=asked.redactors,
                          slack_href=slack_href)
    return {"page": page, "refresh_s": asked.services.settings.page_refresh_s,
            "live_href": asked.sign(run_fragment_path(run.id))}


async def _run_page(asked: _Asked) -> _Page:
    return _Page("run.html", await _run_view(asked))


async def _run_live(asked: _Asked) -> _Page:
    return _Page("_run_live.html", await _run_view(asked))


async def _run_list(asked: _Asked) -> _Page:
    raw_env = _one_param(asked, "env")
    limit = _limit(asked, RUNS_LIMIT)
    environment = (_known_environment(await _suite(asked.services), raw_env)
                   if raw_env is not None else None)
    runs = await asked.services.store.recent_runs(environment, limit)
    view = build_run_list(environment, runs, links=asked.links(environment),
                          redactors=asked.redactors, limit=limit)
    return _Page("runs.html", {"view": view})


async def _history(asked: _Asked) -> _Page:
    params = asked.request.path_params
    limit = _limit(asked, HISTORY_LIMIT)
    suite = await _suite(asked.services)
    environment = _known_environment(suite, params["environment"])
    check_id = params["check_id"]
    if not NAME.fullmatch(check_id):
        raise RequestRefused(f"no check with id {_shown(check_id)!r}: expected lowercase "
                             "letters, digits, '.', '_' or '-'", status=404)
    in_suite = {c.id: c for _, _, _, c in suite.all_checks()} if suite is not None else {}
    past = await asked.services.store.past_results(environment, check_id, limit)
    if not past and suite is not None and check_id not in in_suite:
        raise RequestRefused(f"no check with id {check_id!r} in the suite or the history of "
                             f"{environment}", status=404)
    spec = in_suite.get(check_id)
    view = build_history(environment, check_id, past, links=asked.links(environment),
                         redactors=asked.redactors, limit=limit,
                         name=spec.name if spec is not None else None)
    oldest_first = list(reversed(view.rows))
    chart = duration_chart(
        [ChartPoint(duration_s=row.duration_s, status=row.status,
                    status_class=row.status_class,
                    label=f"{row.created} · {row.status} · {row.duration}", href=row.href)
         for row in oldest_first],
        first_label=oldest_first[0].created[:16] if oldest_first else "",
        last_label=oldest_first[-1].created[:16] if oldest_first else "")
    return _Page("check.html", {"view": view, "chart": chart})
