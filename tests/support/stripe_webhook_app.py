"""An app under test with a Stripe webhook endpoint written the way the Stripe docs teach: it
verifies each delivery with the real SDK (`stripe.Webhook.construct_event`, 300 s tolerance),
records the event once in PostgreSQL and answers 200, a redelivery included; a delivery that
fails verification gets 400 and is not recorded.

    app = WebhookApp(dsn, secret="whsec_...")
    with app.serve() as base_url:             # POST {base_url}/webhooks/stripe
        ...
    app.recorded()                            # [(event id, type, smokebot_run), ...]

Events land in `stripe_events (id text primary key, type, object_id, smokebot_run, livemode,
received_at)`, the table a suite's follow-up `postgres.query` reads.

Faults, each what a real endpoint gets wrong: `fail_types` answers 500 to those event types
(after verifying); `verify=False` skips verification and takes anything; `check_age=False`
verifies the signature but not its timestamp; `hang_types` never answers those types, or
(`"*"`) any delivery, verified or not, until the client goes away; `echo_secret` puts the
secret in its 500s, as a debug page might. `delays` holds an event type's answer that long
(the work an app does).

Observed: `in_flight`/`max_in_flight` (deliveries being handled at once) and `answers` (event
id or None, status) in arrival order. With `gather=N` each delivery waits until N are in
flight (at most `gather_timeout_s`) before it is handled, so a sender that sends one at a time
shows as `max_in_flight == 1` whatever the machine's speed.

`python -m tests.support.stripe_webhook_app PORT DSN` serves it in a process of its own (the
secret from STRIPE_WEBHOOK_SECRET), for the benchmark.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import psycopg
import stripe
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.support.asgi import serve_asgi

__all__ = ["PATH", "WebhookApp"]

PATH = "/webhooks/stripe"
SCHEMA = """
CREATE TABLE IF NOT EXISTS stripe_events (
    id text PRIMARY KEY,
    type text NOT NULL,
    object_id text,
    smokebot_run text,
    livemode boolean NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)"""
INSERT = """
INSERT INTO stripe_events (id, type, object_id, smokebot_run, livemode)
VALUES (%s, %s, %s, %s, %s) ON CONFLICT (id) DO NOTHING"""


@dataclass
class WebhookApp:
    dsn: str
    secret: str
    fail_types: frozenset[str] = frozenset()
    verify: bool = True
    check_age: bool = True
    hang_types: frozenset[str] = frozenset()
    echo_secret: bool = False
    delays: dict[str, float] = field(default_factory=dict)
    gather: int = 0
    gather_timeout_s: float = 5.0
    in_flight: int = 0
    max_in_flight: int = 0
    answers: list[tuple[str | None, int]] = field(default_factory=list)
    _pool: AsyncConnectionPool | None = None

    def asgi(self) -> Starlette:
        @asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            async with AsyncConnectionPool(self.dsn, min_size=2, max_size=10, open=False) as pool:
                async with pool.connection() as conn:
                    await conn.execute(SCHEMA)
                self._pool = pool
                yield

        return Starlette(routes=[Route(PATH, self._receive, methods=["POST"])],
                         lifespan=lifespan)

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve_asgi(self.asgi(), lifespan="on") as base_url:
            yield base_url

    def recorded(self) -> list[tuple[str, str, str | None]]:
        with psycopg.connect(self.dsn) as conn:
            rows = conn.execute("SELECT id, type, smokebot_run FROM stripe_events ORDER BY id")
            return [(r[0], r[1], r[2]) for r in rows.fetchall()]

    async def _receive(self, request: Request) -> Response:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            payload = await request.body()  # before waiting, as a server reads a request whole
            await self._gathered()
            event_id, response = await self._handle(request, payload)
        finally:
            self.in_flight -= 1
        self.answers.append((event_id, response.status_code))
        return response

    async def _gathered(self) -> None:
        # Once N were in flight together, all go: the first to go must not close the gate on
        # the others by finishing before they look.
        deadline = time.monotonic() + self.gather_timeout_s
        while self.max_in_flight < self.gather and time.monotonic() < deadline:
            await asyncio.sleep(0.005)

    async def _hang(self, request: Request) -> Response:
        while not await request.is_disconnected():
            await asyncio.sleep(0.02)
        return Response(status_code=504)  # nobody reads it: the client has gone

    async def _handle(self, request: Request, payload: bytes) -> tuple[str | None, Response]:
        signature = request.headers.get("stripe-signature")
        if "*" in self.hang_types:
            return None, await self._hang(request)
        try:
            if self.verify:
                event = stripe.Webhook.construct_event(
                    payload, signature, self.secret,
                    tolerance=stripe.Webhook.DEFAULT_TOLERANCE if self.check_age else 0)
            else:
                event = stripe.Event.construct_from(json.loads(payload), None)
        except (ValueError, stripe.SignatureVerificationError) as exc:
            return None, JSONResponse({"error": f"invalid webhook: {exc}"}, status_code=400)
        if event.type in self.hang_types:
            return event.id, await self._hang(request)
        await asyncio.sleep(self.delays.get(event.type, 0.0))
        if event.type in self.fail_types:
            text = f"handler for {event.type} crashed"
            if self.echo_secret:
                text += f" (configured with STRIPE_WEBHOOK_SECRET={self.secret})"
            return event.id, PlainTextResponse(text, status_code=500)
        obj = event.data.object.to_dict()
        assert self._pool is not None
        async with self._pool.connection() as conn:
            await conn.execute(INSERT, (event.id, event.type, obj.get("id"),
                                        (obj.get("metadata") or {}).get("smokebot_run"),
                                        bool(event.livemode)))
        return event.id, JSONResponse({"received": True})


if __name__ == "__main__":
    import uvicorn

    delays = json.loads(os.environ.get("WEBHOOK_APP_DELAYS", "{}"))
    app = WebhookApp(sys.argv[2], os.environ["STRIPE_WEBHOOK_SECRET"], delays=delays)
    uvicorn.run(app.asgi(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
                access_log=False, lifespan="on")
