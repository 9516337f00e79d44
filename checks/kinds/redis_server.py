"""The `redis` kind: a target's Redis answers, is the role it should be, has room, and its job
queues are not backing up.

    PING                  always; measured as ping_ms
    INFO                  version, role (and a replica's link to its master), memory
    role                  master or replica (primary and slave are read as these)
    memory                max_used (bytes, redis.conf units), max_percent (of maxmemory),
                          policy (maxmemory-policy, such as noeviction)
    queues                name -> {max: N}: a depth each, measured as depth.<name> so that
                          history shows a trend; the names follow `layout`
                          (see checks.kinds.redis_queues)

Nothing is ever written: PING, INFO, TYPE, the length commands, SMEMBERS and SCAN are all it
sends, so the check may run as an ACL user limited to `+@read +ping +info`.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, field_validator

from checks.config import describe_input
from checks.kinds.base import CheckContext, CheckKind, KindParams
from checks.kinds.redis_client import RedisParams, open_redis
from checks.kinds.redis_queues import (
    Depth, Layout, Reading, discover_queues, layout_depths, measure, named_depth,
)
from checks.results import Outcome

__all__ = ["MemoryLimits", "QueueLimit", "RedisCheck", "RedisCheckParams", "parse_bytes"]

SHOWN_IN_SUMMARY = 3

# redis.conf's units: 1k is 1000 bytes, 1kb is 1024 (and so on up); KiB, MiB, GiB too.
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?b?|b)?\s*$", re.IGNORECASE)
_SCALE = {"": 1, "b": 1, "k": 1000, "kb": 1024, "kib": 1024, "m": 1000 ** 2, "mb": 1024 ** 2,
          "mib": 1024 ** 2, "g": 1000 ** 3, "gb": 1024 ** 3, "gib": 1024 ** 3,
          "t": 1000 ** 4, "tb": 1024 ** 4, "tib": 1024 ** 4}


def parse_bytes(value: Any) -> int:
    """Bytes from `1048576`, `"512mb"`, `"1.5gb"`, `"800MiB"` (redis.conf's units)."""
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    if isinstance(value, str) and (match := _SIZE.match(value)):
        unit = (match.group(2) or "").lower()
        if unit in _SCALE:
            size = int(float(match.group(1)) * _SCALE[unit])
            if size > 0:
                return size
    raise ValueError(f"expected a size such as 512mb, 1.5gb or 1073741824 (bytes), got "
                     f"{describe_input(value)}")


ByteSize = Annotated[int, BeforeValidator(parse_bytes)]


class QueueLimit(KindParams):
    max: int | None = Field(None, ge=0)  # None: measured, never judged


class MemoryLimits(KindParams):
    max_used: ByteSize | None = None
    max_percent: float | None = Field(None, gt=0, le=100)
    policy: str | None = Field(None, min_length=1)


def _role_name(value: Any) -> Any:
    aliases = {"primary": "master", "slave": "replica"}
    return aliases.get(value.lower(), value.lower()) if isinstance(value, str) else value


class RedisCheckParams(RedisParams):
    role: Annotated[Literal["master", "replica"], BeforeValidator(_role_name)] | None = None
    memory: MemoryLimits | None = None
    layout: Layout = Layout.RAW
    prefix: str = ""
    queues: dict[str, QueueLimit | None] = Field(default_factory=dict)
    discover: bool = True  # with a layout: also measure the queues its bookkeeping lists

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("queues")
    @classmethod
    def _named(cls, queues: dict[str, QueueLimit | None]) -> dict[str, QueueLimit | None]:
        for name in queues:
            if not name.strip():
                raise ValueError("expected queue names (or, with layout raw, keys), got an "
                                 "empty name")
        return queues


# ------------------------------------------------------------------------------ the kind

@dataclass
class _Findings:
    failures: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    measurements: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, Any] = field(default_factory=dict)


class RedisCheck(CheckKind[RedisCheckParams]):
    """PING, INFO, then the role, memory and queue depths the suite asks about."""

    Params = RedisCheckParams

    async def run(self, params: RedisCheckParams, ctx: CheckContext) -> Outcome:
        found = _Findings()
        async with open_redis(params, ctx) as (client, target):
            started = time.perf_counter()
            await client.execute_command("PING")  # also connects and authenticates
            ping_ms = (time.perf_counter() - started) * 1000
            info = await client.info()
            readings, discovered, complete = await _queue_readings(client, params)
        found.measurements["ping_ms"] = round(ping_ms, 2)
        found.evidence["server"] = target.label
        _judge_server(params, info, found)
        _judge_queues(params, readings, discovered, complete, found)
        summary = "; ".join(found.failures) if found.failures else _summary(
            ping_ms, info, readings, params)
        return Outcome(passed=not found.failures, summary=summary,
                       details="\n".join(found.details), measurements=found.measurements,
                       evidence=found.evidence)

    def describe(self, params: RedisCheckParams) -> str:
        parts = ["answers PING"]
        if params.role:
            parts.append(f"is a {params.role}")
        if params.memory:
            parts.append("memory within limits")
        limited = [n for n, limit in params.queues.items() if limit and limit.max is not None]
        if params.queues:
            layout = "" if params.layout is Layout.RAW else f"{params.layout.value} "
            parts.append(f"{layout}queue depths of {', '.join(params.queues)}"
                         + (f" ({len(limited)} with a max)" if limited else ""))
        elif params.layout is not Layout.RAW:
            parts.append(f"{params.layout.value} queue depths")
        return f"Redis {', '.join(parts)}"


