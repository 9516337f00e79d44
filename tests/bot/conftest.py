"""Fixtures of the bot's unit tests: the Slack emulator and the bot's real services on this
test's own PostgreSQL database and Redis key prefix (tests/bot/services_support.py), and a
relay in front of PostgreSQL that a test can freeze (`relayed_dsn` connects through it). A
test module that needs other settings defines its own `services`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict

from bot.services import Services
from tests.bot.services_support import open_services, slack_emulator
from tests.support.relay import TcpRelay
from tests.support.slack_emulator import SlackEmulator


@pytest.fixture
def emulator() -> Iterator[tuple[SlackEmulator, str]]:
    with slack_emulator() as pair:
        yield pair


@pytest.fixture
async def services(pg_dsn: str, tmp_path: Path,
                   emulator: tuple[SlackEmulator, str]) -> AsyncIterator[Services]:
    async with open_services(pg_dsn, tmp_path, *emulator) as svc:
        yield svc


@pytest.fixture
def postgres_relay(pg_dsn: str) -> Iterator[TcpRelay]:
    params = conninfo_to_dict(pg_dsn)
    relay = TcpRelay(str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432))
    relay.start()
    try:
        yield relay
    finally:
        relay.thaw()
        relay.cut()
