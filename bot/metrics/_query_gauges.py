"""The gauges that need a query: queue depth, the oldest queued run's wait, the outbox's size.

They are read in the background, every `interval_s`, each read given at most `timeout_s`
(bot/deadline.py: the queue and the store give up by themselves, without waiting for a hung
server), and a scrape only reads the last reading. Why not query at scrape time, with a short
timeout: a scrape then never waits on Redis or PostgreSQL at all, not even for that moment
(prometheus_client's collectors are synchronous; a hung server would cost every scrape its
timeout); several scrapers (two Prometheus replicas, someone with curl) cost no extra queries;
and a hung server shows as a reading that ages, and is then left out, instead of a slow
`/metrics`. The price: a value is up to `interval_s` old, as Prometheus' own scrape interval
makes it anyway.

A reading older than `stale_after_s` is left out of the exposition (absent, not a stale
number); `smokebot_metrics_refresh_timestamp_seconds{source}` says when each source was last
read, and `smokebot_metrics_refresh_failures_total{source}` counts the reads that failed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot import deadline
from bot.backoff import sleep_unless
from bot.errors import QueueUnavailable, StoreError

if TYPE_CHECKING:
    from bot.queue import QueueDepth, RunQueue
    from bot.store import Store

__all__ = ["OUTBOX_COUNT_CAP", "QueryGauges", "query_gauges_refreshed", "refresh_query_gauges"]

log = logging.getLogger("smokebot.metrics")

REFRESH_TIMEOUT_S = 2.0  # each read; well inside any interval
STALE_AFTER_INTERVALS = 3  # a reading this many intervals old is left out
OUTBOX_COUNT_CAP = 100_000  # counted no further: the gauge then reads the cap


class QueryGauges(Collector):
    """The last reading of each source, exposed as gauges while fresh. Registered in the
    process's registry by `Metrics`; moved only by `refresh_query_gauges`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.stale_after_s = 45.0  # set from the refresh interval when the refresh starts
        self._queue: tuple[float, QueueDepth] | None = None  # (read at, reading)
        self._outbox: tuple[float, int] | None = None
        self._failing: set[str] = set()
        self.failures = Counter(
            "smokebot_metrics_refresh_failures", "Background reads of the query gauges that "
            "failed (Redis or PostgreSQL down or not answering in time), by source (queue, "
            "outbox).", ["source"], registry=registry)
        registry.register(self)

    def queue_read(self, depth: QueueDepth) -> None:
        self._queue = (time.time(), depth)
        self._recovered("queue")

    def outbox_read(self, pending: int) -> None:
        self._outbox = (time.time(), pending)
        self._recovered("outbox")

    def failed(self, source: str, problem: str) -> None:
        self.failures.labels(source).inc()
        if source not in self._failing:  # one line per outage, not one per interval
            self._failing.add(source)
            log.warning("metrics: %s gauges not refreshed: %s", source, problem)

    def _recovered(self, source: str) -> None:
        if source in self._failing:
            self._failing.discard(source)
            log.info("metrics: %s gauges refreshed again", source)

    def describe(self) -> Iterator[Metric]:
        return iter(())  # names are checked by `collect`'s families alone

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        queue, outbox = self._queue, self._outbox  # one reference each: a refresh may swap them
        refreshed = GaugeMetricFamily(
            "smokebot_metrics_refresh_timestamp_seconds", "When each source of the query "
            "gauges was last read successfully.", labels=["source"])
        for source, reading in (("queue", queue), ("outbox", outbox)):
            if reading is not None:
                refreshed.add_metric([source], reading[0])
        yield refreshed
        if queue is not None and now - queue[0] <= self.stale_after_s:
            depth = queue[1]
            runs = GaugeMetricFamily(
                "smokebot_queue_depth", "Runs waiting in the queue for a worker (waiting), "
                "and deploy runs scheduled for the end of their coalescing window "
                "(scheduled).", labels=["state"])
            runs.add_metric(["waiting"], depth.waiting)
            runs.add_metric(["scheduled"], depth.scheduled)
            yield runs
            since = depth.oldest_waiting_since
            yield GaugeMetricFamily(
                "smokebot_queue_oldest_wait_seconds", "How long the run longest in the queue "
                "has waited for a worker (0 when none waits).",
                value=max(0.0, now - since) if since is not None else 0.0)
        if outbox is not None and now - outbox[0] <= self.stale_after_s:
            yield GaugeMetricFamily(
                "smokebot_outbox_pending_messages", "Slack messages in the outbox not yet "
                f"delivered nor given up (counted up to {OUTBOX_COUNT_CAP}).", value=outbox[1])


async def refresh_query_gauges(gauges: QueryGauges, queue: RunQueue, store: Store, *,
                               timeout_s: float = REFRESH_TIMEOUT_S) -> None:
    """Reads both sources at once, each within `timeout_s`; a failure is counted and logged
    (once per outage), never raised."""
    await asyncio.gather(_read_queue(gauges, queue, timeout_s),
                         _read_outbox(gauges, store, timeout_s))


async def _read_queue(gauges: QueryGauges, queue: RunQueue, timeout_s: float) -> None:
    try:
        with deadline.answer_by(timeout_s):
            depth = await queue.depth()
    except QueueUnavailable as exc:
        gauges.failed("queue", exc.render())
        return
    gauges.queue_read(depth)


async def _read_outbox(gauges: QueryGauges, store: Store, timeout_s: float) -> None:
    try:
        with deadline.answer_by(timeout_s):
            pending = await store.outbox_pending_count(at_most=OUTBOX_COUNT_CAP)
    except StoreError as exc:  # down, not answering, or not migrated yet
        gauges.failed("outbox", exc.render())
        return
    gauges.outbox_read(pending)


@asynccontextmanager
async def query_gauges_refreshed(gauges: QueryGauges, queue: RunQueue, store: Store, *,
                                 interval_s: float,
                                 timeout_s: float = REFRESH_TIMEOUT_S) -> AsyncIterator[None]:
    """Within the block, the gauges are read at once and then every `interval_s`."""
    gauges.stale_after_s = STALE_AFTER_INTERVALS * interval_s
    stop = asyncio.Event()

    async def keep_fresh() -> None:
        while not stop.is_set():
            try:
                await refresh_query_gauges(gauges, queue, store,
                                           timeout_s=min(timeout_s, interval_s))
            except Exception as exc:  # noqa: BLE001 - a bug here must not end the readings
                log.warning("metrics: refreshing the query gauges failed: %r", exc)
            await sleep_unless(stop, interval_s)

    task = asyncio.create_task(deadline.detached(keep_fresh()), name="metrics refresh")
    try:
        yield
    finally:
        stop.set()
        task.cancel()  # a read in flight is given up on: the queue and the store allow it
        await asyncio.gather(task, return_exceptions=True)
