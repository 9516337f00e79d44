"""Slack messages as a person reads them, in plain text: what `make demo-slack` prints of the
channel. Takes messages in the Web API's shape (conversations.history, chat.postMessage's
`message`) and renders their Block Kit (header, section text, fields and accessory, context,
actions, divider, image, markdown) with mrkdwn resolved: links, mentions, dates, emoji and
entities; bold, italic and strike markers dropped; inline code kept in backticks, code
blocks indented, quotes barred.

Pure: no Slack, no emulator; `Reader` says what to call people and which links to show.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["EMOJI", "Reader", "blocks_text", "message_text", "mrkdwn_text"]

# The emoji smokebot's messages use (bot/slack/render), as a terminal shows them; any other
# stays `:name:`, as Slack shows an emoji it does not know.
EMOJI = {
    "white_check_mark": "✅", "x": "❌", "warning": "⚠️", "no_entry": "⛔",
    "next_track_button": "⏭️", "arrows_counterclockwise": "🔄", "snail": "🐌",
    "hourglass": "⌛", "hourglass_flowing_sand": "⏳", "octagonal_sign": "🛑",
    "fast_forward": "⏩", "boom": "💥", "new": "🆕", "repeat": "🔁", "shushing_face": "🤫",
    "leftwards_arrow_with_hook": "↩️", "grey_question": "❔", "paperclip": "📎",
}
DIVIDER = "─" * 40

_ANGLE = re.compile(r"<([^<>]*)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+-]+):")
_CODE = re.compile(r"```(.*?)```|`([^`\n]+)`", re.DOTALL)
# Slack's markers: at a word's edge, around text that neither starts nor ends with a space.
_MARKERS = [re.compile(rf"(?<![\w{m}]){m}(?=\S)(.+?)(?<=\S){m}(?![\w{m}])")
            for m in (r"\*", "_", "~")]
_QUOTE = re.compile(r"^>", re.MULTILINE)
_QUOTED = "\x01"  # a quote's line start, set aside until code and entities are resolved
_ENTITIES = (("&lt;", "<"), ("&gt;", ">"), ("&amp;", "&"))


@dataclass(frozen=True)
class Reader:
    """Who reads: the names they know people and channels by, and which link targets mean
    something to them (a link into a workspace they cannot open reads as its label only)."""

    names: Mapping[str, str] = field(default_factory=dict)  # user, channel or group id -> name
    show_url: Callable[[str], bool] = lambda url: True


def _unescape(text: str) -> str:
    for entity, char in _ENTITIES:
        text = text.replace(entity, char)
    return text


def _emoji(text: str) -> str:
    return _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), text)


def _angle(inner: str, reader: Reader) -> str:
    """One `<...>` of mrkdwn: a link, a mention, a date or a special mention."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        user = target[1:]
        return f"@{reader.names.get(user, label or user)}"
    if target.startswith("#"):
        channel = target[1:]
        return f"#{reader.names.get(channel, label or channel)}"
    if target.startswith("!subteam^"):
        group = target.removeprefix("!subteam^")
        return label or f"@{reader.names.get(group, group)}"
    if target.startswith("!date^"):
        return label  # the fallback: what a client that cannot format the date shows
    if target.startswith("!"):
        return label or f"@{target[1:]}"
    url = _unescape(target)
    label = label or url
    return f"{label} ({url})" if reader.show_url(url) and label != url else label


def _inline(text: str, reader: Reader) -> str:
    """mrkdwn outside code: `<...>` resolved, markers dropped, emoji, then entities. The
    `<...>` are set aside first, so that a marker never reaches into a URL, and a marker
    around a link (`*<url|label>*`) still pairs up."""
    resolved: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        resolved.append(_angle(match.group(1), reader))
        return f"\x00{len(resolved) - 1}\x00"

    text = _ANGLE.sub(set_aside, text)
    for marker in _MARKERS:
        text = marker.sub(r"\1", text)
    text = _unescape(_emoji(text))
    return re.sub("\x00([0-9]+)\x00", lambda m: resolved[int(m.group(1))], text)


