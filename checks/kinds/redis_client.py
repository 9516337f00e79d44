"""How the redis kind reaches a target's Redis: one redis-py asyncio client per check run, from a
URL (usually a secret), with TLS and a password, and every failure of it translated into a
CheckError that says what to fix and never holds the password.

redis-py is imported when a check connects, not when the kind is loaded: validating a suite
needs only the parameter models. The client never retries (the runner does, by the check's
`retries`), names itself smokebot through CLIENT SETINFO (refused by Redis before 7.2 or by an
ACL, which redis-py ignores) and is closed however the check ends.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from pydantic import Field

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, KindParams
from checks.redact import Redactor
from checks.release import release

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["RedisParams", "RedisTarget", "RedisTls", "open_redis"]

CLIENT_NAME = "smokebot"
_SCHEMES = ("redis", "rediss", "unix")
_INVALID_URL = ("invalid Redis URL; expected redis://[user:password@]host:port/db, rediss://… "
                "for TLS, or unix:///path/to/socket")


class RedisTls(KindParams):
    """TLS settings for a rediss:// URL. The system's CAs are trusted unless `ca_file` or `ca`
    (PEM text, from a secret) names the CA that signed the server's certificate."""

    ca_file: str | None = Field(None, min_length=1)  # relative: from the suite file's folder
    ca: str | None = Field(None, min_length=1)
    verify: bool = True  # false: no certificate or host name check (a test server only)


class RedisParams(KindParams):
    """The fields of a Redis connection: `url` as redis://[user:password@]host:port/db,
    rediss:// for TLS, or unix:///path/to/socket."""

    url: str = Field(min_length=1)
    username: str | None = Field(None, min_length=1)  # when the URL has none (Redis 6 ACLs)
    password: str | None = Field(None, min_length=1)  # when the URL has none
    tls: RedisTls | None = None
    connect_timeout: Duration = 5.0
    timeout: Duration = 5.0  # each command's answer


@dataclass(frozen=True)
class RedisTarget:
    """Where a URL points, without its password: what error messages may name."""

    label: str  # host:port, or the socket's path
    tls: bool
    user: str  # "default" when the URL names none

    @property
    def where(self) -> str:
        return f"Redis at {self.label}"


def _target(params: RedisParams, redactor: Redactor) -> RedisTarget:
    url = params.url.strip()
    for secret in (params.password, _url_password(url)):
        if secret:
            redactor.register(secret)
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError("scheme")
        if scheme == "unix":
            label = parts.path or "?"
        else:
            label = f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
    except ValueError:
        invalid = True
    else:
        invalid = False
    if invalid:  # raised outside the except: nothing of the URL rides along
        raise CheckError(_INVALID_URL, permanent=True)
    user = params.username or unquote(parts.username or "") or "default"
    return RedisTarget(label, scheme == "rediss", user)


def _url_password(url: str) -> str | None:
    try:
        password = urlsplit(url).password
    except ValueError:
        match = re.search(r"://[^/@]*?:([^/@]*)@", url)
        password = match.group(1) if match else None
    return unquote(password) if password else None


def _options(params: RedisParams, target: RedisTarget, ctx: CheckContext) -> dict[str, Any]:
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    options: dict[str, Any] = {
        "socket_connect_timeout": params.connect_timeout, "socket_timeout": params.timeout,
        "retry": Retry(NoBackoff(), 0),
        # Keys read back (SCAN, SMEMBERS) are sent again as they came, UTF-8 or not.
        "encoding_errors": "surrogateescape",
    }
    try:
        from redis.driver_info import DriverInfo
    except ImportError:  # redis-py before 7: the older spelling
        options.update(lib_name=CLIENT_NAME, lib_version=release())
    else:  # CLIENT LIST shows lib-name=redis-py(smokebot_v<version>)
        options["driver_info"] = DriverInfo().add_upstream_driver(CLIENT_NAME, release())
    if params.username:
        options["username"] = params.username
    if params.password:
        options["password"] = params.password
    tls = params.tls
    if tls is not None:
        if not target.tls:
            raise CheckError("tls: these settings are for a rediss:// URL; expected the URL to "
                             "start with rediss://", permanent=True)
        if tls.ca_file:
            ca_file = ctx.resolve_path(tls.ca_file)
            if not ca_file.is_file():
                raise CheckError(f"tls.ca_file: {ca_file} is not a readable file", permanent=True)
            options["ssl_ca_certs"] = str(ca_file)
        if tls.ca:
            options["ssl_ca_data"] = tls.ca
        if not tls.verify:
            options.update(ssl_cert_reqs="none", ssl_check_hostname=False)
    return options


@asynccontextmanager
async def open_redis(params: RedisParams,
                     ctx: CheckContext) -> AsyncIterator[tuple[redis.asyncio.Redis, RedisTarget]]:
    """A client (not yet connected: the first command connects) and where it points. A redis-py
    error raised in the body becomes a CheckError."""
    import redis.asyncio as aioredis
    from redis.exceptions import RedisError

    target = _target(params, ctx.redactor)
    options = _options(params, target, ctx)
    try:
        client = aioredis.Redis.from_url(params.url.strip(), **options)
    except ValueError:  # a URL redis-py cannot read
        client = None
    if client is None:
        raise CheckError(_INVALID_URL, permanent=True)
    problem: CheckError | None = None
    try:
        yield client, target
    except (RedisError, OSError) as exc:
        problem = translated(exc, target, params)
    finally:
        await client.aclose()
    if problem is not None:
        raise _redacted(problem, ctx.redactor)


