"""The worker's pruning pass (`prune_once`, which every worker runs hourly) on the bot's real
services: it prunes to the settings' retention and logs one line when it deleted something."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import psycopg
import pytest

from bot.services import Services
from bot.store import PruneTarget, Store, WebhookOutcome
from bot.worker_main import prune_once, run_worker_process
from tests.support.asgi import free_port


async def aged(dsn: str, query: str) -> None:
    async with await psycopg.AsyncConnection.connect(dsn, autocommit=True) as conn:
        await conn.execute(query)  # type: ignore[arg-type]


async def test_the_pass_prunes_to_the_settings_retention_and_logs_one_line(
        services: Services, pg_dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    services.settings = dataclasses.replace(services.settings, retain_rejected_days=7)
    for name in ("old", "young"):
        await services.store.record_webhook_delivery(
            "github", name, WebhookOutcome.REJECTED, reason=f"bad signature ({name})")
        await services.store.audit("U0HUMAN001", f"run ({name})", allowed=True)
    await aged(pg_dsn, "UPDATE smokebot.webhook_deliveries SET received_at = now() - interval"
                       " '8 days' WHERE delivery_id = 'old'")
    await aged(pg_dsn, "UPDATE smokebot.audit_log SET at = now() - interval '366 days'"
                       " WHERE action = 'run (old)'")

    with caplog.at_level(logging.INFO, logger="smokebot.worker"):
        report = await prune_once(services)

    assert report is not None
    assert report.deleted == {PruneTarget.RUNS: 0, PruneTarget.DELIVERIES: 0,
                              PruneTarget.REJECTED: 1, PruneTarget.AUDIT: 1}
    assert [d.delivery_id for d in await services.store.recent_webhook_deliveries()] == [
        "young"]
    [line] = [r.getMessage() for r in caplog.records if r.name == "smokebot.worker"]
    assert line.startswith("pruned 0 runs, 0 deliveries, 1 rejected deliveries and 1 audit "
                           "entries in 4 batches (")

    caplog.clear()
    with caplog.at_level(logging.INFO, logger="smokebot.worker"):
        again = await prune_once(services)
    assert again is not None and again.total == 0
    assert [r for r in caplog.records if r.name == "smokebot.worker"] == []  # nothing to say


async def test_a_pass_that_fails_is_logged_and_reported_as_none(
        services: Services, caplog: pytest.LogCaptureFixture) -> None:
    # PostgreSQL gone away: nothing listens where the store connects.
    down = await Store.open(f"postgresql://postgres@127.0.0.1:{free_port()}/gone",
                            acquire_timeout=0.3)
    try:
        with caplog.at_level(logging.WARNING, logger="smokebot.worker"):
            assert await prune_once(dataclasses.replace(services, store=down)) is None
    finally:
        await down.close()

    [line] = [r.getMessage() for r in caplog.records if r.name == "smokebot.worker"]
    assert line.startswith("pruning the history store failed: ")


async def test_a_worker_process_prunes_when_it_starts_and_stops_promptly(
        services: Services, pg_dsn: str) -> None:
    entry = await services.store.audit("U0HUMAN001", "run", allowed=True)
    await aged(pg_dsn, f"UPDATE smokebot.audit_log SET at = now() - interval '400 days'"
                       f" WHERE id = {entry.id}")
    stop = asyncio.Event()
    worker = asyncio.create_task(run_worker_process(services.settings, concurrency=1,
                                                    stop=stop, handle_signals=False))
    try:
        for _ in range(200):  # a ceiling, never a measurement
            if not await services.store.recent_audit():
                break
            await asyncio.sleep(0.05)
        assert await services.store.recent_audit() == []
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=30)
