"""The demo target's webhook queue in the machine's Redis: a list of pending Stripe webhook
jobs, `<prefix>queue:webhooks`, which the suite's `redis` check measures against its `max`.

The prefix is new on every start (`smokebot-demo:<8 hex>:`), so that two demos on one Redis
never see each other's keys; every key under it is deleted when the demo stops, and each
expires after QUEUE_TTL_S should the demo be killed first. Degrading "webhook-queue" fills it
past the suite's max, as a consumer that stopped would.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import redis

__all__ = ["BACKLOG_DEPTH", "DEPTH", "QUEUE", "WEBHOOK_QUEUE", "demo_prefix",
           "seeded_webhook_queue"]

WEBHOOK_QUEUE = "webhook-queue"  # the component `--degrade` breaks
QUEUE = "queue:webhooks"  # the key, after the prefix
DEPTH = 3  # jobs waiting in a healthy queue
BACKLOG_DEPTH = 140  # degraded: over the suite's max of 100
QUEUE_TTL_S = 600
CONNECT_TIMEOUT_S = 2.0


def demo_prefix() -> str:
    return f"smokebot-demo:{secrets.token_hex(4)}:"


def _jobs(depth: int) -> list[str]:
    return [json.dumps({"worker": "Rsolv.Workers.StripeWebhookWorker",
                        "args": {"event_id": f"evt_1SmokeDemoQueued{n:04d}"}})
            for n in range(depth)]


@contextmanager
def seeded_webhook_queue(url: str, prefix: str, *, backlog: bool = False) -> Iterator[str | None]:
    """Fills the queue while the block runs, then deletes every key under `prefix`. Yields
    None, or why Redis could not be reached (the suite's check then says so too)."""
    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                  socket_timeout=CONNECT_TIMEOUT_S)
    key = prefix + QUEUE
    try:
        try:
            with client.pipeline(transaction=False) as pipe:
                pipe.delete(key)
                pipe.rpush(key, *_jobs(BACKLOG_DEPTH if backlog else DEPTH))
                pipe.expire(key, QUEUE_TTL_S)
                pipe.execute()
        except redis.RedisError as exc:
            yield str(exc).strip() or type(exc).__name__
            return
        try:
            yield None
        finally:
            try:
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
            except redis.RedisError:
                pass  # gone with the server; the keys expire anyway
    finally:
        client.close()
