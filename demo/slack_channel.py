"""One person's view of a channel of the demo's Slack emulator, as they follow it: each look
gives what is new since the last one (messages, thread replies, messages only they see) and
what was edited meanwhile, in plain text (demo/slack_text.py), threads indented under their
parent as Slack shows them in a thread's pane."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from demo.slack_text import Reader, blocks_text, message_text, mrkdwn_text
from tests.support.slack_emulator import SlackEmulator

__all__ = ["THREAD_BAR", "ChannelView", "ephemeral_text"]

THREAD_BAR = "  ┆ "  # what marks the lines of a thread reply


def _indented(text: str, prefix: str) -> str:
    return "\n".join((prefix + line).rstrip() for line in text.splitlines())


class ChannelView:
    """What `user` has seen of `channel_id`; `look()` returns the news, or "" when none."""

    def __init__(self, emulator: SlackEmulator, channel_id: str, user: str,
                 reader: Reader) -> None:
        self._emulator = emulator
        self._channel = channel_id
        self._user = user
        self._reader = reader
        self._seen: dict[str, str] = {}  # ts -> the text last shown of that message
        self._ephemerals_seen = 0

    def _news(self, ts: str, text: str) -> str | None:
        """`text` if the message is new, with "(edited)" if it changed since shown; else None."""
        shown = self._seen.get(ts)
        self._seen[ts] = text
        if shown == text:
            return None
        if shown is None:
            return text
        heading, _, rest = text.partition("\n")
        return f"{heading}  (edited)\n{rest}"

    def look(self) -> str:
        parts: list[str] = list(self._ephemeral_news())
        for parent in self._emulator.messages(self._channel):
            parent_text = message_text(parent.as_slack(), self._reader)
            news = self._news(parent.ts, parent_text)
            replies = [(reply.ts, message_text(reply.as_slack(), self._reader))
                       for reply in self._emulator.thread(self._channel, parent.ts)]
            reply_news = [text for text in (self._news(ts, t) for ts, t in replies) if text]
            if news is not None:
                parts.append(news)
            if reply_news:
                parts.append(self._thread(parent_text, len(replies), reply_news,
                                          with_parent=news is not None))
        return "\n\n".join(parts)

    def _thread(self, parent_text: str, count: int, news: list[str], *,
                with_parent: bool) -> str:
        if with_parent:
            caption = f"{count} {'reply' if count == 1 else 'replies'} in the thread:"
        else:
            headline = (parent_text.splitlines()[1:] or [""])[0].strip()
            caption = f"new in the thread of “{headline}”:"
        body = f"\n{THREAD_BAR.rstrip()}\n".join(_indented(text, THREAD_BAR) for text in news)
        return f"  {caption}\n{body}"

    def _ephemeral_news(self) -> Iterable[str]:
        found = self._emulator.ephemerals(self._channel, self._user)
        for ephemeral in found[self._ephemerals_seen:]:
            yield ephemeral_text(ephemeral.text, ephemeral.blocks, self._reader)
        self._ephemerals_seen = len(found)


def ephemeral_text(text: str, blocks: list[dict[str, Any]], reader: Reader) -> str:
    """A message only its reader sees (a command's or a click's answer), as Slack marks it."""
    body = blocks_text(blocks, reader) if blocks else mrkdwn_text(text, reader)
    first, _, rest = body.partition("\n")
    return "\n".join(filter(None, [f"  (only visible to you) {first}",
                                    _indented(rest, "    ") if rest else ""]))
