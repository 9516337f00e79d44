"""A run's live presence in Slack while its checks run: the summary posted when the run starts
and edited in place as checks finish (at most once per `update_interval_s`).

Best effort: a progress edit that fails is skipped, and nothing here blocks or cancels the
run or its delivery. The final summary and everything after it go through the outbox
(bot/slack/delivery.py), which also posts the summary if it could not be posted here.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from bot.errors import SlackRefused, SlackUnavailable
from bot.records import Run, SlackMessageKind
from bot.services import Services
from bot.slack import render
from bot.slack.client import call_slack
from bot.slack.delivery import DELIVERY_EVENT, post_response_url
from checks.results import CheckResult

__all__ = ["LiveRun"]

log = logging.getLogger("smokebot.slack")


class LiveRun:
    """The summary message of one run while a worker executes it."""

    def __init__(self, services: Services, run: Run, view: render.RunView) -> None:
        self.services = services
        self.run = run
        self.view = view
        self.channel: str | None = run.channel
        self.ts: str | None = None  # the summary, once posted
        self.reply_under: str | None = None  # a re-run's summary goes into the original thread
        self.channel_problem: str | None = None
        self.start_in_doubt = False  # the first post may have reached Slack unanswered
        self.api_calls = 0
        self._dirty = asyncio.Event()
        self._updater: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.channel is None:
            return
        if self.run.rerun_of is not None:
            original = next((m for m in await self.services.store.slack_messages(self.run.rerun_of)
                             if m.kind is SlackMessageKind.SUMMARY), None)
            if original is not None:
                self.channel, self.reply_under = original.channel, original.thread_root
        message = render.render_summary(self.view)
        try:
            self.api_calls += 1
            # The sender: a post answered 5xx is not sent again blindly (the outbox posts the
            # summary at the end if this one did not get through).
            response = await call_slack(
                self.services.sender, "chat.postMessage", channel=self.channel,
                thread_ts=self.reply_under, text=message.text, blocks=message.blocks,
                metadata={"event_type": DELIVERY_EVENT,
                          "event_payload": {"run_id": str(self.run.id), "kind": "summary"}})
        except SlackRefused as exc:
            await self._channel_failed(exc.problem if exc.channel_problem else "")
            return
        except SlackUnavailable as exc:
            self.start_in_doubt = exc.maybe_sent
            log.warning("summary of run %s not posted yet: %s", self.run.id, exc)
            return
        self.ts = str(response["ts"])
        await self.services.store.set_slack_message(
            self.run.id, SlackMessageKind.SUMMARY, self.channel, self.ts,
            thread_ts=self.reply_under)
        self._updater = asyncio.create_task(self._update_loop())

    def on_result(self, result: CheckResult) -> None:
        self.view = replace(self.view, results=self.view.results + (result,))
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

    async def _channel_failed(self, problem: str) -> None:
        self.channel_problem = problem or "unknown_error"
        log.warning("cannot post run %s to %s: %s", self.run.id, self.channel, problem)
        if not problem:
            return
        try:
            url = await self.services.queue.response_url(str(self.run.id))
        except Exception as exc:  # noqa: BLE001 - Redis trouble only loses this courtesy
            log.warning("run %s: response_url not read: %s", self.run.id, exc)
            return
        if url:
            await post_response_url(url, render.render_not_in_channel(self.channel or "",
                                                                      problem))
