"""`python -m bot ...` run as a container runs it, for the tests of how `serve` and `worker`
start: an environment of the test's own, and a started process whose stderr is read as it
grows (a file, not a pipe: a pipe nobody reads fills up and blocks the process's logging)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.asgi import free_port

__all__ = ["REPO", "SIGNING_SECRET", "SUITE", "BotProcess", "process_env", "run_bot"]

REPO = Path(__file__).resolve().parents[3]
SIGNING_SECRET = "start-signing-secret-0123456789"
SUITE = """\
suite: start
environments:
  staging:
    variables: {base_url: "http://127.0.0.1:9"}
    slack: {channel: C0SMOKE001}
categories:
  - name: Health
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${base_url}/health
"""


def process_env(**settings: str) -> dict[str, str]:
    """The machine's environment without its smokebot, Slack, PostgreSQL and Redis settings,
    then `settings`. By default PostgreSQL and Redis are on a closed loopback port and Slack
    on the discard port: a start that is refused must not need any of them."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("SMOKEBOT_", "SLACK_"))
           and name not in ("DATABASE_URL", "REDIS_URL")}
    closed = free_port()
    env.update(SLACK_SIGNING_SECRET=SIGNING_SECRET, SLACK_BOT_TOKEN="xoxb-start-0000000000",
               SLACK_API_URL="http://127.0.0.1:9/api/",
               DATABASE_URL=f"postgresql://postgres@127.0.0.1:{closed}/smokebot",
               REDIS_URL=f"redis://127.0.0.1:{closed}/0")
    env.update(settings)
    return env


def run_bot(args: list[str], env: dict[str, str], *, timeout: float
            ) -> tuple[subprocess.CompletedProcess[str], float]:
    """Runs the command to its end; fails the test when it is still running after
    `timeout` seconds (it started where it should have refused)."""
    started = time.monotonic()
    try:
        process = subprocess.run([sys.executable, "-m", "bot", *args], cwd=REPO, env=env,
                                 capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"`smokebot {' '.join(args)}` still running after {timeout} s; "
                             f"stderr: {exc.stderr!r}") from None
    return process, time.monotonic() - started


class BotProcess:
    """A started `python -m bot ...`; `stop()` sends SIGTERM and returns the exit code."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.log_path = log_path
        with log_path.open("wb") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "bot", *args], cwd=REPO,
                                            env=env, stdout=subprocess.DEVNULL, stderr=log)

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, condition: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                raise AssertionError(f"exited {self.process.returncode} before {what}; "
                                     f"stderr:\n{self.log}")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {what} within {timeout} s; stderr:\n{self.log}")
            time.sleep(0.05)

    def wait_for_log(self, text: str, timeout: float = 20.0) -> None:
        self.wait_for(lambda: text in self.log, repr(text), timeout)

    def stop(self, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=5)
            raise AssertionError(f"still running {timeout} s after SIGTERM; stderr:\n"
                                 f"{self.log}") from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)
