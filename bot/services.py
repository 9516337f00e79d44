"""The long-lived things a bot process holds, made by one factory (nothing at import time)."""

from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.web.async_client import AsyncWebClient

from bot.queue import RunQueue
from bot.settings import Settings
from bot.slack.client import create_slack_client
from bot.store import Store
from bot.suites import SuiteSource
from checks.redact import Redactor

__all__ = ["Services"]


@dataclass
class Services:
    settings: Settings
    store: Store
    queue: RunQueue
    slack: AsyncWebClient
    suites: SuiteSource
    redactor: Redactor = field(default_factory=Redactor)

    @classmethod
    async def start(cls, settings: Settings, *, migrate: bool = True) -> Services:
        """Opens the store's pool and the queue without waiting for either: the process
        starts even while PostgreSQL or Redis is down, and recovers when they return."""
        store = await Store.open(settings.database_url, settings.db_schema)
        if migrate:
            try:
                await store.migrate()
            except Exception:  # retried by `smokebot migrate` or the next start
                import logging
                logging.getLogger("smokebot").warning(
                    "migrations not applied at start-up: the history store is unavailable")
        queue = RunQueue.from_url(settings.redis_url, prefix=settings.key_prefix)
        redactor = Redactor(settings.secrets())
        return cls(settings=settings, store=store, queue=queue,
                   slack=create_slack_client(settings), suites=SuiteSource(settings.config_path),
                   redactor=redactor)

    async def close(self) -> None:
        await self.queue.close()
        await self.store.close()
