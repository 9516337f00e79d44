"""A private redis-server of a test's own, on a free loopback port: for what the machine's shared
Redis must not be given (a password, ACL users, TLS, MONITOR, real key names).

    with private_redis(tmp_path, password="pw") as server:
        server.url            # redis://:pw@127.0.0.1:PORT/0
        server.client()       # a redis.Redis (sync) logged in, for arranging keys

It runs in the foreground as our child, with no persistence, and is stopped by its PID
(SIGTERM, then SIGKILL) however the test ends. With `tls=` (a trustme CA) it listens on a TLS
port only.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

__all__ = ["PrivateRedis", "free_port", "private_redis", "redis_server_available",
           "redis_server_supports_tls"]

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 5.0
PORT_ATTEMPTS = 3  # a free port may be taken between our probe and the server's bind


@dataclass(frozen=True)
class PrivateRedis:
    host: str
    port: int
    password: str | None
    process: subprocess.Popen[bytes]
    tls_ca_file: Path | None = None

    @property
    def url(self) -> str:
        scheme = "rediss" if self.tls_ca_file else "redis"
        auth = f":{self.password}@" if self.password else ""
        return f"{scheme}://{auth}{self.host}:{self.port}/0"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def client(self, **kwargs: Any) -> redis.Redis:
        options: dict[str, Any] = {"host": self.host, "port": self.port,
                                   "password": self.password, "socket_timeout": 5}
        if self.tls_ca_file:
            options.update(ssl=True, ssl_ca_certs=str(self.tls_ca_file))
        return redis.Redis(**{**options, **kwargs})


def redis_server_available() -> bool:
    return shutil.which("redis-server") is not None


def redis_server_supports_tls() -> bool:
    """Debian's and most distributions' builds do (BUILD_TLS=yes). Started with no listener at
    all, a build with TLS reads the tls-* options and exits ("Configured to not listen
    anywhere"); one without stops at them ("Bad directive")."""
    if not redis_server_available():
        return False
    probe = subprocess.run(["redis-server", "--port", "0", "--tls-port", "0", "--save", "",
                            "--appendonly", "no"], capture_output=True, text=True, timeout=10,
                           check=False, cwd="/tmp")
    output = (probe.stdout + probe.stderr).lower()
    return "bad directive" not in output and "not listen anywhere" in output


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_redis(directory: Path, *, password: str | None = None,
                  tls: Any = None, extra: tuple[str, ...] = ()) -> Iterator[PrivateRedis]:
    """`tls`: a `trustme.CA`; the server then gets a certificate for 127.0.0.1 and localhost
    and listens on a TLS port only (clients need no certificate of their own)."""
    directory.mkdir(parents=True, exist_ok=True)
    tls_args: list[str] = []
    ca_file: Path | None = None
    if tls is not None:
        cert = tls.issue_cert("127.0.0.1", "localhost")
        cert_file, key_file, ca_file = (directory / "redis.crt", directory / "redis.key",
                                        directory / "ca.crt")
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        cert.private_key_pem.write_to_path(str(key_file))
        tls.cert_pem.write_to_path(str(ca_file))
        tls_args = ["--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file),
                    "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no"]
    for _ in range(PORT_ATTEMPTS):
        port = free_port()
        ports = ["--port", "0", "--tls-port", str(port)] if tls is not None else \
            ["--port", str(port)]
        args = ["redis-server", *ports, "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", str(directory), "--daemonize", "no",
                "--loglevel", "warning", "--logfile", str(directory / "redis.log"),
                *(["--requirepass", password] if password else []), *tls_args, *extra]
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = PrivateRedis("127.0.0.1", port, password, process, ca_file)
        try:
            if _wait_until_ready(server):
                yield server
                return
        finally:
            _stop(process)
    raise RuntimeError(f"redis-server did not start; see {directory / 'redis.log'}")


def _wait_until_ready(server: PrivateRedis) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False  # exited: most likely the port was taken meanwhile
        try:  # no retries of redis-py's own: its backoff would outlast the start-up
            with server.client(socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0)) as client:
                if client.ping():
                    return True
        except redis.RedisError:
            time.sleep(0.02)
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
