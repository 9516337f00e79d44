"""Two hundred runs while about a fifth of Slack's answers are faults, end to end: signed
`/smoketest` commands to the real web app, two worker processes, the machine's PostgreSQL and
Redis. Slack rate-limits (429), fails before doing anything (503) and fails after doing it
(500 once the post was made: the deliverer cannot tell, and must look in Slack before posting
again). Afterwards every run has exactly one summary showing its verdict, one failure reply and
one report in its thread, each recorded once, and no message given up: none lost, none twice.

Runs of one environment join each other when they overlap, so the commands go to twenty
environments, each sent its next command only once its previous run has ended: every command
starts a run of its own (its ack says "Queued", never "joined")."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter, defaultdict

import httpx
import pytest

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.support.slack_emulator import Message

RUNS = 200
ENVIRONMENTS = [f"env{n:02d}" for n in range(20)]
STARTED = re.compile(r"^Queued a smoke test of (env\d\d) \(run ([0-9a-f]{8})\); the summary "
                     r"appears in this channel\.$")
RUN_IN_CONTEXT = re.compile(r"Run `([0-9a-f]{8})`")
# Coprime periods, so the faults land on every kind of call: 1/12 + 1/13 + 1/17 less their
# overlaps is about 20 % of Web API calls (the first fault listed wins a shared call).
FAULTS = ((12, 429, False), (13, 503, False), (17, 500, True))


def _soak_suite(stack: BotStack) -> str:
    environments = "".join(f"""\
  {name}:
    variables: {{aux_url: "{stack.aux_url}"}}
    slack: {{channel: {CHANNEL}}}
""" for name in ENVIRONMENTS)
    return f"""\
suite: soak
defaults: {{timeout: 5s, retries: 0}}
environments:
{environments}categories:
  - name: Soak
    checks:
      - id: fine
        name: Fine endpoint
        type: http
        url: ${{aux_url}}/slow?seconds=0
      - id: broken
        name: Broken endpoint
        type: http
        url: ${{aux_url}}/echo
"""


async def _send_all(stack: BotStack, environments: list[str]) -> list[str]:
    """One signed `/smoketest <env>` per environment, all at once; the acks' texts."""
    requests = [stack.slack.slash_command(env, user_id=f"U0SOAK{n:03d}", channel_id=CHANNEL)
                for n, env in enumerate(environments)]
    async with httpx.AsyncClient(timeout=30) as client:
        responses = await asyncio.gather(*(
            client.post(f"{stack.web_url}/slack/events", content=r.body, headers=r.headers)
            for r in requests))
    assert [r.status_code for r in responses] == [200] * len(requests)
    return [r.json()["text"] for r in responses]


