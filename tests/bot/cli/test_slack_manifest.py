"""`smokebot slack-manifest`: the manifest's shape (a JSON schema of Slack's documented fields),
its request URLs (or none, in Socket Mode), the errors for a wrong `--url`, and the contract
with the code: the bot scopes are those of the Web API methods `bot/` calls, the command and
event those its listeners register, so the manifest cannot drift from what the bot does."""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from click.testing import CliRunner, Result
from slack_sdk.web.async_client import AsyncWebClient

from bot.cli import cli
from bot.settings import Settings
from bot.slack.app import create_asgi_app
from bot.slack.manifest import (
    APP_TOKEN_METHODS,
    BOT_EVENTS,
    EVENTS_PATH,
    METHOD_SCOPES,
    SLASH_COMMAND,
    build_manifest,
    bot_scopes,
)

ROOT = Path(__file__).resolve().parents[3]
BOT = ROOT / "bot"
URL = "https://smokebot.example.com"
EVENTS_URL = "https://smokebot.example.com/slack/events"

# Slack's granular bot scopes (docs.slack.dev/reference/scopes?token_types=Bot), the ones a
# manifest's oauth_config.scopes.bot may list.
SLACK_BOT_SCOPES = [
    "app_mentions:read", "bookmarks:read", "bookmarks:write", "calls:read", "calls:write",
    "channels:history", "channels:join", "channels:manage", "channels:read",
    "channels:write.invites", "channels:write.topic", "chat:write", "chat:write.customize",
    "chat:write.public", "commands", "dnd:read", "emoji:read", "files:read", "files:write",
    "groups:history", "groups:read", "groups:write", "groups:write.invites",
    "groups:write.topic", "im:history", "im:read", "im:write", "incoming-webhook",
    "links:read", "links:write", "metadata.message:read", "mpim:history", "mpim:read",
    "mpim:write", "pins:read", "pins:write", "reactions:read", "reactions:write",
    "reminders:read", "reminders:write", "team:read", "usergroups:read", "usergroups:write",
    "users.profile:read", "users:read", "users:read.email", "users:write",
]
HTTPS = {"type": "string", "pattern": r"^https://[^/?#@\s]+(/[^?#\s]*)?$"}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties,
            "additionalProperties": False}


# The fields Slack documents for a manifest (its app manifest reference), with their limits;
# no field of ours may fall outside them.
MANIFEST_SCHEMA = _object(
    ["display_information", "features", "oauth_config", "settings"],
    _metadata=_object(["major_version"], major_version={"enum": [1, 2]},
                      minor_version={"type": "integer", "minimum": 0}),
    display_information=_object(
        ["name"], name={"type": "string", "minLength": 1, "maxLength": 35},
        description={"type": "string", "maxLength": 140},
        long_description={"type": "string", "minLength": 175, "maxLength": 4000},
        background_color={"type": "string", "pattern": r"^#([0-9a-fA-F]{3}){1,2}$"}),
    features=_object(
        ["bot_user"],
        bot_user=_object(["display_name"], always_online={"type": "boolean"},
                         display_name={"type": "string", "pattern": r"^[a-z0-9._-]{1,80}$"}),
        slash_commands={"type": "array", "minItems": 1, "maxItems": 50, "items": _object(
            ["command", "description"], url=HTTPS, should_escape={"type": "boolean"},
            command={"type": "string", "pattern": r"^/[a-z0-9_-]{1,31}$"},
            description={"type": "string", "minLength": 1, "maxLength": 2000},
            usage_hint={"type": "string", "maxLength": 1000})}),
    oauth_config=_object(["scopes"], scopes=_object(["bot"], bot={
        "type": "array", "uniqueItems": True, "maxItems": 255,
        "items": {"enum": SLACK_BOT_SCOPES}})),
    settings=_object(
        ["socket_mode_enabled"],
        event_subscriptions=_object(["bot_events"], request_url=HTTPS, bot_events={
            "type": "array", "uniqueItems": True, "maxItems": 100,
            "items": {"type": "string", "pattern": r"^[a-z_.]+$"}}),
        interactivity=_object(["is_enabled"], is_enabled={"type": "boolean"},
                              request_url=HTTPS),
        org_deploy_enabled={"type": "boolean"}, socket_mode_enabled={"type": "boolean"},
        token_rotation_enabled={"type": "boolean"}),
)


def manifest_command(*args: str) -> Result:
    return CliRunner().invoke(cli, ["slack-manifest", *args])


