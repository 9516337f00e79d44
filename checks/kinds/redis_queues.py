"""Queue depths in a target's Redis: which keys a queue name stands for in each job library's
key layout, how its queues are found, and each key's length taken by its type.

    raw      a name is a key: list LLEN, stream XLEN, sorted set ZCARD, set SCARD, hash HLEN
    sidekiq  <q> -> list queue:<q>; retry, dead, schedule -> Sidekiq's sorted sets;
             queues found in the set `queues`
    rq       <q> -> list rq:queue:<q>; <q>:failed, <q>:started, <q>:scheduled, <q>:deferred
             -> sorted sets rq:failed:<q>, rq:wip:<q>, rq:scheduled:<q>, rq:deferred:<q>;
             queues found in the set `rq:queues`
    celery   <q> -> kombu's lists <q> and <q>\\x06\\x16<p> for priorities 3, 6, 9 (summed);
             unacked -> the hash `unacked`; queues found in kombu's _kombu.binding.* sets
    saq      <q> -> list saq:<q>:queued; <q>:active -> list saq:<q>:active;
             <q>:incomplete -> sorted set saq:<q>:incomplete; queues found by SCAN saq:*:queued

`prefix` goes in front of every key (redis-namespace for Sidekiq, kombu's global_keyprefix).
Only read commands are sent: TYPE and the length commands (pipelined, no MULTI), SMEMBERS and
SCAN for discovery.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import redis.asyncio

__all__ = ["Depth", "Layout", "Reading", "discover_queues", "layout_depths", "measure",
           "named_depth", "shown_key"]

MAX_DISCOVERED = 50  # queues measured without being named; more is a list, not a dashboard
SCAN_COUNT = 1000
MAX_SCANNED = 100_000  # keys SCAN walks when looking for queues, at most
KOMBU_SEP = "\x06\x16"
KOMBU_PRIORITIES = (3, 6, 9)  # kombu's default priority_steps [0, 3, 6, 9]; 0 is the bare name


class Layout(str, enum.Enum):
    RAW = "raw"
    SIDEKIQ = "sidekiq"
    RQ = "rq"
    CELERY = "celery"
    SAQ = "saq"


@dataclass(frozen=True)
class Depth:
    """One measured name and the keys whose lengths add up to its depth."""

    name: str
    keys: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    name: str
    depth: int
    types: dict[str, str]  # key -> its Redis type ("none" when absent)
    problem: str | None = None  # a key of a type that has no length as a queue


@dataclass(frozen=True)
class _Spec:
    queue: Callable[[str], tuple[str, ...]]  # a queue name -> its keys
    per_queue: dict[str, Callable[[str], str]]  # `<q>:<suffix>` -> a key of the queue's
    shared: dict[str, str]  # names that are not queues (Sidekiq's retry) -> their key
    default_queues: tuple[str, ...] = ()


_SPECS: dict[Layout, _Spec] = {
    Layout.RAW: _Spec(lambda name: (name,), {}, {}),
    Layout.SIDEKIQ: _Spec(lambda q: (f"queue:{q}",), {},
                          {"retry": "retry", "dead": "dead", "schedule": "schedule"},
                          ("default",)),
    Layout.RQ: _Spec(lambda q: (f"rq:queue:{q}",),
                     {"failed": lambda q: f"rq:failed:{q}", "started": lambda q: f"rq:wip:{q}",
                      "scheduled": lambda q: f"rq:scheduled:{q}",
                      "deferred": lambda q: f"rq:deferred:{q}"}, {}, ("default",)),
    Layout.CELERY: _Spec(lambda q: (q, *(f"{q}{KOMBU_SEP}{p}" for p in KOMBU_PRIORITIES)), {},
                         {"unacked": "unacked"}, ("celery",)),
    Layout.SAQ: _Spec(lambda q: (f"saq:{q}:queued",),
                      {"active": lambda q: f"saq:{q}:active",
                       "incomplete": lambda q: f"saq:{q}:incomplete"}, {}, ("default",)),
}


def named_depth(layout: Layout, name: str, prefix: str = "") -> Depth:
    """What a name in the check's `queues` measures in this layout."""
    spec = _SPECS[layout]
    if name in spec.shared:
        return Depth(name, (prefix + spec.shared[name],))
    queue, _, suffix = name.rpartition(":")
    if queue and suffix in spec.per_queue:
        return Depth(name, (prefix + spec.per_queue[suffix](queue),))
    return Depth(name, tuple(prefix + key for key in spec.queue(name)))


def layout_depths(layout: Layout, queues: list[str], prefix: str = "") -> list[Depth]:
    """Everything the layout keeps for these queues, and its shared sets: what a check of a
    layout measures besides the names it was given."""
    spec = _SPECS[layout]
    depths = [named_depth(layout, q, prefix) for q in queues]
    depths += [named_depth(layout, f"{q}:{suffix}", prefix) for q in queues
               for suffix in spec.per_queue]
    depths += [named_depth(layout, name, prefix) for name in spec.shared]
    return depths


