"""Block Kit's building blocks within Slack's limits: mrkdwn escaping, clipping, text objects,
blocks, mentions, links and dates. Every renderer builds its messages from these."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from checks.report._text import one_line, show_controls

__all__ = [
    "BUTTON_TEXT_MAX",
    "BUTTON_VALUE_MAX",
    "CHECKBOX_OPTIONS_MAX",
    "CONTEXT_ELEMENTS_MAX",
    "FALLBACK_TEXT_MAX",
    "FIELD_TEXT_MAX",
    "HEADER_TEXT_MAX",
    "MAX_BLOCKS",
    "MAX_VIEW_BLOCKS",
    "OPTION_TEXT_MAX",
    "SECTION_TEXT_MAX",
    "SELECT_OPTIONS_MAX",
    "SLACK_URL",
    "SlackMessage",
    "button",
    "channel_mention",
    "clip",
    "code",
    "code_body",
    "context",
    "enum_value",
    "escape",
    "escape_keeping_users",
    "group_mention",
    "header",
    "inline",
    "is_user_id",
    "local_date",
    "local_datetime",
    "mrkdwn",
    "mrkdwn_link",
    "packed_sections",
    "permalink",
    "plain",
    "plural",
    "section",
    "short_id",
    "slack_message",
    "user_mention",
]

# Slack's documented limits (docs.slack.dev, Block Kit reference).
MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
SECTION_TEXT_MAX = 3_000
FIELD_TEXT_MAX = 2_000
HEADER_TEXT_MAX = 150
CONTEXT_ELEMENTS_MAX = 10
BUTTON_TEXT_MAX = 75
BUTTON_VALUE_MAX = 2_000
OPTION_TEXT_MAX = 75
CHECKBOX_OPTIONS_MAX = 10
SELECT_OPTIONS_MAX = 100
# Slack takes 40,000 characters of `text`; a notification shows a line, so stay far below.
FALLBACK_TEXT_MAX = 4_000

_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_GROUP_ID = re.compile(r"^S[A-Z0-9]{2,}$")
# A single user's mention, as our own code writes it into triggers and reasons ("by <@U1>").
_ESCAPED_USER_MENTION = re.compile(r"&lt;@([UW][A-Z0-9]{2,})&gt;")
_URL = re.compile(r"^https?://[^\s<>|]+$")
SLACK_URL = "https://slack.com/"  # where a permalink goes when the workspace's URL is unknown


@dataclass(frozen=True)
class SlackMessage:
    """A message as chat.postMessage takes it: `text` is the notification fallback."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


# --- text ---------------------------------------------------------------------------------------

def escape(text: str) -> str:
    """Text shown literally in mrkdwn: `<!channel>` or `<https://x|y>` cannot become live."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_keeping_users(text: str) -> str:
    """Escaped, but a single user's `<@U123>` (our own "by <@U123>") stays a mention."""
    return _ESCAPED_USER_MENTION.sub(r"<@\1>", escape(text))