def keys_everywhere(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from keys_everywhere(item)
    elif isinstance(value, list):
        for item in value:
            yield from keys_everywhere(item)


# --- the contract with the code ---------------------------------------------------------------


def sdk_methods() -> tuple[dict[str, str], set[str]]:
    """AsyncWebClient's own methods -> the Web API method each calls (read from slack_sdk's
    source, so a method the SDK adds is known), and its other public names."""
    source = Path(inspect.getsourcefile(AsyncWebClient) or "")
    mapped: dict[str, str] = {}
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.AsyncFunctionDef | ast.FunctionDef):
            for call in ast.walk(node):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and call.func.attr == "api_call" and call.args
                        and isinstance(call.args[0], ast.Constant)):
                    mapped[node.name] = call.args[0].value
                    break
    others = {name for name in dir(AsyncWebClient) if not name.startswith("_")} - set(mapped)
    return mapped, others - {"api_call"}


def web_api_calls(root: Path) -> tuple[dict[str, list[str]], list[str]]:
    """Every Web API method the code under `root` calls -> where, and the calls whose method
    this scan cannot name (each one a failure: name the method literally)."""
    mapped, unmapped = sdk_methods()
    found: dict[str, list[str]] = {}
    problems: list[str] = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(root.parent)}:{node.lineno}"
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else \
                func.id if isinstance(func, ast.Name) else None
            position = {"call_slack": 1, "api_call": 0}.get(name or "")
            if position is not None:
                arg = node.args[position] if len(node.args) > position else None
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    found.setdefault(arg.value, []).append(where)
                elif not (path.name == "client.py" and isinstance(arg, ast.Name)
                          and arg.id == "method"):  # call_slack itself passes its argument on
                    problems.append(f"{where}: {name}() with a method name that is not a "
                                    f"literal string")
            elif isinstance(func, ast.Attribute) and name in mapped:
                found.setdefault(mapped[name], []).append(where)
            elif isinstance(func, ast.Attribute) and name in unmapped:
                problems.append(f"{where}: .{name}() of the Slack client calls Web API "
                                f"methods this scan cannot name")
            elif isinstance(func, ast.Name) and name == "say":  # Bolt's say()
                found.setdefault("chat.postMessage", []).append(where)
    return found, problems


def listener_registrations(root: Path) -> dict[str, set[str]]:
    """What `bot/slack/listeners/` registers with Bolt, by kind: `app.command("/x")` ->
    {"command": {"/x"}}; a registration without a literal is kept as "?"."""
    found: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "app"):
                arg = node.args[0] if node.args else None
                literal = arg.value if isinstance(arg, ast.Constant) else "?"
                found.setdefault(node.func.attr, set()).add(str(literal))
    return found


def test_every_web_api_method_the_bot_calls_has_its_scopes_and_every_listed_one_is_called(
        ) -> None:
    found, problems = web_api_calls(BOT)

    assert problems == []
    called = set(found)
    listed = set(METHOD_SCOPES) | set(APP_TOKEN_METHODS)
    assert called - listed == set(), "called but missing from METHOD_SCOPES (add its scopes)"
    assert listed - called == set(), "listed in METHOD_SCOPES but never called (remove it)"


def test_the_scan_sees_a_new_call_and_refuses_one_it_cannot_name(tmp_path: Path) -> None:
    bot = tmp_path / "bot"
    bot.mkdir()
    (bot / "reactions.py").write_text(
        "async def react(client, method, slack):\n"
        "    await call_slack(client, 'reactions.add', name='ok')\n"
        "    await client.users_info(user='U1')\n"
        "    await call_slack(client, method)\n"
        "    await slack.files_upload_v2(content='x')\n")

    found, problems = web_api_calls(bot)

    assert set(found) == {"reactions.add", "users.info"}
    assert problems == [
        "bot/reactions.py:4: call_slack() with a method name that is not a literal string",
        "bot/reactions.py:5: .files_upload_v2() of the Slack client calls Web API methods "
        "this scan cannot name"]


def test_the_manifest_holds_exactly_the_command_and_events_the_listeners_register() -> None:
    registered = listener_registrations(BOT / "slack" / "listeners")
    manifest = build_manifest(url=URL)

    assert registered.pop("command") == {SLASH_COMMAND}
    assert registered.pop("event") == set(BOT_EVENTS)
    # Buttons and modal submissions come through interactivity, which the manifest enables;
    # anything else (shortcuts, options, message events) would need more in the manifest.
    assert set(registered) <= {"action", "view"}
    assert [c["command"] for c in manifest["features"]["slash_commands"]] == [SLASH_COMMAND]
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_mention"]
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_bot_scopes_are_the_methods_the_event_and_the_command_nothing_more() -> None:
    assert bot_scopes() == ["app_mentions:read", "channels:history", "chat:write", "commands",
                            "files:write", "groups:history", "usergroups:read"]
    assert set(bot_scopes()) <= set(SLACK_BOT_SCOPES)
    # The app-level token's scope is no bot scope: the manifest cannot (and must not) ask it.
    assert set(APP_TOKEN_METHODS.values()).isdisjoint(bot_scopes())


