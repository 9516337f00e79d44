"""Requests as Slack sends them to an app, signed as Slack signs them, and forged ones.

Slack's v0 signature: `v0=` + hex HMAC-SHA256, keyed with the app's signing secret, of
`v0:{X-Slack-Request-Timestamp}:{raw body}`; sent in `X-Slack-Signature`. Apps must refuse a
request whose signature does not match or whose timestamp is more than five minutes away.

`SlackRequestFactory` builds slash commands, `block_actions` button clicks, `view_submission`
payloads, `app_mention` event callbacks and `url_verification`. Given a `SlackEmulator`, it
takes `response_url`s and `trigger_id`s from it (so the bot's replies land there), posts the
person's @mention into the emulator's history (so the bot can reply in its thread) and reads
the clicked message back from it. Each `SignedRequest` can be turned into its forged variants:
a wrong signature, a stale timestamp, missing headers, a body changed after signing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

import httpx

from tests.support.slack_emulator import SlackEmulator

__all__ = ["STALE_AFTER_SECONDS", "SignedRequest", "SlackRequestFactory", "sign"]

STALE_AFTER_SECONDS = 5 * 60  # Slack: refuse requests whose timestamp is further off than this
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
_USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def sign(signing_secret: str, timestamp: int | str, body: bytes | str) -> str:
    """Slack's v0 request signature of `body` sent at `timestamp`."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode("ascii") + b":" + raw
    digest = hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"v0={digest}"


@dataclass(frozen=True)
class SignedRequest:
    """A request body and the headers Slack sends with it; `payload` is the body decoded."""

    body: bytes
    content_type: str
    timestamp: int
    signature: str | None
    payload: dict[str, Any]
    extra_headers: dict[str, str] = field(default_factory=dict)
    send_timestamp: bool = True
    _signing_secret: str = field(default="", repr=False, compare=False)

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": self.content_type, "User-Agent": _USER_AGENT}
        if self.send_timestamp:
            headers["X-Slack-Request-Timestamp"] = str(self.timestamp)
        if self.signature is not None:
            headers["X-Slack-Signature"] = self.signature
        headers.update(self.extra_headers)
        return headers

    # Forged variants: each breaks exactly one thing an app must check.

    def with_bad_signature(self) -> SignedRequest:
        """Signed with a secret that is not the app's: well-formed, and wrong."""
        return replace(self, signature=sign(secrets.token_hex(16), self.timestamp, self.body))

    def stale(self, age_seconds: int = STALE_AFTER_SECONDS + 60) -> SignedRequest:
        """Correctly signed, but sent `age_seconds` earlier (a replay)."""
        timestamp = self.timestamp - age_seconds
        return replace(self, timestamp=timestamp,
                       signature=sign(self._signing_secret, timestamp, self.body))

    def without_signature(self) -> SignedRequest:
        return replace(self, signature=None)

    def without_timestamp(self) -> SignedRequest:
        return replace(self, send_timestamp=False)

    def without_signature_headers(self) -> SignedRequest:
        return replace(self, signature=None, send_timestamp=False)

    def with_body(self, body: bytes) -> SignedRequest:
        """The original signature over a different body (tampered in transit)."""
        return replace(self, body=body)

    def as_retry(self, number: int = 1, reason: str = "http_timeout") -> SignedRequest:
        """The same delivery again, as Slack retries events it thinks were not acknowledged."""
        return replace(self, extra_headers={**self.extra_headers,
                                            "X-Slack-Retry-Num": str(number),
                                            "X-Slack-Retry-Reason": reason})

    # Sending.

    def post(self, url: str, *, client: httpx.Client | None = None,
             timeout: float = 10.0) -> httpx.Response:
        if client is not None:
            return client.post(url, content=self.body, headers=self.headers)
        with httpx.Client(timeout=timeout) as own:
            return own.post(url, content=self.body, headers=self.headers)

    async def post_async(self, url: str, *, client: httpx.AsyncClient | None = None,
                         timeout: float = 10.0) -> httpx.Response:
        if client is not None:
            return await client.post(url, content=self.body, headers=self.headers)
        async with httpx.AsyncClient(timeout=timeout) as own:
            return await own.post(url, content=self.body, headers=self.headers)