def clip(text: str, limit: int) -> str:
    """At most `limit` characters, with an ellipsis when cut; never splits an `&amp;`."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def inline(text: str, limit: int = 500) -> str:
    """User or target text on one line, escaped and clipped."""
    return clip(escape(one_line(text)), limit)


def code(text: str, limit: int = 200) -> str:
    """An inline code span; a backtick inside would end it, so it becomes a look-alike."""
    return f"`{clip(escape(one_line(text)).replace('`', 'ˋ'), limit)}`"


def code_body(text: str) -> str:
    """Text for inside a ``` block: escaped, controls shown, and no run of three backticks
    (a zero-width space between them) so the evidence cannot close the block early."""
    return re.sub(r"`(?=`)", "`\u200b", escape(show_controls(text).rstrip()))


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def short_id(run_id: Any) -> str:
    return str(run_id)[:8]


def enum_value(thing: Any) -> str:
    """A str enum's value (or the thing itself as text)."""
    return str(getattr(thing, "value", thing))


# --- mentions, links and dates ------------------------------------------------------------------

def is_user_id(text: str) -> bool:
    return bool(_USER_ID.match(text))


def user_mention(user: str | None) -> str:
    """A Slack user id as a mention; anything else (a GitHub login, a CI job) as text."""
    if not user:
        return "someone"
    return f"<@{user}>" if _USER_ID.match(user) else inline(user, 100)


def channel_mention(channel: str) -> str:
    if _CHANNEL_ID.match(channel):
        return f"<#{channel}>"
    return inline(f"#{channel.lstrip('#')}", 100)


def group_mention(group: str) -> str:
    """`S0123` (or `<!subteam^S0123|@oncall>`) as a user group mention."""
    bare = group.strip().removeprefix("<!subteam^").removesuffix(">").split("|")[0]
    return f"<!subteam^{bare}>" if _GROUP_ID.match(bare) else inline(group, 100)


def mrkdwn_link(url: str | None, label: str) -> str:
    """`<url|label>` for an http(s) URL; anything else is not made a link."""
    if not url or not _URL.match(url) or len(url) > 2_000:
        return ""
    return f"<{url.replace('&', '&amp;')}|{label}>"


def permalink(channel: str, ts: str, thread_ts: str | None = None, *,
              workspace_url: str | None = None) -> str:
    """A message's permalink built without a Slack call (as chat.getPermalink shapes it).
    `workspace_url` is auth.test's `url` (`https://acme.slack.com/`); without it the link
    goes through slack.com, which sends the reader on to their workspace."""
    base = workspace_url if workspace_url and _URL.match(workspace_url) else SLACK_URL
    link = f"{base.rstrip('/')}/archives/{channel}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        link += f"?thread_ts={thread_ts}&cid={channel}"
    return link


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None \
        else moment.astimezone(timezone.utc)


def local_datetime(moment: datetime, token: str = "{date_short_pretty} {time}") -> str:
    """Shown in each reader's time zone; the fallback is UTC."""
    at = _utc(moment)
    return f"<!date^{int(at.timestamp())}^{token}|{at.strftime('%Y-%m-%d %H:%M UTC')}>"


def local_date(moment: datetime) -> str:
    at = _utc(moment)
    return f"<!date^{int(at.timestamp())}^{{date_short}}|{at.strftime('%Y-%m-%d')}>"


# --- text objects and blocks --------------------------------------------------------------------

def plain(text: str, limit: int) -> dict[str, Any]:
    # plain_text is never parsed for mentions or links, so it is clipped, not escaped.
    return {"type": "plain_text", "text": clip(one_line(text) or "-", limit), "emoji": True}


def mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": mrkdwn(clip(text, SECTION_TEXT_MAX))}


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": plain(text, HEADER_TEXT_MAX)}


def context(parts: Iterable[str]) -> dict[str, Any]:
    elements = [p for p in parts if p]
    if len(elements) > CONTEXT_ELEMENTS_MAX:
        hidden = len(elements) - (CONTEXT_ELEMENTS_MAX - 1)
        elements = elements[:CONTEXT_ELEMENTS_MAX - 1] + [f"… and {hidden} more"]
    return {"type": "context",
            "elements": [mrkdwn(clip(e, SECTION_TEXT_MAX)) for e in elements]}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    made: dict[str, Any] = {"type": "button", "action_id": action_id,
                            "text": plain(text, BUTTON_TEXT_MAX), "value": value}
    if style:
        made["style"] = style
    return made


def slack_message(text: str, blocks: list[dict[str, Any]]) -> SlackMessage:
    """The fallback text and the blocks, each cut to Slack's limit."""
    return SlackMessage(text=clip(text, FALLBACK_TEXT_MAX), blocks=blocks[:MAX_BLOCKS])


def packed_sections(lines: Sequence[str], *, max_blocks: int,
                    more: str = "more") -> list[dict[str, Any]]:
    """Lines packed into as few sections as fit; what does not fit in `max_blocks` becomes
    one closing "… and N more" line."""
    blocks: list[dict[str, Any]] = []
    current: list[str] = []
    size = 0
    for index, line in enumerate(lines):
        line = clip(line, SECTION_TEXT_MAX - 100)
        if current and size + 1 + len(line) > SECTION_TEXT_MAX - 100:
            if len(blocks) + 1 >= max_blocks:
                current.append(f"… and {len(lines) - index} {more}")
                break
            blocks.append(section("\n".join(current)))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        blocks.append(section("\n".join(current)))
    return blocks
