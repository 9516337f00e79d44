"""Traffic probes in the bot's runs, with a test-only probe kind (tests/support/traffic_probe.py)
against the real store, Redis and the Slack emulator: the worker's probes take the Redis lock
under the bot's key prefix; in an environment marked production a run a person started from
Slack probes only once confirmed with the button, a deploy's run needs no button, and every
refusal says why, in the run's thread too; a probe's progress reaches the live summary at the
summary's own update rate, not once per progress event."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from redis import asyncio as aioredis

from bot.execution import execute_run
from bot.records import RunRequest, RunStatus, RunTicket, StartRequest, TriggerKind
from bot.services import Services
from bot.slack import render
from bot.slack.delivery import deliver_run
from bot.start_requests import ask_to_start, start_confirmed
from bot.traffic_gate import RedisTrafficGate
from checks.results import CheckResult, Status
from tests.bot.services_support import CHANNEL, open_services
from tests.scenarios.scenario_support import message_text
from tests.support.services import redis_url
from tests.support.slack_emulator import SlackEmulator
from tests.support.traffic_probe import registered

ALICE = "U0HUMAN001"


SUITE_TEMPLATE = """\
suite: traffic
environments:
  staging:
    slack: {{channel: {channel}}}
  production:
    production: true
    traffic: {{allow: true}}
    slack: {{channel: {channel}, confirm: true}}
  prod-unconfirmed:
    production: true
    traffic: {{allow: true}}
    slack: {{channel: {channel}}}
  prod-closed:
    production: true
    slack: {{channel: {channel}, confirm: true}}
categories:
  - name: Load
    checks:
      - id: api-load
        name: API load
        type: test.traffic
        seconds: {seconds}
"""


def _suite(seconds: float) -> str:
    return SUITE_TEMPLATE.format(channel=CHANNEL, seconds=seconds)


@pytest.fixture(autouse=True)
def traffic_kind() -> Iterator[None]:
    with registered():
        yield


@pytest.fixture
async def services(pg_dsn: str, tmp_path: Path,
                   emulator: tuple[SlackEmulator, str]) -> AsyncIterator[Services]:
    async with open_services(pg_dsn, tmp_path, *emulator) as svc:
        (tmp_path / "smoketest.yaml").write_text(_suite(0.2), encoding="utf-8")
        yield svc


async def _probe_result(services: Services, ticket: RunTicket) -> CheckResult:
    ended = await execute_run(str(ticket.run.id), services, worker_id="test-worker")
    assert ended is not None
    [result] = await services.store.results(ended.id)
    return result


async def _slash(services: Services, environment: str) -> RunTicket | render.SlackMessage:
    return await ask_to_start(services, StartRequest(environment, TriggerKind.SLASH),
                              user=ALICE, channel=CHANNEL)


async def test_a_production_run_confirmed_with_the_button_runs_its_probe(
        services: Services) -> None:
    asked = await _slash(services, "production")
    assert isinstance(asked, render.SlackMessage)  # the confirmation, nothing started
    assert asked.text == "Confirm: run the smoke tests on production?"
    await start_confirmed(services, StartRequest("production", TriggerKind.SLASH),
                          user=ALICE, channel=CHANNEL)
    [run] = await services.store.active_runs()
    assert run.confirmed

    ended = await execute_run(str(run.id), services, worker_id="test-worker")

    assert ended is not None and ended.status is RunStatus.PASSED
    [result] = await services.store.results(run.id)
    assert result.status is Status.PASS and result.summary.startswith("held production for ")


async def test_a_slack_run_in_production_without_the_button_is_refused_in_its_thread(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    ticket = await _slash(services, "prod-unconfirmed")  # slack.confirm is off: no button
    assert isinstance(ticket, RunTicket) and not ticket.run.confirmed

    result = await _probe_result(services, ticket)

    reason = ("refused: environment 'prod-unconfirmed' is marked production: a traffic probe "
              "started from Slack runs there only after the production confirmation button "
              "(set `slack.confirm: true` on the environment)")
    assert (result.status, result.summary) == (Status.ERROR, reason)
    assert result.attempts == 1  # permanent: not retried
    assert await deliver_run(services, ticket.run.id)
    [summary] = emu.messages(CHANNEL)
    [reply, _report] = emu.thread(CHANNEL, summary.ts)
    assert "marked production: a traffic probe started from Slack runs there only after the " \
           "production confirmation button" in message_text(reply)


async def test_a_deploy_run_in_production_needs_no_button(services: Services) -> None:
    ticket = await services.store.start_or_join(RunRequest(
        environment="prod-unconfirmed", trigger_kind=TriggerKind.WEBHOOK,
        trigger_detail="deploy 1.4.2", channel=CHANNEL))

    assert (await _probe_result(services, ticket)).status is Status.PASS


async def test_production_that_does_not_allow_probes_refuses_even_a_confirmed_run(
        services: Services) -> None:
    await start_confirmed(services, StartRequest("prod-closed", TriggerKind.SLASH),
                          user=ALICE, channel=CHANNEL)
    [run] = await services.store.active_runs()

    result = await _probe_result(services, RunTicket(run, joined=False))

    assert result.status is Status.ERROR
    assert result.summary == (
        "refused: environment 'prod-closed' is marked production: traffic probes (load, "
        "ratelimit) run there only when its environment block allows them with "
        "`traffic: {allow: true}`")


async def test_a_workers_probe_waits_for_the_lock_held_under_the_bots_key_prefix(
        services: Services) -> None:
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    client = aioredis.Redis.from_url(redis_url())  # another worker's connection
    elsewhere = RedisTrafficGate(client, prefix=services.queue.prefix)
    try:
        async with elsewhere.hold("staging", "check 'x' of run elsewhere", 1):
            running = asyncio.ensure_future(_probe_result(services, ticket))
            await asyncio.sleep(0.6)
            released = time.time()
        result = await running
    finally:
        await client.aclose()
    assert result.status is Status.PASS
    assert result.measurements["entered"] >= released


async def test_probe_progress_reaches_the_live_summary_at_its_update_rate(
        services: Services, emulator: tuple[SlackEmulator, str], tmp_path: Path) -> None:
    emu, _ = emulator
    (tmp_path / "smoketest.yaml").write_text(_suite(1.6), encoding="utf-8")
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    assert services.settings.update_interval_s == 1.0

    assert (await _probe_result(services, ticket)).status is Status.PASS

    updates = [c.params for c in emu.calls("chat.update")]
    shown = [message_text(u) for u in updates if "`api-load`: " in message_text(u)]
    assert shown, "no update showed the probe's progress"
    assert "requests · 98 rps" in shown[-1]
    # Five progress events in 1.6 s, and at most one edit a second.
    assert 1 <= len(updates) <= 3
