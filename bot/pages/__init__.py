"""The run pages: what a run found, in a browser, behind signed links.

The web process serves a run's page (header, table by category, every check with its
expected/actual, evidence, measurements and attempts, the link to its Slack thread), the
environment's recent runs, and one check's history with an inline SVG chart. Server-rendered
Jinja2 templates with autoescaping; no JavaScript build step (a running run's page fetches its
live part with a dozen lines of inline script, and reloads itself without JavaScript).

    signing.py   the links' HMAC signatures and expiry (key derived from the Slack signing
                 secret with a label)
    links.py     the pages' paths and the signed absolute link of a run, for Slack
    views.py     what a page shows, from the store's records (pure; redacts every text)
    chart.py     the history chart's geometry (pure; the template draws the SVG)
    routes.py    the Starlette routes: signature, input, store, page
    templates/   the HTML
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bot.pages.links import run_link
from bot.pages.signing import LinkSigner

if TYPE_CHECKING:
    from bot.pages.routes import page_routes

__all__ = ["LinkSigner", "page_routes", "run_link"]


def __getattr__(name: str) -> Any:
    # The routes (and Jinja2) load only where pages are served: a worker signs links, no more.
    if name == "page_routes":
        from bot.pages.routes import page_routes
        return page_routes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
