"""Authorizing a Slack request: the decision is audited, user groups are listed through the
services' own cache, and a group Slack cannot list refuses the request with the reason."""

from __future__ import annotations

from pathlib import Path

from bot.authz import Decision
from bot.services import Services
from bot.slack.gate import authorize_request
from tests.bot.services_support import CHANNEL, ONCALL, audit_log, open_services
from tests.support.slack_emulator import SlackEmulator


def _lookups(emu: SlackEmulator) -> list[str]:
    return [c.params.get("usergroup") for c in emu.calls("usergroups.users.list")]


async def test_group_members_are_allowed_others_refused_and_every_decision_audited(
        services: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    emu.add_usergroup(ONCALL, ["U0HUMAN001"])
    member = await authorize_request(services, "guarded", "U0HUMAN001", CHANNEL, action="run")
    outsider = await authorize_request(services, "guarded", "U0OUTSIDE1", CHANNEL,
                                       action="run", detail={"filters": ["health"]})
    assert member == Decision(True)
    assert outsider == Decision(False, f"only members of <!subteam^{ONCALL}> or the listed "
                                       "users may test guarded.")
    assert _lookups(emu) == [ONCALL]  # the second request used the services' cache
    assert sorted(await audit_log(services, 2)) == [
        ("U0HUMAN001", "run", "guarded", True), ("U0OUTSIDE1", "run", "guarded", False)]


async def test_the_group_cache_belongs_to_the_services_not_the_module(
        pg_dsn: str, tmp_path: Path, services: Services,
        emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    emu.add_usergroup(ONCALL, ["U0HUMAN001"])
    await authorize_request(services, "guarded", "U0HUMAN001", CHANNEL, action="run")
    (tmp_path / "other").mkdir()
    async with open_services(pg_dsn, tmp_path / "other", *emulator) as other:
        assert other.group_members is not services.group_members
        await authorize_request(other, "guarded", "U0HUMAN001", CHANNEL, action="run")
    assert _lookups(emu) == [ONCALL, ONCALL]


async def test_a_group_slack_cannot_list_refuses_with_what_to_fix_and_is_audited(
        services: Services) -> None:
    decision = await authorize_request(services, "sandbox", "U0HUMAN001", CHANNEL,
                                       action="rerun")
    reason = ("could not look up the members of <!subteam^S0GONE0001> in Slack "
              "(no_such_subteam); ask an admin to fix allowed_usergroups in the suite file.")
    assert decision == Decision(False, reason)
    entries = await services.store.recent_audit()
    assert [(e.actor, e.action, e.allowed, e.detail) for e in entries] == [
        ("U0HUMAN001", "rerun", False, {"channel": CHANNEL, "reason": reason})]


async def test_an_environment_the_suite_does_not_have_is_left_to_request_run(
        services: Services) -> None:
    assert await authorize_request(services, "nowhere", "U0HUMAN001", CHANNEL,
                                   action="run") == Decision(True)
    assert await services.store.recent_audit() == []
