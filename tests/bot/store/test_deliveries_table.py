"""Webhook deliveries."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import (
    DeployFacts,
    RunRequest,
    Store,
    TriggerKind,
    WebhookOutcome,
)
from tests.bot.store.store_support import TABLES, sql_rows

# --- webhook deliveries -----------------------------------------------------------------------

async def test_100_concurrent_deliveries_of_one_id_record_one_new_delivery_and_one_run(
        pg_dsn: str) -> None:
    async with Store.open(pg_dsn, max_size=20, acquire_timeout=30) as store:
        await store.migrate()
        request = RunRequest("staging", TriggerKind.WEBHOOK, trigger_detail="deployment_status",
                             deploy=DeployFacts(source="github", commit="3f9c2ab"))
        recorded = await asyncio.gather(*(
            store.record_webhook_delivery(
                "github", "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                WebhookOutcome.ACCEPTED, environment="staging", run=request)
            for _ in range(100)))

        assert sum(d.is_new for d in recorded) == 1
        run_ids = {d.run_id for d in recorded}
        assert len(run_ids) == 1 and None not in run_ids
        runs = await store.recent_runs(limit=100)
        assert [r.id for r in runs] == list(run_ids)
        assert runs[0].idempotency_key == "webhook:github:72d3162e-cc78-11e3-81ab-4c9367dc0958"
        [delivery] = await store.recent_webhook_deliveries()
        assert delivery.redeliveries == 99


async def test_rejected_delivery_never_shadows_the_genuine_one(store: Store) -> None:
    forged = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.REJECTED, reason="bad signature")
    again = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.REJECTED, reason="bad signature")
    genuine = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.ACCEPTED, environment="staging",
        run=RunRequest("staging", TriggerKind.WEBHOOK))
    ignored = await store.record_webhook_delivery(
        "argocd", "key-1", WebhookOutcome.IGNORED, reason="ignored: unmapped app")
    redelivered = await store.record_webhook_delivery(
        "deploy", "key-1", WebhookOutcome.ACCEPTED, environment="staging",
        run=RunRequest("staging", TriggerKind.WEBHOOK))
    # The repeated forgery is counted in the first one's row (bounded rejections), never in
    # the genuine delivery's.
    assert [d.is_new for d in (forged, again, genuine, ignored, redelivered)] == [
        True, False, True, True, False]
    assert (again.id, again.redeliveries) == (forged.id, 1)
    assert (redelivered.id, redelivered.run_id) == (genuine.id, genuine.run_id)
    assert len(await store.recent_runs()) == 1
    assert [(d.source, d.outcome, d.reason, d.redeliveries)
            for d in await store.recent_webhook_deliveries(source="deploy")] == [
        ("deploy", WebhookOutcome.ACCEPTED, "", 1),
        ("deploy", WebhookOutcome.REJECTED, "bad signature", 1)]
    with pytest.raises(ValueError):
        await store.record_webhook_delivery("github", "x", WebhookOutcome.IGNORED,
                                            run=RunRequest("staging", TriggerKind.WEBHOOK))


async def test_no_credential_header_reaches_the_database(store: Store, pg_dsn: str) -> None:
    canary = "canary-5f0c1e9ab7d2"
    delivery = await store.record_webhook_delivery(
        "github", "d-1", WebhookOutcome.REJECTED, reason="bad signature",
        headers={"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "d-1",
                 "X-Hub-Signature-256": f"sha256={canary}", "Authorization": f"Bearer {canary}",
                 "X-Argocd-Secret": canary, "Cookie": f"session={canary}",
                 "X-Api-Key": canary, "X-Auth-Token": canary},
        summary={"environment": "staging"})
    assert delivery.headers == {"X-GitHub-Event": "deployment_status", "X-GitHub-Delivery": "d-1"}
    dump = await sql_rows(pg_dsn, " UNION ALL ".join(
        f"SELECT row_to_json(t)::text FROM smokebot.{table} t" for table in TABLES))
    assert sum(str(row[0]).count(canary) for row in dump) == 0
    assert any("deployment_status" in str(row[0]) for row in dump)  # the dump does see rows