class SlackRequestFactory:
    """Builds Slack's requests for one app (signing secret, workspace, bot)."""

    def __init__(
        self,
        signing_secret: str,
        *,
        emulator: SlackEmulator | None = None,
        team_id: str | None = None,
        team_domain: str | None = None,
        api_app_id: str | None = None,
        bot_user_id: str | None = None,
        verification_token: str = "legacy-verification-token",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._signing_secret = signing_secret
        self.emulator = emulator
        self.team_id = team_id or (emulator.team_id if emulator else "T0SMOKE001")
        self.team_domain = team_domain or (emulator.team_domain if emulator else "smokebot-test")
        self.api_app_id = api_app_id or (emulator.app_id if emulator else "A0SMOKEBOT")
        self.bot_user_id = bot_user_id or (emulator.bot_user_id if emulator else "U0SMOKEBOT")
        self.verification_token = verification_token
        self._clock = clock

    def __repr__(self) -> str:
        return f"SlackRequestFactory(team_id={self.team_id!r}, signing_secret=<hidden>)"

    def sign(self, body: bytes | str, *, content_type: str = FORM,
             timestamp: int | None = None, payload: dict[str, Any] | None = None
             ) -> SignedRequest:
        """Any body, signed now (or at `timestamp`)."""
        raw = body.encode("utf-8") if isinstance(body, str) else body
        at = int(self._clock()) if timestamp is None else timestamp
        return SignedRequest(body=raw, content_type=content_type, timestamp=at,
                             signature=sign(self._signing_secret, at, raw),
                             payload=payload or {}, _signing_secret=self._signing_secret)

    # ------------------------------------------------------------------ slash commands

    def slash_command(self, text: str = "", *, command: str = "/smoketest",
                      user_id: str = "U0HUMAN001", user_name: str = "alice",
                      channel_id: str | None = None, channel_name: str | None = None,
                      response_url: str | None = None, trigger_id: str | None = None
                      ) -> SignedRequest:
        channel_id = channel_id or self._default_channel()
        fields = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "team_domain": self.team_domain,
            "channel_id": channel_id,
            "channel_name": channel_name or self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": self.api_app_id,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(channel_id, user_id, None),
            "trigger_id": trigger_id or self._trigger(user_id),
        }
        return self.sign(urlencode(fields), content_type=FORM, payload=fields)

    # ------------------------------------------------------------------ interactivity

    def block_actions(self, *, action_id: str, message_ts: str, value: str | None = None,
                      block_id: str | None = None, channel_id: str | None = None,
                      user_id: str = "U0HUMAN001", user_name: str = "alice",
                      message: dict[str, Any] | None = None, response_url: str | None = None,
                      trigger_id: str | None = None) -> SignedRequest:
        """A click on the button `action_id` of the message at `message_ts`."""
        channel_id = channel_id or self._default_channel()
        if message is None and self.emulator is not None:
            message = self.emulator.message(channel_id, message_ts).as_slack()
        message = message or {"type": "message", "ts": message_ts, "text": "", "blocks": []}
        element_block_id, element = _find_element(message.get("blocks", []), action_id)
        action: dict[str, Any] = {
            "action_id": action_id,
            "block_id": block_id or element_block_id or "",
            "type": element.get("type", "button"),
            "action_ts": f"{self._clock():.6f}",
        }
        if "text" in element:
            action["text"] = element["text"]
        action_value = value if value is not None else element.get("value")
        if action_value is not None:
            action["value"] = action_value
        if "style" in element:
            action["style"] = element["style"]
        payload = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_name, "name": user_name,
                     "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                          "is_ephemeral": False},
            "trigger_id": trigger_id or self._trigger(user_id),
            "team": {"id": self.team_id, "domain": self.team_domain},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "message": message,
            "state": {"values": {}},
            "response_url": response_url or self._response_url(channel_id, user_id, message_ts),
            "actions": [action],
        }
        return self._interaction(payload)

    def view_submission(self, view: dict[str, Any], *, values: dict[str, dict[str, Any]],
                        user_id: str = "U0HUMAN001", user_name: str = "alice",
                        trigger_id: str | None = None) -> SignedRequest:
        """Submitting the modal `view` (as views.open returned it) with `values`.

        `values` maps block_id -> action_id -> a string (typed into or picked in that element)
        or a full Slack state value dict.
        """
        submitted = json.loads(json.dumps(view))
        submitted["state"] = {"values": {
            block_id: {action_id: _state_value(submitted, block_id, action_id, entered)
                       for action_id, entered in actions.items()}
            for block_id, actions in values.items()
        }}
        payload = {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": self.team_domain},
            "user": {"id": user_id, "username": user_name, "name": user_name,
                     "team_id": self.team_id},
            "api_app_id": self.api_app_id,
            "token": self.verification_token,
            "trigger_id": trigger_id or self._trigger(user_id),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self._interaction(payload)

    def _interaction(self, payload: dict[str, Any]) -> SignedRequest:
        # Interactivity arrives form-encoded, the JSON in a single `payload` field.
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))})
        return self.sign(body, content_type=FORM, payload=payload)

    # ------------------------------------------------------------------ events

    def app_mention(self, text: str, *, channel_id: str | None = None,
                    user_id: str = "U0HUMAN001", thread_ts: str | None = None,
                    ts: str | None = None) -> SignedRequest:
        """An @mention of the bot; with an emulator, the mention is first posted there."""
        channel_id = channel_id or self._default_channel()
        if ts is None and self.emulator is not None:
            ts = self.emulator.add_user_message(channel_id, text, user=user_id,
                                                thread_ts=thread_ts)
            thread_ts = self.emulator.message(channel_id, ts).thread_ts
        ts = ts or f"{int(self._clock())}.{secrets.randbelow(999_999):06d}"
        event: dict[str, Any] = {
            "type": "app_mention",
            "user": user_id,
            "text": text,
            "ts": ts,
            "team": self.team_id,
            "channel": channel_id,
            "event_ts": ts,
            "client_msg_id": str(uuid.uuid4()),
        }
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        return self.event_callback(event)

    def event_callback(self, event: dict[str, Any]) -> SignedRequest:
        envelope = {
            "token": self.verification_token,
            "team_id": self.team_id,
            "api_app_id": self.api_app_id,
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{secrets.token_hex(5).upper()}",
            "event_time": int(self._clock()),
            "authorizations": [{"enterprise_id": None, "team_id": self.team_id,
                                "user_id": self.bot_user_id, "is_bot": True,
                                "is_enterprise_install": False}],
            "is_ext_shared_channel": False,
            "event_context": f"4-{secrets.token_urlsafe(24)}",
        }
        return self.sign(json.dumps(envelope), content_type=JSON, payload=envelope)

    def url_verification(self, challenge: str | None = None) -> SignedRequest:
        payload = {"token": self.verification_token,
                   "challenge": challenge or secrets.token_urlsafe(32),
                   "type": "url_verification"}
        return self.sign(json.dumps(payload), content_type=JSON, payload=payload)

    # ------------------------------------------------------------------ emulator links

    def _default_channel(self) -> str:
        return self.emulator.default_channel if self.emulator else "C0SMOKE001"

    def _channel_name(self, channel_id: str) -> str:
        if self.emulator is not None:
            try:
                return self.emulator.channel(channel_id).name
            except KeyError:
                pass
        return "smoke-tests"

    def _response_url(self, channel_id: str, user_id: str, message_ts: str | None) -> str:
        if self.emulator is None:
            raise ValueError("pass response_url=..., or build the factory with an emulator "
                             "(a response_url must point somewhere on loopback)")
        return self.emulator.new_response_url(channel_id=channel_id, user_id=user_id,
                                              message_ts=message_ts)

    def _trigger(self, user_id: str) -> str:
        if self.emulator is not None:
            return self.emulator.issue_trigger(user_id)
        return f"{int(self._clock() * 1000)}.{secrets.randbelow(10**11)}.{secrets.token_hex(16)}"


def _find_element(blocks: list[dict[str, Any]], action_id: str
                  ) -> tuple[str | None, dict[str, Any]]:
    for block in blocks:
        candidates = list(block.get("elements", []))
        if isinstance(block.get("accessory"), dict):
            candidates.append(block["accessory"])
        for element in candidates:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                return block.get("block_id"), element
    return None, {}


def _state_value(view: dict[str, Any], block_id: str, action_id: str, entered: Any
                 ) -> dict[str, Any]:
    if isinstance(entered, dict):
        return entered
    kind = "plain_text_input"
    for block in view.get("blocks", []):
        element = block.get("element") or {}
        if block.get("block_id") == block_id and element.get("action_id") == action_id:
            kind = element.get("type", kind)
    if kind == "datepicker":
        return {"type": kind, "selected_date": entered}
    if kind in ("static_select", "radio_buttons"):
        return {"type": kind, "selected_option": {
            "text": {"type": "plain_text", "text": str(entered), "emoji": True},
            "value": str(entered)}}
    return {"type": kind, "value": entered}
