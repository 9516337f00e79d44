"""`smokebot run` and the bot's traffic-probe lock: with REDIS_URL set, the CLI's probe waits
for the environment's lock under SMOKEBOT_KEY_PREFIX in that Redis, as the bot's workers do
(here a lock left by a holder that died, which expires); without it, the CLI's probes take
turns within the process only, and a Redis lock means nothing to it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from click.testing import CliRunner, Result

from bot.cli import cli
from tests.support.services import redis_url, unique_prefix
from tests.support.traffic_probe import registered

SUITE = """\
suite: cli-traffic
environments:
  staging: {}
categories:
  - name: Load
    checks:
      - id: api-load
        name: API load
        type: test.traffic
        seconds: 0.2
"""
LEFT_FOR_S = 0.8


@pytest.fixture(autouse=True)
def traffic_kind() -> Iterator[None]:
    with registered():
        yield


@pytest.fixture
def prefix() -> Iterator[str]:
    name = unique_prefix("cli_traffic")
    yield name
    client = redis.Redis.from_url(redis_url())
    client.delete(f"{name}:traffic:staging")
    client.close()


def _left_behind(prefix: str) -> float:
    """A lock of staging whose holder died: it expires LEFT_FOR_S from now."""
    client = redis.Redis.from_url(redis_url())
    client.set(f"{prefix}:traffic:staging", "0123abcd|check 'api-load' of run gone",
               px=int(LEFT_FOR_S * 1000))
    client.close()
    return time.time()


def _run(tmp_path: Path, env: dict[str, str | None]) -> tuple[Result, dict[str, Any]]:
    suite = tmp_path / "smoke.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    report = tmp_path / "run.json"
    result = CliRunner().invoke(cli, ["run", "staging", "--config", str(suite), "--json",
                                      str(report)], prog_name="smokebot", env=env)
    [category] = json.loads(report.read_text(encoding="utf-8"))["categories"]
    [check] = category["checks"]
    return result, check


def test_with_redis_url_the_cli_waits_for_the_bots_lock_of_the_environment(
        tmp_path: Path, prefix: str) -> None:
    set_at = _left_behind(prefix)
    result, check = _run(tmp_path, {"REDIS_URL": redis_url(), "SMOKEBOT_KEY_PREFIX": prefix})
    assert result.exit_code == 0, result.output
    assert check["status"] == "pass"
    assert check["measurements"]["entered"] >= set_at + LEFT_FOR_S - 0.05


def test_without_redis_url_the_cli_does_not_look_at_redis(tmp_path: Path, prefix: str) -> None:
    set_at = _left_behind(prefix)
    result, check = _run(tmp_path, {"REDIS_URL": None, "SMOKEBOT_KEY_PREFIX": prefix})
    assert result.exit_code == 0, result.output
    assert check["measurements"]["entered"] < set_at + LEFT_FOR_S / 2


def test_a_malformed_redis_url_is_refused_before_the_run(tmp_path: Path) -> None:
    suite = tmp_path / "smoke.yaml"
    suite.write_text(SUITE, encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", "staging", "--config", str(suite)],
                                prog_name="smokebot",
                                env={"REDIS_URL": "http://:CANARY-pw@127.0.0.1:6379/0"})
    assert result.exit_code == 2
    assert "REDIS_URL (value not shown: it may hold a password): expected a URL starting " \
           "with redis:// or rediss:// or unix://; its scheme is 'http'" in result.output
    assert "CANARY" not in result.output and "Running" not in result.output
