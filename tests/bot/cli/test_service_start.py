"""How `smokebot serve` and `smokebot worker` start, run as a container runs them
(`python -m bot ...`): a missing or invalid suite file is refused with one line and exit 2
before anything connects; both take --config like `run`; `serve` listens where --host and
--port (or SMOKEBOT_HOST and SMOKEBOT_PORT) say, names a port in use in one line, and starts
without a warning from Bolt."""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from bot.cli import cli
from tests.bot.cli.process_support import SUITE, BotProcess, process_env, run_bot
from tests.support.asgi import free_port
from tests.support.services import redis_url, unique_prefix

REFUSED_WITHIN_S = 10.0  # a refusal comes before any connection: the time to import and parse
NOT_FOUND = "suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)"
# Each command as it is started, kept on loopback should the refusal not happen.
COMMANDS = {"serve": ["serve", "--host", "127.0.0.1", "--port", "0"], "worker": ["worker"]}
UNKNOWN_FIELD = """\
suite: start
environments:
  staging: {bogus: 1}
categories: []
"""
BROKEN_YAML = """\
suite: start
environments:
  staging: [
categories: []
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE, encoding="utf-8")
    return path


def assert_one_line_refusal(process: object, took: float, message: str) -> None:
    assert process.returncode == 2, process.stderr  # type: ignore[attr-defined]
    assert process.stderr == f"error: {message}\n"  # type: ignore[attr-defined]
    assert process.stdout == ""  # type: ignore[attr-defined]
    assert took < REFUSED_WITHIN_S


# ------------------------------------------------------------------------------ the suite file

@pytest.mark.parametrize("command", COMMANDS)
def test_a_missing_suite_file_is_refused_in_one_line_with_exit_2(
        tmp_path: Path, command: str) -> None:
    missing = tmp_path / "missing.yaml"

    process, took = run_bot(COMMANDS[command], process_env(SMOKEBOT_CONFIG=str(missing)),
                            timeout=2 * REFUSED_WITHIN_S)

    assert_one_line_refusal(process, took, f"{missing}: {NOT_FOUND}")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("text", "message"), [
    (UNKNOWN_FIELD, "3:13: environments.staging.bogus: unknown field 'bogus'; expected one of: "
                    "description, variables, secrets, slack, kubernetes, deploy, "
                    "production, traffic"),
    (BROKEN_YAML, "5:1: invalid YAML: expected ',' or ']', but got '<stream end>' (while "
                  "parsing a flow sequence that starts at line 3, column 12)"),
], ids=["unknown-field", "broken-yaml"])
def test_an_invalid_suite_file_is_refused_naming_its_line(
        tmp_path: Path, command: str, text: str, message: str) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text(text, encoding="utf-8")

    process, took = run_bot(COMMANDS[command], process_env(SMOKEBOT_CONFIG=str(path)),
                            timeout=2 * REFUSED_WITHIN_S)

    assert_one_line_refusal(process, took, f"{path}:{message}")


@pytest.mark.parametrize("command", COMMANDS)
def test_config_option_names_the_suite_file_over_smokebot_config(
        tmp_path: Path, suite: Path, command: str) -> None:
    missing = tmp_path / "other.yaml"

    process, took = run_bot([*COMMANDS[command], "--config", str(missing)],
                            process_env(SMOKEBOT_CONFIG=str(suite)),
                            timeout=2 * REFUSED_WITHIN_S)

    assert_one_line_refusal(process, took, f"{missing}: {NOT_FOUND}")


def test_worker_starts_with_the_suite_file_given_by_config(
        tmp_path: Path, suite: Path, pg_dsn: str) -> None:
    env = process_env(SMOKEBOT_CONFIG=str(tmp_path / "missing.yaml"), DATABASE_URL=pg_dsn,
                      REDIS_URL=redis_url(), SMOKEBOT_KEY_PREFIX=unique_prefix("start"))
    worker = BotProcess(["worker", "-c", str(suite)], env, tmp_path / "worker.stderr")
    try:
        worker.wait_for_log(" started: 2 run(s) at once")
    finally:
        code = worker.stop()

    assert code == 0, worker.log
    assert "Traceback" not in worker.log


def test_serve_without_a_signing_secret_is_refused_before_it_starts(suite: Path) -> None:
    env = process_env(SMOKEBOT_CONFIG=str(suite))
    del env["SLACK_SIGNING_SECRET"]

    process, took = run_bot(COMMANDS["serve"], env, timeout=2 * REFUSED_WITHIN_S)

    assert_one_line_refusal(process, took, "SLACK_SIGNING_SECRET is not set: Slack requests "
                                           "cannot be verified")


# ------------------------------------------------------------------------------ listening

@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port some other process listens on, on loopback."""
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        yield blocker.getsockname()[1]


@pytest.mark.parametrize("how", ["options", "environment"])
def test_a_port_in_use_is_refused_in_one_line_with_exit_2(
        suite: Path, busy_port: int, how: str) -> None:
    where = {"SMOKEBOT_HOST": "127.0.0.1", "SMOKEBOT_PORT": str(busy_port)}
    args = ["serve", "--host", "127.0.0.1", "--port", str(busy_port)]
    env = process_env(SMOKEBOT_CONFIG=str(suite), **(where if how == "environment" else {}))

    process, took = run_bot(args if how == "options" else ["serve"], env,
                            timeout=2 * REFUSED_WITHIN_S)

    assert_one_line_refusal(process, took, (
        f"cannot listen on 127.0.0.1:{busy_port}: the address is already in use; pass --host "
        f"and --port (or set SMOKEBOT_HOST and SMOKEBOT_PORT)"))


@pytest.mark.parametrize("how", ["options", "environment"])
def test_serve_listens_on_its_host_and_port_and_starts_without_a_warning(
        tmp_path: Path, suite: Path, pg_dsn: str, how: str) -> None:
    port = free_port()
    env = process_env(SMOKEBOT_CONFIG=str(suite), DATABASE_URL=pg_dsn, REDIS_URL=redis_url(),
                      SMOKEBOT_KEY_PREFIX=unique_prefix("start"))
    args = ["serve", "--host", "127.0.0.1"]
    if how == "options":
        args += ["--port", str(port)]
    else:
        env["SMOKEBOT_PORT"] = str(port)
    server = BotProcess(args, env, tmp_path / "serve.stderr")
    try:
        server.wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), "/healthz")
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
    finally:
        code = server.stop()

    assert ready.json() == {"ready": True}
    assert code in (0, -signal.SIGTERM), server.log  # uvicorn exits by the signal it was sent
    log = server.log
    assert f"INFO smokebot: listening on http://127.0.0.1:{port} (Slack: /slack/events)" in log
    assert "slack_bolt" not in log  # "token will be unused", "token ... will be ignored"
    assert "WARNING" not in log
    assert "Traceback" not in log


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def test_help_says_where_serve_listens_and_which_suite_it_reads() -> None:
    def shown(*args: str) -> str:  # the help text, unwrapped
        return " ".join(CliRunner().invoke(cli, list(args), prog_name="smokebot").output.split())

    serve, worker = shown("serve", "--help"), shown("worker", "--help")

    for text in ("--host", "env var: SMOKEBOT_HOST", "default: 0.0.0.0", "--port",
                 "env var: SMOKEBOT_PORT", "default: 3000", "--config FILE"):
        assert text in serve, text
    assert "--config FILE" in worker