def _redacted(error: CheckError, redactor: Redactor) -> CheckError:
    return CheckError(redactor.redact(error.message), permanent=error.permanent,
                      details=redactor.redact(error.details))


# ------------------------------------------------------------------------------ errors

_NOPERM_COMMAND = re.compile(r"permissions to run the '(?P<command>[^']+)' command")


def translated(exc: Exception, target: RedisTarget, params: RedisParams) -> CheckError:
    """A redis-py (or socket) error as what to fix. redis-py words most failures as text, so
    they are read from it; none of its messages carries the password."""
    from redis import exceptions as rex

    where = target.where
    message = " ".join(str(exc).split()) or type(exc).__name__
    lower = message.lower()
    if isinstance(exc, rex.AuthenticationError):
        if "without any password configured" in lower:
            return CheckError(f"{where} has no password set for user {target.user}, but one was "
                              "given: remove it from the URL, or check that this is the right "
                              "server", permanent=True)
        if "authentication required" in lower:
            return CheckError(f"{where} requires a password: put it in the URL "
                              "(redis://:PASSWORD@host:port) or in password", permanent=True)
        return CheckError(f"{where} rejected the password of user {target.user}: check the "
                          "user and password", permanent=True)
    if isinstance(exc, rex.NoPermissionError):
        if match := _NOPERM_COMMAND.search(message):
            command = match["command"]
            return CheckError(f"Redis user {target.user} may not run {command.upper()}: grant "
                              f"it (ACL SETUSER {target.user} +{command})", permanent=True)
        return CheckError(f"Redis user {target.user} was refused: {message}: grant it read "
                          "access to the keys it measures (ACL SETUSER … ~pattern)",
                          permanent=True)
    if isinstance(exc, rex.BusyLoadingError):
        return CheckError(f"{where} is loading its dataset into memory; it answers once loaded")
    if isinstance(exc, rex.TimeoutError):
        if "connecting" in lower:
            hint = " (a rediss:// URL to a port without TLS waits like this)" if target.tls \
                else ""
            return CheckError(f"cannot connect to {where}: no answer within "
                              f"{_duration(params.connect_timeout)}{hint}")
        return CheckError(f"{where} did not answer within {_duration(params.timeout)}")
    if isinstance(exc, rex.ResponseError):
        return _response_error(message, target)
    return _connection_error(exc, message, target)


def _connection_error(exc: Exception, message: str, target: RedisTarget) -> CheckError:
    where = target.where
    lower = message.lower()
    cause = exc.__context__ or exc.__cause__
    if "ssl" in lower or "certificate" in lower or type(cause).__name__.startswith("SSL"):
        reason = re.sub(r"^error \d+ connecting to \S+\s*", "", message, flags=re.IGNORECASE)
        reason = re.sub(r"\s*\(_ssl\.c:\d+\)\.?$", "", reason).strip(". ")
        if "certificate verify failed" in lower:
            return CheckError(f"cannot verify the TLS certificate of {where} ({reason}): set "
                              "tls.ca_file (or tls.ca) to the CA that signed it", permanent=True)
        if "wrong version number" in lower or "record layer" in lower or \
                "packet length too long" in lower:
            return CheckError(f"TLS handshake with {where} failed ({reason}): the port does not "
                              "seem to speak TLS; use redis:// for a plain connection",
                              permanent=True)
        return CheckError(f"TLS handshake with {where} failed: {reason}", permanent=True)
    if "refused" in lower or "connect call failed" in lower:
        return CheckError(f"cannot connect to {where}: connection refused")
    if "no such file or directory" in lower:
        return CheckError(f"cannot connect to {where}: no such socket", permanent=True)
    if "name or service not known" in lower or "name resolution" in lower or \
            "nodename nor servname" in lower:
        return CheckError(f"cannot connect to {where}: host name not found")
    if "reset by peer" in lower or "closed by server" in lower:
        hint = "" if target.tls else " (a TLS port answers a plain redis:// URL like this: use " \
            "rediss://)"
        return CheckError(f"{where} closed the connection{hint}")
    return CheckError(f"cannot connect to {where}: {message}")


def _response_error(message: str, target: RedisTarget) -> CheckError:
    where = target.where
    lower = message.lower()
    if "db index is out of range" in lower:
        return CheckError(f"{where} has no such database: check the /db number at the end of "
                          "the URL", permanent=True)
    if lower.startswith(("moved", "ask ", "clusterdown", "crossslot")):
        return CheckError(f"{where} is a Redis Cluster node ({message}); the redis kind reads "
                          "a single server", permanent=True)
    if "unknown command" in lower:
        return CheckError(f"{where} does not offer a command this check needs: {message}",
                          permanent=True)
    if lower.startswith("loading"):
        return CheckError(f"{where} is loading its dataset into memory; it answers once loaded")
    return CheckError(f"{where} answered an error: {message}")


def _duration(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"
