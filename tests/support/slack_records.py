"""What the Slack emulator keeps: calls, channels, messages, files and views, in Slack's shapes.

`Message.as_slack()` and `Channel.as_slack()` give the JSON objects Slack's Web API returns
for them; the emulator hands out copies, so a test can read them while the bot runs.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiCall", "Channel", "EphemeralMessage", "Message", "OpenedView", "UploadedFile"]


@dataclass(frozen=True)
class ApiCall:
    """One request the emulator answered: Web API methods, `response_url` and `upload_url`."""

    method: str
    params: dict[str, Any]  # token removed; JSON-encoded fields (blocks, view, ...) decoded
    status: int
    error: str | None
    at: float
    encoding: str  # "query", "form", "json", "multipart" or "raw"


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False
    members: frozenset[str] | None = None  # None: every user is a member
    created: int = 1_700_000_000

    def as_slack(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "is_channel": not self.is_private,
            "is_group": self.is_private, "is_im": False, "is_mpim": False,
            "is_private": self.is_private, "created": self.created,
            "is_archived": self.is_archived, "is_general": False, "unlinked": 0,
            "name_normalized": self.name, "is_shared": False, "is_org_shared": False,
            "is_pending_ext_shared": False, "pending_shared": [], "is_ext_shared": False,
            "is_member": self.is_member, "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0}, "previous_names": [],
        }


@dataclass
class Message:
    """A message in a channel's history, as posted and then edited."""

    channel: str
    ts: str
    text: str
    user: str
    team: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    parent_user_id: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    bot_profile: dict[str, Any] | None = None
    files: list[dict[str, Any]] = field(default_factory=list)
    metadata: dict[str, Any] | None = None
    edited: dict[str, str] | None = None
    edits: list[dict[str, Any]] = field(default_factory=list)  # earlier versions, oldest first
    reply_ts: list[str] = field(default_factory=list)
    reply_users: list[str] = field(default_factory=list)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def as_slack(self) -> dict[str, Any]:
        """The message object Slack returns for this message."""
        shape: dict[str, Any] = {"user": self.user, "type": "message", "ts": self.ts}
        if self.bot_id:
            shape.update(bot_id=self.bot_id, app_id=(self.bot_profile or {}).get("app_id"))
        shape.update(text=self.text, team=self.team)
        if self.bot_profile:
            shape["bot_profile"] = copy.deepcopy(self.bot_profile)
        if self.blocks:
            shape["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            shape["attachments"] = copy.deepcopy(self.attachments)
        if self.subtype:
            shape["subtype"] = self.subtype
        if self.files:
            shape.update(files=copy.deepcopy(self.files), upload=False, display_as_bot=False)
        if self.metadata:
            shape["metadata"] = copy.deepcopy(self.metadata)
        if self.edited:
            shape["edited"] = dict(self.edited)
        if self.is_reply:
            shape.update(thread_ts=self.thread_ts, parent_user_id=self.parent_user_id)
        elif self.reply_ts:
            shape.update(thread_ts=self.ts, reply_count=len(self.reply_ts),
                         reply_users_count=len(self.reply_users),
                         reply_users=list(self.reply_users), latest_reply=self.reply_ts[-1])
        return shape


@dataclass(frozen=True)
class EphemeralMessage:
    """A message only `user` saw: from chat.postEphemeral or an ephemeral response_url post."""

    channel: str
    user: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    source: str  # "chat.postEphemeral" or "response_url"


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    title: str | None = None
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None  # None until the bytes are POSTed to the upload_url
    completed: bool = False
    shares: list[tuple[str, str]] = field(default_factory=list)  # (channel, message ts)


@dataclass(frozen=True)
class OpenedView:
    trigger_id: str
    user_id: str
    view: dict[str, Any]  # as Slack returned it, with its id
