"""The paths of the run pages and their signed links: the one place that spells them, for the
pages' own links and for the Slack summary's "View run" button."""

from __future__ import annotations

import re
from uuid import UUID

from bot.pages.signing import LinkSigner
from bot.settings import Settings

__all__ = ["NAME", "check_path", "link_signer", "run_fragment_path", "run_link", "run_path",
           "runs_path"]

# An environment or check id that can stand in a path segment as it is; others get no link.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,79}")


def run_path(run_id: UUID | str) -> str:
    return f"/runs/{run_id}"


def run_fragment_path(run_id: UUID | str) -> str:
    """The live part of a running run's page, which the page fetches every few seconds."""
    return f"/runs/{run_id}/live"


def runs_path() -> str:
    return "/runs"  # ?env=<environment>


def check_path(environment: str, check_id: str) -> str | None:
    if not (NAME.fullmatch(environment) and NAME.fullmatch(check_id)):
        return None
    return f"/envs/{environment}/checks/{check_id}"


def link_signer(settings: Settings) -> LinkSigner | None:
    """None without the Slack signing secret, from which the links' key is derived."""
    if settings.slack_signing_secret is None:
        return None
    return LinkSigner(settings.slack_signing_secret, ttl_s=settings.link_expiry_days * 86_400)


def run_link(settings: Settings, run_id: UUID | str, *,
             expires: int | None = None) -> str | None:
    """The signed, absolute URL of a run's page, valid until `expires` (unix seconds; default:
    the link lifetime from now); None unless SMOKEBOT_PUBLIC_URL and the signing secret are
    both set."""
    signer = link_signer(settings)
    if signer is None or not settings.public_url:
        return None
    return settings.public_url.rstrip("/") + signer.sign(run_path(run_id), expires=expires)
