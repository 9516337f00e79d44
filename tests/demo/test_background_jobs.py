"""The demo's background jobs: its Oban table, seeded in a database of the test's own and read
with the suite's own "Jobs stuck in the queue" query, and its webhook queue in the machine's
Redis, seeded under a prefix of the test's own and deleted afterwards."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import redis
import yaml

from demo.oban import seed_jobs
from demo.redis_queue import BACKLOG_DEPTH, DEPTH, QUEUE, seeded_webhook_queue
from tests.support.asgi import free_port
from tests.support.services import redis_url, unique_prefix

DEMO = Path(__file__).resolve().parents[2] / "demo"
SUITE = yaml.safe_load((DEMO / "smoketest.yaml").read_text(encoding="utf-8"))
STUCK_SQL = next(check["sql"] for category in SUITE["categories"]
                 for check in category["checks"] if check["id"] == "stuck-jobs")


def stuck(dsn: str) -> list[tuple[int, str, str, int]]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(STUCK_SQL.replace("${db_schema}", "demo_billing")).fetchall()
    return [(row[0], row[1], row[2], row[5]) for row in rows]  # id, state, queue, minutes


def test_a_healthy_queue_has_no_stuck_job_though_one_is_executing(billing_dsn: str) -> None:
    with psycopg.connect(billing_dsn, autocommit=True) as conn:
        seed_jobs(conn)
        states = conn.execute("SELECT state::text, count(*) FROM demo_billing.oban_jobs "
                              "GROUP BY 1 ORDER BY 1").fetchall()

    assert states == [("available", 1), ("completed", 2), ("executing", 1), ("scheduled", 1)]
    assert stuck(billing_dsn) == []


def test_stuck_jobs_are_what_the_suite_query_finds(billing_dsn: str) -> None:
    with psycopg.connect(billing_dsn, autocommit=True) as conn:
        seed_jobs(conn, stuck=True)

    assert stuck(billing_dsn) == [(6, "executing", "webhooks", 42), (7, "available", "reports", 25)]


def test_seeding_again_replaces_the_jobs(billing_dsn: str) -> None:
    with psycopg.connect(billing_dsn, autocommit=True) as conn:
        seed_jobs(conn, stuck=True)
        seed_jobs(conn)
        count = conn.execute("SELECT count(*), max(id) FROM demo_billing.oban_jobs").fetchone()

    assert count == (5, 5)
    assert stuck(billing_dsn) == []


def test_schema_holds_the_applied_migrations_of_the_release_files(billing_dsn: str) -> None:
    with psycopg.connect(billing_dsn) as conn:
        versions = [row[0] for row in conn.execute(
            "SELECT version FROM demo_billing.schema_migrations ORDER BY version")]

    files = sorted(int(path.name.split("_", 1)[0]) for path in (DEMO / "migrations").glob("*.exs"))
    assert versions == files
    assert len(versions) == 10


@pytest.mark.parametrize(("backlog", "depth"), [(False, DEPTH), (True, BACKLOG_DEPTH)])
def test_webhook_queue_is_seeded_then_every_key_of_the_prefix_deleted(backlog: bool,
                                                                      depth: int) -> None:
    prefix = f"{unique_prefix('smokebot-demo-test')}:"
    client = redis.Redis.from_url(redis_url())
    try:
        with seeded_webhook_queue(redis_url(), prefix, backlog=backlog) as problem:
            seen = (client.type(prefix + QUEUE), client.llen(prefix + QUEUE),
                    0 < client.ttl(prefix + QUEUE) <= 600)
            client.set(prefix + "other", "1")  # what a target would add under the prefix
        left = list(client.scan_iter(match=f"{prefix}*"))
    finally:
        client.close()

    assert problem is None
    assert seen == (b"list", depth, True)
    assert left == []


def test_unreachable_redis_yields_the_reason() -> None:
    port = free_port()  # nothing listens there

    with seeded_webhook_queue(f"redis://127.0.0.1:{port}/0", "smokebot-demo:x:") as problem:
        pass

    assert problem is not None
    assert f"127.0.0.1:{port}" in problem and "refused" in problem.lower()
