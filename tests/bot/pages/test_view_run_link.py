"""The Slack summary's "View run" link: a signed link to the run's page, in the summary's
context line while the run goes and once it has ended (whichever way), and no link at all
without SMOKEBOT_PUBLIC_URL. Plus the settings that shape it."""

from __future__ import annotations

import dataclasses
import re
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from bot.errors import SettingError
from bot.execution import execute_run
from bot.pages import run_link
from bot.records import RunRequest, RunStatus, TriggerKind
from bot.services import Services
from bot.settings import Settings
from bot.slack.delivery import deliver_run
from bot.slack.render import RunView, render_summary
from checks.secrets import Secret
from tests.bot.pages.pages_support import query, signer
from tests.bot.services_support import CHANNEL, SIGNING_SECRET
from tests.support.slack_emulator import SlackEmulator

PUBLIC = "https://smokebot.example.com/"
_LINK = re.compile(r"<([^|>]+)\|View run>")


def links(blocks: list[dict[str, Any]]) -> list[str]:
    """The View run links of a message's context blocks, as Slack would open them."""
    found = []
    for block in blocks:
        for element in block.get("elements", ()) if block["type"] == "context" else ():
            found += [m.replace("&amp;", "&") for m in _LINK.findall(element["text"])]
    return found


def assert_opens_the_run_page(link: str, run_id: str) -> None:
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}/" == PUBLIC
    assert unquote(parts.path) == f"/runs/{run_id}"
    expires = signer().verify(unquote(parts.path), list(query(link).items()))
    assert abs(expires - (time.time() + 30 * 86_400)) < 120  # the default lifetime


async def _queued(services: Services, *filters: str) -> str:
    ticket = await services.store.start_or_join(RunRequest(
        environment="staging", trigger_kind=TriggerKind.SLASH, requested_by="U0HUMAN001",
        channel=CHANNEL, filters=filters))
    return str(ticket.run.id)


@pytest.fixture
def public(services: Services) -> Services:
    services.settings = dataclasses.replace(services.settings, public_url=PUBLIC)
    return services


async def test_the_summary_links_to_the_run_page_while_running_and_when_finished(
        public: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run_id = await _queued(public)
    ended = await execute_run(run_id, public, worker_id="test-worker")
    assert ended is not None and ended.status is RunStatus.FAILED
    [first] = emu.messages(CHANNEL)  # as the run started
    [live_link] = links(first.blocks)
    assert_opens_the_run_page(live_link, run_id)
    assert await deliver_run(public, run_id)
    [final] = emu.messages(CHANNEL)
    assert final.text.startswith("Smoke test of staging failed")
    [final_link] = links(final.blocks)
    assert_opens_the_run_page(final_link, run_id)


async def test_a_run_that_could_not_run_links_to_its_page_too(
        public: Services, emulator: tuple[SlackEmulator, str]) -> None:
    emu, _ = emulator
    run_id = await _queued(public, "no-such-check")
    ended = await execute_run(run_id, public, worker_id="test-worker")
    assert ended is not None and ended.status is RunStatus.ERROR
    [message] = emu.messages(CHANNEL)  # announce_ended's summary
    [link] = links(message.blocks)
    assert_opens_the_run_page(link, run_id)


def test_without_a_public_url_or_signing_secret_there_is_no_link() -> None:
    view = RunView(run_id="3f2a9c4e-0b1d-4c3e-9f00-1a2b3c4d5e6f", environment="staging",
                   status="running", total=2)
    assert links(render_summary(view).blocks) == []
    assert "View run" not in str(render_summary(view).blocks)
    with_link = dataclasses.replace(view, run_url=f"{PUBLIC}runs/x?exp=1&sig=y")
    assert links(render_summary(with_link).blocks) == [f"{PUBLIC}runs/x?exp=1&sig=y"]
    assert run_link(Settings(slack_signing_secret=Secret(SIGNING_SECRET)), "x") is None
    assert run_link(Settings(public_url=PUBLIC), "x") is None
    made = run_link(Settings(slack_signing_secret=Secret(SIGNING_SECRET),
                             public_url="https://bot.example/smoke/", link_expiry_days=2), "r1")
    assert made is not None and made.startswith("https://bot.example/smoke/runs/r1?exp=")
    assert abs(int(query(made)["exp"]) - (time.time() + 2 * 86_400)) < 120


def test_the_pages_settings_are_read_and_checked() -> None:
    settings = Settings.from_env({"SMOKEBOT_PUBLIC_URL": "https://smokebot.example.com",
                                  "SMOKEBOT_LINK_EXPIRY_DAYS": "7",
                                  "SMOKEBOT_PAGE_REFRESH": "2.5"})
    assert (settings.public_url, settings.link_expiry_days, settings.page_refresh_s) == \
        ("https://smokebot.example.com", 7, 2.5)
    defaults = Settings.from_env({"SMOKEBOT_PUBLIC_URL": " "})
    assert (defaults.public_url, defaults.link_expiry_days, defaults.page_refresh_s) == \
        (None, 30, 5.0)
    for name, value, expected in [
            ("SMOKEBOT_PUBLIC_URL", "smokebot.example.com", "expected a URL starting with "
                                                            "http:// or https://"),
            ("SMOKEBOT_PUBLIC_URL", "ftp://x", "its scheme is 'ftp'"),
            ("SMOKEBOT_LINK_EXPIRY_DAYS", "0", "expected a whole number > 0"),
            ("SMOKEBOT_LINK_EXPIRY_DAYS", "forever", "expected a whole number > 0"),
            ("SMOKEBOT_PAGE_REFRESH", "-1", "expected a number of seconds > 0")]:
        with pytest.raises(SettingError, match=re.escape(expected)) as caught:
            Settings.from_env({name: value})
        assert caught.value.render().startswith(name)
