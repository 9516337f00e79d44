"""A Slack Web API emulator: a Starlette app the real `slack_sdk` clients talk to over HTTP.

Serve it and point a client at it::

    emulator = SlackEmulator()
    with emulator.serve() as api_url:          # "http://127.0.0.1:PORT/api/"
        client = WebClient(token=emulator.bot_token, base_url=api_url)
        client.chat_postMessage(channel=emulator.default_channel, text="hi")
    emulator.messages(emulator.default_channel)

What it answers, in Slack's own shapes (`ok`, `error`, `warning`, `response_metadata`, `ts`,
`channel`, `message{...}`) and with Slack's error codes:

- `auth.test`, `chat.postMessage`, `chat.update`, `chat.delete`, `chat.postEphemeral`,
  `chat.getPermalink`, `conversations.info`, `usergroups.users.list` (groups arranged with
  `add_usergroup`), `views.open`, and the two-step file upload
  (`files.getUploadURLExternal` -> POST to the returned `upload_url`, which is on this app ->
  `files.completeUploadExternal`), which `files_upload_v2` drives.
- `/response_url/<id>`: the URLs handed out by `new_response_url()` (slash commands and button
  clicks carry one); posts are recorded and take effect (ephemeral, in_channel,
  replace_original, delete_original).

Parameters arrive as a query string, a form, multipart or a JSON body (`slack_wire` reads
them all, as slack_sdk uses each); a token is read from `Authorization: Bearer`, or from a form
or query `token` (never from JSON, as on Slack). Limits enforced: Block Kit (`slack_blockkit`),
`text` over 40,000 characters truncated with a `message_truncated` warning,
`channel_not_found`, `not_in_channel`, `is_archived`, `thread_ts` naming an existing message,
trigger ids used once within 3 s, response_urls used at most 5 times within 30 minutes.
What it keeps is in `slack_records` (re-exported here).

Where Slack differs from a useful test double, the emulator is stricter and says so:
Slack accepts a `thread_ts` that names no message and silently loses the reply (it appears
nowhere); the emulator answers `thread_not_found` unless built with `strict_threads=False`,
in which case it keeps the reply as an orphan, as Slack does.

Failures are injectable per method: `inject_rate_limit` (HTTP 429, `Retry-After`,
`ratelimited`), `inject_error` (HTTP 5xx), `begin_outage` / `end_outage` (every call fails).
Every request is recorded (`calls()`); the resulting history is inspectable (`messages()`,
`thread()`, `message()`, `ephemerals()`, `files()`, `views()`). The bot token is never
recorded. State is shared with the test thread under a lock; readers get copies.
"""

from __future__ import annotations

import copy
import itertools
import json
import mimetypes
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.support.asgi import serve_asgi
from tests.support.slack_blockkit import MAX_MESSAGE_TEXT, validate_blocks, validate_view
from tests.support.slack_records import (
    ApiCall,
    Channel,
    EphemeralMessage,
    Message,
    OpenedView,
    UploadedFile,
)
from tests.support.slack_wire import (
    Answer,
    BadRequest,
    answer_body,
    failure,
    is_true,
    read_params,
    success,
)

__all__ = [
    "DEFAULT_BOT_TOKEN",
    "ApiCall",
    "Channel",
    "EphemeralMessage",
    "Message",
    "OpenedView",
    "SlackEmulator",
    "UploadedFile",
]

DEFAULT_BOT_TOKEN = "xoxb-emulator-bot-token"  # test-only; Slack never issued it
TRUNCATION_MESSAGE = ("[WARN] Your message was truncated but still posted. "
                      "The `text` field accepts up to 40,000 characters.")
TRIGGER_TTL_SECONDS = 3.0  # Slack: a trigger_id must be exchanged within 3 seconds
RESPONSE_URL_USES = 5  # Slack: a response_url takes up to 5 posts within 30 minutes
RESPONSE_URL_TTL_SECONDS = 30 * 60
VIEW_MAX_BYTES = 250_000
_TRIGGER_FORMAT = re.compile(r"^\d+\.\d+\.[0-9a-f]+$")


@dataclass
class _Trigger:
    user_id: str
    issued_at: float
    used: bool = False


@dataclass
class _ResponseUrl:
    channel_id: str
    user_id: str
    message_ts: str | None
    issued_at: float
    uses: int = 0


@dataclass(frozen=True)
class _Injection:
    status: int
    error: str
    headers: dict[str, str]
    body: str | None  # None: Slack's JSON error body
    after_processing: bool = False  # the call was carried out before the error was answered


@dataclass(frozen=True)
class _Incoming:
    method: str
    params: dict[str, Any]
    encoding: str
    base_url: str


