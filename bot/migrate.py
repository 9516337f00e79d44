"""`smokebot migrate`: bring the history store's schema up to date, once, from the command line
or at start-up. Safe to run from several processes at once (see bot/migrations)."""

from __future__ import annotations

from bot.store import DEFAULT_SCHEMA, Store

__all__ = ["migrate"]


async def migrate(dsn: str, schema: str = DEFAULT_SCHEMA) -> list[str]:
    """Applies pending migrations; returns the versions applied ([] when already up to date).
    Raises StoreUnavailable when PostgreSQL cannot be reached, MigrationError when a
    migration fails (it is rolled back)."""
    async with Store.open(dsn, schema, min_size=1, max_size=1, wait=True) as store:
        return await store.migrate()
