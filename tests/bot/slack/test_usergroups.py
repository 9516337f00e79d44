"""User group members for authorization: listed by Slack (the emulator), kept for a while,
and every way the lookup fails becomes a GroupLookupFailed that says what to do."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import GroupLookupFailed
from bot.slack.usergroups import LOOKUP_BUDGET_S, GroupMembersCache
from tests.support.asgi import free_port
from tests.support.slack_emulator import SlackEmulator

GROUP = "S0ONCALL01"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def emulator() -> Iterator[tuple[SlackEmulator, AsyncWebClient]]:
    emu = SlackEmulator()
    with emu.serve() as api_url:
        yield emu, AsyncWebClient(token=emu.bot_token, base_url=api_url)


def _lookups(emu: SlackEmulator) -> list[str]:
    return [c.params.get("usergroup") for c in emu.calls("usergroups.users.list")]


async def test_members_are_listed_once_then_kept_until_the_ttl_passes(
        emulator: tuple[SlackEmulator, AsyncWebClient]) -> None:
    emu, slack = emulator
    emu.add_usergroup(GROUP, ["U0HUMAN001", "W0HUMAN003"])
    clock = Clock()
    cache = GroupMembersCache(ttl_s=300, clock=clock)

    assert await cache.members(slack, GROUP) == frozenset({"U0HUMAN001", "W0HUMAN003"})
    emu.add_usergroup(GROUP, ["U0HUMAN002"])
    clock.now += 299
    assert await cache.members(slack, GROUP) == frozenset({"U0HUMAN001", "W0HUMAN003"})
    assert _lookups(emu) == [GROUP]

    clock.now += 1
    assert await cache.members(slack, GROUP) == frozenset({"U0HUMAN002"})
    assert _lookups(emu) == [GROUP, GROUP]


async def test_each_cache_keeps_its_own_members(
        emulator: tuple[SlackEmulator, AsyncWebClient]) -> None:
    emu, slack = emulator
    emu.add_usergroup(GROUP, ["U0HUMAN001"])
    await GroupMembersCache().members(slack, GROUP)
    await GroupMembersCache().members(slack, GROUP)
    assert _lookups(emu) == [GROUP, GROUP]


async def test_a_group_slack_does_not_know_says_to_fix_the_suite_and_is_not_kept(
        emulator: tuple[SlackEmulator, AsyncWebClient]) -> None:
    emu, slack = emulator
    cache = GroupMembersCache()
    with pytest.raises(GroupLookupFailed) as caught:
        await cache.members(slack, GROUP)
    assert (caught.value.group, caught.value.problem) == (GROUP, "no_such_subteam")
    assert caught.value.reason == (
        f"could not look up the members of <!subteam^{GROUP}> in Slack (no_such_subteam); "
        "ask an admin to fix allowed_usergroups in the suite file.")
    emu.add_usergroup(GROUP, ["U0HUMAN001"])
    assert await cache.members(slack, GROUP) == frozenset({"U0HUMAN001"})


async def test_slack_failing_with_5xx_says_try_again_shortly(
        emulator: tuple[SlackEmulator, AsyncWebClient]) -> None:
    emu, slack = emulator
    emu.add_usergroup(GROUP, ["U0HUMAN001"])
    emu.inject_error("usergroups.users.list", status=503)
    with pytest.raises(GroupLookupFailed) as caught:
        await GroupMembersCache().members(slack, GROUP)
    assert caught.value.problem == "HTTP 503"
    assert caught.value.reason.endswith("(HTTP 503); try again shortly.")


async def test_slack_not_answering_at_all_says_try_again_shortly() -> None:
    slack = AsyncWebClient(token="xoxb-unused", base_url=f"http://127.0.0.1:{free_port()}/api/",
                           timeout=2)
    with pytest.raises(GroupLookupFailed) as caught:
        await GroupMembersCache().members(slack, GROUP)
    assert caught.value.problem == "Slack did not answer"
    assert caught.value.reason.endswith("(Slack did not answer); try again shortly.")


async def test_slack_that_accepts_and_never_answers_is_given_up_on_within_a_second() -> None:
    # A listening socket nobody reads: the connection is made, the request is never answered.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        slack = AsyncWebClient(token="xoxb-unused", base_url=f"http://127.0.0.1:{port}/api/",
                               timeout=30)
        started = time.monotonic()
        with pytest.raises(GroupLookupFailed) as caught:
            await GroupMembersCache().members(slack, GROUP)
        assert time.monotonic() - started < LOOKUP_BUDGET_S + 0.5
    assert caught.value.problem == "Slack did not answer"