async def _queue_readings(client: Any, params: RedisCheckParams
                          ) -> tuple[list[Reading], list[str], bool]:
    depths: dict[str, Depth] = {}
    for name in params.queues:
        depths[name] = named_depth(params.layout, name, params.prefix)
    discovered: list[str] = []
    complete = True
    if params.layout is not Layout.RAW and params.discover:
        discovered, complete = await discover_queues(client, params.layout, params.prefix)
        for depth in layout_depths(params.layout, discovered, params.prefix):
            depths.setdefault(depth.name, depth)
    return await measure(client, list(depths.values())), discovered, complete


def _judge_server(params: RedisCheckParams, info: dict[str, Any], found: _Findings) -> None:
    version = str(info.get("redis_version", "?"))
    role = "replica" if info.get("role") == "slave" else str(info.get("role", "?"))
    used = _int(info.get("used_memory"))
    maxmemory = _int(info.get("maxmemory"))
    policy = str(info.get("maxmemory_policy", ""))
    found.evidence.update({"redis_version": version, "role": role, "used_memory": used,
                           "maxmemory": maxmemory, "maxmemory_policy": policy})
    found.details.append(f"Redis {version}, {role}; used memory {_size(used)}"
                         + (f" of maxmemory {_size(maxmemory)}" if maxmemory else
                            " (no maxmemory)") + (f", policy {policy}" if policy else ""))
    if used is not None:
        found.measurements["used_memory_bytes"] = used
    if params.role and role != params.role:
        found.failures.append(f"role {role}, expected {params.role}")
    if params.role == "replica" and role == "replica":
        link = str(info.get("master_link_status", "?"))
        found.evidence["master_link_status"] = link
        if link != "up":
            found.failures.append(f"the replica's link to its master is {link} "
                                  "(master_link_status)")
    limits = params.memory
    if limits is None:
        return
    if limits.max_used is not None and used is not None and used > limits.max_used:
        found.failures.append(f"used memory {_size(used)}, expected at most "
                              f"{_size(limits.max_used)}")
    if limits.max_percent is not None and used is not None:
        if not maxmemory:
            found.failures.append("memory.max_percent: maxmemory is not set (no limit), so used "
                                  "memory is no share of it; use max_used instead")
        else:
            percent = used * 100 / maxmemory
            found.measurements["used_memory_percent"] = round(percent, 1)
            if percent > limits.max_percent:
                found.failures.append(f"used memory {percent:.1f}% of maxmemory "
                                      f"{_size(maxmemory)}, expected at most "
                                      f"{limits.max_percent:g}%")
    if limits.policy is not None and policy != limits.policy:
        found.failures.append(f"maxmemory-policy {policy or '?'}, expected {limits.policy}")


def _judge_queues(params: RedisCheckParams, readings: list[Reading], discovered: list[str],
                  complete: bool, found: _Findings) -> None:
    if not readings:
        return
    queues: dict[str, Any] = {}
    for reading in readings:
        limit = params.queues.get(reading.name)
        ceiling = limit.max if limit else None
        found.measurements[f"depth.{reading.name}"] = reading.depth
        queues[reading.name] = {"depth": reading.depth, "max": ceiling, "keys": reading.types}
        shown = f"{reading.name}: {reading.depth}" + (
            f" (max {ceiling})" if ceiling is not None else "")
        keys = ", ".join(f"{key} {kind}" for key, kind in reading.types.items())
        found.details.append(f"{shown}  [{keys}]")
        if reading.problem:
            found.failures.append(f"{reading.name}: {reading.problem}")
        elif ceiling is not None and reading.depth > ceiling:
            found.failures.append(f"{reading.name}: depth {reading.depth}, expected at most "
                                  f"{ceiling}")
    found.evidence["queues"] = queues
    if params.layout is not Layout.RAW:
        found.evidence.update({"layout": params.layout.value, "discovered": discovered})
        if not complete:
            found.details.append(f"discovery stopped early: the first {len(discovered)} queues "
                                 "are measured")


def _summary(ping_ms: float, info: dict[str, Any], readings: list[Reading],
             params: RedisCheckParams) -> str:
    role = "replica" if info.get("role") == "slave" else str(info.get("role", "?"))
    text = (f"PONG in {ping_ms:.1f}ms from Redis {info.get('redis_version', '?')} ({role}), "
            f"{_size(_int(info.get('used_memory')))} used")
    if readings:
        named = [r for r in readings if r.name in params.queues] or readings
        shown = ", ".join(f"{r.name} {r.depth}" for r in named[:SHOWN_IN_SUMMARY])
        more = len(named) - SHOWN_IN_SUMMARY
        text += f"; depths: {shown}" + (f" (and {more} more)" if more > 0 else "")
    return text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    for unit, scale in (("GiB", 1024 ** 3), ("MiB", 1024 ** 2), ("KiB", 1024)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"
