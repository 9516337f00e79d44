"""The Slack app manifest smokebot needs: its slash command, where Slack sends requests (or
Socket Mode instead), the event it listens to, and the bot scopes of the Web API methods it
calls, nothing more. No I/O here; `smokebot slack-manifest` prints it.

The tables below are the contract: a test scans `bot/` for every Web API method called, every
slash command and event listened to, and fails when they and these tables part ways
(tests/bot/cli/test_slack_manifest.py)."""

from __future__ import annotations

import json
import re
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml

from checks.errors import UsageError

__all__ = [
    "APP_TOKEN_METHODS",
    "BOT_EVENTS",
    "EVENTS_PATH",
    "METHOD_SCOPES",
    "SLASH_COMMAND",
    "bot_scopes",
    "build_manifest",
    "render_manifest",
    "request_url",
]

SLASH_COMMAND = "/smoketest"  # bot/slack/listeners/commands.py listens to it
EVENTS_PATH = "/slack/events"  # commands, interactivity and events alike (bot/slack/app.py)
APP_NAME = "smokebot"

# Web API method -> the bot scopes it needs (all of them; () for none). One row per method the
# bot calls with its bot token, wherever it calls it.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),  # the workspace URL for permalinks
    "chat.postEphemeral": ("chat:write",),  # answers to a mention
    "chat.postMessage": ("chat:write",),  # summaries, failure replies, mentions
    "chat.update": ("chat:write",),  # live progress, the final summary
    # Before sending again a message whose post may have happened (after a 5xx), the deliverer
    # looks for it: public channels need channels:history, private ones groups:history.
    "conversations.history": ("channels:history", "groups:history"),
    "conversations.replies": ("channels:history", "groups:history"),
    "files.completeUploadExternal": ("files:write",),  # the Markdown report in the thread
    "files.getUploadURLExternal": ("files:write",),
    "usergroups.users.list": ("usergroups:read",),  # `allowed_users` naming a user group
    "views.open": (),  # the acknowledge modal (a trigger id is the permission)
}
# Called with the app-level token (xapp-…), whose scope is granted when the token is made,
# not by the manifest.
APP_TOKEN_METHODS: dict[str, str] = {"apps.connections.open": "connections:write"}
# Event -> the bot scope that subscribes to it (bot/slack/listeners/events.py).
BOT_EVENTS: dict[str, str] = {"app_mention": "app_mentions:read"}
COMMAND_SCOPE = "commands"

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,34}")  # a bot display name, within the app name's 35


def bot_scopes() -> list[str]:
    """Every bot scope the app asks for, sorted: the methods', the event's, `commands`."""
    scopes = {scope for needed in METHOD_SCOPES.values() for scope in needed}
    return sorted(scopes | set(BOT_EVENTS.values()) | {COMMAND_SCOPE})


def request_url(url: str) -> str:
    """`https://host[/prefix]` -> its `…/slack/events`; a URL already ending there is kept.
    Raises UsageError for anything Slack would not accept as a request URL."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise UsageError("--url: its host or port is malformed; expected "
                         "https://host[:port][/path]") from None
    if "@" in parts.netloc:  # not quoted back: it may hold a password
        raise UsageError("--url: expected no user name or password in the URL, only "
                         "https://host[:port][/path]")
    if parts.query or parts.fragment:
        raise UsageError("--url: expected no query or fragment (not quoted back: a query may "
                         "hold a token), only https://host[:port][/path]")
    if parts.scheme.lower() != "https":
        raise UsageError(f"--url {url!r}: expected an https:// URL (Slack sends requests only "
                         f"over HTTPS), or --socket-mode for a bot with no public URL")
    if not parts.hostname:
        raise UsageError(f"--url {url!r}: expected a host, as in https://smokebot.example.com")
    path = parts.path.rstrip("/")
    if not path.endswith(EVENTS_PATH):
        path += EVENTS_PATH
    return f"https://{parts.netloc}{path}"


def build_manifest(*, url: str | None = None, socket_mode: bool = False,
                   name: str = APP_NAME) -> dict[str, Any]:
    """The manifest for an app served at `url` (its `/slack/events`), or in Socket Mode, where
    Slack takes no request URL at all."""
    if url is not None and socket_mode:
        raise UsageError("--url and --socket-mode: expected one of them (a Socket Mode app "
                         "has no request URL)")
    if url is None and not socket_mode:
        raise UsageError("expected --url https://… (where Slack reaches `smokebot serve`) or "
                         "--socket-mode (for `smokebot serve --socket-mode`)")
    if not _NAME.fullmatch(name):
        raise UsageError(f"--name {name!r}: expected 1 to 35 lower-case letters, digits, '.', "
                         f"'-' or '_', starting with a letter or digit (Slack's bot names)")
    target = None if url is None else request_url(url)
    command: dict[str, Any] = {
        "command": SLASH_COMMAND,
        "description": "Smoke-test an environment",
        "usage_hint": "ENV [checks…] | list | status | history [ENV] | cancel [ENV] | help",
        "should_escape": False,
    }
    events: dict[str, Any] = {"bot_events": sorted(BOT_EVENTS)}
    interactivity: dict[str, Any] = {"is_enabled": True}  # buttons and the acknowledge modal
    if target is not None:
        command["url"] = target
        events = {"request_url": target, **events}
        interactivity["request_url"] = target
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": name,
            "description": "Smoke-tests a deployed environment on /smoketest and after deploys",
            "background_color": "#1d4f91",
        },
        "features": {
            "bot_user": {"display_name": name, "always_online": True},
            "slash_commands": [command],
        },
        "oauth_config": {"scopes": {"bot": bot_scopes()}},
        "settings": {
            "event_subscriptions": events,
            "interactivity": interactivity,
            "org_deploy_enabled": False,
            "socket_mode_enabled": socket_mode,
            "token_rotation_enabled": False,  # the bot reads one long-lived SLACK_BOT_TOKEN
        },
    }


def render_manifest(manifest: dict[str, Any], fmt: Literal["yaml", "json"] = "yaml") -> str:
    """YAML (what Slack's "From an app manifest" dialog shows first) or JSON, keys in order."""
    if fmt == "json":
        return json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, width=100)
