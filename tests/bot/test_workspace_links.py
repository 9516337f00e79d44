"""Links into the workspace: the bot learns its workspace's URL from auth.test once per
process (the Slack emulator answers like Slack), writes every permalink with it, falls back to
slack.com while Slack does not say, and tells a re-run's requester that the summary goes into
the original run's thread; against this machine's PostgreSQL and Redis."""

from __future__ import annotations

import asyncio

from bot.records import Run, RunRequest, SlackMessageKind, TriggerKind
from bot.reruns import request_rerun
from bot.services import Services
from bot.slack import render
from bot.slack.client import create_slack_client
from bot.slack.workspace import WorkspaceUrl
from bot.slash import answer_smoketest
from tests.bot.services_support import CHANNEL
from tests.support.slack_emulator import SlackEmulator

ALICE = "U0HUMAN001"
WORKSPACE = "https://smokebot-test.slack.com/"  # the emulator's team domain


def _archive(ts: str) -> str:
    return f"{WORKSPACE}archives/{CHANNEL}/p{ts.replace('.', '')}"


async def _posted_summary(services: Services, run: Run) -> str:
    posted = await services.slack.chat_postMessage(channel=CHANNEL, text="Smoke test of staging")
    await services.store.set_slack_message(run.id, SlackMessageKind.SUMMARY, CHANNEL,
                                           posted["ts"])
    return str(posted["ts"])


async def test_workspace_url_is_asked_of_auth_test_once_per_process(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    urls = await asyncio.gather(*(services.workspace_url() for _ in range(5)))
    assert urls == [WORKSPACE] * 5
    assert await services.workspace_url() == WORKSPACE
    assert len(emu.calls("auth.test")) == 1


async def test_an_unanswered_auth_test_falls_back_and_is_asked_again_later(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    now = [0.0]
    workspace = WorkspaceUrl(retry_after_s=60, clock=lambda: now[0])
    sender = create_slack_client(services.settings, retries=0)
    emu.inject_error("auth.test", status=503)

    assert await workspace.get(sender) is None  # links go through slack.com meanwhile
    assert await workspace.get(sender) is None  # not asked again at once
    now[0] = 61.0
    assert await workspace.get(sender) == WORKSPACE
    assert [c.status for c in emu.calls("auth.test")] == [503, 200]


async def test_a_joined_request_links_the_summary_in_the_workspace(services: Services) -> None:
    await answer_smoketest(services, "staging", user=ALICE, channel=CHANNEL)
    [run] = await services.store.active_runs()
    ts = await _posted_summary(services, run)

    again = await answer_smoketest(services, "staging", user="U0OUTSIDE1", channel=CHANNEL)

    assert again == render.render_joined("staging", _archive(ts))


async def test_a_rerun_reply_says_the_summary_goes_into_the_original_thread(
        services: Services) -> None:
    original = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    await services.store.mark_interrupted(original.id, "its worker stopped")
    ts = await _posted_summary(services, original)

    reply = await request_rerun(services, original.id, only_failed=False, user=ALICE,
                                channel=CHANNEL)

    [rerun] = await services.store.active_runs()
    assert reply.text == (f"Queued a re-run of staging (run {str(rerun.id)[:8]}); its summary "
                          f"appears in <{_archive(ts)}|the original run's thread>.")
    assert "this channel" not in reply.text


async def test_history_links_each_thread_in_the_workspace(services: Services) -> None:
    run = await services.store.create_run(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, channel=CHANNEL))
    ts = await _posted_summary(services, run)

    reply = await answer_smoketest(services, "history staging", user=ALICE, channel=CHANNEL)

    assert f"<{_archive(ts)}|thread>" in reply.blocks[0]["text"]["text"]
    assert "https://slack.com/" not in str(reply.blocks)
