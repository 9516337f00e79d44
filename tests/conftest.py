from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.services import temporary_database


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """A DSN of a database of this test's own on the machine's PostgreSQL."""
    with temporary_database() as dsn:
        yield dsn
