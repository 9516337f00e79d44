"""What the demo's tests share: a database of the test's own with demo/schema.sql loaded."""

from __future__ import annotations

import psycopg
import pytest

from demo.database import SCHEMA_SQL


@pytest.fixture
def billing_dsn(pg_dsn: str) -> str:
    """The test's database, holding the demo's `demo_billing` schema."""
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text(encoding="utf-8"))
    return pg_dsn
