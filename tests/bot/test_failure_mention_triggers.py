"""`mention_on_failure` says which runs mention the group when they fail: a plain group id
keeps its meaning (deploys' runs only); `{group, triggers: [deploy, slash, rerun]}` chooses.
The suite file's form, its mistakes, and the worker's decision for a failed run (the mention
is an outbox message of its own, against the real store and the Slack emulator)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from textwrap import dedent

import pytest

from bot.execution import execute_run
from bot.records import DeployFacts, RunRequest, SlackMessageKind, TriggerKind
from bot.services import Services
from checks.config import SlackTarget, load_suite
from checks.errors import ConfigError
from tests.bot.services_support import CHANNEL, open_services
from tests.support.slack_emulator import SlackEmulator

ONCALL = "S0ONCALL01"


def _suite(mention: str) -> str:
    """staging, whose two checks fail (nothing listens on port 9), mentioning as given."""
    return dedent(f"""\
        suite: unit
        environments:
          staging:
            variables: {{base_url: "http://127.0.0.1:9"}}
            slack: {{channel: {CHANNEL}, mention_on_failure: {mention}}}
        categories:
          - name: Health
            checks:
              - id: health
                type: http
                url: ${{base_url}}/health
        """)


# --- the suite file -----------------------------------------------------------------------------

def test_a_plain_group_id_mentions_for_deploys_only_as_before() -> None:
    target = SlackTarget.model_validate({"mention_on_failure": ONCALL})
    assert [target.failure_mention(t) for t in ("deploy", "slash", "rerun")] == [
        ONCALL, None, None]


def test_the_mapping_form_names_the_triggers_it_applies_to() -> None:
    target = SlackTarget.model_validate(
        {"mention_on_failure": {"group": ONCALL, "triggers": ["slash", "rerun"]}})
    assert [target.failure_mention(t) for t in ("deploy", "slash", "rerun")] == [
        None, ONCALL, ONCALL]
    default = SlackTarget.model_validate({"mention_on_failure": {"group": ONCALL}})
    assert default.failure_mention("deploy") == ONCALL
    assert SlackTarget().failure_mention("deploy") is None


@pytest.mark.parametrize(("mention", "message"), [
    ("{group: S0ONCALL01, triggers: [deploy, cron]}",
     "slack.mention_on_failure.triggers[1]: expected 'deploy', 'slash' or 'rerun', got 'cron'"),
    ("{group: S0ONCALL01, triggers: []}",
     "slack.mention_on_failure.triggers: expected at least 1 item after validation, not 0, "
     "got a list"),
    ("{triggers: [slash]}", "slack.mention_on_failure.group: missing required field 'group'"),
    ("42", "slack.mention_on_failure: expected a user group id, or {group: S0ONCALL, "
           "triggers: [deploy, slash, rerun]}, got 42"),
])
def test_a_wrong_mention_on_failure_is_one_message_naming_what_to_write(
        tmp_path: Path, mention: str, message: str) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text(_suite(mention))
    with pytest.raises(ConfigError) as caught:
        load_suite(path)
    assert message in caught.value.render()


# --- the worker's decision ------------------------------------------------------------------------

@pytest.fixture
async def services(pg_dsn: str, tmp_path: Path,
                   emulator: tuple[SlackEmulator, str]) -> AsyncIterator[Services]:
    async with open_services(pg_dsn, tmp_path, *emulator) as svc:
        yield svc


def _use(services: Services, mention: str) -> None:
    Path(services.settings.config_path).write_text(_suite(mention), encoding="utf-8")


async def _mentions(services: Services, request: RunRequest) -> list[str]:
    """The mention messages the failed run owes Slack."""
    run = await services.store.create_run(request)
    ended = await execute_run(str(run.id), services, worker_id="test-worker")
    assert ended is not None and ended.status.value == "failed"
    return [e.payload["text"] for e in await services.store.outbox_entries(str(run.id))
            if e.kind is SlackMessageKind.MENTION]


SLASH = RunRequest("staging", TriggerKind.SLASH, requested_by="U0HUMAN001", channel=CHANNEL)
DEPLOY = RunRequest("staging", TriggerKind.WEBHOOK, channel=CHANNEL,
                    deploy=DeployFacts(source="generic", version="1.4.2"))


async def test_a_failed_slash_run_mentions_the_group_when_its_triggers_say_slash(
        services: Services) -> None:
    _use(services, f"{{group: {ONCALL}, triggers: [slash, rerun]}}")
    [mention] = await _mentions(services, SLASH)
    assert mention.startswith(f"<!subteam^{ONCALL}>")


async def test_a_failed_rerun_mentions_only_when_its_triggers_say_rerun(
        services: Services) -> None:
    _use(services, f"{{group: {ONCALL}, triggers: [rerun]}}")
    original = await services.store.create_run(SLASH)
    await services.store.mark_interrupted(original.id, "its worker stopped")
    rerun = RunRequest("staging", TriggerKind.BUTTON, requested_by="U0HUMAN001",
                       channel=CHANNEL, rerun_of=original.id)
    assert len(await _mentions(services, rerun)) == 1


async def test_the_plain_form_mentions_for_a_deploy_and_not_for_a_slash_run(
        services: Services) -> None:
    _use(services, ONCALL)
    assert await _mentions(services, SLASH) == []
    assert len(await _mentions(services, DEPLOY)) == 1


async def test_triggers_without_deploy_leave_a_deploys_failure_unmentioned(
        services: Services) -> None:
    _use(services, f"{{group: {ONCALL}, triggers: [slash]}}")
    assert await _mentions(services, DEPLOY) == []
