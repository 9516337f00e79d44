"""The one deliverer: sends the messages a run owes Slack, from the outbox, in order.

Every message a run sends after its live progress (final summary, failure replies, the
mention, the report file, interrupted/superseded notices) is a row in the outbox, written in
the transaction that ended the run (bot/slack/outgoing.py renders them). `deliver_run` sends a
run's pending rows one by one: it holds the run's lease, marks a row in doubt, makes the call,
then marks the row delivered with the ts Slack gave it (recording the failure reply, mention
or report among the run's Slack messages) before taking the next. The same function serves
the first attempt, right after the run, and every retry, from any worker's outbox loop.

Nothing is lost: a row stays pending until it is delivered or Slack refuses it for good. Nothing
is posted twice: the sender client retries nothing by itself; a 429 proves the call was not
carried out and is retried after Retry-After; after a 5xx, a lost connection or a deliverer
that died mid-call, the row is in doubt, and before it is sent again the deliverer looks for
it in Slack (each post carries its row id in its message metadata; a report is found by its
file id).
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import aiohttp

from bot.backoff import Backoff, sleep_unless
from bot.errors import SlackRefused, SlackUnavailable, StoreUnavailable
from bot.records import OutboxEntry, SlackMessage, SlackMessageKind
from bot.services import Services
from bot.slack import render
from bot.slack.client import call_slack, prepare_upload, share_upload
from bot.store._rows import run_stream

__all__ = ["DELIVERY_EVENT", "deliver_due", "deliver_run", "post_response_url"]

log = logging.getLogger("smokebot.slack")

DELIVERY_EVENT = "smokebot_message"  # the metadata event type of every post we make
TRIES_PER_PASS = 8  # tries of one message in one pass before it waits out a backoff
FIRST_DELIVERY_PATIENCE_S = 30.0  # how long the worker that ran a run waits on its messages
# A longer Retry-After is waited out by the outbox loop instead; also keeps every pause well
# inside the delivery lease (settings.delivery_lease_s), which each attempt extends.
LONGEST_INLINE_WAIT_S = 10.0
# Between tries of a pass, by tries so far in it; between passes, by the row's stored attempts.
RETRY_BACKOFF = Backoff((0.5, 1.0, 2.0, 5.0, 15.0, 30.0, 60.0))
RESPONSE_URL_TIMEOUT_S = 5.0
HISTORY_PAGES = 10  # of 200 messages, when looking for a summary that may have been posted


class _Sent:
    """How one message's delivery ended in this pass."""

    DELIVERED = "delivered"
    SKIPPED = "skipped"  # refused for good; the next message can go
    STOPPED = "stopped"  # wait: later messages must not overtake this one


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


