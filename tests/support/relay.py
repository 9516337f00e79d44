"""A loopback TCP relay to a real server (PostgreSQL, Redis) that a test cuts, freezes and
restores: an outage on demand without stopping the machine's server."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.support.asgi import free_port

__all__ = ["TcpRelay"]


class TcpRelay:
    """Forwards 127.0.0.1:`port` to `host`:`port`. `cut()` refuses new connections and drops
    the open ones (a server that is down); `freeze()` keeps accepting and holding connections
    but forwards nothing either way (a server that accepts and never answers); `start()` and
    `thaw()` undo them. Threads, not asyncio: the processes it serves run their own event
    loops elsewhere."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._flowing = threading.Event()
        self._flowing.set()

    def start(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuses new connections and drops the open ones, both ways."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            open_sockets, self._sockets = self._sockets, set()
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        self._flowing.set()  # lets frozen threads see their sockets closed and end

    def freeze(self) -> None:
        """Stops forwarding: bytes sent either way wait, new connections are accepted and
        never connected on, until `thaw()`."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            threading.Thread(target=self._connect, args=(listener, client),
                             daemon=True).start()

    def _connect(self, listener: socket.socket, client: socket.socket) -> None:
        self._flowing.wait()
        try:
            upstream = socket.create_connection(self.target, timeout=5)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        with self._lock:
            if self._listener is not listener:
                client.close()
                upstream.close()
                return
            self._sockets |= {client, upstream}
        for src, dst in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pipe, args=(src, dst), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                self._flowing.wait()  # frozen: what arrived is held, not forwarded
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)
