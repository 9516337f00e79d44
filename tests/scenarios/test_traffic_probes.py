"""Traffic probes across processes and through the whole bot, with the test-only probe kind
(tests/support/traffic_probe.py):

- workers in separate processes sharing a Redis key prefix, each executing a run with a probe,
  released at the same moment: the probes of one environment take turns, those of another
  environment run alongside (each process keeps its runs in a store schema of its own, so that
  two runs of one environment can be active at once, as with a run superseded while its probe
  still runs, or a CLI and a worker);
- the production refusal through Slack: in an environment marked production that allows
  probes, `/smoketest` confirmed with the button runs the probe; where the environment does
  not ask for the button, the run's thread says why the probe was refused.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.scenarios.conftest import CHANNEL, ROOT, BotStack
from tests.scenarios.scenario_support import message_text, outbox_drained
from tests.support.services import redis_url, unique_prefix
from tests.support.traffic_probe import registered

RACE_SUITE = """\
suite: race
environments:
  staging: {}
  qa: {}
categories:
  - name: Load
    checks:
      - id: api-load
        name: API load
        type: test.traffic
        seconds: 0.8
"""

SLACK_SUITE = f"""\
suite: probes
environments:
  production:
    production: true
    traffic: {{allow: true}}
    slack: {{channel: {CHANNEL}, confirm: true, allowed_users: [U0HUMAN001]}}
  prod-unconfirmed:
    production: true
    traffic: {{allow: true}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: Load
    checks:
      - id: api-load
        name: API load
        type: test.traffic
        seconds: 0.3
"""


@pytest.fixture(autouse=True)
def traffic_kind() -> Iterator[None]:
    with registered():  # the web process in this one parses the suite too
        yield


def _racer(environment: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.support.traffic_probe import execute_one; "
                               "execute_one()", environment],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def test_workers_sharing_redis_take_turns_per_environment_and_not_across(
        pg_dsn: str, tmp_path: Path) -> None:
    suite = tmp_path / "race.yaml"
    suite.write_text(RACE_SUITE, encoding="utf-8")
    shared = {"DATABASE_URL": pg_dsn, "REDIS_URL": redis_url(), "SMOKEBOT_CONFIG": str(suite),
              "SMOKEBOT_KEY_PREFIX": unique_prefix("race")}
    racers = {"staging-1": _racer("staging", {**shared, "SMOKEBOT_DB_SCHEMA": "bot_one"}),
              "staging-2": _racer("staging", {**shared, "SMOKEBOT_DB_SCHEMA": "bot_two"}),
              "qa": _racer("qa", {**shared, "SMOKEBOT_DB_SCHEMA": "bot_one"})}
    windows: dict[str, dict[str, Any]] = {}
    try:
        for name, racer in racers.items():
            assert racer.stdout is not None
            assert racer.stdout.readline() == b"ready\n", f"{name} did not start"
        for racer in racers.values():  # released together
            assert racer.stdin is not None
            racer.stdin.write(b"go\n")
            racer.stdin.flush()
        for name, racer in racers.items():
            out, _ = racer.communicate(timeout=30)
            assert racer.returncode == 0, f"{name} failed"
            windows[name] = json.loads(out.decode().strip().splitlines()[-1])
    finally:
        for racer in racers.values():
            if racer.poll() is None:
                racer.send_signal(signal.SIGKILL)
                racer.wait()
    assert {w["status"] for w in windows.values()} == {"pass"}
    first, second = sorted((windows["staging-1"], windows["staging-2"]),
                           key=lambda w: w["entered"])
    assert second["entered"] >= first["left"], "two probes of staging overlapped"
    assert second["entered"] - first["left"] < 1.0  # and the waiter went soon after
    qa = windows["qa"]
    assert qa["entered"] < first["left"] and first["entered"] < qa["left"], \
        "a probe of qa waited for staging's"


def _worker(stack: BotStack) -> subprocess.Popen[bytes]:
    """`smokebot worker` with the probe kind registered."""
    log = (stack.logs_dir / "traffic-worker.stderr").open("wb")
    return subprocess.Popen(
        [sys.executable, "-c", "from tests.support.traffic_probe import worker_main; "
                               "worker_main()"],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), **stack.env},
        stdout=subprocess.DEVNULL, stderr=log)


def _results(stack: BotStack, environment: str) -> list[tuple[Any, ...]]:
    return stack.query("SELECT r.confirmed, c.status, c.summary FROM runs r JOIN check_results c"
                       " ON c.run_id = r.id WHERE r.environment = %s AND r.status NOT IN"
                       " ('queued', 'running')", (environment,))


def test_production_probes_from_slack_run_only_after_the_confirmation_button(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(SLACK_SUITE)
    worker = _worker(bot_stack)
    try:
        asked = bot_stack.send(bot_stack.slack.slash_command("production")).json()
        assert asked["text"] == "Confirm: run the smoke tests on production?"
        ephemeral = {"type": "message", "ts": "1700000000.000100", "text": asked["text"],
                     "blocks": asked["blocks"]}
        click = bot_stack.slack.block_actions(action_id="confirm_run",
                                              message_ts=ephemeral["ts"], message=ephemeral)
        assert bot_stack.send(click).status_code == 200
        [(confirmed, status, summary)] = bot_stack.wait_for(
            lambda: _results(bot_stack, "production"), what="the confirmed run to end")
        assert (confirmed, status) == (True, "pass")
        assert summary.startswith("held production for ")

        queued = bot_stack.send(bot_stack.slack.slash_command("prod-unconfirmed")).json()
        assert "Queued a smoke test of prod-unconfirmed" in queued["text"]
        [(confirmed, status, summary)] = bot_stack.wait_for(
            lambda: _results(bot_stack, "prod-unconfirmed"), what="the unconfirmed run to end")
        assert (confirmed, status) == (False, "error")
        assert "a traffic probe started from Slack runs there only after the production " \
               "confirmation button" in summary
        bot_stack.wait_for(lambda: outbox_drained(bot_stack), what="the runs' messages")
        refused = next(m for m in bot_stack.emulator.messages(CHANNEL)
                       if "prod-unconfirmed" in m.text)
        assert refused.text == ("Smoke test of prod-unconfirmed failed: 1 of 1 check failed "
                                "(1 could not run)")
        thread = [message_text(m) for m in bot_stack.emulator.thread(CHANNEL, refused.ts)]
        assert any("refused: environment 'prod-unconfirmed' is marked production" in text
                   for text in thread), thread
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