async def deliver_run(services: Services, run_id: UUID | str, *,
                      stop: asyncio.Event | None = None,
                      patience_s: float = FIRST_DELIVERY_PATIENCE_S) -> bool:
    """Sends the run's pending messages in order; True when none is left pending. A message
    waiting out a backoff is waited for while `patience_s` lasts; after that, or when another
    deliverer holds the run, the rest is left to the outbox loop (`deliver_due`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + patience_s
    while True:
        done, retry_at = await _deliver_stream(services, run_stream(run_id), stop=stop)
        if done or retry_at is None or (stop is not None and stop.is_set()):
            return done
        wait = max(0.0, (retry_at - datetime.now(timezone.utc)).total_seconds())
        if loop.time() + wait > deadline:
            return False
        await sleep_unless(stop, wait)


async def deliver_due(services: Services, *, limit: int = 20,
                      stop: asyncio.Event | None = None) -> int:
    """One pass of a worker's outbox loop: delivers every run with a message due; returns how
    many runs it finished delivering."""
    done = 0
    for stream in await services.store.outbox_due_streams(limit):
        if stop is not None and stop.is_set():
            break
        finished, _ = await _deliver_stream(services, stream, stop=stop)
        done += finished
    return done


async def _deliver_stream(services: Services, stream: str, *,
                          stop: asyncio.Event | None) -> tuple[bool, datetime | None]:
    """(True, None) when nothing is left pending; else (False, when the next message is due),
    or (False, None) when another deliverer has the stream or it was stopped."""
    store, holder, lease_s = services.store, _holder(), services.settings.delivery_lease_s
    entries = await store.outbox_take(stream, holder, lease_s)
    if entries is None:
        return False, None
    released = False
    summary: SlackMessage | None = None  # known once looked up or delivered in this pass
    try:
        while True:
            for entry in entries:
                if stop is not None and stop.is_set():
                    return False, None
                if entry.next_attempt_at > datetime.now(timezone.utc):
                    return False, entry.next_attempt_at  # waiting out its backoff
                delivery = _Delivery(services, entry, holder, summary=summary)
                outcome = await delivery.send()
                summary = delivery.summary
                if outcome == _Sent.STOPPED:
                    return False, delivery.retry_at
            # Released only if nothing came in meanwhile (a notice, the run's ending): another
            # deliverer found the stream taken and left those to us.
            if await store.outbox_release(stream, holder):
                released = True
                return True, None
            entries = await store.outbox_take(stream, holder, lease_s)
            if entries is None:
                released = True  # taken over
                return False, None
    finally:
        if not released:
            try:
                await store.outbox_abandon(stream, holder)
            except StoreUnavailable as exc:  # the lease runs out by itself
                log.warning("outbox lease of %s not released: %s", stream, exc)


class _Delivery:
    """Sending one outbox row: the thread it goes into, the call, the retries, the bookkeeping."""

    def __init__(self, services: Services, entry: OutboxEntry, holder: str, *,
                 summary: SlackMessage | None = None) -> None:
        self.services, self.entry, self.holder = services, entry, holder
        self.summary = summary  # the run's summary record, when the caller already knows it
        self.store = services.store
        self.slack = services.sender
        self.in_doubt = entry.in_doubt
        self.file_id: str | None = entry.payload.get("file_id")
        self.retry_at: datetime | None = None  # set when the message waits out a backoff

    async def send(self) -> str:
        entry = self.entry
        summary = await self._summary_record()
        if entry.kind is not SlackMessageKind.SUMMARY and summary is None:
            # The summary was refused for good: there is no thread to reply in.
            await self.store.outbox_give_up([entry.id], "the run's summary was never posted")
            return _Sent.SKIPPED
        for attempt in range(TRIES_PER_PASS):
            try:
                if self.in_doubt:
                    found = await self._find_in_slack(summary)
                    if found is not None:
                        log.info("outbox message %d was posted before (ts %s)", entry.id, found)
                        await self._delivered(found, summary)
                        return _Sent.DELIVERED
                    self.in_doubt = False  # looked: the earlier attempt posted nothing
                if not await self.store.outbox_attempting(
                        entry.id, entry.stream, self.holder,
                        self.services.settings.delivery_lease_s):
                    log.warning("outbox of %s taken over by another deliverer", entry.stream)
                    return _Sent.STOPPED
                ts = await self._attempt(summary)
            except SlackUnavailable as exc:
                self.services.metrics.delivery_retry(entry.kind,
                                                     rate_limited=exc.retry_after_s is not None)
                wait = exc.retry_after_s if exc.retry_after_s is not None else \
                    RETRY_BACKOFF.delay(attempt)
                if attempt + 1 < TRIES_PER_PASS and wait <= LONGEST_INLINE_WAIT_S:
                    await asyncio.sleep(wait)
                    continue
                await self._later(exc.message, wait)
                return _Sent.STOPPED
            except SlackRefused as exc:
                return await self._refused(exc)
            await self._delivered(ts, summary)
            return _Sent.DELIVERED
        return _Sent.STOPPED  # not reached: the last try returns above

    async def _attempt(self, summary: SlackMessage | None) -> str:
        """One call; afterwards the row is in doubt unless Slack's answer proved the call was
        not carried out (a 429, a refusal)."""
        self.in_doubt = True
        try:
            return await self._call(summary)
        except SlackUnavailable as exc:
            self.in_doubt = exc.maybe_sent
            raise
        except SlackRefused:
            self.in_doubt = False
            raise

    # --- the call -------------------------------------------------------------------------

    async def _call(self, summary: SlackMessage | None) -> str:
        entry, payload = self.entry, self.entry.payload
        metadata = {"event_type": DELIVERY_EVENT,
                    "event_payload": {"outbox_id": str(entry.id), "run_id": str(entry.run_id),
                                      "kind": entry.kind.value}}
        if entry.kind is SlackMessageKind.SUMMARY:
            if summary is not None:
                try:
                    await call_slack(self.slack, "chat.update", channel=summary.channel,
                                     ts=summary.ts, text=payload.get("text"),
                                     blocks=payload.get("blocks"))
                    return summary.ts
                except SlackRefused as exc:
                    if exc.problem != "message_not_found":
                        raise
                    log.warning("run %s's summary was deleted; posting it again", entry.run_id)
            response = await call_slack(self.slack, "chat.postMessage", channel=entry.channel,
                                        thread_ts=payload.get("thread_ts"),
                                        text=payload.get("text"), blocks=payload.get("blocks"),
                                        metadata=metadata)
            return str(response["ts"])
        assert summary is not None
        if entry.kind is SlackMessageKind.REPORT:
            return await self._share_report(summary)
        response = await call_slack(self.slack, "chat.postMessage", channel=summary.channel,
                                    thread_ts=summary.thread_root, text=payload.get("text"),
                                    blocks=payload.get("blocks"), metadata=metadata)
        return str(response["ts"])

    async def _share_report(self, summary: SlackMessage) -> str:
        """Uploads the report once, then shares it; a retry after a failed share only shares
        (Slack's upload is two steps, and the file id is kept with the row between them)."""
        payload = self.entry.payload
        if self.file_id is None:
            self.file_id = await prepare_upload(self.slack, filename=str(payload["filename"]),
                                                content=str(payload["content"]))
            await self.store.outbox_note(self.entry.id, {**payload, "file_id": self.file_id})
        try:
            await share_upload(self.slack, self.file_id, title=str(payload["title"]),
                               channel=summary.channel, thread_ts=summary.thread_root)
        except SlackRefused as exc:
            if exc.problem != "file_not_found":
                raise
            # Expired (or shared already, which the in-doubt look would have found): upload anew.
            self.file_id = None
            await self.store.outbox_note(self.entry.id, {k: v for k, v in payload.items()
                                                         if k != "file_id"})
            raise SlackUnavailable("report upload expired; uploading it again",
                                   maybe_sent=False) from exc
        # Slack's answer names the file, not the message sharing it.
        return f"file:{self.file_id}"

    # --- looking before sending again -------------------------------------------------------

    async def _find_in_slack(self, summary: SlackMessage | None) -> str | None:
        """The ts of this row's message if an earlier attempt posted it, else None."""
        entry = self.entry
        if entry.kind is SlackMessageKind.SUMMARY and summary is not None:
            return None  # an update: sending it again is harmless
        if entry.kind is SlackMessageKind.REPORT:
            if not self.file_id or summary is None:
                return None
            shared = await self._find_file(summary, self.file_id)
            return f"file:{self.file_id}" if shared else None
        if entry.kind is SlackMessageKind.SUMMARY:
            thread = entry.payload.get("thread_ts")
            if thread:
                messages = await self._thread(entry.channel, str(thread))
            else:
                messages = await self._history_since(entry.channel, entry.created_at)
        else:
            assert summary is not None
            messages = await self._thread(summary.channel, summary.thread_root)
        for message in messages:
            meta = message.get("metadata") or {}
            if meta.get("event_type") != DELIVERY_EVENT:
                continue
            if str((meta.get("event_payload") or {}).get("outbox_id")) == str(entry.id):
                return str(message["ts"])
        return None

    async def _find_file(self, summary: SlackMessage, file_id: str) -> str | None:
        for message in await self._thread(summary.channel, summary.thread_root):
            if any(f.get("id") == file_id for f in message.get("files") or []):
                return str(message["ts"])
        return None

    async def _history_since(self, channel: str, since: datetime) -> list[dict[str, Any]]:
        """The channel's top-level messages since the row was written, every page: a busy
        channel cannot push an earlier post of ours out of sight."""
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        for _ in range(HISTORY_PAGES):
            response = await call_slack(self.slack, "conversations.history", channel=channel,
                                        oldest=f"{since.timestamp() - 1:.6f}", limit=200,
                                        cursor=cursor, include_all_metadata=True)
            found.extend(response.get("messages") or [])
            cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
            if not response.get("has_more") or not cursor:
                break
        return found

    async def _thread(self, channel: str, ts: str) -> list[dict[str, Any]]:
        response = await call_slack(self.slack, "conversations.replies", channel=channel, ts=ts,
                                    limit=1000, include_all_metadata=True)
        return list(response.get("messages") or [])

    # --- bookkeeping --------------------------------------------------------------------------

    async def _summary_record(self) -> SlackMessage | None:
        if self.summary is not None or self.entry.run_id is None:
            return self.summary
        self.summary = next((m for m in await self.store.slack_messages(self.entry.run_id)
                             if m.kind is SlackMessageKind.SUMMARY), None)
        return self.summary

    async def _delivered(self, ts: str, summary: SlackMessage | None) -> None:
        entry = self.entry
        if entry.kind is SlackMessageKind.SUMMARY:
            thread = summary.thread_ts if summary is not None and summary.ts == ts else \
                entry.payload.get("thread_ts")
        else:
            thread = summary.thread_root if summary is not None else None
        recorded = await self.store.outbox_delivered(entry, ts,
                                                     thread_ts=str(thread) if thread else None)
        if recorded is not None and recorded.kind is SlackMessageKind.SUMMARY:
            self.summary = recorded

    async def _later(self, error: str, wait_s: float) -> None:
        # By passes so far (each makes up to TRIES_PER_PASS calls): quick at first, then
        # slower while Slack stays down.
        backoff = RETRY_BACKOFF.delay(self.entry.attempts // TRIES_PER_PASS)
        at = datetime.now(timezone.utc) + timedelta(seconds=max(wait_s, backoff))
        self.retry_at = at
        log.warning("run %s: Slack unavailable, %s message %d waits until %s: %s",
                    self.entry.run_id, self.entry.kind.value, self.entry.id,
                    at.isoformat(timespec="seconds"), error)
        await self.store.outbox_retry_later(self.entry.id, error, at, in_doubt=self.in_doubt)

    async def _refused(self, exc: SlackRefused) -> str:
        entry = self.entry
        if exc.channel_problem or entry.kind is SlackMessageKind.SUMMARY:
            # Nothing of this run can reach the channel: give up all of it, tell the requester.
            rest = [e.id for e in await self.store.outbox_entries(entry.run_id)
                    if e.delivered_at is None and e.gave_up_at is None] if entry.run_id else []
            await self.store.outbox_give_up(rest or [entry.id], exc.problem)
            log.warning("run %s: Slack refused its %s (%s); its messages are given up",
                        entry.run_id, entry.kind.value, exc.problem)
            if exc.channel_problem and entry.run_id is not None:
                await self._tell_requester(exc.problem)
            return _Sent.STOPPED
        await self.store.outbox_give_up([entry.id], exc.problem)
        log.warning("run %s: Slack refused %s message %d (%s); the rest go on",
                    entry.run_id, entry.kind.value, entry.id, exc.problem)
        return _Sent.SKIPPED

    async def _tell_requester(self, problem: str) -> None:
        try:
            url = await self.services.queue.response_url(str(self.entry.run_id))
        except Exception as exc:  # noqa: BLE001 - Redis trouble only loses this courtesy
            log.warning("run %s: response_url not read: %s", self.entry.run_id, exc)
            return
        if url:
            await post_response_url(url, render.render_not_in_channel(self.entry.channel,
                                                                      problem))


async def post_response_url(url: str, message: render.SlackMessage) -> bool:
    """An ephemeral answer through a slash command's response_url; False when it failed (the
    run's results are stored regardless: `history` shows them)."""
    try:
        async with aiohttp.ClientSession() as session, session.post(
                url, json={"response_type": "ephemeral", "text": message.text,
                           "blocks": message.blocks, "replace_original": False},
                timeout=aiohttp.ClientTimeout(total=RESPONSE_URL_TIMEOUT_S)) as response:
            return response.status < 400
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        log.warning("could not answer through the response_url: %s", exc)
        return False

