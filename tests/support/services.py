"""Per-test PostgreSQL databases and Redis key prefixes on this machine's real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

__all__ = ["PG_ADMIN_DSN", "dsn_for", "redis_url", "temporary_database", "unique_prefix"]

PG_HOST = os.environ.get("SMOKEBOT_TEST_PG_HOST", "127.0.0.1")
PG_PORT = int(os.environ.get("SMOKEBOT_TEST_PG_PORT", "5432"))
PG_USER = os.environ.get("SMOKEBOT_TEST_PG_USER", "postgres")
PG_ADMIN_DSN = f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/postgres"


def redis_url() -> str:
    return os.environ.get("SMOKEBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def dsn_for(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def unique_prefix(label: str = "t") -> str:
    return f"{label}_{uuid.uuid4().hex[:12]}"


@contextmanager
def temporary_database(label: str = "smokebot_test") -> Iterator[str]:
    """Creates a fresh database, yields its DSN, drops it (and its connections) afterwards."""
    name = unique_prefix(label)
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield dsn_for(name)
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))