def _send_rolling(stack: BotStack, runs: int) -> dict[str, str]:
    """Sends `runs` commands, round-robin over the environments, each environment's next one
    once its previous run has ended; returns each run's short id -> its environment."""
    started: dict[str, str] = {}
    sent = Counter[str]()
    going: dict[str, str] = {}  # environment -> the short id of its run not ended yet
    deadline = time.monotonic() + 180
    while len(started) < runs:
        assert time.monotonic() < deadline, f"only {len(started)} of {runs} runs started"
        if going:
            active = {short for (short,) in stack.query(
                "SELECT left(id::text, 8) FROM runs WHERE status IN ('queued', 'running')")}
            going = {env: short for env, short in going.items() if short in active}
        ready = [env for env in ENVIRONMENTS
                 if env not in going and sent[env] < runs // len(ENVIRONMENTS)]
        if not ready:
            time.sleep(0.05)
            continue
        for env, text in zip(ready, asyncio.run(_send_all(stack, ready)), strict=True):
            match = STARTED.match(text)
            assert match is not None and match.group(1) == env, text  # started, not joined
            started[match.group(2)] = env
            going[env] = match.group(2)
            sent[env] += 1
    return started


def _pending(stack: BotStack) -> int:
    [(pending,)] = stack.query("SELECT count(*) FROM outbox_messages"
                               " WHERE delivered_at IS NULL AND gave_up_at IS NULL")
    return pending


def _runs_going(stack: BotStack) -> int:
    [(going,)] = stack.query("SELECT count(*) FROM runs WHERE status IN ('queued', 'running')")
    return going


def _run_of(message: Message) -> str | None:
    found = {m.group(1) for m in RUN_IN_CONTEXT.finditer(str(message.blocks))}
    assert len(found) <= 1, message
    return found.pop() if found else None


# About 40 s on an idle 2-core machine; twice that when other suites share it.
@pytest.mark.timeout(300)
def test_two_hundred_runs_through_slack_faults_lose_nothing_and_post_nothing_twice(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(_soak_suite(bot_stack))
    workers = [bot_stack.start_worker(), bot_stack.start_worker()]
    for worker in workers:
        bot_stack.wait_for(lambda w=worker: " started: " in bot_stack.worker_stderr(w),
                           what="the worker to take runs")
    for every, status, after_processing in FAULTS:
        bot_stack.emulator.inject_periodic(every, status, after_processing=after_processing)

    started = _send_rolling(bot_stack, RUNS)
    bot_stack.wait_for(lambda: _runs_going(bot_stack) == 0, timeout=90, what="every run to end")
    # Still under faults: a message left to the outbox loop waits out a backoff of up to 60 s.
    bot_stack.wait_for(lambda: _pending(bot_stack) == 0, timeout=90,
                       what="the outbox to deliver everything under faults")
    bot_stack.emulator.clear_faults()

    assert len(started) == RUNS
    calls = bot_stack.emulator.calls()
    api = [c for c in calls if c.method not in ("upload_url", "response_url")]
    faults = Counter(c.status for c in api if c.status != 200)
    assert set(faults) == {429, 500, 503}, faults
    assert 0.15 < sum(faults.values()) / len(api) < 0.25, (faults, len(api))

    runs = {short: (run_id, env, status) for run_id, short, env, status in bot_stack.query(
        "SELECT id::text, left(id::text, 8), environment, status FROM runs")}
    assert sorted(runs) == sorted(started), "one run per command, none more"
    assert {short: env for short, (_, env, _) in runs.items()} == started
    assert Counter(status for _, _, status in runs.values()) == {"failed": RUNS}

    [(gave_up,)] = bot_stack.query("SELECT count(*) FROM outbox_messages"
                                   " WHERE gave_up_at IS NOT NULL")
    assert gave_up == 0
    outbox = Counter((run_id, kind) for run_id, kind in bot_stack.query(
        "SELECT run_id::text, kind FROM outbox_messages WHERE delivered_at IS NOT NULL"))
    recorded: dict[str, dict[str, list[tuple[str, str | None]]]] = defaultdict(
        lambda: defaultdict(list))
    for run_id, kind, ts, check_id in bot_stack.query(
            "SELECT run_id::text, kind, ts, check_id FROM slack_messages"):
        recorded[run_id][kind].append((ts, check_id))

    top_level = bot_stack.emulator.messages(CHANNEL)
    summaries = Counter(_run_of(m) for m in top_level)
    assert summaries == Counter(dict.fromkeys(started, 1)), {
        short: n for short, n in summaries.items() if n != 1 or short not in started}
    by_ts = {m.ts: m for m in top_level}
    shared_files = {f.id: f for f in bot_stack.emulator.files() if f.shares}

    for short, env in started.items():
        run_id = runs[short][0]
        assert outbox[(run_id, "summary")] == 2  # the first summary, then the final one
        assert outbox[(run_id, "failure_reply")] == outbox[(run_id, "report")] == 1
        kinds = recorded[run_id]
        assert {kind: len(rows) for kind, rows in kinds.items()} == {
            "summary": 1, "failure_reply": 1, "report": 1}, (short, dict(kinds))
        [(summary_ts, _)] = kinds["summary"]
        summary = by_ts[summary_ts]
        assert _run_of(summary) == short
        assert summary.text.startswith(f"Smoke test of {env} failed: "), summary.text
        assert "1 of 2 checks failed" in summary.text, summary.text

        thread = bot_stack.emulator.thread(CHANNEL, summary_ts)
        replies = [m for m in thread if not m.files]
        assert [m.text.split(":", 1)[0] for m in replies] == [
            "Broken endpoint (broken) failed"], (short, [m.text for m in thread])
        assert kinds["failure_reply"] == [(replies[0].ts, "broken")]
        reports = [m for m in thread if m.files]
        assert len(reports) == 1 and len(reports[0].files) == 1, (short, len(reports))
        file_id = reports[0].files[0]["id"]
        assert kinds["report"][0][0] == f"file:{file_id}"
        assert shared_files[file_id].shares == [(CHANNEL, reports[0].ts)]
    assert len(shared_files) == RUNS

