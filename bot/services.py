"""The long-lived things a bot process holds, made by one factory (nothing at import time)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import StoreError
from bot.queue import RunQueue
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.slack.usergroups import GroupMembersCache
from bot.store import Store
from bot.suites import SuiteSource
from checks.redact import Redactor

__all__ = ["Services"]

log = logging.getLogger("smokebot")
MIGRATE_RETRY_S = 5.0


@dataclass
class Services:
    settings: Settings
    store: Store
    queue: RunQueue
    slack: AsyncWebClient
    suites: SuiteSource
    redactor: Redactor = field(default_factory=Redactor)
    group_members: GroupMembersCache = field(default_factory=GroupMembersCache)
    # Delivers runs' messages; retries nothing by itself (bot/slack/client.py says why).
    sender: AsyncWebClient = None  # type: ignore[assignment]
    _migrating: asyncio.Task[None] | None = None

    def __post_init__(self) -> None:
        if self.sender is None:
            self.sender = create_slack_client(self.settings, retries=0)

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True) -> Services:
        """Opens the store's pool and the queue without waiting for either: the process
        starts even while PostgreSQL or Redis is down, and recovers when they return."""
        store = await Store.open(settings.database_url, settings.db_schema)
        queue = RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix)
        redactor = Redactor(settings.secrets())
        services = cls(settings=settings, store=store, queue=queue,
                       slack=create_slack_client(settings),
                       suites=SuiteSource(settings.config_path), redactor=redactor)
        if migrate:
            try:
                await store.migrate()
            except StoreError as exc:  # PostgreSQL down: start anyway, migrate when it is back
                log.warning("migrations not applied at start-up: %s", exc.render())
                services._migrating = asyncio.create_task(_migrate_until_done(store))
        return services

    async def close(self) -> None:
        if self._migrating is not None:
            self._migrating.cancel()
            await asyncio.gather(self._migrating, return_exceptions=True)
        await self.queue.close()
        await self.store.close()


async def _migrate_until_done(store: Store) -> None:
    """Applies migrations at start-up; while PostgreSQL is down, keeps trying, so the tables
    exist by the time it returns."""
    while True:
        try:
            await store.migrate()
            return
        except StoreError as exc:
            log.warning("migrations not applied yet (retrying in %g s): %s", MIGRATE_RETRY_S,
                        exc.render())
            await asyncio.sleep(MIGRATE_RETRY_S)
