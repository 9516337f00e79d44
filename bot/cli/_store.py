"""One query against the history store, for the one-shot commands (`migrate`, `history`,
`deliveries`): open it (waiting for PostgreSQL), run the query, close it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, TypeVar

from bot.settings import Settings

if TYPE_CHECKING:
    from bot.store import Store

__all__ = ["query_store"]

T = TypeVar("T")


def query_store(query: Callable[[Store], Awaitable[T]]) -> T:
    from bot.store import Store  # here, so that `smokebot run` never imports the store

    settings = Settings.from_env()

    async def run() -> T:
        async with Store.open(settings.database_url, settings.db_schema, wait=True) as store:
            return await query(store)
    # The pool warns of every failed connection attempt; the command's one error line says
    # it once, so those warnings stay out of the terminal.
    with _quieter("psycopg.pool", logging.ERROR):
        return asyncio.run(run())


@contextmanager
def _quieter(name: str, level: int) -> Iterator[None]:
    logger = logging.getLogger(name)
    before = logger.level
    logger.setLevel(max(level, before))
    try:
        yield
    finally:
        logger.setLevel(before)
