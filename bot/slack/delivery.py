"""Putting a run in front of people in Slack: the parent message posted when the run starts
and updated in place (at most once per `update_interval_s`), one thread reply per failure,
the Markdown report attached in the thread. Slack's 429 and 5xx are retried by the client;
when Slack stays down, the final summary goes to the store's outbox and is delivered later,
so it is never lost."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.services import Services
from bot.slack import render
from bot.store import Run, SlackMessageKind
from bot.store import SlackMessage as SlackMessageRecord
from checks.results import CheckResult, RunResult

__all__ = ["LiveRun", "deliver_outbox_once", "post_for_run", "post_in_run_thread",
           "update_summary"]

log = logging.getLogger("smokebot.slack")

# The bot cannot post there; a person has to fix it, retrying will not help.
CHANNEL_PROBLEMS = {"not_in_channel", "channel_not_found", "is_archived", "missing_scope",
                    "restricted_action", "ekm_access_denied"}
OUTBOX_BACKOFF_S = (5, 15, 30, 60, 120, 300)


class SlackUnavailable(Exception):
    """Slack did not take the call after the client's retries (5xx, timeouts, refused)."""


def _problem(exc: SlackApiError) -> str:
    return str(exc.response.get("error", "unknown_error")) if exc.response is not None else ""


async def _call(services: Services, method: str, **payload: Any) -> dict[str, Any]:
    """One Web API call; translates transport failures into SlackUnavailable."""
    try:
        response = await services.slack.api_call(method, json=payload)
        return dict(response.data) if isinstance(response.data, dict) else {}
    except SlackApiError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status >= 500 or status == 429:
            raise SlackUnavailable(f"{method}: HTTP {status}") from exc
        raise
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        raise SlackUnavailable(f"{method}: {type(exc).__name__}: {exc}") from exc


async def post_in_run_thread(services: Services, run_id: UUID, message: render.SlackMessage) -> None:
    summary = next((m for m in await services.store.slack_messages(run_id)
                    if m.kind is SlackMessageKind.SUMMARY), None)
    if summary is None:
        return
    try:
        response = await _call(services, "chat.postMessage", channel=summary.channel,
                               thread_ts=summary.thread_root, text=message.text,
                               blocks=message.blocks or None)
        await services.store.set_slack_message(run_id, SlackMessageKind.NOTICE, summary.channel,
                                               response["ts"], thread_ts=summary.thread_root)
    except SlackUnavailable as exc:
        await services.store.outbox_put("chat.postMessage", {
            "channel": summary.channel, "thread_ts": summary.thread_root, "text": message.text,
            "blocks": message.blocks}, run_id=run_id)
        log.warning("queued a thread notice for later delivery: %s", exc)


async def update_summary(services: Services, summary: SlackMessageRecord,
                         message: render.SlackMessage, *,
                         notice: render.SlackMessage | None = None) -> None:
    """Edits a run's summary and posts `notice` in its thread. While Slack is unavailable
    both wait in the outbox, to be delivered together once it is back."""
    try:
        await _call(services, "chat.update", channel=summary.channel, ts=summary.ts,
                    text=message.text, blocks=message.blocks)
    except SlackUnavailable as exc:
        replies = [{"text": notice.text, "blocks": notice.blocks}] if notice else []
        await services.store.outbox_put("chat.update", {
            "channel": summary.channel, "ts": summary.ts, "text": message.text,
            "blocks": message.blocks, "_thread_ts": summary.thread_root, "_replies": replies},
            run_id=summary.run_id, coalesce_key=f"summary:{summary.run_id}")
        log.warning("queued run %s's summary update for later delivery: %s",
                    summary.run_id, exc)
        return
    if notice is not None:
        await post_in_run_thread(services, summary.run_id, notice)


async def post_for_run(services: Services, run_id: UUID, channel: str,
                       message: render.SlackMessage) -> None:
    """Posts a run's only message (it never got a summary); queued while Slack is down."""
    try:
        await _call(services, "chat.postMessage", channel=channel, text=message.text,
                    blocks=message.blocks)
    except SlackUnavailable as exc:
        await services.store.outbox_put("chat.postMessage", {
            "channel": channel, "text": message.text, "blocks": message.blocks},
            run_id=run_id, coalesce_key=f"summary:{run_id}")
        log.warning("queued a message of run %s for later delivery: %s", run_id, exc)


