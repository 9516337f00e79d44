"""The long-lived things a bot process holds, made by one factory (nothing at import time)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot import deadline
from bot.backoff import Backoff
from bot.errors import StoreError
from bot.metrics import Metrics
from bot.queue import RunQueue
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.slack.usergroups import GroupMembersCache
from bot.slack.workspace import WorkspaceUrl
from bot.store import Store
from bot.suites import SuiteSource
from checks.redact import Redactor

__all__ = ["Services"]

log = logging.getLogger("smokebot")
MIGRATE_RETRY_S = 5.0
BACKGROUND_GRACE_S = 5.0


@dataclass
class Services:
    settings: Settings
    store: Store
    queue: RunQueue
    slack: AsyncWebClient
    suites: SuiteSource
    redactor: Redactor = field(default_factory=Redactor)
    group_members: GroupMembersCache = field(default_factory=GroupMembersCache)
    workspace: WorkspaceUrl = field(default_factory=WorkspaceUrl)
    metrics: Metrics = field(default_factory=Metrics)  # this process's (bot/metrics/)
    # Delivers runs' messages; retries nothing by itself (bot/slack/client.py says why).
    sender: AsyncWebClient = None  # type: ignore[assignment]
    _migrating: asyncio.Task[None] | None = None
    # Work started off a request's path (an audit entry, a delivery), kept until it ends.
    _background: set[asyncio.Task[Any]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.sender is None:
            self.sender = create_slack_client(self.settings, retries=0, metrics=self.metrics)

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True,
                    metrics: Metrics | None = None) -> Services:
        """Opens the store's pool and the queue without waiting for either: the process
        starts even while PostgreSQL or Redis is down, and recovers when they return."""
        store = await Store.open(settings.database_url, settings.db_schema)
        store.keep_rejected_deliveries(settings.max_rejected_deliveries)
        queue = RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix)
        redactor = Redactor(settings.secrets())
        metrics = metrics or Metrics()
        services = cls(settings=settings, store=store, queue=queue,
                       slack=create_slack_client(settings, metrics=metrics),
                       suites=SuiteSource(settings.config_path), redactor=redactor,
                       metrics=metrics)
        if migrate:
            try:
                await store.migrate()
            except StoreError as exc:  # PostgreSQL down: start anyway, migrate when it is back
                log.warning("migrations not applied at start-up: %s", exc.render())
                services._migrating = asyncio.create_task(_migrate_until_done(store))
        return services

    async def workspace_url(self) -> str | None:
        """The workspace's URL for permalinks (auth.test's, once per process), or None while
        Slack has not said; asked with the sender, which never retries by itself."""
        return await self.workspace.get(self.sender)

    def in_background(self, work: Coroutine[Any, Any, Any], what: str) -> None:
        """Runs `work` without waiting for it, free of the request's deadline; its failure is
        logged, never raised."""
        task = asyncio.ensure_future(deadline.detached(work))
        self._background.add(task)

        def done(finished: asyncio.Task[Any]) -> None:
            self._background.discard(finished)
            if not finished.cancelled() and finished.exception() is not None:
                log.warning("%s failed: %s", what, finished.exception())
        task.add_done_callback(done)

    async def close(self) -> None:
        # Background work is short (an INSERT, a delivery pass); what a delivery leaves is in
        # the outbox for the workers.
        if self._background:
            await asyncio.wait(set(self._background), timeout=BACKGROUND_GRACE_S)
            for task in list(self._background):
                task.cancel()
            await asyncio.gather(*self._background, return_exceptions=True)
        if self._migrating is not None:
            self._migrating.cancel()
            await asyncio.gather(self._migrating, return_exceptions=True)
        await self.queue.close()
        await self.store.close()


async def _migrate_until_done(store: Store) -> None:
    """Applies migrations at start-up; while PostgreSQL is down, keeps trying, so the tables
    exist by the time it returns."""
    retry = Backoff.constant(MIGRATE_RETRY_S)  # read here: tests shorten it
    attempt = 0
    while True:
        try:
            await store.migrate()
            return
        except StoreError as exc:
            delay = retry.delay(attempt)
            log.warning("migrations not applied yet (retrying in %g s): %s", delay,
                        exc.render())
            await asyncio.sleep(delay)
            attempt += 1
