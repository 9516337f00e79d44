"""A run's live presence in Slack while its checks run: the summary posted when the run starts
(through the outbox, bot/slack/delivery.py, like every message a run sends) and edited in
place as checks finish or say how far they are (at most once per `update_interval_s`, however
many events come meanwhile: the edit shows the latest of each).

The edits are best effort: one that fails is skipped, and nothing here blocks or cancels the
run or its delivery. The final summary and everything after it go through the outbox.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.errors import SlackRefused, SlackUnavailable
from bot.pages.links import run_link
from bot.records import OutboxMessage, Run, SlackMessageKind
from bot.services import Services
from bot.slack import render
from bot.slack.client import call_slack
from bot.slack.delivery import deliver_run
from checks.results import CheckResult

__all__ = ["LiveRun"]

log = logging.getLogger("smokebot.slack")
START_PATIENCE_S = 5.0  # how long a run waits for its first summary before it goes on


class LiveRun:
    """The summary message of one run while a worker executes it."""

    def __init__(self, services: Services, run: Run, view: render.RunView) -> None:
        self.services = services
        self.run = run
        # The summary's "View run" link, signed once for the run (None without a public URL).
        self.view = replace(view, run_url=view.run_url or run_link(services.settings, run.id))
        self.channel: str | None = run.channel
        self.ts: str | None = None  # the summary, once posted
        self.reply_under: str | None = None  # a re-run's summary goes into the original thread
        self.channel_problem: str | None = None
        self.api_calls = 0
        self._dirty = asyncio.Event()
        self._updater: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Posts the summary through the outbox, like every message of the run (exactly once,
        even when Slack answers 5xx), waiting at most `START_PATIENCE_S` for it: while Slack
        is down the run goes on, and the outbox posts the summary once Slack is back."""
        if self.channel is None:
            return
        store = self.services.store
        if self.run.rerun_of is not None:
            original = next((m for m in await store.slack_messages(self.run.rerun_of)
                             if m.kind is SlackMessageKind.SUMMARY), None)
            if original is not None:
                self.channel, self.reply_under = original.channel, original.thread_root
        message = render.render_summary(self.view)
        payload: dict[str, object] = {"text": message.text, "blocks": message.blocks}
        if self.reply_under:
            payload["thread_ts"] = self.reply_under
        await store.outbox_add(self.run.id, [OutboxMessage(SlackMessageKind.SUMMARY,
                                                           self.channel, payload)])
        await deliver_run(self.services, self.run.id, patience_s=START_PATIENCE_S)
        summary = next((m for m in await store.slack_messages(self.run.id)
                        if m.kind is SlackMessageKind.SUMMARY), None)
        if summary is None:
            given_up = [e for e in await store.outbox_entries(self.run.id) if e.gave_up_at]
            if given_up:  # the deliverer told the requester why
                self.channel_problem = given_up[0].last_error or "unknown_error"
            else:
                log.warning("summary of run %s not posted yet (Slack unavailable)", self.run.id)
            return
        self.ts = summary.ts
        self._updater = asyncio.create_task(self._update_loop())

    def on_result(self, result: CheckResult) -> None:
        self.view = replace(self.view, results=self.view.results + (result,),
                            progress=_without(self.view.progress, result.check_id))
        self._dirty.set()

    def on_progress(self, check_id: str, text: str) -> None:
        """A running check's latest word on how far it is (already redacted by the runner)."""
        progress = (*_without(self.view.progress, check_id), (check_id, text))
        self.view = replace(self.view, progress=progress)
        self._dirty.set()

    async def stop(self) -> None:
        """No more progress edits: the final summary comes from the outbox."""
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
            self._updater = None

    async def _update_loop(self) -> None:
        interval = self.services.settings.update_interval_s
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            message = render.render_summary(self.view)
            try:
                self.api_calls += 1
                await call_slack(self.services.slack, "chat.update", channel=self.channel,
                                 ts=self.ts, text=message.text, blocks=message.blocks)
            except (SlackRefused, SlackUnavailable) as exc:
                log.warning("progress update of run %s failed: %s", self.run.id, exc)
            await asyncio.sleep(interval)


def _without(progress: tuple[tuple[str, str], ...], check_id: str) -> tuple[tuple[str, str], ...]:
    return tuple(entry for entry in progress if entry[0] != check_id)
