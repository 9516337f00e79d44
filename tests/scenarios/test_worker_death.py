"""A worker SIGKILLed mid-run: another worker's reaper ends the run as interrupted within
60 s and says so on the summary and in its thread; the run is never left "running"."""

from __future__ import annotations

import signal
import time

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import message_text, run_rows, slow_suite, summary_ts


def test_run_of_a_killed_worker_is_marked_interrupted_and_announced(bot_stack: BotStack) -> None:
    bot_stack.write_suite(slow_suite(bot_stack, seconds=60))
    workers = {w.pid: w for w in (bot_stack.start_worker(), bot_stack.start_worker())}
    ack = bot_stack.send(bot_stack.slack.slash_command("staging")).json()
    assert "Queued a smoke test of staging" in ack["text"]

    def running_with_progress() -> tuple[str, str] | None:
        rows = bot_stack.query(
            "SELECT r.id::text, r.worker_id FROM runs r WHERE r.status = 'running'"
            " AND EXISTS (SELECT 1 FROM check_results c WHERE c.run_id = r.id)")
        return rows[0] if rows else None

    run_id, worker_id = bot_stack.wait_for(running_with_progress, what="the run to be going")
    ts = bot_stack.wait_for(lambda: summary_ts(bot_stack, run_id), what="the summary")
    victim = workers[int(worker_id.split(":")[-2])]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=5)
    killed_at = time.monotonic()

    def status() -> str:
        return bot_stack.query("SELECT status FROM runs WHERE id = %s", (run_id,))[0][0]

    bot_stack.wait_for(lambda: status() == "interrupted", timeout=60,
                       what="the run to be marked interrupted")
    assert time.monotonic() - killed_at < 60
    reason = bot_stack.query("SELECT status_reason FROM runs WHERE id = %s", (run_id,))[0][0]
    assert reason.startswith(f"its worker ({worker_id}) stopped responding; last heartbeat ")

    def summary_says_interrupted() -> bool:
        return "interrupted" in bot_stack.emulator.message(CHANNEL, ts).text

    bot_stack.wait_for(summary_says_interrupted, what="the summary to say interrupted")
    summary = bot_stack.emulator.message(CHANNEL, ts)
    assert summary.text.startswith("Smoke test of staging interrupted: stopped after 1 of 2 "
                                   "checks, 1 failed: its worker (")
    assert ":warning: Smoke test: staging interrupted" in message_text(summary)

    def notice() -> object:
        return next((m for m in bot_stack.emulator.thread(CHANNEL, ts)
                     if "was interrupted" in m.text), None)

    posted = bot_stack.wait_for(notice, what="the interruption notice in the thread")
    assert posted.text.startswith(f"Run {run_id[:8]} of staging was interrupted: its worker (")
    assert '"action_id": "rerun_all"' in message_text(posted)

    # Nothing runs it again, and the environment is free for the next run.
    assert [row[1] for row in run_rows(bot_stack)] == ["interrupted"]
    survivor = next(w for pid, w in workers.items() if w is not victim)
    assert survivor.poll() is None
    again = bot_stack.send(bot_stack.slack.slash_command("staging")).json()
    assert "Queued a smoke test of staging" in again["text"], again
    second = bot_stack.wait_for(lambda: len(run_rows(bot_stack)) == 2 and run_rows(bot_stack)[1],
                                what="the second run")
    bot_stack.send(bot_stack.slack.slash_command("cancel staging"))
    bot_stack.wait_for(lambda: bot_stack.query("SELECT status FROM runs WHERE id = %s",
                                               (second[0],))[0][0] == "cancelled",
                       what="the second run to be cancelled")


def test_interruption_is_announced_once_slack_is_back_when_slack_was_down(
        bot_stack: BotStack) -> None:
    bot_stack.write_suite(slow_suite(bot_stack, seconds=60))
    workers = {w.pid: w for w in (bot_stack.start_worker(), bot_stack.start_worker())}
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    run_id, worker_id = bot_stack.wait_for(
        lambda: bot_stack.query("SELECT id::text, worker_id FROM runs WHERE status = 'running'"),
        what="the run to start")[0]
    ts = bot_stack.wait_for(lambda: summary_ts(bot_stack, run_id), what="the summary")

    bot_stack.emulator.begin_outage(503)
    workers[int(worker_id.split(":")[-2])].send_signal(signal.SIGKILL)
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT status FROM runs WHERE id = %s", (run_id,))[0][0] == "interrupted",
        timeout=60, what="the run to be marked interrupted")
    bot_stack.wait_for(lambda: bot_stack.query(
        "SELECT count(*) FROM outbox_messages WHERE run_id = %s AND delivered_at IS NULL",
        (run_id,))[0][0], what="the announcement to wait in the outbox")
    assert "interrupted" not in bot_stack.emulator.message(CHANNEL, ts).text

    bot_stack.emulator.end_outage()
    bot_stack.wait_for(lambda: bot_stack.emulator.message(CHANNEL, ts).text.startswith(
        "Smoke test of staging interrupted"), timeout=45,
        what="the summary to say interrupted once Slack is back")
    bot_stack.wait_for(lambda: [m for m in bot_stack.emulator.thread(CHANNEL, ts)
                                if "was interrupted" in m.text],
                       what="the interruption notice in the thread")
