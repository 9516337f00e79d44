"""`smokebot serve`, `worker` and `migrate`: the store's migrations, and settings of the wrong
form stopping a process before it starts, with one clean line and exit 2."""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from bot.cli import cli
from bot.errors import SettingError
from bot.settings import Settings
from tests.support.asgi import free_port

REPO = Path(__file__).resolve().parents[3]
# Each process command with options that keep it on loopback, should a setting pass unseen.
PROCESSES = {"serve": ["serve", "--host", "127.0.0.1", "--port", "0"],
             "worker": ["worker"], "migrate": ["migrate"]}
SETTING_VARIABLES = ("SMOKEBOT_HEARTBEAT", "SMOKEBOT_STALE_AFTER", "SMOKEBOT_UPDATE_INTERVAL",
                     "SMOKEBOT_DEBUG", "SLACK_API_URL", "REDIS_URL", "DATABASE_URL",
                     "SLACK_APP_TOKEN")


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No setting of the machine's own leaks in; `serve` and `worker` take over the root logger
    when they start, so give it back to pytest."""
    for name in SETTING_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def invoke(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), prog_name="smokebot")


def assert_setting_error(result: Result, message: str) -> None:
    """Exit 2, the message alone on stderr, nothing on stdout, no traceback."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: {message}\n"
    assert result.stdout == ""
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ migrate

@pytest.fixture
def store_env(pg_dsn: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DATABASE_URL", pg_dsn)
    monkeypatch.setenv("SMOKEBOT_DB_SCHEMA", "smokebot")
    return pg_dsn


def test_migrate_applies_once_then_reports_up_to_date(store_env: str) -> None:
    first = invoke("migrate")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("applied: 0001")
    second = invoke("migrate")
    assert second.output == "up to date\n"


def test_migrate_with_postgresql_unreachable_exits_1_cleanly(
        monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/smokebot")

    result = invoke("migrate")

    assert result.exit_code == 1, result.output
    assert result.stderr == (f"error: history store is unavailable: cannot connect to PostgreSQL "
                             f"at 127.0.0.1:{port}/smokebot (connection refused); try again "
                             f"shortly\n")


# ------------------------------------------------------------------------------ settings

@pytest.mark.parametrize("command", PROCESSES, ids=list(PROCESSES))
def test_malformed_heartbeat_exits_2_naming_the_variable_and_value(
        monkeypatch: pytest.MonkeyPatch, command: str) -> None:
    monkeypatch.setenv("SMOKEBOT_HEARTBEAT", "abc")

    result = invoke(*PROCESSES[command])

    assert_setting_error(result, "SMOKEBOT_HEARTBEAT='abc': expected a number of seconds > 0 "
                                 "(default 5)")


def test_malformed_heartbeat_through_the_real_entry_point_exits_2() -> None:
    """`python -m bot worker`, as a container runs it: standalone click, no CliRunner."""
    process = subprocess.run([sys.executable, "-m", "bot", "worker"], cwd=REPO, check=False,
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "SMOKEBOT_HEARTBEAT": "abc"})

    assert process.returncode == 2, process.stdout + process.stderr
    assert process.stderr == ("error: SMOKEBOT_HEARTBEAT='abc': expected a number of seconds > 0 "
                              "(default 5)\n")
    assert process.stdout == ""


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("SMOKEBOT_HEARTBEAT", "0",
     "SMOKEBOT_HEARTBEAT='0': expected a number of seconds > 0 (default 5)"),
    ("SMOKEBOT_STALE_AFTER", "-30",
     "SMOKEBOT_STALE_AFTER='-30': expected a number of seconds > 0 (default 30)"),
    ("SMOKEBOT_UPDATE_INTERVAL", "nan",
     "SMOKEBOT_UPDATE_INTERVAL='nan': expected a number of seconds > 0 (default 1)"),
    ("SMOKEBOT_HEARTBEAT", "inf",
     "SMOKEBOT_HEARTBEAT='inf': expected a number of seconds > 0 (default 5)"),
    ("SMOKEBOT_HEARTBEAT", "5s",
     "SMOKEBOT_HEARTBEAT='5s': expected a number of seconds > 0 (default 5)"),
    ("SLACK_API_URL", "slack.com/api/",
     ("SLACK_API_URL='slack.com/api/': expected a URL starting with http:// or https://; "
      "it has no scheme://")),
    ("SLACK_API_URL", "ftp://127.0.0.1/api/",
     ("SLACK_API_URL='ftp://127.0.0.1/api/': expected a URL starting with http:// or https://; "
      "its scheme is 'ftp'")),
    ("SLACK_API_URL", "http:///api/",
     ("SLACK_API_URL='http:///api/': expected a URL starting with http:// or https://; "
      "it names no host")),
    ("SMOKEBOT_DEBUG", "maybe",
     "SMOKEBOT_DEBUG='maybe': expected 1, true, yes or on, or 0, false, no or off"),
])
def test_each_malformed_setting_is_one_line_naming_what_was_expected(
        monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str) -> None:
    monkeypatch.setenv(variable, value)

    assert_setting_error(invoke("worker"), message)


