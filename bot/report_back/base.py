"""What a reporter is: the shape every entry of the registry (`reporters.py`) has, and the
values that pass between a reporter and the deliverer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from bot.records import ReportTarget, Run
from bot.settings import Settings

__all__ = ["Find", "Prepare", "Prepared", "Ready", "Reporter", "Send", "Sending", "Sent"]


@dataclass(frozen=True)
class Prepared:
    """A report ready to send: its JSON body (never a credential: those are added when it is
    sent) and what it says, for the record ("success", "failed")."""

    body: dict[str, Any]
    reported: str


@dataclass(frozen=True)
class Sent:
    """The source took the report: its id for it (GitHub's deployment status id), if any,
    and the HTTP status of the answer."""

    remote_id: str | None
    status: int | None


@dataclass(frozen=True)
class Sending:
    """What one attempt needs besides the report: the session, the settings (the token or
    secret is read from them at the last moment), the target, the time allowed per call and
    the report's delivery id, the same on every attempt."""

    http: aiohttp.ClientSession
    settings: Settings
    target: ReportTarget
    timeout_s: float
    delivery_id: str


# A reason not to send the report at all (a superseded run, to GitHub), or the report.
Prepare = Callable[[Run, str | None], Prepared | str]  # (run, the run page's URL)
Ready = Callable[[Settings, ReportTarget], str | None]  # what is missing, or None
Send = Callable[[Sending, Prepared], Awaitable[Sent]]  # raises ReportFailed
Find = Callable[[Sending, Run], Awaitable[Sent | None]]  # raises ReportFailed


@dataclass(frozen=True)
class Reporter:
    kind: str  # ReportTarget.kind: "github-deployment", "callback" (names.py)
    label: str  # for people: "GitHub deployment status"
    describe: Callable[[ReportTarget], str]  # "acme/shop deployment 42": no secret, no query
    ready: Ready  # None when the settings let it send (a token, a secret)
    prepare: Prepare  # pure: the same run gives the same report
    send: Send
    # Looks at the source for the report an attempt in doubt may have delivered; None when the
    # source cannot be asked (then it is sent again, with the same delivery id).
    find: Find | None = None
