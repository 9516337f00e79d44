"""A hundred people typing `/smoketest staging` at the same moment, end to end: signed requests
to the real web app, two worker processes (up to four runs at once), the machine's PostgreSQL
and Redis. The store decides join-or-start under the environment's lock, so staging never has
two runs at once: every request starts the run or joins the one going.

Once, each of these requests started a run of its own: the Redis claim that was to make the
others join was taken after the run row was written and not checked when taken again."""

from __future__ import annotations

import asyncio
import itertools
import re

import httpx
import pytest

from bot.store import Run, RunStatus, Store
from tests.scenarios.conftest import CHANNEL, BotStack
from tests.support.slack_requests import SignedRequest

PEOPLE = 100
STARTED = re.compile(r"^Queued a smoke test of staging \(run ([0-9a-f]{8})\); the summary "
                     r"appears in this channel\.$")
JOINED = "staging is already being smoke-tested; you joined that run."

SUITE = """\
suite: scenario
defaults: {{timeout: 10s}}
environments:
  staging:
    variables: {{aux_url: "{aux_url}"}}
    slack: {{channel: {channel}}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: slow
        name: Slow endpoint
        type: http
        url: ${{aux_url}}/slow?seconds={seconds}
"""


async def send_all(stack: BotStack, requests: list[SignedRequest], *,
                   spread_s: float) -> list[httpx.Response]:
    """Sends every request at once, or the n-th `n * spread_s / len(requests)` seconds in."""
    limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def send(n: int, request: SignedRequest) -> httpx.Response:
            await asyncio.sleep(n * spread_s / len(requests))
            return await client.post(f"{stack.web_url}/slack/events", content=request.body,
                                     headers=request.headers)
        return await asyncio.gather(*(send(n, r) for n, r in enumerate(requests)))


async def recent_runs(stack: BotStack) -> list[Run]:
    async with Store.open(stack.dsn, stack.schema) as store:
        return await store.recent_runs("staging", limit=PEOPLE + 1)


# 90 ms runs, with the requests spread over 2 s: runs end while requests keep coming, so each
# request meets a run going, one just ended, or none. 3 s runs: all requests meet the first.
@pytest.mark.parametrize(("seconds", "spread_s"), [(0.09, 2.0), (3, 0.0)],
                         ids=["90ms-runs-over-2s", "3s-run-all-at-once"])
def test_a_hundred_requests_start_runs_one_at_a_time_and_the_rest_join(
        bot_stack: BotStack, seconds: float, spread_s: float) -> None:
    bot_stack.write_suite(SUITE.format(aux_url=bot_stack.aux_url, channel=CHANNEL,
                                       seconds=seconds))
    for worker in [bot_stack.start_worker(), bot_stack.start_worker()]:
        bot_stack.wait_for(lambda w=worker: " started: " in bot_stack.worker_stderr(w),
                           what="the worker to take runs")
    requests = [bot_stack.slack.slash_command("staging", user_id=f"U0LOAD{n:03d}",
                                              channel_id=CHANNEL) for n in range(PEOPLE)]

    responses = asyncio.run(send_all(bot_stack, requests, spread_s=spread_s))

    assert [r.status_code for r in responses] == [200] * PEOPLE
    texts = [r.json()["text"] for r in responses]
    started = [m.group(1) for m in map(STARTED.match, texts) if m]
    joined = [text for text in texts if text == JOINED]
    assert len(started) + len(joined) == PEOPLE, [
        t for t in texts if t != JOINED and not STARTED.match(t)]
    assert len(started) == len(set(started)) >= 1

    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")[0][0] == 0,
        timeout=30, what="every run to end")
    runs = asyncio.run(recent_runs(bot_stack))
    assert [run.status for run in runs] == [RunStatus.PASSED] * len(started), \
        "no superseded, errored or cancelled runs: a joined request leaves no row"
    assert sorted(str(run.id)[:8] for run in runs) == sorted(started)
    runs.sort(key=lambda run: run.started_at)
    for earlier, later in itertools.pairwise(runs):
        assert earlier.finished_at <= later.started_at, (
            f"runs {earlier.id} and {later.id} of staging overlapped")
    if spread_s:
        assert len(runs) > 1, "runs were to end while requests kept coming"
    else:  # every request came while the first run was going
        assert len(runs) == 1

    joins = bot_stack.query("SELECT actor, detail->>'run_id' FROM audit_log"
                            " WHERE action = 'join'")
    assert len(joins) == len(joined)
    assert {run_id for _, run_id in joins} <= {str(run.id) for run in runs}
    assert len({actor for actor, _ in joins}) == len(joined), "one join per person"
