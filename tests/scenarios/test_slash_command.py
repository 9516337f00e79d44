"""`/smoketest staging` end to end: Slack -> web -> Redis -> worker -> PostgreSQL -> Slack."""

from __future__ import annotations

import json

import psycopg

from tests.scenarios.conftest import CHANNEL, BotStack


def _final_summary(stack: BotStack) -> object:
    for message in stack.emulator.messages(CHANNEL):
        if "FAILED" in message.text.upper() or "PASSED" in message.text.upper():
            return message
    return None


def test_smoketest_posts_summary_updates_it_and_threads_the_failure(bot_stack: BotStack) -> None:
    bot_stack.start_worker()
    response = bot_stack.send(bot_stack.slack.slash_command("staging"))
    assert response.status_code == 200
    ack = response.json()
    assert ack["response_type"] == "ephemeral"
    assert "Queued a smoke test of staging" in ack["text"]

    summary = bot_stack.wait_for(lambda: _final_summary(bot_stack), what="the final summary")
    parents = [m for m in bot_stack.emulator.messages(CHANNEL) if not m.thread_ts]
    assert len(parents) == 1, "one parent message per run"
    assert bot_stack.emulator.calls("chat.update"), "the summary is updated in place"
    replies = bot_stack.wait_for(lambda: bot_stack.emulator.thread(CHANNEL, summary.ts),
                                 what="the failure reply")
    failure_replies = [r for r in replies if "health" in r.text.lower()]
    assert len(failure_replies) == 1
    reply_text = failure_replies[0].text + json.dumps(failure_replies[0].blocks,
                                                       ensure_ascii=False)
    assert 'services.ai_providers.openai: expected "healthy", got "degraded"' in reply_text
    assert not any("Deployed version" in r.text for r in replies), "passing checks get no reply"
    bot_stack.wait_for(lambda: bot_stack.emulator.files(), what="the Markdown report upload")

    with psycopg.connect(bot_stack.dsn) as conn:
        status, failed = conn.execute(
            f"SELECT status, failed_count FROM {bot_stack.schema}.runs").fetchone()
    assert (status, failed) == ("failed", 1)

    # Re-run failed: only the failing check runs again, into the same thread.
    click = bot_stack.slack.block_actions(action_id="rerun_failed", message_ts=summary.ts,
                                          channel_id=CHANNEL)
    assert bot_stack.send(click).status_code == 200

    def rerun_summary() -> object:
        for reply in bot_stack.emulator.thread(CHANNEL, summary.ts):
            if "1/1" in reply.text or ("FAILED" in reply.text.upper() and reply.blocks
                                       and "rerun_failed" in json.dumps(reply.blocks)):
                return reply
        return None

    bot_stack.wait_for(rerun_summary, what="the re-run's summary in the thread")
    with psycopg.connect(bot_stack.dsn) as conn:
        rows = conn.execute(
            f"SELECT trigger_kind, filters, rerun_of IS NOT NULL FROM {bot_stack.schema}.runs "
            "ORDER BY created_at").fetchall()
    assert rows[1] == ("button", ["health"], True)


def test_forged_slash_command_gets_401_and_queues_nothing(bot_stack: BotStack) -> None:
    request = bot_stack.slack.slash_command("staging")
    for forged in (request.with_bad_signature(), request.stale(), request.without_signature_headers()):
        assert bot_stack.send(forged).status_code == 401
    with psycopg.connect(bot_stack.dsn) as conn:
        exists = conn.execute("SELECT to_regclass(%s)", [f"{bot_stack.schema}.runs"]).fetchone()[0]
        count = conn.execute(f"SELECT count(*) FROM {bot_stack.schema}.runs").fetchone()[0] \
            if exists else 0
    assert count == 0


def test_unknown_environment_gets_an_ephemeral_error_listing_choices(bot_stack: BotStack) -> None:
    body = bot_stack.send(bot_stack.slack.slash_command("stagin")).json()
    assert body["response_type"] == "ephemeral"
    assert "unknown environment 'stagin'; expected one of: staging, production" in body["text"]


def test_production_asks_for_confirmation(bot_stack: BotStack) -> None:
    body = bot_stack.send(bot_stack.slack.slash_command("production")).json()
    assert "confirm_run" in json.dumps(body["blocks"])
    refused = bot_stack.send(bot_stack.slack.slash_command("production", user_id="U0OTHER02")).json()
    assert "Not allowed" in refused["text"]
