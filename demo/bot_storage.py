"""What the Slack demo's bot keeps on the machine's PostgreSQL and Redis, and only that: its
history in a schema of its own, its queue under a Redis key prefix of its own, both named per
demo run (`smokebot_demo_slack_<8 hex>`, `smokebot-demo-slack-<8 hex>`), read while the demo
waits for the bot, and deleted when it stops. Nobody else's schema or keys are touched."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
import redis
from psycopg import sql

from bot.records import RunStatus
from demo.database import first_line

__all__ = ["BotStorage", "ServiceUnreachable"]

CONNECT_TIMEOUT_S = 3


class ServiceUnreachable(Exception):
    """PostgreSQL or Redis cannot be reached; the message says which and what to do."""


@dataclass(frozen=True)
class BotStorage:
    database_url: str
    redis_url: str
    schema: str
    key_prefix: str

    @classmethod
    def for_new_run(cls, database_url: str, redis_url: str) -> BotStorage:
        token = secrets.token_hex(4)
        return cls(database_url, redis_url, f"smokebot_demo_slack_{token}",
                   f"smokebot-demo-slack-{token}")

    def check_reachable(self) -> None:
        """Raises ServiceUnreachable in one line: the bot would start, and only time out."""
        try:
            psycopg.connect(self.database_url, connect_timeout=CONNECT_TIMEOUT_S).close()
        except psycopg.ProgrammingError:
            # libpq's words would quote the string, and a password in it: not shown.
            raise ServiceUnreachable("--database-url is not a PostgreSQL URL; expected "
                                     "postgresql://user@host:port/database") from None
        except psycopg.Error as exc:
            raise ServiceUnreachable(
                f"PostgreSQL is not reachable ({first_line(exc)}); the bot keeps its runs "
                "there: start it (make services) or pass --database-url") from None
        try:
            client = redis.Redis.from_url(self.redis_url,
                                          socket_connect_timeout=CONNECT_TIMEOUT_S)
        except ValueError:
            raise ServiceUnreachable("--redis-url is not a Redis URL; expected "
                                     "redis://host:port/db (rediss:// for TLS)") from None
        try:
            client.ping()
        except redis.RedisError as exc:
            raise ServiceUnreachable(
                f"Redis is not reachable ({first_line(exc)}); the bot queues its runs there: "
                "start it (make services) or pass --redis-url") from None
        finally:
            client.close()

    # --- reading the bot's history, as a person would check on it with psql ---------------------

    def runs(self) -> list[tuple[str, str]]:
        """(run id, status) of every run, oldest first; [] before the tables exist."""
        query = sql.SQL("SELECT id::text, status FROM {}.runs ORDER BY created_at, id")
        return self._rows(query.format(sql.Identifier(self.schema)))

    def undelivered(self) -> int:
        """Messages the runs still owe Slack (neither delivered nor given up on)."""
        query = sql.SQL("SELECT count(*) FROM {}.outbox_messages"
                        " WHERE delivered_at IS NULL AND gave_up_at IS NULL")
        rows = self._rows(query.format(sql.Identifier(self.schema)))
        return int(rows[0][0]) if rows else 0

    def wait_settled(self, count: int, timeout: float, *,
                     still_running: Callable[[], None] = lambda: None
                     ) -> list[tuple[str, str]] | None:
        """The runs once `count` of them have finished and every message they owe Slack was
        delivered; None after `timeout`. `still_running` raises if the bot has died."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            still_running()
            runs = self.runs()
            if (len(runs) == count and not any(RunStatus(s).is_active for _, s in runs)
                    and self.undelivered() == 0):
                return runs
            time.sleep(0.1)
        return None

    def _rows(self, query: sql.Composed) -> list[tuple[Any, ...]]:
        try:
            with psycopg.connect(self.database_url, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                return conn.execute(query).fetchall()
        except psycopg.errors.UndefinedTable:
            return []

    # --- deleting it ------------------------------------------------------------------------------

    def drop_schema(self) -> None:
        with psycopg.connect(self.database_url, autocommit=True,
                             connect_timeout=CONNECT_TIMEOUT_S) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                sql.Identifier(self.schema)))

    def delete_keys(self) -> None:
        """Every key holding the prefix: the bot's own start with it, its queue library's
        hold it (`saq:job:<prefix>:runs:...`)."""
        client = redis.Redis.from_url(self.redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        try:
            keys = list(client.scan_iter(match=f"*{self.key_prefix}*", count=1000))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