def test_the_request_url_is_a_route_the_web_process_serves() -> None:
    app = create_asgi_app(Settings())  # services open only in the lifespan: nothing starts

    routes = {route.path: route.methods for route in app.routes}  # type: ignore[attr-defined]

    assert "POST" in routes[EVENTS_PATH]


# --- the command --------------------------------------------------------------------------------


def test_with_a_url_every_request_goes_to_its_slack_events_and_the_shape_is_slacks() -> None:
    result = manifest_command("--url", URL)

    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    jsonschema.validate(manifest, MANIFEST_SCHEMA)
    assert manifest == build_manifest(url=URL)
    settings = manifest["settings"]
    assert [c["url"] for c in manifest["features"]["slash_commands"]] == [EVENTS_URL]
    assert settings["event_subscriptions"]["request_url"] == EVENTS_URL
    assert settings["interactivity"]["request_url"] == EVENTS_URL
    assert (settings["socket_mode_enabled"], settings["org_deploy_enabled"],
            settings["token_rotation_enabled"]) == (False, False, False)
    assert manifest["features"]["bot_user"] == {"display_name": "smokebot", "always_online": True}


def test_in_socket_mode_no_request_url_is_given() -> None:
    result = manifest_command("--socket-mode")

    assert result.exit_code == 0, result.output
    manifest = yaml.safe_load(result.output)
    jsonschema.validate(manifest, MANIFEST_SCHEMA)
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert {"url", "request_url"}.isdisjoint(keys_everywhere(manifest))
    assert manifest["settings"]["event_subscriptions"] == {"bot_events": ["app_mention"]}
    assert manifest["settings"]["interactivity"] == {"is_enabled": True}


def test_json_is_the_same_manifest_as_yaml() -> None:
    as_yaml = manifest_command("--url", URL, "--name", "smokebot-staging")
    as_json = manifest_command("--url", URL, "--name", "smokebot-staging", "--json")

    assert as_json.exit_code == as_yaml.exit_code == 0
    assert json.loads(as_json.output) == yaml.safe_load(as_yaml.output)
    assert json.loads(as_json.output)["display_information"]["name"] == "smokebot-staging"


@pytest.mark.parametrize(("given", "expected"), [
    ("https://smokebot.example.com/", EVENTS_URL),
    ("https://smokebot.example.com/slack/events", EVENTS_URL),
    ("https://smokebot.example.com:8443/bots/smoke/",
     "https://smokebot.example.com:8443/bots/smoke/slack/events"),
    ("HTTPS://smokebot.example.com", EVENTS_URL),
])
def test_a_url_becomes_its_slack_events_address(given: str, expected: str) -> None:
    result = manifest_command("--url", given, "--json")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["settings"]["event_subscriptions"]["request_url"] == expected


@pytest.mark.parametrize(("args", "message"), [
    (["--url", "http://smokebot.example.com"],
     "--url 'http://smokebot.example.com': expected an https:// URL (Slack sends requests only "
     "over HTTPS), or --socket-mode for a bot with no public URL"),
    (["--url", "smokebot.example.com"], "--url 'smokebot.example.com': expected an https:// URL"),
    (["--url", "https:///slack/events"], "--url 'https:///slack/events': expected a host"),
    (["--url", "https://smokebot.example.com:http"], "--url: its host or port is malformed"),
    ([], "expected --url https://… (where Slack reaches `smokebot serve`) or --socket-mode"),
    (["--url", URL, "--socket-mode"], "--url and --socket-mode: expected one of them"),
    (["--socket-mode", "--name", "Smoke Bot"], "--name 'Smoke Bot': expected 1 to 35 lower-case"),
])
def test_a_wrong_invocation_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = manifest_command(*args)

    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.startswith(f"error: {message}")
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["https://bot:hunter2-Secret@smokebot.example.com",
                                 "http://smokebot.example.com/?token=hunter2-Secret"])
def test_a_url_holding_a_credential_is_refused_without_quoting_it(url: str) -> None:
    result = manifest_command("--url", url)

    assert result.exit_code == 2
    assert "hunter2-Secret" not in result.output
    assert result.stderr.startswith("error: --url: expected no ")


def test_the_command_imports_neither_bolt_nor_the_store() -> None:
    code = ("import sys\nfrom bot.cli import cli\n"
            "try:\n    cli(['slack-manifest', '--socket-mode'], prog_name='smokebot')\n"
            "except SystemExit:\n    pass\n"
            "heavy = [m for m in ('slack_bolt', 'slack_sdk', 'psycopg', 'redis', 'starlette')"
            " if m in sys.modules]\nprint('heavy:', heavy, file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=30, check=False)

    assert done.returncode == 0, done.stderr
    assert "heavy: []" in done.stderr
    assert yaml.safe_load(done.stdout)["settings"]["socket_mode_enabled"] is True