def mrkdwn_text(text: str, reader: Reader = Reader()) -> str:
    """A mrkdwn string as plain text: inline code stays in backticks (it marks ids and
    values), a code block becomes its lines indented by four, on lines of their own."""
    text = _QUOTE.sub(_QUOTED, text)  # before entities are resolved: `&gt;` quotes nothing
    out: list[str] = []
    last = 0
    for match in _CODE.finditer(text):
        out.append(_inline(text[last:match.start()], reader))
        block, span = match.group(1), match.group(2)
        if block is None:
            out.append(f"`{_unescape(span.replace(_QUOTED, '>'))}`")
        else:
            lines = _unescape(block.replace(_QUOTED, ">").strip("\n")).splitlines()
            before = "\n" if out[-1] and not out[-1].endswith("\n") else ""
            after = "" if text[match.end():match.end() + 1] in ("\n", "") else "\n"
            out.append(before + "\n".join(f"    {line}" if line else "" for line in lines)
                       + after)
        last = match.end()
    out.append(_inline(text[last:], reader))
    return re.sub(f"{_QUOTED} ?", "│ ", "".join(out).strip("\n"))


def _text_object(obj: Any, reader: Reader) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    if obj.get("type") == "mrkdwn":
        return mrkdwn_text(text, reader)
    return _emoji(text) if obj.get("emoji", True) else text


def _element(element: Any, reader: Reader) -> str:
    """An interactive element as a person sees it: a button's label in brackets."""
    if not isinstance(element, dict):
        return ""
    kind = element.get("type")
    if kind == "button":
        return f"[ {_text_object(element.get('text'), reader)} ]"
    if kind == "image":
        return f"[image: {element.get('alt_text', '')}]"
    if kind in ("mrkdwn", "plain_text"):
        return _text_object(element, reader)
    shown = _text_object(element.get("placeholder"), reader) or str(kind)
    return f"[ {shown} ▾ ]"


def _field(obj: Any, reader: Reader) -> str:
    """A section field, `*Label*\\nvalue` as Slack lays it out, on one line: `Label: value`."""
    lines = _text_object(obj, reader).splitlines()
    return f"{lines[0]}: {' '.join(lines[1:])}" if len(lines) > 1 else " ".join(lines)


def _block(block: Any, reader: Reader) -> str:
    if not isinstance(block, dict):
        return ""
    kind = block.get("type")
    if kind in ("header", "markdown"):
        text = block.get("text")
        return _text_object(text, reader) if kind == "header" else mrkdwn_text(str(text), reader)
    if kind == "section":
        parts = [_text_object(block.get("text"), reader)] if block.get("text") else []
        if block.get("fields"):
            parts.append(" · ".join(_field(f, reader) for f in block["fields"]))
        accessory = _element(block.get("accessory"), reader)
        if accessory:
            parts.append(accessory)
        return "\n".join(p for p in parts if p)
    if kind == "context":
        return " · ".join(p for p in (_element(e, reader) for e in block.get("elements", []))
                          if p)
    if kind == "actions":
        return "  ".join(p for p in (_element(e, reader) for e in block.get("elements", []))
                         if p)
    if kind == "divider":
        return DIVIDER
    if kind == "image":
        return f"[image: {block.get('alt_text', '')}]"
    return f"[{kind} block]"


def blocks_text(blocks: Iterable[Any], reader: Reader = Reader()) -> str:
    """The blocks of one message, one after another."""
    return "\n".join(text for text in (_block(b, reader) for b in blocks) if text)


def _size(size: Any) -> str:
    if not isinstance(size, int):
        return ""
    return f"{size} B" if size < 1000 else f"{size / 1000:.1f} kB"


def _files(files: Iterable[Any]) -> list[str]:
    lines = []
    for file in files:
        if isinstance(file, dict):
            name = file.get("name") or "file"
            title = file.get("title")
            described = ", ".join(p for p in (title if title != name else "",
                                              _size(file.get("size"))) if p)
            lines.append(f"{EMOJI['paperclip']} {name}" + (f" ({described})" if described else ""))
    return lines


def _author(message: Mapping[str, Any], reader: Reader) -> str:
    profile = message.get("bot_profile")
    if isinstance(profile, dict) and profile.get("name"):
        return str(profile["name"])
    user = str(message.get("user", ""))
    return reader.names.get(user, user or "someone")


def _clock(ts: Any) -> str:
    try:
        return datetime.fromtimestamp(float(ts)).strftime("%H:%M")
    except (TypeError, ValueError, OverflowError):
        return ""


def message_text(message: Mapping[str, Any], reader: Reader = Reader()) -> str:
    """`author  HH:MM` and, below it indented by two, the message: its blocks when it has
    any (the text is then only the notification's), else its text; then its files."""
    blocks = message.get("blocks") or []
    body = blocks_text(blocks, reader) if blocks else mrkdwn_text(str(message.get("text", "")),
                                                                  reader)
    lines = [line for line in body.splitlines()] + _files(message.get("files") or [])
    heading = f"{_author(message, reader)}  {_clock(message.get('ts'))}".rstrip()
    return "\n".join([heading, *(f"  {line}" if line else "" for line in lines)])