class SlackEmulator:
    """One Slack workspace with one bot, its channels, their history and every call made."""

    def __init__(
        self,
        *,
        bot_token: str = DEFAULT_BOT_TOKEN,
        team_id: str = "T0SMOKE001",
        team_name: str = "Smokebot Test",
        team_domain: str = "smokebot-test",
        bot_user_id: str = "U0SMOKEBOT",
        bot_id: str = "B0SMOKEBOT",
        app_id: str = "A0SMOKEBOT",
        bot_name: str = "smokebot",
        channels: list[Channel] | None = None,
        strict_threads: bool = True,
        trigger_ttl: float | None = TRIGGER_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bot_token = bot_token
        self.team_id = team_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.strict_threads = strict_threads
        self.trigger_ttl = trigger_ttl
        self._clock = clock
        self._lock = threading.RLock()
        self._base_url: str | None = None
        self._initial_channels = channels or [Channel(id="C0SMOKE001", name="smoke-tests")]
        self.default_channel = self._initial_channels[0].id
        self._channels: dict[str, Channel] = {}
        self._reset_state()
        self.app = Starlette(routes=[
            Route("/api/{method}", self._serve_api, methods=["GET", "POST"]),
            Route("/upload/v1/{upload_id}", self._serve_upload, methods=["POST"]),
            Route("/response_url/{url_id}", self._serve_response_url, methods=["POST"]),
        ])
        self._handlers: dict[str, Callable[[_Incoming], Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "views.open": self._views_open,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
        }

    # ------------------------------------------------------------------ serving

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serves the emulator on loopback; yields the Web API base URL (ends with `/api/`)."""
        with serve_asgi(self.app) as base_url:
            self._base_url = base_url
            try:
                yield self.api_url
            finally:
                self._base_url = None

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the Slack emulator is not served; use `with emulator.serve():`")
        return self._base_url

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/"

    # ------------------------------------------------------------------ arranging a test

    def add_channel(self, channel_id: str, name: str, *, is_private: bool = False,
                    is_member: bool = True, is_archived: bool = False,
                    members: frozenset[str] | None = None) -> Channel:
        channel = Channel(id=channel_id, name=name, is_private=is_private, is_member=is_member,
                          is_archived=is_archived, members=members)
        with self._lock:
            self._channels[channel_id] = channel
        return copy.deepcopy(channel)

    def add_usergroup(self, usergroup_id: str, users: list[str]) -> None:
        """A user group (`S...`) and its members, for `usergroups.users.list`."""
        with self._lock:
            self._usergroups[usergroup_id] = list(users)

    def set_bot_membership(self, channel_id: str, is_member: bool) -> None:
        with self._lock:
            self._channels[channel_id].is_member = is_member

    def archive_channel(self, channel_id: str, archived: bool = True) -> None:
        with self._lock:
            self._channels[channel_id].is_archived = archived

    def add_user_message(self, channel_id: str, text: str, *, user: str = "U0HUMAN001",
                         thread_ts: str | None = None) -> str:
        """A message a person posted (e.g. an @mention); returns its ts."""
        with self._lock:
            message = Message(channel=channel_id, ts=self._next_ts(), text=text, user=user,
                              team=self.team_id)
            if thread_ts is not None:
                parent = self._thread_parent(channel_id, thread_ts)
                if parent is None:
                    raise ValueError(f"no message {thread_ts} in {channel_id} to reply to")
                self._attach_reply(parent, message)
            self._history.append(message)
            return message.ts

    def issue_trigger(self, user_id: str = "U0HUMAN001") -> str:
        """A trigger_id as an interaction carries one; views.open accepts it once, within 3 s."""
        with self._lock:
            trigger_id = (f"{int(self._clock() * 1000)}.{next(self._ids)}."
                          f"{secrets.token_hex(16)}")
            self._triggers[trigger_id] = _Trigger(user_id=user_id, issued_at=self._clock())
            return trigger_id

    def new_response_url(self, *, channel_id: str, user_id: str = "U0HUMAN001",
                         message_ts: str | None = None) -> str:
        """A response_url on this emulator; `message_ts` is the message a button sat on."""
        url_id = secrets.token_hex(12)
        with self._lock:
            self._response_urls[url_id] = _ResponseUrl(channel_id=channel_id, user_id=user_id,
                                                       message_ts=message_ts,
                                                       issued_at=self._clock())
        return f"{self.base_url}/response_url/{url_id}"

    def inject_rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls to `method` answer HTTP 429 `ratelimited` with Retry-After."""
        injection = _Injection(status=429, error="ratelimited",
                               headers={"Retry-After": str(retry_after)}, body=None)
        with self._lock:
            self._injections.setdefault(method, deque()).extend([injection] * times)

    def inject_error(self, method: str, status: int = 500, times: int = 1,
                     body: str | None = None) -> None:
        """The next `times` calls to `method` answer `status` (5xx); `body` replaces Slack's JSON.

        `method` may be a Web API method, "response_url", "upload_url", or "*" for any.
        """
        error = {500: "internal_error", 503: "service_unavailable"}.get(status, "fatal_error")
        injection = _Injection(status=status, error=error, headers={}, body=body)
        with self._lock:
            self._injections.setdefault(method, deque()).extend([injection] * times)

    def inject_periodic(self, every: int, status: int, *, retry_after: int = 0,
                        after_processing: bool = False) -> None:
        """Every `every`-th Web API call (counted across methods) fails with `status`: 429
        `ratelimited` with Retry-After, or a 5xx. With `after_processing`, Slack carries the
        call out and then answers the error (a post that happened, answered 500: the caller
        cannot tell it from one that did not)."""
        error = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}.get(
            status, "fatal_error")
        headers = {"Retry-After": str(retry_after)} if status == 429 else {}
        injection = _Injection(status=status, error=error, headers=headers, body=None,
                               after_processing=after_processing)
        with self._lock:
            self._periodic.append((every, injection))

    def clear_faults(self) -> None:
        """Forgets every injected and periodic fault; history stays."""
        with self._lock:
            self._injections.clear()
            self._periodic.clear()
            self._periodic_count = 0
            self._outage = None

    def begin_outage(self, status: int = 503) -> None:
        """Every request fails with `status` until `end_outage()` (Slack down for minutes)."""
        with self._lock:
            self._outage = status

    def end_outage(self) -> None:
        with self._lock:
            self._outage = None

    def reset(self) -> None:
        """Forgets history, calls, files, views, triggers, URLs, injections and user groups;
        channels reset."""
        with self._lock:
            self._reset_state()

    # ------------------------------------------------------------------ inspecting a test

    def calls(self, method: str | None = None) -> list[ApiCall]:
        with self._lock:
            return [call for call in self._calls if method is None or call.method == method]

    def messages(self, channel_id: str) -> list[Message]:
        """The channel's visible history, oldest first: top-level messages and broadcasts."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._history
                    if m.channel == channel_id
                    and (not m.is_reply or m.subtype == "thread_broadcast")]

    def thread(self, channel_id: str, ts: str) -> list[Message]:
        """The replies in the thread under `ts`, oldest first (the parent itself excluded)."""
        with self._lock:
            return [copy.deepcopy(m) for m in self._history
                    if m.channel == channel_id and m.is_reply and m.thread_ts == ts]

    def message(self, channel_id: str, ts: str) -> Message:
        with self._lock:
            found = self._find(channel_id, ts)
            if found is None:
                raise KeyError(f"no message {ts} in {channel_id}")
            return copy.deepcopy(found)

    def ephemerals(self, channel_id: str | None = None, user: str | None = None
                   ) -> list[EphemeralMessage]:
        with self._lock:
            return [e for e in self._ephemerals
                    if (channel_id is None or e.channel == channel_id)
                    and (user is None or e.user == user)]

    def files(self) -> list[UploadedFile]:
        with self._lock:
            return [copy.deepcopy(f) for f in self._files.values()]

    def views(self) -> list[OpenedView]:
        with self._lock:
            return list(self._views)

    def channel(self, channel_id: str) -> Channel:
        with self._lock:
            return copy.deepcopy(self._channels[channel_id])

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        self._channels = {c.id: copy.deepcopy(c) for c in self._initial_channels}
        self._history: list[Message] = []
        self._ephemerals: list[EphemeralMessage] = []
        self._calls: list[ApiCall] = []
        self._files: dict[str, UploadedFile] = {}
        self._uploads: dict[str, str] = {}  # upload id -> file id
        self._views: list[OpenedView] = []
        self._usergroups: dict[str, list[str]] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._injections: dict[str, deque[_Injection]] = {}
        self._outage: int | None = None
        self._periodic: list[tuple[int, _Injection]] = []  # (every n-th call, fault)
        self._periodic_count = 0
        self._ids = itertools.count(1)
        self._last_ts: tuple[int, int] = (0, 0)

    def _next_ts(self) -> str:
        """Slack-style "seconds.sequence" timestamps, unique and increasing."""
        seconds, sequence = int(self._clock()), 1
        last_seconds, last_sequence = self._last_ts
        if seconds <= last_seconds:
            seconds, sequence = last_seconds, last_sequence + 1
            if sequence > 999_999:
                seconds, sequence = seconds + 1, 1
        self._last_ts = (seconds, sequence)
        return f"{seconds}.{sequence:06d}"

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):010X}"

    def _find(self, channel_id: str, ts: str) -> Message | None:
        return next((m for m in self._history if m.channel == channel_id and m.ts == ts), None)

    def _thread_parent(self, channel_id: str, thread_ts: str) -> Message | None:
        found = self._find(channel_id, thread_ts)
        if found is not None and found.is_reply:
            # Slack threads a reply to a reply under the original parent.
            return self._find(channel_id, found.thread_ts or "")
        return found

    def _attach_reply(self, parent: Message, reply: Message) -> None:
        reply.thread_ts = parent.ts
        reply.parent_user_id = parent.user
        parent.reply_ts.append(reply.ts)
        if reply.user not in parent.reply_users:
            parent.reply_users.append(reply.user)

    def _bot_profile(self) -> dict[str, Any]:
        return {"id": self.bot_id, "app_id": self.app_id, "name": self.bot_name,
                "icons": {}, "deleted": False, "updated": 1_700_000_000,
                "team_id": self.team_id}

    def _bot_message(self, channel_id: str, text: str, blocks: list[dict[str, Any]],
                     attachments: list[dict[str, Any]]) -> Message:
        return Message(channel=channel_id, ts=self._next_ts(), text=text, user=self.bot_user_id,
                       team=self.team_id, blocks=blocks, attachments=attachments,
                       bot_id=self.bot_id, bot_profile=self._bot_profile())

    def _with_block_ids(self, blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Slack gives every block without a block_id one of its own."""
        stored = copy.deepcopy(blocks)
        for block in stored:
            block.setdefault("block_id", secrets.token_urlsafe(4)[:5])
        return stored

    # ------------------------------------------------------------------ HTTP: Web API

    async def _serve_api(self, request: Request) -> Response:
        method = request.path_params["method"]
        try:
            params, encoding, warnings = await read_params(request)
        except BadRequest as bad:
            return self._answer(method, {}, "raw", failure(bad.error), [])
        token = params.pop("token", None)
        with self._lock:
            injected = self._take_injection(method)
            if injected is not None and not injected.after_processing:
                return self._injected(method, params, encoding, injected)
            handler = self._handlers.get(method)
            if handler is None:
                answer = failure("unknown_method")
                answer.data["req_method"] = method
                return self._answer(method, params, encoding, answer, warnings)
            auth_error = self._authenticate(request, token, encoding)
            if auth_error is not None:
                return self._answer(method, params, encoding, failure(auth_error), warnings)
            incoming = _Incoming(method=method, params=params, encoding=encoding,
                                 base_url=str(request.base_url).rstrip("/"))
            answer = handler(incoming)
            if injected is not None:  # carried out, then answered with the error
                return self._injected(method, params, encoding, injected)
            return self._answer(method, params, encoding, answer, warnings)

    def _authenticate(self, request: Request, form_token: Any, encoding: str) -> str | None:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            token: Any = header[7:].strip()
        elif encoding in ("query", "form", "multipart"):
            token = form_token  # Slack takes a token parameter, but never inside JSON
        else:
            token = None
        if not token:
            return "not_authed"
        return None if secrets.compare_digest(str(token), self.bot_token) else "invalid_auth"

    def _take_injection(self, method: str) -> _Injection | None:
        if self._outage is not None:
            error = {503: "service_unavailable"}.get(self._outage, "internal_error")
            return _Injection(status=self._outage, error=error, headers={}, body=None)
        for key in (method, "*"):
            queue = self._injections.get(key)
            if queue:
                return queue.popleft()
        if self._periodic and method not in ("upload_url", "response_url"):
            self._periodic_count += 1
            for every, injection in self._periodic:
                if self._periodic_count % every == 0:
                    return injection
        return None

    def _injected(self, method: str, params: dict[str, Any], encoding: str,
                  injection: _Injection) -> Response:
        self._record(method, params, encoding, injection.status, injection.error)
        headers = {"x-slack-req-id": secrets.token_hex(16), **injection.headers}
        if injection.body is not None:
            return Response(injection.body, status_code=injection.status, headers=headers,
                            media_type="text/html")
        return JSONResponse({"ok": False, "error": injection.error},
                            status_code=injection.status, headers=headers)

    def _answer(self, method: str, params: dict[str, Any], encoding: str, answer: Answer,
                request_warnings: list[str]) -> Response:
        self._record(method, params, encoding, 200, answer.error)
        headers = {"x-slack-req-id": secrets.token_hex(16)}
        if answer.error is not None:
            headers["x-slack-failure"] = answer.error
        body = answer_body(answer, request_warnings)
        return JSONResponse(body, headers=headers)

    def _record(self, method: str, params: dict[str, Any], encoding: str, status: int,
                error: str | None) -> None:
        with self._lock:
            self._calls.append(ApiCall(method=method, params=copy.deepcopy(params),
                                       status=status, error=error, at=self._clock(),
                                       encoding=encoding))

    # ------------------------------------------------------------------ methods

    def _auth_test(self, call: _Incoming) -> Answer:
        return success({"url": f"https://{self.team_domain}.slack.com/", "team": self.team_name,
                    "user": self.bot_name, "team_id": self.team_id, "user_id": self.bot_user_id,
                    "bot_id": self.bot_id, "is_enterprise_install": False})

    def _postable_channel(self, channel_ref: Any) -> tuple[Channel | None, str | None]:
        """The channel a bot may post to, or the error Slack gives for it."""
        channel = self._resolve_channel(channel_ref)
        if channel is None or (channel.is_private and not channel.is_member):
            return None, "channel_not_found"
        if channel.is_archived:
            return None, "is_archived"
        if not channel.is_member:
            return None, "not_in_channel"
        return channel, None

    def _resolve_channel(self, channel_ref: Any) -> Channel | None:
        if not channel_ref:
            return None
        ref = str(channel_ref)
        if ref in self._channels:
            return self._channels[ref]
        name = ref.removeprefix("#")
        return next((c for c in self._channels.values() if c.name == name), None)

    def _content(self, params: dict[str, Any], *, require: bool = True
                 ) -> tuple[Answer | None, str | None, list[dict[str, Any]] | None]:
        """Checks text and blocks as Slack does; returns (error, text, blocks)."""
        text = params.get("text")
        text = None if text is None else str(text)
        blocks = params.get("blocks")
        if blocks is not None:
            if not isinstance(blocks, list):
                return failure("invalid_blocks_format"), None, None
            problems = validate_blocks(blocks)
            if problems:
                return (failure("invalid_blocks", errors=problems,
                              messages=[f"[ERROR] {p}" for p in problems]), None, None)
        attachments = params.get("attachments")
        if attachments is not None and not isinstance(attachments, list):
            return failure("invalid_attachments"), None, None
        if require and not text and not blocks and not attachments:
            return failure("no_text"), None, None
        return None, text, blocks

    def _truncate(self, text: str | None, answer: Answer) -> str | None:
        if text is not None and len(text) > MAX_MESSAGE_TEXT:
            answer.warnings.append("message_truncated")
            answer.messages.append(TRUNCATION_MESSAGE)
            return text[:MAX_MESSAGE_TEXT]
        return text

    def _chat_post_message(self, call: _Incoming) -> Answer:
        params = call.params
        channel, error = self._postable_channel(params.get("channel"))
        if channel is None:
            return failure(error or "channel_not_found")
        problem, text, blocks = self._content(params)
        if problem is not None:
            return problem
        answer = success()
        text = self._truncate(text, answer)
        message = self._bot_message(channel.id, text or "", self._with_block_ids(blocks or []),
                                    copy.deepcopy(params.get("attachments") or []))
        if isinstance(params.get("metadata"), dict):
            message.metadata = copy.deepcopy(params["metadata"])
        thread_ts = params.get("thread_ts")
        if thread_ts not in (None, ""):
            parent = self._thread_parent(channel.id, str(thread_ts))
            if parent is not None:
                self._attach_reply(parent, message)
                if is_true(params.get("reply_broadcast")):
                    message.subtype = "thread_broadcast"
            elif self.strict_threads:
                return failure("thread_not_found")
            else:
                message.thread_ts = str(thread_ts)  # Slack keeps it, and shows it nowhere
        self._history.append(message)
        answer.data.update(channel=channel.id, ts=message.ts, message=message.as_slack())
        return answer

    def _chat_update(self, call: _Incoming) -> Answer:
        params = call.params
        channel = self._resolve_channel(params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        message = self._find(channel.id, str(params.get("ts") or ""))
        if message is None:
            return failure("message_not_found")
        if channel.is_archived:
            return failure("is_inactive")
        if message.user != self.bot_user_id:
            return failure("cant_update_message")
        problem, text, blocks = self._content(params)
        if problem is not None:
            return problem
        answer = success()
        text = self._truncate(text, answer)
        message.edits.append({"text": message.text, "blocks": copy.deepcopy(message.blocks),
                              "attachments": copy.deepcopy(message.attachments),
                              "edited": copy.deepcopy(message.edited)})
        # Slack keeps the blocks and attachments an update does not mention.
        if "text" in params:
            message.text = text or ""
        if blocks is not None:
            message.blocks = self._with_block_ids(blocks)
        if "attachments" in params:
            message.attachments = copy.deepcopy(params["attachments"] or [])
        message.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        answer.data.update(channel=channel.id, ts=message.ts, text=message.text,
                           message=message.as_slack())
        return answer

    def _chat_delete(self, call: _Incoming) -> Answer:
        params = call.params
        channel = self._resolve_channel(params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        message = self._find(channel.id, str(params.get("ts") or ""))
        if message is None:
            return failure("message_not_found")
        if message.user != self.bot_user_id:
            return failure("cant_delete_message")
        self._history.remove(message)
        return success({"channel": channel.id, "ts": message.ts})

    def _chat_post_ephemeral(self, call: _Incoming) -> Answer:
        params = call.params
        channel, error = self._postable_channel(params.get("channel"))
        if channel is None:
            return failure(error or "channel_not_found")
        user = params.get("user")
        if not user:
            return failure("invalid_arguments", messages=["[ERROR] missing required field: user"])
        if channel.members is not None and user not in channel.members:
            return failure("user_not_in_channel")
        problem, text, blocks = self._content(params)
        if problem is not None:
            return problem
        thread_ts = params.get("thread_ts") or None
        if (thread_ts is not None and self.strict_threads
                and self._thread_parent(channel.id, str(thread_ts)) is None):
            return failure("thread_not_found")
        answer = success()
        text = self._truncate(text, answer)
        ts = self._next_ts()
        self._ephemerals.append(EphemeralMessage(
            channel=channel.id, user=str(user), ts=ts, text=text or "",
            blocks=self._with_block_ids(blocks or []),
            thread_ts=None if thread_ts is None else str(thread_ts), source="chat.postEphemeral"))
        answer.data["message_ts"] = ts
        return answer

    def _chat_get_permalink(self, call: _Incoming) -> Answer:
        params = call.params
        channel = self._resolve_channel(params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        message = self._find(channel.id, str(params.get("message_ts") or ""))
        if message is None:
            return failure("message_not_found")
        permalink = (f"https://{self.team_domain}.slack.com/archives/{channel.id}/"
                     f"p{message.ts.replace('.', '')}")
        if message.is_reply:
            permalink += f"?thread_ts={message.thread_ts}&cid={channel.id}"
        return success({"channel": channel.id, "permalink": permalink})

    def _conversations_info(self, call: _Incoming) -> Answer:
        channel = self._resolve_channel(call.params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        return success({"channel": channel.as_slack()})

    def _conversations_history(self, call: _Incoming) -> Answer:
        """Top-level messages, newest first, as Slack pages them (`limit`, default 100);
        `metadata` only with include_all_metadata, as in Slack."""
        channel = self._resolve_channel(call.params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        limit = int(call.params.get("limit") or 100)
        oldest = float(call.params.get("oldest") or 0)
        found = [m for m in self._history if m.channel == channel.id
                 and (not m.is_reply or m.subtype == "thread_broadcast")
                 and float(m.ts) >= oldest]
        found.reverse()
        shown = [self._listed(m, call.params) for m in found[:limit]]
        return success({"messages": shown, "has_more": len(found) > limit})

    def _conversations_replies(self, call: _Incoming) -> Answer:
        """The parent, then its replies oldest first, as Slack lists a thread."""
        channel = self._resolve_channel(call.params.get("channel"))
        if channel is None or (channel.is_private and not channel.is_member):
            return failure("channel_not_found")
        ts = str(call.params.get("ts") or "")
        parent = self._find(channel.id, ts)
        if parent is None:
            return failure("thread_not_found")
        replies = [m for m in self._history
                   if m.channel == channel.id and m.is_reply and m.thread_ts == ts]
        limit = int(call.params.get("limit") or 1000)
        shown = [self._listed(m, call.params) for m in [parent, *replies][:limit]]
        return success({"messages": shown, "has_more": len(replies) + 1 > limit})

    def _listed(self, message: Message, params: dict[str, Any]) -> dict[str, Any]:
        shape = message.as_slack()
        if not is_true(params.get("include_all_metadata")):
            shape.pop("metadata", None)
        return shape

    def _usergroups_users_list(self, call: _Incoming) -> Answer:
        # Slack's shape: {"ok": true, "users": ["U060R4BJ4", "W123A4BC5"]}.
        usergroup = call.params.get("usergroup")
        if not usergroup:
            return failure("invalid_arguments",
                           messages=["[ERROR] missing required field: usergroup"])
        users = self._usergroups.get(str(usergroup))
        if users is None:
            return failure("no_such_subteam")
        return success({"users": list(users)})

    def _views_open(self, call: _Incoming) -> Answer:
        params = call.params
        trigger_id = params.get("trigger_id") or params.get("interactivity_pointer")
        if not trigger_id:
            return failure("invalid_arguments",
                         messages=["[ERROR] missing required field: trigger_id"])
        trigger_error = self._check_trigger(str(trigger_id))
        if trigger_error is not None:
            return failure(trigger_error)
        view = params.get("view")
        if view is None:
            return failure("invalid_arguments", messages=["[ERROR] missing required field: view"])
        if len(json.dumps(view)) > VIEW_MAX_BYTES:
            return failure("view_too_large")
        problems = validate_view(view)
        if problems:
            return failure("invalid_arguments", messages=[f"[ERROR] {p}" for p in problems])
        trigger = self._triggers[str(trigger_id)]
        trigger.used = True
        view_id = self._next_id("V")
        opened = {
            "id": view_id, "team_id": self.team_id, "type": view["type"],
            "blocks": self._with_block_ids(view.get("blocks", [])),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""), "state": {"values": {}},
            "hash": f"{int(self._clock())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(view.get("title")),
            "clear_on_close": bool(view.get("clear_on_close", False)),
            "notify_on_close": bool(view.get("notify_on_close", False)),
            "close": copy.deepcopy(view.get("close")), "submit": copy.deepcopy(view.get("submit")),
            "previous_view_id": None, "root_view_id": view_id, "app_id": self.app_id,
            "external_id": view.get("external_id", ""), "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views.append(OpenedView(trigger_id=str(trigger_id), user_id=trigger.user_id,
                                      view=copy.deepcopy(opened)))
        return success({"view": opened})

    def _check_trigger(self, trigger_id: str) -> str | None:
        if not _TRIGGER_FORMAT.match(trigger_id):
            return "invalid_trigger_id"
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return "invalid_trigger_id"
        if trigger.used:
            return "exchanged_trigger_id"
        if self.trigger_ttl is not None and self._clock() - trigger.issued_at > self.trigger_ttl:
            return "expired_trigger_id"
        return None

    def _files_get_upload_url_external(self, call: _Incoming) -> Answer:
        params = call.params
        filename = params.get("filename")
        try:
            length = int(params.get("length") or 0)
        except (TypeError, ValueError):
            return failure("invalid_arguments", messages=["[ERROR] length must be an integer"])
        if not filename or length <= 0:
            return failure("missing_argument")
        alt_txt = params.get("alt_txt")
        if alt_txt is not None and len(str(alt_txt)) > 1000:
            return failure("alt_txt_too_large")
        file_id = self._next_id("F")
        upload_id = secrets.token_urlsafe(12)
        self._files[file_id] = UploadedFile(id=file_id, filename=str(filename), length=length,
                                            alt_txt=alt_txt,
                                            snippet_type=params.get("snippet_type"))
        self._uploads[upload_id] = file_id
        return success({"upload_url": f"{call.base_url}/upload/v1/{upload_id}",
                        "file_id": file_id})

    def _files_complete_upload_external(self, call: _Incoming) -> Answer:
        params = call.params
        entries = params.get("files")
        if not isinstance(entries, list) or not entries or not all(
                isinstance(e, dict) and e.get("id") for e in entries):
            return failure("invalid_arguments", messages=["[ERROR] files must be a list of {id}"])
        uploads = [self._files.get(str(e["id"])) for e in entries]
        if any(u is None or u.content is None or u.completed for u in uploads):
            return failure("file_not_found")
        channel_id = params.get("channel_id") or None
        channel: Channel | None = None
        parent: Message | None = None
        if channel_id is not None:
            channel = self._resolve_channel(channel_id)
            if channel is None or (channel.is_private and not channel.is_member):
                return failure("invalid_channel")
            if channel.is_archived:
                return failure("is_archived")
            if not channel.is_member:
                return failure("not_in_channel")
            thread_ts = params.get("thread_ts") or None
            if thread_ts is not None:
                parent = self._thread_parent(channel.id, str(thread_ts))
                if parent is None and self.strict_threads:
                    return failure("thread_not_found")
        completed = [u for u in uploads if u is not None]
        for upload, entry in zip(completed, entries, strict=True):
            upload.completed = True
            upload.title = entry.get("title") or upload.filename
        file_objects = [self._file_object(u, channel) for u in completed]
        if channel is not None:
            message = self._bot_message(channel.id, str(params.get("initial_comment") or ""),
                                        [], [])
            message.files = copy.deepcopy(file_objects)
            if parent is not None:
                self._attach_reply(parent, message)
            self._history.append(message)
            for upload in completed:
                upload.shares.append((channel.id, message.ts))
        return success({"files": file_objects})

    def _file_object(self, upload: UploadedFile, channel: Channel | None) -> dict[str, Any]:
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        extension = upload.filename.rsplit(".", 1)[-1].lower() if "." in upload.filename else ""
        private = f"https://files.slack.com/files-pri/{self.team_id}-{upload.id}/{upload.filename}"
        now = int(self._clock())
        return {
            "id": upload.id, "created": now, "timestamp": now, "name": upload.filename,
            "title": upload.title, "mimetype": mimetype, "filetype": extension or "binary",
            "pretty_type": extension.upper() or "Binary", "user": self.bot_user_id,
            "user_team": self.team_id, "editable": False,
            "size": len(upload.content or b""), "mode": "hosted", "is_external": False,
            "external_type": "", "is_public": bool(channel and not channel.is_private),
            "public_url_shared": False, "display_as_bot": False, "username": "",
            "url_private": private, "url_private_download": f"{private}?download=1",
            "permalink": (f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/"
                          f"{upload.id}/{upload.filename}"),
            "comments_count": 0, "is_starred": False, "shares": {}, "channels": [],
            "groups": [], "ims": [], "has_rich_preview": False, "file_access": "visible",
        }

    # ------------------------------------------------------------------ HTTP: upload_url

    async def _serve_upload(self, request: Request) -> Response:
        upload_id = request.path_params["upload_id"]
        body = await request.body()
        params = {"upload_id": upload_id, "bytes": len(body)}
        with self._lock:
            injected = self._take_injection("upload_url")
            if injected is not None:
                return self._injected("upload_url", params, "raw", injected)
            file_id = self._uploads.get(upload_id)
            if file_id is None:
                self._record("upload_url", params, "raw", 404, "file_not_found")
                return Response("file_not_found", status_code=404, media_type="text/plain")
            self._files[file_id].content = body
            self._record("upload_url", params, "raw", 200, None)
        return Response(f"OK - {len(body)}", media_type="text/plain")

    # ------------------------------------------------------------------ HTTP: response_url

    async def _serve_response_url(self, request: Request) -> Response:
        url_id = request.path_params["url_id"]
        raw = await request.body()
        try:
            payload = json.loads(raw or b"{}")
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except ValueError:
            payload = None
        with self._lock:
            params = dict(payload or {})
            injected = self._take_injection("response_url")
            if injected is not None:
                return self._injected("response_url", params, "json", injected)
            status, error = self._apply_response_url(url_id, payload)
            self._record("response_url", params, "json", status, error)
        if error is not None:
            return JSONResponse({"ok": False, "error": error}, status_code=status)
        return JSONResponse({"ok": True})

    def _apply_response_url(self, url_id: str, payload: dict[str, Any] | None
                            ) -> tuple[int, str | None]:
        target = self._response_urls.get(url_id)
        if target is None or self._clock() - target.issued_at > RESPONSE_URL_TTL_SECONDS:
            return 404, "expired_url"
        if target.uses >= RESPONSE_URL_USES:
            return 404, "used_url"
        if payload is None:
            return 400, "invalid_payload"
        deleting = is_true(payload.get("delete_original"))
        problem, text, blocks = self._content(payload, require=not deleting)
        if problem is not None:
            return 400, problem.error
        target.uses += 1
        text = text[:MAX_MESSAGE_TEXT] if text is not None else None
        original = (self._find(target.channel_id, target.message_ts)
                    if target.message_ts is not None else None)
        if deleting:
            if original is not None:
                self._history.remove(original)
        elif is_true(payload.get("replace_original")) and original is not None:
            original.edits.append({"text": original.text,
                                   "blocks": copy.deepcopy(original.blocks),
                                   "attachments": copy.deepcopy(original.attachments),
                                   "edited": copy.deepcopy(original.edited)})
            original.text = text or ""
            original.blocks = self._with_block_ids(blocks or [])
            original.edited = {"user": self.bot_user_id, "ts": self._next_ts()}
        elif payload.get("response_type") == "in_channel":
            # A response_url posts even where the bot is not a member: that is its point.
            message = self._bot_message(target.channel_id, text or "",
                                        self._with_block_ids(blocks or []), [])
            thread_ts = payload.get("thread_ts")
            parent = self._thread_parent(target.channel_id, str(thread_ts)) if thread_ts else None
            if parent is not None:
                self._attach_reply(parent, message)
            self._history.append(message)
        else:
            self._ephemerals.append(EphemeralMessage(
                channel=target.channel_id, user=target.user_id, ts=self._next_ts(),
                text=text or "", blocks=self._with_block_ids(blocks or []),
                thread_ts=payload.get("thread_ts"), source="response_url"))
        return 200, None