def make_canary() -> str:
    return "pw" + secrets.token_hex(12)


@pytest.mark.parametrize(("command", "variable", "template", "problem"), [
    ("migrate", "DATABASE_URL", "mysql://smokebot:{canary}@127.0.0.1/smokebot",
     "its scheme is 'mysql'"),
    ("migrate", "DATABASE_URL", "smokebot:{canary}@127.0.0.1:5432/smokebot",
     "it has no scheme://"),
    ("migrate", "DATABASE_URL", "{canary}@127.0.0.1://smokebot", "its scheme is malformed"),
    ("worker", "REDIS_URL", "http://:{canary}@127.0.0.1:6379/0", "its scheme is 'http'"),
    ("worker", "REDIS_URL", "redis://:{canary}@127.0.0.1:63x9/0",
     "its host or port is malformed"),
    ("serve", "REDIS_URL", "redis://:{canary}@/0", "it names no host"),
])
def test_a_setting_that_may_hold_a_password_is_described_never_shown(
        monkeypatch: pytest.MonkeyPatch, command: str, variable: str, template: str,
        problem: str) -> None:
    canary = make_canary()
    monkeypatch.setenv(variable, template.format(canary=canary))

    result = invoke(*PROCESSES[command])

    expected = ("a postgresql://user@host:port/database URL or a libpq key=value string"
                if variable == "DATABASE_URL" else
                "a URL starting with redis:// or rediss:// or unix://")
    assert_setting_error(result, f"{variable} (value not shown: it may hold a password): "
                                 f"expected {expected}; {problem}")
    assert canary not in result.output


@pytest.mark.parametrize(("variable", "value"), [
    ("DATABASE_URL", "host=127.0.0.1 port=5432 dbname=smokebot user=postgres"),  # libpq's form
    ("DATABASE_URL", "postgresql:///smokebot?host=/var/run/postgresql"),  # a local socket
    ("DATABASE_URL", "postgres://postgres@127.0.0.1/smokebot"),
    ("REDIS_URL", "unix:///var/run/redis.sock?db=1"),
    ("REDIS_URL", "rediss://:pw@redis.internal:6380/0"),
    ("SLACK_API_URL", "http://127.0.0.1:8123/api"),
])
def test_well_formed_urls_are_taken_as_given(variable: str, value: str) -> None:
    settings = Settings.from_env({variable: value})

    field = {"DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
             "SLACK_API_URL": settings.slack_api_url.removesuffix("/")}[variable]
    assert field == value


def test_seconds_and_empty_values() -> None:
    settings = Settings.from_env({"SMOKEBOT_HEARTBEAT": "0.5", "SMOKEBOT_STALE_AFTER": " 12 ",
                                  "SMOKEBOT_UPDATE_INTERVAL": "", "REDIS_URL": ""})

    assert (settings.heartbeat_s, settings.stale_after_s, settings.update_interval_s) == (
        0.5, 12.0, 1.0)
    assert settings.redis_url == "redis://127.0.0.1:6379/0"


def test_setting_error_is_a_config_error_with_exit_2() -> None:
    with pytest.raises(SettingError) as raised:
        Settings.from_env({"SMOKEBOT_STALE_AFTER": "soon"})

    assert raised.value.exit_code == 2
    assert raised.value.render() == ("SMOKEBOT_STALE_AFTER='soon': expected a number of seconds "
                                     "> 0 (default 30)")


def test_socket_mode_without_an_app_token_exits_2_before_connecting() -> None:
    result = invoke("serve", "--socket-mode")

    assert_setting_error(result, "SLACK_APP_TOKEN is not set: Socket Mode needs an app-level "
                                 "token (xapp-…)")
