"""The one deliverer of reports back: sends each ended run's verdict to its deploy's source.

`deliver_run_reports` serves a run right after it ended (the worker calls it, off the job's
slot); `deliver_due_reports` is one pass of every worker's outbox loop, for whatever is left (a
retry waiting out its backoff, a run whose worker died, a run the reaper ended). Both go through
`_deliver`, which holds the report's lease:

1. the reporter (`reporters.py`) prepares the report from the run; a reason instead (a
   superseded run, to GitHub) ends it as skipped;
2. `report_attempting` counts the attempt, marks the report in doubt and extends the lease
   (False: another deliverer took it over, so nothing is sent);
3. a report in doubt is first looked for at the source (`Reporter.find`); found, it is
   delivered without sending it again;
4. the report is sent; the answer ends it as delivered, failed (permanent, or the last
   attempt), or retried after a backoff (or the source's Retry-After), in doubt unless the
   answer proved nothing was taken.

Nothing of this touches the run: its verdict is the run's, however the report fares. Errors
are redacted with the process's redactor (which holds the GitHub token) before they are stored
or logged. A deliverer that is cancelled mid-call leaves the lease to run out; the next one
finds the report in doubt.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from uuid import UUID

import aiohttp

from bot.backoff import Backoff, sleep_unless
from bot.errors import ReportFailed
from bot.pages.links import run_link
from bot.records import ReportBack, ReportState, Run
from bot.report_back.base import Prepared, Sending
from bot.report_back.reporters import describe_target, reporter_for
from bot.services import Services
from bot.settings import Settings

__all__ = ["DEFAULT_POLICY", "ReportPolicy", "deliver_due_reports", "deliver_run_reports"]

log = logging.getLogger("smokebot.report_back")

FIRST_DELIVERY_PATIENCE_S = 30.0  # how long the worker that ran a run waits on its report


@dataclass(frozen=True)
class ReportPolicy:
    """How hard a report is tried: `max_attempts` in all (a look for one in doubt is part of
    its attempt), `backoff` between them (by attempts so far), `timeout_s` per call. A call
    is also held to a third of the delivery lease, so an attempt (a look and a send) always
    ends before another deliverer may take the report over."""

    max_attempts: int = 10
    backoff: Backoff = field(default_factory=lambda: Backoff(
        (5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0), jitter=0.2))
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.timeout_s <= 0:
            raise ValueError(f"a report needs at least one attempt and a timeout > 0: "
                             f"max_attempts={self.max_attempts}, timeout_s={self.timeout_s}")


DEFAULT_POLICY = ReportPolicy()


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def deliver_run_reports(services: Services, run_id: UUID | str, *,
                              policy: ReportPolicy = DEFAULT_POLICY,
                              stop: asyncio.Event | None = None,
                              patience_s: float = FIRST_DELIVERY_PATIENCE_S) -> bool:
    """Sends the ended run's reports; True when none is left pending. A report waiting out a
    backoff is waited for while `patience_s` lasts; after that, or when another deliverer
    holds it, the rest is left to the outbox loop (`deliver_due_reports`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    holder = _holder()
    while True:
        taken = await services.store.take_due_reports(holder, services.settings.delivery_lease_s,
                                                      run_id=run_id)
        await _deliver_all(services, taken, holder, policy, stop)
        pending = [r for r in await services.store.report_backs(run_id)
                   if r.state is ReportState.PENDING]
        if not pending:
            return True
        if stop is not None and stop.is_set():
            return False
        wait = (min(r.next_attempt_at for r in pending)
                - datetime.now(timezone.utc)).total_seconds()
        if wait <= 0 and not taken:  # due, yet not ours: another deliverer holds it
            return False
        if loop.time() + max(wait, 0.0) > deadline:
            return False
        await sleep_unless(stop, max(wait, 0.0))


async def deliver_due_reports(services: Services, *, policy: ReportPolicy = DEFAULT_POLICY,
                              limit: int = 20, stop: asyncio.Event | None = None) -> int:
    """One pass of a worker's outbox loop: sends every due report it can take (up to
    `limit`); returns how many it ended (delivered, failed or skipped)."""
    holder = _holder()
    taken = await services.store.take_due_reports(holder, services.settings.delivery_lease_s,
                                                  limit=limit)
    return await _deliver_all(services, taken, holder, policy, stop)


async def _deliver_all(services: Services, reports: list[ReportBack], holder: str,
                       policy: ReportPolicy, stop: asyncio.Event | None) -> int:
    if not reports:
        return 0
    ended = 0
    timeout = min(policy.timeout_s, services.settings.delivery_lease_s / 3)
    async with aiohttp.ClientSession() as http:
        for index, report in enumerate(reports):
            if stop is not None and stop.is_set():
                for left in reports[index:]:  # taken, never tried: free them for another
                    await services.store.release_report(left.id, holder)
                break
            ended += await _Delivery(services, http, report, holder, policy, timeout).run()
    return ended


def _run_url(settings: Settings, run: Run) -> str | None:
    """The run page's signed link, valid for the link lifetime from the run's end: the same on
    every attempt, so a report is the same report however often it is tried."""
    ended = run.finished_at or run.created_at
    return run_link(settings, run.id,
                    expires=int(ended.timestamp()) + settings.link_expiry_days * 86_400)


class _Delivery:
    """Sending one report under its lease: prepare, attempt, look, send, bookkeeping."""

    def __init__(self, services: Services, http: aiohttp.ClientSession, report: ReportBack,
                 holder: str, policy: ReportPolicy, timeout_s: float) -> None:
        self.services, self.http, self.report = services, http, report
        self.holder, self.policy, self.timeout_s = holder, policy, timeout_s
        self.store = services.store
        self.what = f"run {str(report.run_id)[:8]}'s report to {describe_target(report.target)}"

    async def run(self) -> int:
        """1 when the report ended here (delivered, failed or skipped), else 0."""
        report = self.report
        reporter = reporter_for(report.target.kind)
        if reporter is None:
            return await self._give_up(ReportState.FAILED,
                                       f"no reporter is named {report.target.kind!r}")
        problem = reporter.ready(self.services.settings, report.target)
        if problem is not None:
            return await self._give_up(ReportState.FAILED, f"not sent: {problem}")
        run = await self.store.get_run(report.run_id)
        if run is None:
            return await self._give_up(ReportState.FAILED, "its run is gone")
        prepared = reporter.prepare(run, _run_url(self.services.settings, run))
        if isinstance(prepared, str):
            return await self._give_up(ReportState.SKIPPED, prepared)
        if not await self.store.report_attempting(report.id, self.holder,
                                                  self.services.settings.delivery_lease_s):
            log.warning("%s was taken over by another deliverer", self.what)
            return 0
        sending = Sending(http=self.http, settings=self.services.settings,
                          target=report.target, timeout_s=self.timeout_s,
                          delivery_id=str(run.id))
        in_doubt = report.in_doubt
        try:
            found = None
            if in_doubt and reporter.find is not None:
                found = await reporter.find(sending, run)
                in_doubt = False  # looked: had it arrived, it would have been found
            if found is not None:
                log.info("%s was delivered by an earlier attempt", self.what)
                sent = found
            else:
                sent = await reporter.send(sending, prepared)
        except ReportFailed as exc:
            in_doubt = in_doubt or exc.maybe_sent
            return await self._failed(exc, prepared, in_doubt)
        await self.store.report_delivered(report.id, reported=prepared.reported,
                                          remote_id=sent.remote_id, status=sent.status)
        log.info("%s: %s delivered", self.what, prepared.reported)
        self._count("delivered")
        return 1

    def _count(self, outcome: str) -> None:
        self.services.metrics.report_back(self.report.target.kind, outcome)

    async def _failed(self, exc: ReportFailed, prepared: Prepared, in_doubt: bool) -> int:
        attempts = self.report.attempts + 1
        message = self.services.redactor.redact(exc.message)
        if exc.permanent:
            return await self._give_up(ReportState.FAILED, message, reported=prepared.reported,
                                       status=exc.status)
        if attempts >= self.policy.max_attempts:
            return await self._give_up(ReportState.FAILED,
                                       f"gave up after {attempts} attempts: {message}",
                                       reported=prepared.reported, status=exc.status)
        wait = max(exc.retry_after_s or 0.0, self.policy.backoff.delay(attempts - 1))
        at = datetime.now(timezone.utc) + timedelta(seconds=wait)
        log.warning("%s: attempt %d failed, next at %s: %s", self.what, attempts,
                    at.isoformat(timespec="seconds"), message)
        await self.store.report_retry_later(self.report.id, self.holder, message, at,
                                            in_doubt=in_doubt, status=exc.status)
        self._count("retry")
        return 0

    async def _give_up(self, state: ReportState, reason: str, *, reported: str | None = None,
                       status: int | None = None) -> int:
        if state is ReportState.FAILED:
            log.warning("%s failed: %s", self.what, reason)
        else:
            log.info("%s %s: %s", self.what, state.value, reason)
        await self.store.report_given_up(self.report.id, state, reason, reported=reported,
                                         status=status)
        self._count(state.value)
        return 1
