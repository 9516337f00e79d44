"""The history store on this test's own database, migrated."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.store import (
    Store,
)


@pytest.fixture
async def store(pg_dsn: str) -> AsyncIterator[Store]:
    async with Store.open(pg_dsn) as opened:
        await opened.migrate()
        yield opened


