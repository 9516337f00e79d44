"""Fixtures of the bot's unit tests: the Slack emulator and the bot's real services on this
test's own PostgreSQL database and Redis key prefix (tests/bot/services_support.py). A test
module that needs other settings defines its own `services`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from bot.services import Services
from tests.bot.services_support import open_services, slack_emulator
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