async def discover_queues(client: redis.asyncio.Redis, layout: Layout,
                          prefix: str = "") -> tuple[list[str], bool]:
    """The queue names the layout's own bookkeeping lists (at most MAX_DISCOVERED, sorted),
    and whether the search stopped early (SCAN past MAX_SCANNED keys, or too many queues)."""
    names: set[str] = set()
    complete = True
    if layout is Layout.SIDEKIQ:
        names = {_text(m) for m in await _members(client, prefix + "queues")}
    elif layout is Layout.RQ:
        members = await _members(client, prefix + "rq:queues")
        names = {_text(m).removeprefix(prefix).removeprefix("rq:queue:") for m in members}
    elif layout is Layout.SAQ:
        keys, complete = await _scan(client, prefix + "saq:*:queued")
        names = {k.removeprefix(prefix)[len("saq:"):-len(":queued")] for k in keys}
    elif layout is Layout.CELERY:
        names, complete = await _celery_queues(client, prefix)
    if not names:
        names = set(_SPECS[layout].default_queues)
    found = sorted(n for n in names if n)
    return found[:MAX_DISCOVERED], complete and len(found) <= MAX_DISCOVERED


async def _celery_queues(client: redis.asyncio.Redis, prefix: str) -> tuple[set[str], bool]:
    """kombu binds each queue to an exchange in a set `_kombu.binding.<exchange>` whose members
    are `<routing key>SEP<pattern>SEP<queue>`; Celery's own event and remote-control exchanges
    (celeryev, *.pidbox) hold no task queues."""
    keys, complete = await _scan(client, prefix + "_kombu.binding.*")
    names: set[str] = set()
    for key in keys:
        exchange = key.removeprefix(prefix).removeprefix("_kombu.binding.")
        if exchange == "celeryev" or exchange.endswith(".pidbox"):
            continue
        for member in await _members(client, key):
            queue = _text(member).split(KOMBU_SEP)[-1]
            if queue and not queue.endswith(".pidbox") and not queue.startswith("celeryev."):
                names.add(queue)
    return names, complete


async def _members(client: redis.asyncio.Redis, key: str) -> set[bytes]:
    # execute_command: redis-py types smembers() for its sync and async clients at once.
    return set(await client.execute_command("SMEMBERS", key))


async def _scan(client: redis.asyncio.Redis, pattern: str) -> tuple[list[str], bool]:
    found: list[str] = []
    cursor: int = 0
    walked = 0
    while True:
        cursor, keys = await client.scan(cursor, match=pattern, count=SCAN_COUNT)
        found += [_text(k) for k in keys]
        walked += SCAN_COUNT
        if cursor == 0:
            return found, True
        if walked >= MAX_SCANNED:
            return found, False


_LENGTH = {"list": "LLEN", "stream": "XLEN", "zset": "ZCARD", "set": "SCARD", "hash": "HLEN"}


async def measure(client: redis.asyncio.Redis, depths: list[Depth]) -> list[Reading]:
    """Each depth's keys' lengths by their type: TYPE for every key in one pipeline, then the
    length commands in another."""
    keys = list(dict.fromkeys(key for depth in depths for key in depth.keys))
    if not keys:
        return []
    async with client.pipeline(transaction=False) as pipe:
        for key in keys:
            pipe.type(key)
        types = dict(zip(keys, (_text(t) for t in await pipe.execute()), strict=True))
    measured = [k for k in keys if types[k] in _LENGTH]
    lengths: dict[str, int] = {}
    if measured:
        async with client.pipeline(transaction=False) as pipe:
            for key in measured:
                pipe.execute_command(_LENGTH[types[key]], key)
            lengths = dict(zip(measured, (int(n) for n in await pipe.execute()), strict=True))
    readings = []
    for depth in depths:
        wrong = [k for k in depth.keys if types[k] not in _LENGTH and types[k] != "none"]
        problem = None
        if wrong:
            problem = (f"{shown_key(wrong[0])} is a {types[wrong[0]]}, not a list, stream, "
                       "sorted set, set or hash")
        readings.append(Reading(depth.name, sum(lengths.get(k, 0) for k in depth.keys),
                                {shown_key(k): types[k] for k in depth.keys}, problem))
    return readings


def shown_key(key: str) -> str:
    """A key as a report can show it: kombu's \\x06\\x16 separator and other control characters
    escaped."""
    return "".join(c if c.isprintable() else f"\\x{_byte(c):02x}" for c in key)


def _byte(char: str) -> int:
    code = ord(char)
    return code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code  # surrogateescape's stand-ins


def _text(value: bytes | str) -> str:
    # surrogateescape: a key that is not UTF-8 comes back to Redis as the same bytes.
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else value
