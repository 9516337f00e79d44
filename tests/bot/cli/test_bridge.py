"""The bridge: every error a command raises becomes one message on stderr and an exit code, a
traceback only on request, and nothing a command knew to be secret in either. Proven on a
small group of our own (commands that raise on purpose) and on the real `smokebot` group."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

import bot.cli
from bot.cli import cli
from bot.cli._bridge import BridgedGroup, output_redactor
from checks.errors import CheckError, ConfigError, Location, SmokebotError, UsageError

HINT = "(a bug in smokebot; run again with --debug, or SMOKEBOT_DEBUG=1, to see its traceback)"


class Unavailable(SmokebotError):
    exit_code = 75


def raising(error: BaseException) -> click.Command:
    @click.command(name="fail")
    def fail() -> None:
        raise error
    return fail


def invoke(error: BaseException, *args: str, env: dict[str, str] | None = None) -> Result:
    group = BridgedGroup(name="smokebot", commands=[raising(error)])
    return CliRunner().invoke(group, [*args, "fail"], env={"SMOKEBOT_DEBUG": "", **(env or {})})


# ------------------------------------------------------------------------------ user errors

@pytest.mark.parametrize(("error", "code", "line"), [
    (UsageError("unknown environment 'prod'"), 2, "unknown environment 'prod'"),
    (ConfigError("unknown check type", Location("suite.yaml", 3, 7), "type"), 2,
     "suite.yaml:3:7: type: unknown check type"),
    (CheckError("cannot connect"), 1, "cannot connect"),
    (Unavailable("queue is down"), 75, "queue is down"),
])
def test_a_smokebot_error_is_its_rendered_line_and_its_exit_code(
        error: SmokebotError, code: int, line: str) -> None:
    result = invoke(error)

    assert result.exit_code == code
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: {line}\n"
    assert result.stdout == ""


def test_a_group_of_smokebot_errors_is_one_line_each_with_the_first_exit_code() -> None:
    group = ExceptionGroup("reports", [UsageError("cannot write a.md"),
                                       Unavailable("cannot write b.json")])

    result = invoke(group)

    assert result.exit_code == 2
    assert result.stderr == "error: cannot write a.md\nerror: cannot write b.json\n"


def test_a_user_error_shows_no_traceback_even_with_debug() -> None:
    result = invoke(UsageError("bad filter"), "--debug")

    assert (result.exit_code, result.stderr) == (2, "error: bad filter\n")


# ------------------------------------------------------------------------------ other errors

def test_an_unexpected_error_is_a_short_message_and_exit_1() -> None:
    result = invoke(RuntimeError("boom"))

    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: unexpected RuntimeError: boom {HINT}\n"
    assert "Traceback" not in result.output


def test_an_unexpected_error_without_a_message_names_its_type() -> None:
    assert invoke(KeyError()).stderr == f"error: unexpected KeyError {HINT}\n"


def test_a_group_holding_an_unexpected_error_is_unexpected() -> None:
    result = invoke(ExceptionGroup("mixed", [UsageError("a"), ValueError("b")]))

    assert result.exit_code == 1
    assert result.stderr.startswith("error: unexpected ExceptionGroup: mixed (2 sub-exceptions)")


@pytest.mark.parametrize(("args", "env"), [(["--debug"], {}), ([], {"SMOKEBOT_DEBUG": "1"}),
                                           ([], {"SMOKEBOT_DEBUG": "yes"})])
def test_debug_shows_the_traceback_of_an_unexpected_error(args: list[str],
                                                          env: dict[str, str]) -> None:
    result = invoke(RuntimeError("boom"), *args, env=env)

    assert result.exit_code == 1
    assert result.stderr.startswith("Traceback (most recent call last):\n")
    assert 'raise error' in result.stderr
    assert result.stderr.endswith("RuntimeError: boom\nerror: unexpected RuntimeError: boom\n")


def test_smokebot_debug_off_keeps_the_traceback_hidden() -> None:
    result = invoke(RuntimeError("boom"), env={"SMOKEBOT_DEBUG": "0"})

    assert result.stderr == f"error: unexpected RuntimeError: boom {HINT}\n"


def test_ctrl_c_exits_130_without_a_traceback() -> None:
    result = invoke(KeyboardInterrupt())

    assert result.exit_code == 130
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == "\ncancelled\n"


def test_clicks_own_usage_errors_stay_clicks() -> None:
    result = CliRunner().invoke(BridgedGroup(name="smokebot", commands=[
        raising(UsageError("never raised"))]), ["fail", "--colour"])

    assert result.exit_code == 2
    assert result.stderr.endswith("Error: No such option '--colour'.\n")


# ------------------------------------------------------------------------------ redaction

def test_no_message_or_traceback_holds_a_secret_the_command_registered() -> None:
    canary = "sk_" + "test_" + secrets.token_hex(12)

    @click.command(name="fail")
    def fail() -> None:
        output_redactor().register(canary)
        raise RuntimeError(f"the server rejected {canary}")

    for args in ([], ["--debug"]):
        group = BridgedGroup(name="smokebot", commands=[fail])
        result = CliRunner().invoke(group, [*args, "fail"], env={"SMOKEBOT_DEBUG": ""})

        assert result.exit_code == 1
        assert canary not in result.output
        assert f"the server rejected [redacted sk_test_…({len(canary)} chars)]" in result.stderr


# ------------------------------------------------------------------------------ the real group

def test_the_package_exposes_the_group_and_its_entry_point() -> None:
    assert bot.cli.__all__ == ["cli", "main"]
    assert isinstance(cli, BridgedGroup)


def test_the_group_holds_every_command() -> None:
    assert cli.list_commands(click.Context(cli)) == ["audit", "deliveries", "history", "list", "migrate", "run",
                                    "schema", "serve", "slack-manifest", "validate", "worker"]


def test_validate_imports_no_command_module_but_its_own(tmp_path: Path) -> None:
    # In a fresh interpreter: this one has imported every command already.
    suite = tmp_path / "suite.yaml"
    suite.write_text("environments: {staging: {}}\ncategories:\n  - name: Health\n"
                     "    checks: [{id: up, type: http, url: 'http://127.0.0.1:9/'}]\n")
    probe = ("import sys\nfrom click.testing import CliRunner\nfrom bot.cli import cli\n"
             f"result = CliRunner().invoke(cli, ['validate', '--config', {str(suite)!r}])\n"
             "assert result.exit_code == 0, result.output\n"
             "print(sorted(m for m in sys.modules if m.startswith('bot.cli.')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)

    assert done.stdout.strip() == "['bot.cli._bridge', 'bot.cli._engine', 'bot.cli._group']"


def test_debug_is_an_option_of_the_smokebot_group() -> None:
    result = CliRunner().invoke(cli, ["--help"], prog_name="smokebot")

    assert result.exit_code == 0
    assert "--debug" in result.stdout
