"""A TCP relay in front of PostgreSQL that counts each client's round trips (bench.bot, phase 6).

Each `listen(label)` opens a loopback port that forwards to PostgreSQL; the processes given
`dsn(label)` as their DATABASE_URL are counted under that label. The relay reads the
client->server half of the wire protocol: after the untyped startup packet (and any SSLRequest
or GSSENCRequest before it; `dsn` turns both off, so the stream stays readable), every message is
a 1-byte type and a 4-byte big-endian length that counts itself. One round trip is one Sync
('S', the end of an extended-protocol batch: Parse/Bind/Describe/Execute) or one simple Query
('Q'). Each round trip is recorded with the statement it carried (Bind's statement, else
Parse's, else the Query text), so a window's round trips can be told apart by what they did.

psycopg_pool checks a connection on every checkout with an empty statement (`POOL_CHECK`), so
the round trips on one connection from one check to the next are one checkout; `checkouts`
groups them, named by their first statement that is not the check, BEGIN or SET.

The relay runs its own event loop in a thread of the benchmark's process.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Self

from psycopg.conninfo import conninfo_to_dict, make_conninfo

__all__ = ["POOL_CHECK", "Checkout", "PgRelay", "RoundTrip", "checkouts"]

POOL_CHECK = ""  # the statement of psycopg_pool's check_connection: `conn.execute("")`
SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CHUNK = 65536


@dataclass(frozen=True)
class RoundTrip:
    label: str
    connection: int  # numbered in the order the relay accepted them
    at: float  # time.monotonic() when the relay read the Sync or Query
    statement: str  # whitespace collapsed; POOL_CHECK for the pool's check


@dataclass(frozen=True)
class Checkout:
    """One connection's round trips from a pool check up to the next one."""

    label: str
    name: str  # its first statement that is not the check, BEGIN or SET ("" if none)
    round_trips: int


def checkouts(trips: Iterable[RoundTrip]) -> list[Checkout]:
    """Groups `trips` (in the order they happened) into checkouts, in order of their start."""
    open_ones: dict[int, list[RoundTrip]] = {}
    groups: list[list[RoundTrip]] = []
    for trip in trips:
        current = open_ones.get(trip.connection)
        if current is None or trip.statement == POOL_CHECK:
            current = open_ones[trip.connection] = []
            groups.append(current)
        current.append(trip)

    def name(group: list[RoundTrip]) -> str:
        for trip in group:
            word = trip.statement.split(" ", 1)[0].upper()
            if trip.statement != POOL_CHECK and word not in ("BEGIN", "SET"):
                return trip.statement
        return group[-1].statement
    return [Checkout(group[0].label, name(group), len(group)) for group in groups]


@dataclass
class _ClientStream:
    """Frames the client's half of one connection and reports each round trip."""

    relay: PgRelay
    label: str
    connection: int
    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False
    prepared: dict[bytes, bytes] = field(default_factory=dict)  # statement name -> text
    bound: bytes | None = None  # this batch's first Bind's statement text
    parsed: bytes | None = None  # this batch's first Parse's text

    def feed(self, data: bytes) -> None:
        buf = self.buffer
        buf += data
        while True:
            if not self.started:  # untyped: length, then a code (protocol version or request)
                if len(buf) < 8 or len(buf) < int.from_bytes(buf[:4], "big"):
                    return
                size = int.from_bytes(buf[:4], "big")
                code = int.from_bytes(buf[4:8], "big")
                del buf[:size]
                self.started = code not in (SSL_REQUEST, GSSENC_REQUEST)
                continue
            if len(buf) < 5:
                return
            size = int.from_bytes(buf[1:5], "big")
            if len(buf) < 1 + size:
                return
            kind, body = buf[0:1], bytes(buf[5:1 + size])
            del buf[:1 + size]
            self._message(kind, body)

    def _message(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self._round_trip(body.rstrip(b"\0"))
        elif kind == b"P":
            name, text = body.split(b"\0", 2)[:2]
            self.prepared[name] = text
            if self.parsed is None:
                self.parsed = text
        elif kind == b"B":
            statement = body.split(b"\0", 2)[1]
            if self.bound is None:
                self.bound = self.prepared.get(statement, b"?")
        elif kind == b"S":
            if self.bound is not None:
                text = self.bound
            elif self.parsed is not None:
                text = b"(prepare) " + self.parsed
            else:
                text = b"(sync)"
            self.bound = self.parsed = None
            self._round_trip(text)

    def _round_trip(self, text: bytes) -> None:
        statement = " ".join(text.decode("utf-8", "replace").split())
        self.relay.record(RoundTrip(self.label, self.connection, time.monotonic(), statement))


class PgRelay:
    """Loopback ports that forward to PostgreSQL at `host:port`, counting round trips."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="pg-relay",
                                        daemon=True)
        self._ports: dict[str, int] = {}
        self._servers: list[asyncio.Server] = []
        self._trips: list[RoundTrip] = []
        self._opened: list[tuple[str, float]] = []
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()  # one per relayed connection

    @classmethod
    def for_dsn(cls, dsn: str) -> PgRelay:
        params = conninfo_to_dict(dsn)
        return cls(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        async def close() -> None:
            for server in self._servers:
                server.close()
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def listen(self, label: str) -> int:
        """A port whose connections are counted under `label` (one per label)."""
        if label not in self._ports:
            async def start() -> asyncio.Server:
                return await asyncio.start_server(
                    lambda r, w: self._serve(label, r, w), "127.0.0.1", 0)
            server = asyncio.run_coroutine_threadsafe(start(), self._loop).result(5)
            self._servers.append(server)
            self._ports[label] = server.sockets[0].getsockname()[1]
        return self._ports[label]

    def dsn(self, dsn: str, label: str) -> str:
        """`dsn` through the relay, counted under `label`; plain TCP, so it can be read."""
        return make_conninfo(dsn, host="127.0.0.1", port=str(self.listen(label)),
                             sslmode="disable", gssencmode="disable")

    def record(self, trip: RoundTrip) -> None:
        with self._lock:
            self._trips.append(trip)

    def round_trips(self, since: float = 0.0, until: float = float("inf")) -> list[RoundTrip]:
        """Round trips recorded between two time.monotonic() readings, in order."""
        with self._lock:
            return [t for t in self._trips if since <= t.at < until]

    def connections_opened(self, label: str, since: float = 0.0,
                           until: float = float("inf")) -> int:
        with self._lock:
            return sum(1 for name, at in self._opened if name == label and since <= at < until)

    async def _serve(self, label: str, client_reader: asyncio.StreamReader,
                     client_writer: asyncio.StreamWriter) -> None:
        connection = next(self._ids)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        with self._lock:
            self._opened.append((label, time.monotonic()))
        try:
            server_reader, server_writer = await asyncio.open_connection(self.host, self.port)
        except OSError:
            client_writer.close()
            return
        stream = _ClientStream(self, label, connection)
        await asyncio.gather(_pump(client_reader, server_writer, stream.feed),
                             _pump(server_reader, client_writer, None),
                             return_exceptions=True)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter,
                feed: Callable[[bytes], None] | None) -> None:
    try:
        while data := await source.read(CHUNK):
            if feed is not None:
                feed(data)
            sink.write(data)
            await sink.drain()
    finally:
        sink.close()
