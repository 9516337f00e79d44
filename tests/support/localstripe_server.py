"""localstripe (PyPI), a stateful Stripe emulator, served on a free loopback port in a
subprocess of its own, for the stripe.* kinds' tests and benchmarks.

    with serving_localstripe() as stripe_server:
        stripe_server.api_base        # http://127.0.0.1:PORT, for the real `stripe` client
        stripe_server.flush()         # forgets every object, between tests

localstripe's own `start()` listens on every interface (`::`) and pickles its whole store to
/tmp/localstripe.pickle after each write, which parallel test workers would share. So this
module runs its aiohttp app itself: bound to 127.0.0.1 only, on a port the child picks and
reports (no race for a port), with the store kept in memory.

localstripe's events also lack Stripe's `pending_webhooks` (how many registered endpoints have
not yet acknowledged the event), which `stripe.subscription_flow`'s `expect_events` waits on.
Here each event counts the webhooks registered for its type when it is created, and
localstripe's own delivery (signed POSTs, a second after the event) counts down each 2xx.
Nothing else of localstripe changes.

Run as a module (`python -m tests.support.localstripe_server`) it serves until killed.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["LocalStripe", "serving_localstripe"]

START_TIMEOUT_S = 20.0
_READY = "localstripe listening on port "
_REQUEST_LOG = "LOCALSTRIPE_REQUEST_LOG"
ADMIN_KEY = "sk_test_localstripe_admin"  # localstripe takes any key starting with sk_
DELIVERY_DELAY_S = 1.0  # localstripe's own: events are delivered a second after they happen


@dataclass(frozen=True)
class LocalStripe:
    api_base: str
    process: subprocess.Popen[str]

    def flush(self) -> None:
        """Deletes every object (localstripe's own `DELETE /_config/data`)."""
        httpx.delete(f"{self.api_base}/_config/data", timeout=5).raise_for_status()

    def register_webhook(self, name: str, url: str, secret: str,
                         events: list[str] | None = None) -> None:
        """localstripe's own webhook configuration (`POST /_config/webhooks/{name}`): it then
        POSTs every event, signed, to `url`."""
        data: dict[str, object] = {"url": url, "secret": secret}
        if events is not None:
            data["events"] = events
        httpx.post(f"{self.api_base}/_config/webhooks/{name}", json=data,
                   timeout=5).raise_for_status()


    def backdate(self, customer_id: str, *, hours: float) -> None:
        """Makes a customer look `hours` older: localstripe takes any attribute in an update's
        JSON body, `created` too (Stripe itself never lets a client set it)."""
        httpx.post(f"{self.api_base}/v1/customers/{customer_id}",
                   json={"created": int(time.time() - hours * 3600)},
                   headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=5).raise_for_status()


@contextmanager
def serving_localstripe(request_log: str | None = None) -> Iterator[LocalStripe]:
    """Serves localstripe while the block runs. With `request_log`, it appends one line per
    request it answers to that file (`POST /v1/customers 200`): a count of API calls that
    does not rely on the client's own."""
    env = {**os.environ, _REQUEST_LOG: request_log} if request_log else None
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.localstripe_server"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        port = _wait_for_port(process)
        yield LocalStripe(f"http://127.0.0.1:{port}", process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()


def _wait_for_port(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    # The child prints one line once its app is set up.
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT_S)
    line = process.stdout.readline() if ready else ""
    if not line.startswith(_READY):
        process.kill()
        raise RuntimeError(f"localstripe did not start (said {line.strip()!r}, "
                           f"exit code {process.poll()})")
    port = int(line[len(_READY):])
    while time.monotonic() < deadline:
        try:
            # Any answer will do: it is a 401 without a key.
            httpx.get(f"http://127.0.0.1:{port}/v1/balance", timeout=1)
            return port
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"localstripe on port {port} did not answer within {START_TIMEOUT_S:g}s")


def _serve() -> None:
    import asyncio
    import logging
    import socket

    from aiohttp import web
    from localstripe import resources, server, webhooks

    # In memory only: see the module's docstring.
    resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
    resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]

    _count_pending_webhooks(resources, webhooks)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))

    async def announce(app: web.Application) -> None:
        print(f"{_READY}{sock.getsockname()[1]}", flush=True)

    server.app.on_startup.append(announce)
    asyncio.set_event_loop(asyncio.new_event_loop())
    access_log = None
    if os.environ.get(_REQUEST_LOG):
        access_log = logging.getLogger("localstripe.requests")
        access_log.addHandler(logging.FileHandler(os.environ[_REQUEST_LOG]))
        access_log.setLevel(logging.INFO)
        access_log.propagate = False
    web.run_app(server.app, sock=sock, access_log=access_log,
                access_log_format='%r %s', print=None)


def _count_pending_webhooks(resources: Any, webhooks: Any) -> None:
    """Adds `pending_webhooks` to localstripe's events: see the module's docstring. Delivery
    is redone here, as Stripe signs it, because localstripe's does not say which endpoint
    answered 2xx."""
    import asyncio
    import hashlib
    import hmac
    import json

    import aiohttp

    original_init = resources.Event.__init__

    def init(self: Any, type: str, data: Any) -> None:
        original_init(self, type, data)
        self.pending_webhooks = len(_subscribed(webhooks, type))

    async def deliver(event: Any) -> None:
        await asyncio.sleep(DELIVERY_DELAY_S)
        payload = json.dumps(event._export(), sort_keys=True).encode()
        async with aiohttp.ClientSession() as session:
            for hook in _subscribed(webhooks, event.type):
                signature = hmac.new(hook.secret.encode(), b"%d.%s" % (event.created, payload),
                                     hashlib.sha256).hexdigest()
                headers = {"Content-Type": "application/json; charset=utf-8",
                           "Stripe-Signature": f"t={event.created},v1={signature}"}
                try:
                    async with session.post(hook.url, data=payload, headers=headers) as answer:
                        if 200 <= answer.status < 300:
                            event.pending_webhooks -= 1
                except aiohttp.ClientError:
                    pass  # stays pending, as on Stripe

    resources.Event.__init__ = init
    webhooks._send_webhook = deliver


def _subscribed(webhooks: Any, event_type: str) -> list[Any]:
    return [hook for hook in webhooks._webhooks.values()
            if hook.events is None or event_type in hook.events]


if __name__ == "__main__":
    _serve()