class LiveRun:
    """The Slack presence of one run while a worker executes it."""

    def __init__(self, services: Services, run: Run, view: render.RunView) -> None:
        self.services = services
        self.run = run
        self.view = view
        self.channel: str | None = run.channel
        self.ts: str | None = None  # the summary message
        self.thread_root: str | None = None  # where failure replies go
        self.reply_under: str | None = None  # set when the summary itself is a thread reply
        self.channel_problem: str | None = None
        self._dirty = asyncio.Event()
        self._updater: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.api_calls = 0

    # --- start ------------------------------------------------------------------------------

    async def start(self) -> None:
        if self.channel is None:
            return
        if self.run.rerun_of is not None:  # a re-run posts into the original run's thread
            original = next((m for m in await self.services.store.slack_messages(self.run.rerun_of)
                             if m.kind is SlackMessageKind.SUMMARY), None)
            if original is not None:
                self.channel, self.reply_under = original.channel, original.thread_root
        message = render.render_summary(self.view)
        try:
            response = await self._api("chat.postMessage", channel=self.channel,
                                       thread_ts=self.reply_under, text=message.text,
                                       blocks=message.blocks)
        except SlackApiError as exc:
            await self._channel_failed(_problem(exc))
            return
        except SlackUnavailable as exc:
            log.warning("summary of run %s not posted yet: %s", self.run.id, exc)
            return
        self.ts = response["ts"]
        self.thread_root = self.reply_under or self.ts
        await self.services.store.set_slack_message(
            self.run.id, SlackMessageKind.SUMMARY, self.channel, self.ts,
            thread_ts=self.reply_under)
        self._updater = asyncio.create_task(self._update_loop())

    async def _channel_failed(self, problem: str) -> None:
        self.channel_problem = problem or "unknown_error"
        log.warning("cannot post run %s to %s: %s", self.run.id, self.channel, problem)
        response_url = await self.services.queue.response_url(str(self.run.id))
        if response_url:
            message = render.render_not_in_channel(self.channel or "", problem)
            try:
                await _post_response_url(response_url, message)
            except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
                # The run's results are stored regardless; `history` shows them.
                log.warning("could not tell the requester about %s: %s", problem, exc)

    # --- progress ---------------------------------------------------------------------------

    def on_result(self, result: CheckResult) -> None:
        self.view = replace(self.view, results=self.view.results + (result,))
        self._dirty.set()

    async def _update_loop(self) -> None:
        interval = self.services.settings.update_interval_s
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            try:
                await self._update()
            except (SlackApiError, SlackUnavailable) as exc:
                log.warning("progress update of run %s failed: %s", self.run.id, exc)
            await asyncio.sleep(interval)

    async def _update(self) -> None:
        if self.ts is None or self.channel is None:
            return
        async with self._lock:
            message = render.render_summary(self.view)
            await self._api("chat.update", channel=self.channel, ts=self.ts, text=message.text,
                            blocks=message.blocks)

    async def _api(self, method: str, **payload: Any) -> dict[str, Any]:
        self.api_calls += 1
        return await _call(self.services, method, **{k: v for k, v in payload.items()
                                                      if v is not None})

    # --- finish -----------------------------------------------------------------------------

    async def finish(self, final: render.RunView, *, replies: list[tuple[CheckResult, Any]],
                     report_markdown: str | None) -> None:
        """Final summary, one reply per failure, the report file. Never raises for Slack."""
        self.view = final
        if self._updater is not None:
            self._updater.cancel()
            await asyncio.gather(self._updater, return_exceptions=True)
        if self.channel_problem or self.channel is None:
            return
        summary = render.render_summary(final)
        reply_messages = [(result, render.render_failure_reply(result, known=known))
                          for result, known in replies]
        try:
            if self.ts is None:
                response = await self._api("chat.postMessage", channel=self.channel,
                                           thread_ts=self.reply_under, text=summary.text,
                                           blocks=summary.blocks)
                self.ts = response["ts"]
                self.thread_root = self.reply_under or self.ts
                await self.services.store.set_slack_message(
                    self.run.id, SlackMessageKind.SUMMARY, self.channel, self.ts,
                    thread_ts=self.reply_under)
            else:
                async with self._lock:
                    await self._api("chat.update", channel=self.channel, ts=self.ts,
                                    text=summary.text, blocks=summary.blocks)
            for result, message in reply_messages:
                response = await self._api("chat.postMessage", channel=self.channel,
                                           thread_ts=self.thread_root, text=message.text,
                                           blocks=message.blocks)
                await self.services.store.set_slack_message(
                    self.run.id, SlackMessageKind.FAILURE_REPLY, self.channel, response["ts"],
                    thread_ts=self.thread_root, check_id=result.check_id)
            mention = render.render_failure_mention(final)
            if mention is not None:  # an edit does not notify: the mention needs its own post
                await self._api("chat.postMessage", channel=self.channel,
                                thread_ts=self.thread_root, text=mention.text,
                                blocks=mention.blocks)
            if report_markdown and reply_messages:
                self.api_calls += 3  # the two-step upload
                await self.services.slack.files_upload_v2(
                    channel=self.channel, thread_ts=self.thread_root,
                    filename=f"smoke-{self.run.environment}-{str(self.run.id)[:8]}.md",
                    title=f"Smoke test report: {self.run.environment}",
                    content=report_markdown)
        except SlackApiError as exc:
            problem = _problem(exc)
            if problem in CHANNEL_PROBLEMS:
                await self._channel_failed(problem)
            else:
                log.warning("Slack refused a message of run %s: %s", self.run.id, problem)
        except (SlackUnavailable, aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            log.warning("Slack is unavailable; run %s's summary goes to the outbox: %s",
                        self.run.id, exc)
            await self._to_outbox(summary, [m for _, m in reply_messages])

    async def _to_outbox(self, summary: render.SlackMessage,
                         replies: list[render.SlackMessage]) -> None:
        """One entry carries the summary and its replies, so the replies land in the
        summary's thread even when the summary itself could not be posted yet."""
        payload: dict[str, Any] = {"channel": self.channel, "text": summary.text,
                                   "blocks": summary.blocks,
                                   "_replies": [{"text": r.text, "blocks": r.blocks}
                                                for r in replies]}
        if self.ts is not None:
            method, payload["ts"] = "chat.update", self.ts
            payload["_thread_ts"] = self.thread_root
        else:
            method = "chat.postMessage"
            if self.reply_under:
                payload["thread_ts"] = self.reply_under
        await self.services.store.outbox_put(method, payload, run_id=self.run.id,
                                             coalesce_key=f"summary:{self.run.id}")


async def _post_response_url(url: str, message: render.SlackMessage) -> None:
    async with aiohttp.ClientSession() as session:
        await session.post(url, json={"response_type": "ephemeral", "text": message.text,
                                      "blocks": message.blocks, "replace_original": False},
                           timeout=aiohttp.ClientTimeout(total=5))


async def deliver_outbox_once(services: Services, limit: int = 20) -> int:
    """Delivers what is due; returns how many entries were delivered. Once an entry's own
    call went through, the entry counts as delivered: replies that fail after it are queued
    as entries of their own, so a retry never posts the summary or a reply twice."""
    delivered = 0
    now = datetime.now(timezone.utc)
    for entry in await services.store.outbox_due(now, limit):
        payload = {k: v for k, v in entry.payload.items() if not k.startswith("_")}
        try:
            response = await _call(services, entry.method, **payload)
        except SlackUnavailable as exc:
            backoff = OUTBOX_BACKOFF_S[min(entry.attempts, len(OUTBOX_BACKOFF_S) - 1)]
            await services.store.outbox_failed(entry.id, str(exc)[:500],
                                               now + timedelta(seconds=backoff))
            continue
        except SlackApiError as exc:  # Slack refused it (invalid_blocks, channel_not_found)
            await services.store.outbox_failed(entry.id, f"{entry.method}: {_problem(exc)}",
                                               None)
            continue
        thread = entry.payload.get("_thread_ts") or response.get("ts")
        if entry.method == "chat.postMessage" and entry.run_id and "thread_ts" not in payload:
            await services.store.set_slack_message(entry.run_id, SlackMessageKind.SUMMARY,
                                                   payload["channel"], response["ts"])
        replies = list(entry.payload.get("_replies", []))
        for index, reply in enumerate(replies):
            try:
                await _call(services, "chat.postMessage", channel=payload["channel"],
                            thread_ts=thread, **reply)
            except (SlackUnavailable, SlackApiError) as exc:
                log.warning("thread replies of run %s queued again: %s", entry.run_id, exc)
                for rest in replies[index:]:
                    await services.store.outbox_put(
                        "chat.postMessage", {"channel": payload["channel"],
                                             "thread_ts": thread, **rest},
                        run_id=entry.run_id, not_before=now + timedelta(seconds=5))
                break
        await services.store.outbox_delivered(entry.id)
        delivered += 1
    return delivered
