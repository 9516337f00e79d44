"""The bot's own processes for `make demo-slack`: `smokebot serve` and `smokebot worker`, each
a subprocess in a process group of its own, its log in a file.

A group of its own: Ctrl-C in the terminal reaches the demo alone, which then stops each
process in order (SIGTERM to the group, SIGKILL after STOP_TIMEOUT_S), rather than the
processes dying mid-delivery while the demo still drives them. A log file rather than a
pipe: a pipe nobody reads fills up and blocks the process's logging.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = ["BotProcess", "BotProcessFailed", "running_bot_process", "wait_until_ready"]

ROOT = Path(__file__).resolve().parents[1]
STOP_TIMEOUT_S = 10.0
READY_TIMEOUT_S = 20.0


class BotProcessFailed(Exception):
    """A bot process exited, or did not get ready, while the demo needed it."""


@dataclass(frozen=True)
class BotProcess:
    name: str  # "web" or "worker"
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raises BotProcessFailed, with the end of its log, if the process has exited."""
        code = self.process.poll()
        if code is not None:
            raise BotProcessFailed(f"the bot's {self.name} process exited with {code}:\n"
                                   f"{self.log_tail()}")


@contextmanager
def running_bot_process(name: str, command: list[str], env: Mapping[str, str],
                        log_dir: Path) -> Iterator[BotProcess]:
    """`python -m bot <command>` while the block runs; stopped, and waited for, afterwards."""
    log_path = log_dir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "bot", *command], cwd=ROOT,
                                   env=dict(env), stdin=subprocess.DEVNULL,
                                   stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        yield BotProcess(name, process, log_path)
    finally:
        stop_process_group(process)


def stop_process_group(process: subprocess.Popen[bytes],
                       timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to the process's group (it leads one), then SIGKILL if it does not end; the
    group's other members, if any, go with it. A second Ctrl-C meanwhile kills at once."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass  # the group is gone already
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            continue
        except KeyboardInterrupt:
            _kill_group(process)
            process.wait()
            raise
        _kill_group(process)  # the leader is gone; a member it left must not outlive it
        return
    process.wait()


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def wait_until_ready(web: BotProcess, base_url: str, *,
                     timeout: float = READY_TIMEOUT_S) -> None:
    """Until GET /readyz answers 200 (PostgreSQL, Redis and the suite all fine); raises
    BotProcessFailed with what it said last, or the end of its log."""
    deadline = time.monotonic() + timeout
    said = "no answer"
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            web.check_alive()
            try:
                answer = client.get(f"{base_url}/readyz")
            except httpx.HTTPError as exc:
                said = type(exc).__name__
            else:
                if answer.status_code == 200:
                    return
                said = f"{answer.status_code} {answer.text[:300]}"
            time.sleep(0.1)
    raise BotProcessFailed(f"the bot's web process was not ready within {timeout:g} s "
                           f"(/readyz: {said}):\n{web.log_tail()}")
