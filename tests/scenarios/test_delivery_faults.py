"""A run with 40 failures while Slack rate-limits and fails, end to end through real worker
processes: every failure reply reaches the thread once, the report is attached, each reply is
recorded; and the same with the delivering worker SIGKILLed half-way: another worker delivers
the rest, still nothing twice."""

from __future__ import annotations

import signal
from collections import Counter

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import summary_ts

FAILURES = 40


def _failing_suite(stack: BotStack, failures: int = FAILURES) -> str:
    checks = "".join(f"""\
      - id: broken-{n:02d}
        name: Broken endpoint {n:02d}
        type: http
        url: ${{aux_url}}/echo?n={n}
""" for n in range(failures))
    return f"""\
suite: scenario
defaults: {{timeout: 5s, retries: 0}}
environments:
  staging:
    variables: {{aux_url: "{stack.aux_url}"}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: Broken
    checks:
{checks}"""


def _run_id(stack: BotStack) -> str:
    return stack.wait_for(lambda: (stack.query("SELECT id::text FROM runs") or [[None]])[0][0],
                          what="the run")


def _delivered(stack: BotStack, run_id: str) -> bool:
    """The run has ended (its report is in the outbox: the last of what it owes Slack) and
    nothing of it is pending."""
    [(pending, reports)] = stack.query(
        "SELECT count(*) FILTER (WHERE delivered_at IS NULL AND gave_up_at IS NULL),"
        " count(*) FILTER (WHERE kind = 'report') FROM outbox_messages WHERE run_id = %s",
        (run_id,))
    return reports == 1 and pending == 0


def _assert_thread_complete(stack: BotStack, run_id: str, failures: int = FAILURES) -> None:
    parent = summary_ts(stack, run_id)
    assert parent is not None
    thread = stack.emulator.thread(CHANNEL, parent)
    replies = Counter(m.text.split(":", 1)[0] for m in thread if "Broken endpoint" in m.text)
    assert len(replies) == failures, sorted(replies)
    assert set(replies.values()) == {1}, [t for t, n in replies.items() if n > 1]  # none twice
    shared = [f for f in stack.emulator.files() if f.shares]
    assert len(shared) == 1 and len(shared[0].shares) == 1
    [(recorded,)] = stack.query("SELECT count(DISTINCT check_id) FROM slack_messages"
                                " WHERE run_id = %s AND kind = 'failure_reply'", (run_id,))
    assert recorded == failures
    [(gave_up,)] = stack.query("SELECT count(*) FROM outbox_messages WHERE run_id = %s"
                               " AND gave_up_at IS NOT NULL", (run_id,))
    assert gave_up == 0
    assert f"{failures} of {failures} checks failed" in stack.emulator.message(CHANNEL, parent).text


def test_forty_failures_reach_the_thread_once_while_slack_rate_limits_and_fails(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(_failing_suite(bot_stack))
    bot_stack.start_worker()
    bot_stack.emulator.inject_periodic(2, 429, retry_after=0)
    bot_stack.emulator.inject_periodic(7, 503)
    ack = bot_stack.send(bot_stack.slack.slash_command("staging")).json()
    assert "Queued a smoke test of staging" in ack["text"]
    run_id = _run_id(bot_stack)
    bot_stack.wait_for(lambda: _delivered(bot_stack, run_id), timeout=90,
                       what="every message of the run delivered")
    _assert_thread_complete(bot_stack, run_id)


def test_a_worker_killed_while_delivering_leaves_the_rest_to_another_without_doubles(
        bot_stack: BotStack) -> None:
    failures = 15
    bot_stack.write_suite(_failing_suite(bot_stack, failures))
    lease = {"SMOKEBOT_DELIVERY_LEASE": "2"}
    first = bot_stack.start_worker(lease)
    # Slow delivery down (every 3rd call waits out a 1 s Retry-After) and make every 5th
    # call one that Slack carries out but answers 500: kills can land mid-call, in doubt.
    bot_stack.emulator.inject_periodic(3, 429, retry_after=1)
    bot_stack.emulator.inject_periodic(5, 500, after_processing=True)
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    run_id = _run_id(bot_stack)

    def some_replies_posted() -> bool:
        parent = summary_ts(bot_stack, run_id)
        return parent is not None and len(bot_stack.emulator.thread(CHANNEL, parent)) >= 4

    bot_stack.wait_for(some_replies_posted, timeout=60, what="delivery to be under way")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=5)
    assert not _delivered(bot_stack, run_id)
    bot_stack.start_worker(lease)
    bot_stack.wait_for(lambda: _delivered(bot_stack, run_id), timeout=120,
                       what="the other worker to deliver the rest")
    _assert_thread_complete(bot_stack, run_id, failures)
