"""The bot's processes for a benchmark, and the figures' helpers shared by bench.bot and
bench.deploys.

`running_stack` starts, in this order: the Slack emulator in a thread of this process, a fresh
PostgreSQL database, a fresh Redis key prefix, the demo target (`python -m bench.serve_web`,
BENCH_APP=target), the suite file the caller writes for it, and the web process (BENCH_APP=bot:
bot.web's app from the bot's environment variables, served by uvicorn as `smokebot serve`
serves it). On the way out it stops every process it or the caller started, prints the end of
their logs if anything failed, and deletes the prefix's Redis keys.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from redis import Redis

from tests.support.asgi import free_port
from tests.support.services import redis_url, temporary_database, unique_prefix
from tests.support.slack_emulator import SlackEmulator

__all__ = ["ROOT", "SCHEMA", "SIGNING_SECRET", "Stack", "percentile", "running_stack",
           "verdict", "wait_until"]

ROOT = Path(__file__).resolve().parent.parent
SIGNING_SECRET = "bench-signing-secret-0123456789abcdef"
SCHEMA = "smokebot"
# The path each BENCH_APP answers 200 on once it serves.
READY_PATHS = {"bot": "/readyz", "target": "/api/version"}


@dataclass(kw_only=True)
class Stack:
    """Child processes of one benchmark, each logging to `logs/<name>.log`, and the services
    they share."""

    emulator: SlackEmulator
    dsn: str
    prefix: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)
    web_url: str = ""
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self, name: str, args: list[str], extra: dict[str, str] | None = None) -> None:
        with (self.logs / f"{name}.log").open("wb") as log:
            self.processes[name] = subprocess.Popen(
                [sys.executable, *args], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                env={**os.environ, **self.env, **(extra or {})})

    def serve(self, name: str, app: str, extra: dict[str, str] | None = None) -> str:
        """Starts `app` under bench.serve_web on a free port; returns its URL once it answers."""
        port = free_port()
        self.start(name, ["-m", "bench.serve_web"],
                   {**(extra or {}), "BENCH_APP": app, "BENCH_PORT": str(port)})
        url = f"http://127.0.0.1:{port}"
        probe = READY_PATHS.get(app, "/")
        wait_until(lambda: _answers(url + probe), 30, f"{name} to serve", self.processes[name])
        return url

    def start_workers(self, count: int, *, name: str = "worker",
                      extra: dict[str, str] | None = None) -> list[str]:
        """Starts `count` workers named `{name}1`, `{name}2`, ...; returns their names."""
        names = [f"{name}{n + 1}" for n in range(count)]
        for worker in names:
            self.start(worker, ["-m", "bot", "worker"], extra)
        return names

    def stop(self, name: str) -> None:
        """SIGTERM, then waits (a worker lets its runs finish first)."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def print_log_tails(self) -> None:
        for name in self.processes:
            tail = (self.logs / f"{name}.log").read_text(errors="replace")[-2000:]
            if tail.strip():
                print(f"--- {name} log (end) ---\n{tail}", file=sys.stderr)

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn) as conn:
            conn.execute(f"SET search_path TO {SCHEMA}")
            return conn.execute(sql, params).fetchall()  # type: ignore[arg-type]

    def rss_mb(self, name: str) -> tuple[float, float]:
        """(VmRSS, VmHWM) of a process: now, and its peak."""
        status = Path(f"/proc/{self.processes[name].pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return (int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024)

    def cpu_s(self, name: str) -> float:
        """User + system CPU time a process has used so far."""
        stat = Path(f"/proc/{self.processes[name].pid}/stat").read_text()
        fields = stat.rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


StackT = TypeVar("StackT", bound=Stack)


@contextmanager
def running_stack(stack_type: type[StackT], label: str, suite_text: Callable[[str], str], *,
                  extra_env: dict[str, str] | None = None,
                  web_path: str = "") -> Iterator[StackT]:
    """The target, the suite written for it by `suite_text(target_url)`, and the web process;
    `stack.web_url` is the web process's URL plus `web_path`. `label` names the database, the
    Redis prefix and the log folder."""
    emulator = SlackEmulator(trigger_ttl=None)
    prefix = unique_prefix(label)
    with temporary_database("smokebot_" + label.replace("-", "_")) as dsn, \
            emulator.serve() as api_url, tempfile.TemporaryDirectory(prefix=f"{label}-") as tmp:
        stack = stack_type(emulator=emulator, dsn=dsn, prefix=prefix, logs=Path(tmp))
        try:
            target_url = stack.serve("target", "target")
            suite = stack.logs / "smoketest.yaml"
            suite.write_text(suite_text(target_url))
            stack.env = {"SLACK_BOT_TOKEN": emulator.bot_token,
                         "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": api_url,
                         "REDIS_URL": redis_url(), "DATABASE_URL": dsn,
                         "SMOKEBOT_CONFIG": str(suite), "SMOKEBOT_KEY_PREFIX": prefix,
                         "SMOKEBOT_DB_SCHEMA": SCHEMA, **(extra_env or {})}
            stack.web_url = stack.serve("web", "bot") + web_path
            yield stack
        except BaseException:
            stack.print_log_tails()
            raise
        finally:
            stack.stop_all()
            _delete_keys(prefix)


def _delete_keys(prefix: str) -> None:
    redis = Redis.from_url(redis_url())
    keys = list(redis.scan_iter(match=f"*{prefix}*", count=1000))
    for start in range(0, len(keys), 500):
        redis.delete(*keys[start:start + 500])
    redis.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_until(condition: Callable[[], Any], timeout: float, what: str,
               process: subprocess.Popen[bytes] | None = None, poll: float = 0.05) -> Any:
    """The first truthy `condition()`; SystemExit on timeout or if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        if process is not None and process.poll() is not None:
            raise SystemExit(f"gave up waiting for {what}: the process exited")
        time.sleep(poll)
    raise SystemExit(f"timed out waiting for {what}")


# --- figures ----------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: of 100 values, p99 is the 99th smallest."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"
