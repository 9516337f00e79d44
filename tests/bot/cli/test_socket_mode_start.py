"""`smokebot serve --socket-mode` against Slack's Socket Mode emulated on loopback
(tests/support/slack_socket_emulator.py): a token Slack rejects stops it at once with one line
and exit 2; an unreachable Slack is retried with one short line per try, never a traceback;
connected, it answers a slash command over the websocket and stops on SIGTERM."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.backoff import Backoff
from bot.errors import SettingError
from bot.settings import Settings
from bot.slack.socket_mode import open_connection_url
from checks.secrets import Secret
from tests.bot.cli.process_support import SUITE, BotProcess, process_env, run_bot
from tests.support.asgi import free_port
from tests.support.services import redis_url, unique_prefix
from tests.support.slack_socket_emulator import Open, SocketModeEmulator

REFUSED_WITHIN_S = 10.0
RETRY_LINE = re.compile(r"WARNING smokebot\.slack: cannot connect to Slack over Socket Mode "
                        r"\((?P<problem>.+)\); retrying in \d+\.\d s$")


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


@pytest.fixture
def emulator() -> SocketModeEmulator:
    return SocketModeEmulator()


def socket_env(suite: Path, api_url: str, app_token: str, pg_dsn: str) -> dict[str, str]:
    return process_env(SMOKEBOT_CONFIG=str(suite), SLACK_API_URL=api_url,
                       SLACK_APP_TOKEN=app_token, DATABASE_URL=pg_dsn, REDIS_URL=redis_url(),
                       SMOKEBOT_KEY_PREFIX=unique_prefix("socket"))


REJECTIONS = {
    "invalid_auth": ("app", "expected a valid app-level token (xapp-…) with the "
                            "connections:write scope"),
    "not_allowed_token_type": ("bot", "expected an app-level token (xapp-…), not a bot or "
                                      "user token"),
    "missing_scope": ("app", "the app-level token needs the connections:write scope"),
}


def rejected_token(emulator: SocketModeEmulator, problem: str) -> str:
    return {"invalid_auth": SocketModeEmulator.issue_app_token(),  # never issued to this app
            "not_allowed_token_type": "xoxb-1111-2222-" + "b" * 24,
            "missing_scope": emulator.add_app_token(scopes=("authorizations:read",))}[problem]


@pytest.mark.parametrize("problem", REJECTIONS)
def test_a_rejected_app_token_stops_serve_in_one_line_with_exit_2(
        suite: Path, pg_dsn: str, emulator: SocketModeEmulator, problem: str) -> None:
    kind, hint = REJECTIONS[problem]
    with emulator.serve() as api_url:
        env = socket_env(suite, api_url, rejected_token(emulator, problem), pg_dsn)
        process, took = run_bot(["serve", "--socket-mode"], env, timeout=2 * REFUSED_WITHIN_S)

    assert process.returncode == 2, process.stderr
    assert process.stderr == f"error: SLACK_APP_TOKEN was rejected by Slack ({problem}): {hint}\n"
    assert took < REFUSED_WITHIN_S
    assert emulator.opens() == [Open(kind, problem)]  # asked once, never again
    assert emulator.connections == 0


def test_socket_mode_answers_a_slash_command_and_stops_on_sigterm(
        tmp_path: Path, suite: Path, pg_dsn: str, emulator: SocketModeEmulator) -> None:
    with emulator.serve() as api_url:
        bot = BotProcess(["serve", "--socket-mode"],
                         socket_env(suite, api_url, emulator.app_token, pg_dsn),
                         tmp_path / "serve.stderr")
        try:
            emulator.wait_connected(timeout=20)
            ack = emulator.send_envelope("slash_commands", {
                "token": "unused-in-socket-mode", "team_id": "T0SMOKE001",
                "team_domain": "smoke", "channel_id": "C0SMOKE001", "channel_name": "smoke",
                "user_id": "U0HUMAN001", "user_name": "human", "command": "/smoketest",
                "text": "help", "api_app_id": "A0SMOKEAPP", "is_enterprise_install": "false",
                "response_url": "http://127.0.0.1:9/response", "trigger_id": "1.2.3"})
        finally:
            code = bot.stop()

    assert set(ack) == {"envelope_id", "payload"}
    assert ack["payload"]["response_type"] == "ephemeral"
    assert "/smoketest" in ack["payload"]["text"]
    assert code == 0, bot.log
    assert emulator.opens() == [Open("app", None)]
    assert "INFO smokebot.slack: connected to Slack over Socket Mode" in bot.log
    assert "slack_bolt" not in bot.log  # no "token will be unused / ignored"
    assert "WARNING" not in bot.log
    assert "Traceback" not in bot.log


def test_an_unreachable_slack_is_retried_one_line_a_try_until_it_answers(
        tmp_path: Path, suite: Path, pg_dsn: str, emulator: SocketModeEmulator) -> None:
    port = free_port()  # nothing listens there until the emulator is served on it
    env = socket_env(suite, f"http://127.0.0.1:{port}/api/", emulator.app_token, pg_dsn)
    bot = BotProcess(["serve", "--socket-mode"], env, tmp_path / "serve.stderr")
    try:
        bot.wait_for_log("; retrying in ")
        emulator.fail_next(1, status=503)  # then Slack answers, but not yet well
        with emulator.serve(port=port):
            emulator.wait_connected(timeout=30)
            bot.wait_for_log("connected to Slack over Socket Mode")
            code = bot.stop()
    finally:
        bot.kill()

    assert code == 0, bot.log
    problems = [m["problem"] for line in bot.log.splitlines()
                if (m := RETRY_LINE.search(line))]
    assert problems[0].startswith(f"apps.connections.open: ClientConnectorError: Cannot connect "
                                  f"to host 127.0.0.1:{port}")
    assert problems[-1] == "apps.connections.open: HTTP 503"
    assert "Traceback" not in bot.log
    assert "retry handler" not in bot.log  # the SDK's own retries would log beside ours


def test_a_failing_websocket_is_one_line_and_sigterm_still_stops_serve(
        tmp_path: Path, suite: Path, pg_dsn: str, emulator: SocketModeEmulator) -> None:
    emulator.handshake_status = 503  # the API answers, the websocket host does not
    with emulator.serve() as api_url:
        bot = BotProcess(["serve", "--socket-mode"],
                         socket_env(suite, api_url, emulator.app_token, pg_dsn),
                         tmp_path / "serve.stderr")
        try:
            bot.wait_for_log("Failed to connect")
            code = bot.stop(timeout=5)
        finally:
            bot.kill()

    assert code == 0, bot.log
    [failure] = [line for line in bot.log.splitlines() if "Failed to connect" in line]
    assert "ERROR slack_sdk.socket_mode: Failed to connect (error: 503" in failure
    assert "Traceback" not in bot.log


# ------------------------------------------------------------------------------ in process

async def test_slack_in_trouble_is_retried_after_its_retry_after(
        emulator: SocketModeEmulator, caplog: pytest.LogCaptureFixture) -> None:
    emulator.fail_next(1, status=429)  # Retry-After: 1
    emulator.fail_next(1, status=503)
    with emulator.serve() as api_url, caplog.at_level(logging.WARNING, "smokebot.slack"):
        url = await open_connection_url(Settings(slack_api_url=api_url),
                                        Secret(emulator.app_token),
                                        backoff=Backoff.constant(0.01))

    origin = api_url.removeprefix("http://").removesuffix("/api/")
    assert url is not None and url.startswith(f"ws://{origin}/link/?ticket=")
    assert [r.getMessage() for r in caplog.records] == [
        "cannot connect to Slack over Socket Mode (apps.connections.open: rate limited "
        "(HTTP 429)); retrying in 1.0 s",
        "cannot connect to Slack over Socket Mode (apps.connections.open: HTTP 503); "
        "retrying in 0.0 s"]
    assert all(record.exc_info is None for record in caplog.records)
    assert emulator.opens() == [Open("app", "HTTP 429"), Open("app", "HTTP 503"),
                                Open("app", None)]


async def test_a_wrong_slack_api_url_is_not_blamed_on_the_token() -> None:
    emulator = SocketModeEmulator()
    with emulator.serve() as api_url:
        wrong = api_url.replace("/api/", "/elsewhere/")
        with pytest.raises(SettingError) as raised:
            await open_connection_url(Settings(slack_api_url=wrong), Secret(emulator.app_token))

    assert raised.value.render() == (f"SLACK_API_URL={wrong!r} answered apps.connections.open "
                                     f"with HTTP 404; expected Slack's Web API "
                                     f"(https://slack.com/api/)")
