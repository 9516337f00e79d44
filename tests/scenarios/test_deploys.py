"""Deploy webhooks end to end: a signed delivery -> the web app -> PostgreSQL and Redis -> a real
worker process -> the Slack emulator, with the demo target under test.

The suite maps GitHub's `staging` environment to smokebot's `staging`, posts to the scenario
channel and mentions the on-call group when a deploy's run fails. Its two checks: `health`
fails (the demo target's OpenAI provider is degraded), `version` asserts that the commit the
target reports (`26603507`) is the deployed one (`${deploy.commit}`). The reference is quoted
because an assertion's value is read as YAML: unquoted, a short commit such as `0123456` would
become the number 42798 and never match.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.bot.webhook_payloads import (
    generic_body,
    generic_headers,
    github_deployment_status,
    github_headers,
    to_body,
)
from tests.scenarios.conftest import CHANNEL, ROOT, BotStack
from tests.scenarios.scenario_support import message_text
from tests.support.slack_emulator import Message

GITHUB_SECRET = "gh-scenario-CANARY-7d1e4b2a9c0f3e5d"
DEPLOY_SECRET = "deploy-scenario-CANARY-2b8f6a0c4e1d3a7b"
SHA = "9f2c1e7ab4d5c6b7a8f9e0d1c2b3a4f5e6d7c8b9"  # not the commit the demo target runs
RUNNING_COMMIT = "26603507"  # what the demo target's /api/version reports
GROUP = "S0ONCALL"

DEPLOY_SUITE = """\
suite: scenario-deploys
defaults: {{timeout: 5s}}
environments:
  staging:
    variables: {{base_url: "{target_url}", aux_url: "{aux_url}"}}
    slack: {{channel: {channel}, mention_on_failure: {group}}}
    deploy: {{github: [staging], coalesce_window: {window}}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: health
        name: Health endpoint
        type: http
        url: ${{base_url}}/api/health
        assert: ["services.ai_providers.* == healthy"]
      - id: version
        name: Deployed commit
        type: http
        url: ${{base_url}}/api/version
        assert: ['commit == "${{deploy.commit}}"']
{extra_checks}"""

# A check that answers after a few seconds: a run still going when the next deploy arrives.
SLOW_CHECK = """\
      - id: slow
        name: Slow endpoint
        type: http
        timeout: 30s
        url: ${aux_url}/slow?seconds=6
"""


@dataclass(frozen=True)
class DeployStack:
    """The scenario stack plus a web process that has the webhook secrets."""

    stack: BotStack
    url: str  # the webhook-enabled web process

    def github(self, delivery: str, **changes: Any) -> httpx.Response:
        body = to_body(github_deployment_status(**changes))
        return httpx.post(f"{self.url}/webhooks/github", content=body, timeout=10,
                          headers=github_headers(GITHUB_SECRET, body, delivery=delivery))

    def generic(self, **fields: Any) -> httpx.Response:
        body = to_body(generic_body(**fields))
        return httpx.post(f"{self.url}/webhooks/deploy", content=body, timeout=10,
                          headers=generic_headers(DEPLOY_SECRET, body))


@pytest.fixture
def deploy_stack(bot_stack: BotStack, request: pytest.FixtureRequest) -> Iterator[DeployStack]:
    """Parametrize indirectly with {"window": "2s", "extra_checks": SLOW_CHECK} for a variant."""
    variant = {"window": "100ms", "extra_checks": "", **getattr(request, "param", {})}
    bot_stack.write_suite(DEPLOY_SUITE.format(
        target_url=bot_stack.target_url, aux_url=bot_stack.aux_url, channel=CHANNEL,
        group=GROUP, **variant))
    with bot_stack.another_web_app(SMOKEBOT_GITHUB_WEBHOOK_SECRET=GITHUB_SECRET,
                                   SMOKEBOT_DEPLOY_WEBHOOK_SECRET=DEPLOY_SECRET) as url:
        yield DeployStack(bot_stack, url)


# --- helpers ----------------------------------------------------------------------------------

def run_of(stack: BotStack, run_id: str) -> tuple[Any, ...]:
    """(status, deploy_version, deploy_commit, started_at, status_reason, superseded_by)."""
    rows = stack.query("SELECT status, deploy_version, deploy_commit, started_at, status_reason,"
                       " superseded_by::text FROM runs WHERE id = %s", (run_id,))
    return rows[0]


def finished(stack: BotStack, run_id: str) -> bool:
    return run_of(stack, run_id)[0] not in ("queued", "running")


def summary_of(stack: BotStack, run_id: str) -> Message | None:
    rows = stack.query("SELECT channel, ts FROM slack_messages WHERE run_id = %s "
                       "AND kind = 'summary'", (run_id,))
    return stack.emulator.message(*rows[0]) if rows else None


def reply_ts(stack: BotStack, run_id: str, check_id: str) -> str:
    return stack.query("SELECT ts FROM slack_messages WHERE run_id = %s AND "
                       "kind = 'failure_reply' AND check_id = %s", (run_id, check_id))[0][0]


def settled_summary(stack: BotStack, run_id: str) -> Message:
    """The run's summary once the run has ended and the worker posted its replies."""
    stack.wait_for(lambda: finished(stack, run_id), what=f"run {run_id} to end")

    def final() -> Message | None:
        summary = summary_of(stack, run_id)
        if summary is None or "smoke tests running" in summary.text:
            return None
        # The report file is the worker's last post for a run with failures.
        if "failed" in summary.text and not any(
                r.files for r in stack.emulator.thread(CHANNEL, summary.ts)):
            return None
        return summary
    return stack.wait_for(final, what=f"run {run_id}'s final summary and report")


def accepted(response: httpx.Response) -> str:
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["outcome"] == "accepted"
    return str(body["run_id"])


def blocks_of(message: Message | dict[str, Any]) -> list[dict[str, Any]]:
    return message.blocks if isinstance(message, Message) else message["blocks"]


def header(message: Message | dict[str, Any]) -> str:
    return str(blocks_of(message)[0]["text"]["text"])


def known_line(reply: Message) -> str:
    """The reply's context line that says whether the failure is news."""
    contexts = [b for b in reply.blocks if b["type"] == "context"]
    return str(contexts[0]["elements"][0]["text"])


def first_post(stack: BotStack) -> dict[str, Any]:
    """The params of the first top-level chat.postMessage: the deploy's parent message."""
    posts = [c.params for c in stack.emulator.calls("chat.postMessage")
             if not c.params.get("thread_ts")]
    return posts[0]


# --- the deploy's run in the channel ------------------------------------------------------------

def test_github_deploy_posts_parent_then_summary_threaded_failures_and_group_mention(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()

    run_id = accepted(deploy_stack.github("d-first", sha=SHA, version="v2.8.1",
                                          creator="octocat", status_id=2_390_118_774))

    summary = settled_summary(stack, run_id)
    assert run_of(stack, run_id)[:3] == ("failed", "v2.8.1", SHA)
    parent = first_post(stack)
    assert parent["channel"] == CHANNEL
    assert header(parent) == "Deploy of v2.8.1 to staging: smoke tests running"
    assert parent["text"] == "Deploy of v2.8.1 to staging: smoke tests running: 0/2 checks done"
    assert blocks_of(parent)[1]["text"]["text"] == (
        "Commit `9f2c1e7` · ref `main` · by octocat · "
        "<https://github.com/acme/shop/actions/runs/7781774|deployment>")
    tops = stack.emulator.messages(CHANNEL)
    assert [m.ts for m in tops] == [summary.ts], "one parent message, updated in place"
    assert header(summary) == ":x: Deploy of v2.8.1 to staging: smoke tests failed"
    assert any(c.params.get("ts") == summary.ts for c in stack.emulator.calls("chat.update"))

    thread = stack.emulator.thread(CHANNEL, summary.ts)
    health = [r for r in thread if r.text.startswith("Health endpoint (health) failed")]
    version = [r for r in thread if r.text.startswith("Deployed commit (version) failed")]
    assert len(health) == len(version) == 1
    assert 'services.ai_providers.openai: expected "healthy", got "degraded"' in health[0].text
    # ${deploy.commit} reached the check: the target runs another commit than the deploy's.
    assert version[0].text == (f'Deployed commit (version) failed: commit: expected "{SHA}", '
                               f'got "{RUNNING_COMMIT}"')
    assert known_line(health[0]) == ":new: *New failure*: not failing in earlier runs"
    mentions = [r for r in thread if r.text.startswith(f"<!subteam^{GROUP}>")]
    assert len(mentions) == 1, "the group is mentioned once, in a message of its own"
    assert mentions[0].text == (f"<!subteam^{GROUP}> Deploy of v2.8.1 to staging: smoke tests "
                                "failed: 2 of 2 checks failed")


def test_a_second_deploy_marks_the_same_failure_still_failing_with_the_earlier_thread(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()
    first = accepted(deploy_stack.github("d-one", sha=SHA, version="v2.8.1"))
    first_summary = settled_summary(stack, first)
    earlier_reply = reply_ts(stack, first, "health")

    second = accepted(deploy_stack.github("d-two", sha="b" * 40, version="v2.8.2",
                                          deployment_id=1_204_885_103))
    second_summary = settled_summary(stack, second)

    assert header(second_summary) == ":x: Deploy of v2.8.2 to staging: smoke tests failed"
    health = [r for r in stack.emulator.thread(CHANNEL, second_summary.ts)
              if r.text.startswith("Health endpoint (health) failed")]
    link = (f"https://smokebot-test.slack.com/archives/{CHANNEL}/p"
            f"{earlier_reply.replace('.', '')}"
            f"?thread_ts={first_summary.ts}&amp;cid={CHANNEL}")
    line = known_line(health[0])
    assert line.startswith(f":repeat: *Still failing* since run `{first[:8]}` (<!date^")
    assert line.endswith(f", <{link}|earlier thread>")


def test_deploy_commit_that_the_target_runs_passes_the_version_check(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()

    # A CI system that reports the short commit, as the target does.
    run_id = accepted(deploy_stack.generic(environment="staging", version="0.1.0",
                                           commit=RUNNING_COMMIT))

    summary = settled_summary(stack, run_id)
    statuses = dict(stack.query("SELECT check_id, status FROM check_results WHERE run_id = %s",
                                (run_id,)))
    assert statuses == {"health": "fail", "version": "pass"}
    assert header(summary) == ":x: Deploy of 0.1.0 to staging: smoke tests failed"
    thread = stack.emulator.thread(CHANNEL, summary.ts)
    assert not any("(version)" in r.text for r in thread), "a passing check gets no reply"


# --- coalescing -------------------------------------------------------------------------------

@pytest.mark.parametrize("deploy_stack", [{"window": "2s"}], indirect=True)
def test_a_deploy_within_the_window_supersedes_the_queued_one_and_slack_says_so(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()

    older = accepted(deploy_stack.github("d-old", sha="a" * 40, version="v3.0.0",
                                         deployment_id=501))
    newer = accepted(deploy_stack.github("d-new", sha="c" * 40, version="v3.0.1",
                                         deployment_id=502))

    settled_summary(stack, newer)
    status, _, _, started_at, reason, superseded_by = run_of(stack, older)
    assert (status, started_at, superseded_by) == ("superseded", None, newer)
    assert reason == f"superseded by a newer deploy of v3.0.1 (run {newer})"
    notices = [m for m in stack.emulator.messages(CHANNEL) if "v3.0.0" in m.text]
    assert len(notices) == 1, "the superseded deploy is said so once, in the channel"
    assert header(notices[0]) == ":fast_forward: Deploy of v3.0.0 to staging: smoke tests superseded"
    assert notices[0].text == (
        f"Deploy of v3.0.0 to staging: smoke tests superseded: a newer deploy of the "
        f"environment replaced this run (run `{newer[:8]}`): superseded by a newer deploy of "
        f"v3.0.1 (run {newer})")
    executed = stack.query("SELECT count(*) FROM runs WHERE started_at IS NOT NULL")[0][0]
    assert executed == 1, "only the newest deploy runs"


@pytest.mark.parametrize("deploy_stack", [{"window": "2s"}], indirect=True)
def test_five_deploys_in_two_seconds_run_only_the_newest_and_a_smoketest_joins_it(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()

    runs = []
    for n in range(1, 6):
        runs.append(accepted(deploy_stack.github(f"d-burst-{n}", sha=f"{n}" * 40,
                                                 version=f"v5.0.{n}", deployment_id=700 + n,
                                                 status_id=800 + n)))
        time.sleep(0.3)
    ack = stack.send(stack.slack.slash_command("staging", user_id="U0HUMAN002")).json()

    assert ack["text"] == "staging is already being smoke-tested; you joined that run."
    settled_summary(stack, runs[-1])
    for n, (older, newer) in enumerate(itertools.pairwise(runs), start=2):
        status, _, _, started_at, reason, superseded_by = run_of(stack, older)
        assert (status, started_at, superseded_by) == ("superseded", None, newer)
        assert reason == f"superseded by a newer deploy of v5.0.{n} (run {newer})"
    assert stack.query("SELECT id::text FROM runs WHERE started_at IS NOT NULL") == [
        (runs[-1],)], "only the newest deploy runs, and the smoketest joined it"
    [(actor, joined_run)] = stack.query("SELECT actor, detail->>'run_id' FROM audit_log"
                                        " WHERE action = 'join'")
    assert (actor, joined_run) == ("U0HUMAN002", runs[-1])
    superseded = [m for m in stack.emulator.messages(CHANNEL) if "superseded" in m.text]
    assert len(superseded) == 4, "each superseded deploy is said so once"


@pytest.mark.parametrize("deploy_stack", [{"window": "2s"}], indirect=True)
def test_a_deploy_waiting_out_its_window_outlives_the_web_process_that_took_it(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    with stack.another_web_app(SMOKEBOT_GITHUB_WEBHOOK_SECRET=GITHUB_SECRET) as url:
        body = to_body(github_deployment_status(sha=SHA, version="v6.0.0", deployment_id=901))
        response = httpx.post(f"{url}/webhooks/github", content=body, timeout=10,
                              headers=github_headers(GITHUB_SECRET, body, delivery="d-restart"))
        run_id = accepted(response)
    # That web process is gone, before the window ended; a worker comes up after it.
    stack.start_worker()

    settled_summary(stack, run_id)
    [(waited,)] = stack.query("SELECT extract(epoch FROM started_at - created_at) FROM runs"
                              " WHERE id = %s", (run_id,))
    assert waited >= 2, "the run still waited out its coalescing window"


@pytest.mark.parametrize("deploy_stack", [{"extra_checks": SLOW_CHECK}], indirect=True)
def test_a_deploy_during_a_run_supersedes_it_and_its_summary_says_so(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()
    older = accepted(deploy_stack.github("d-running", sha="d" * 40, version="v4.0.0",
                                         deployment_id=601))
    stack.wait_for(lambda: summary_of(stack, older), what="the first deploy's summary")

    newer = accepted(deploy_stack.github("d-after", sha="e" * 40, version="v4.0.1",
                                         deployment_id=602))

    stack.wait_for(lambda: finished(stack, older), what="the first run to be superseded")
    assert run_of(stack, older)[0] == "superseded"

    def says_superseded() -> Message | None:
        summary = summary_of(stack, older)
        return summary if summary is not None and "superseded" in header(summary) else None
    summary = stack.wait_for(says_superseded, what="the first summary to say superseded")
    assert header(summary) == ":fast_forward: Deploy of v4.0.0 to staging: smoke tests superseded"
    assert "a newer deploy of the environment replaced this run" in message_text(summary)
    assert not any("rerun" in json.dumps(b) for b in summary.blocks), \
        "a superseded run offers no re-run of what is no longer deployed"
    newer_summary = settled_summary(stack, newer)
    assert header(newer_summary) == ":x: Deploy of v4.0.1 to staging: smoke tests failed"


# --- history ----------------------------------------------------------------------------------

def test_history_shows_deploy_runs_with_their_version(deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()
    run_id = accepted(deploy_stack.github("d-history", sha=SHA, version="v2.8.1",
                                          deployment_id=777))
    settled_summary(stack, run_id)

    reply = stack.send(stack.slack.slash_command("history staging")).json()
    assert reply["response_type"] == "ephemeral"
    text = message_text(reply)
    assert "GitHub deployment 777 of acme/shop to staging" in text
    assert "version `v2.8.1`" in text
    assert f"https://smokebot-test.slack.com/archives/{CHANNEL}/p" in text, \
        "the line links to its thread, in the workspace"

    cli = subprocess.run([sys.executable, "-m", "bot", "history", "staging"], check=False,
                         cwd=ROOT, env={**os.environ, **stack.env}, capture_output=True,
                         text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    columns, *lines = cli.stdout.splitlines()
    assert columns.split() == ["When", "Run", "Environment", "Status", "Passed", "Failed",
                              "Trigger"]
    assert len(lines) == 1
    assert f"  {run_id[:8]}  staging      failed           0/2       2  GitHub deployment 777 " \
           "of acme/shop to staging  version v2.8.1  thread " \
           f"https://smokebot-test.slack.com/archives/{CHANNEL}/p" in lines[0]

    # No webhook secret reached Slack or the store.
    everything = json.dumps([c.params for c in stack.emulator.calls()]) + "\n".join(
        str(row) for table in ("runs", "webhook_deliveries", "slack_messages", "check_results")
        for row in stack.query(f"SELECT t::text FROM {table} t"))
    assert GITHUB_SECRET not in everything and DEPLOY_SECRET not in everything


# --- a deploy whose run cannot be carried out -----------------------------------------------

def test_a_deploy_run_that_cannot_be_planned_says_so_in_the_channel(
        deploy_stack: DeployStack) -> None:
    stack = deploy_stack.stack
    stack.start_worker()

    # The version check needs ${deploy.commit}; this deploy gives a version only.
    run_id = accepted(deploy_stack.generic(environment="staging", version="1.5.0", commit=None))

    stack.wait_for(lambda: finished(stack, run_id), what="the run to end")
    status, _, _, _, reason, _ = run_of(stack, run_id)
    assert status == "error"
    assert reason.startswith("the suite could not be planned: ")
    notice = stack.wait_for(lambda: [m for m in stack.emulator.messages(CHANNEL)
                                     if "1.5.0" in m.text], what="a message about the deploy")
    assert len(notice) == 1
    assert header(notice[0]) == ":boom: Deploy of 1.5.0 to staging: smoke tests could not run"
    assert ("the deploy that triggered this run did not give 'commit'; expected one of: "
            "deployer, link, ref, source, url, version" in notice[0].text)
