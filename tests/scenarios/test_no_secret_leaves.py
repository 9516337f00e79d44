"""A canary secret sent in a header (and in a query string) to a target that echoes it into a
failing check's evidence, and Stripe keys and a webhook signing secret that Stripe and an app
quote back: zero occurrences in anything Slack received, in the history store and in the
worker's stderr."""

from __future__ import annotations

import signal
import uuid

from tests.scenarios.conftest import CHANNEL, BotStack
from tests.scenarios.scenario_support import (
    final_summary,
    message_text,
    outbox_drained,
    run_rows,
)
from tests.support.stripe_fake import StripeFake
from tests.support.stripe_runs import leaks
from tests.support.stripe_webhook_app import PATH as WEBHOOK_PATH
from tests.support.stripe_webhook_app import WebhookApp


def _suite(stack: BotStack) -> str:
    return f"""\
suite: scenario
environments:
  staging:
    variables: {{aux_url: "{stack.aux_url}"}}
    secrets: {{api_token: {{env: SMOKE_CANARY_TOKEN}}}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: API
    checks:
      - id: echo-header
        name: Echo with a bearer token
        type: http
        url: ${{aux_url}}/echo
        headers: {{Authorization: "Bearer ${{secrets.api_token}}",
                   X-Api-Key: "${{secrets.api_token}}"}}
      - id: echo-query
        name: Echo with a token in the query
        type: http
        url: ${{aux_url}}/echo?api_key=${{secrets.api_token}}
"""


def _everything_in_the_store(stack: BotStack) -> str:
    tables = [row[0] for row in stack.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        (stack.schema,))]
    assert {"runs", "check_results", "slack_messages", "outbox_messages", "audit_log"} \
        <= set(tables)
    return "\n".join(str(row[0]) for table in tables
                     for row in stack.query(f'SELECT t::text FROM "{table}" t'))


def test_canary_secret_appears_nowhere_outside_the_worker(bot_stack: BotStack) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    bot_stack.write_suite(_suite(bot_stack))
    worker = bot_stack.start_worker({"SMOKE_CANARY_TOKEN": canary})
    bot_stack.send(bot_stack.slack.slash_command("staging"))
    summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
    assert summary.text.startswith("Smoke test of staging failed")
    replies = bot_stack.wait_for(
        lambda: (r := [m for m in bot_stack.emulator.thread(CHANNEL, summary.ts)
                       if "(echo-" in m.text and " failed" in m.text]) and len(r) == 2 and r,
        what="both failure replies")
    files = bot_stack.wait_for(lambda: [f for f in bot_stack.emulator.files() if f.content],
                               what="the report upload")
    worker.send_signal(signal.SIGTERM)
    worker.wait(timeout=30)

    # The target did get the secret and echoed it: the evidence shows where it was redacted.
    evidence = "\n".join(message_text(r) for r in replies)
    assert "Bearer [redacted (39 chars)]" in evidence
    assert run_rows(bot_stack)[0][1] == "failed"

    slack_calls = "\n".join(f"{c.method} {c.params}" for c in bot_stack.emulator.calls())
    slack_text = "\n".join(
        [slack_calls]
        + [message_text(m) for m in bot_stack.emulator.messages(CHANNEL)]
        + [message_text(m) for m in bot_stack.emulator.thread(CHANNEL, summary.ts)]
        + [e.text + str(e.blocks) for e in bot_stack.emulator.ephemerals()]
        + [f.content.decode("utf-8", "replace") for f in files])
    assert "[redacted" in slack_text
    assert slack_text.count(canary) == 0

    stored = _everything_in_the_store(bot_stack)
    assert "[redacted" in stored
    assert stored.count(canary) == 0

    stderr = bot_stack.worker_stderr(worker)
    assert stderr.count(canary) == 0


def _stripe_suite(stack: BotStack, api_base: str, webhook_url: str) -> str:
    return f"""\
suite: scenario
environments:
  staging:
    variables: {{api_base: "{api_base}", webhook_url: "{webhook_url}"}}
    secrets:
      stripe_key: {{env: SMOKE_STRIPE_KEY}}
      webhook_secret: {{env: SMOKE_STRIPE_WEBHOOK_SECRET}}
    slack: {{channel: {CHANNEL}}}
categories:
  - name: Billing
    checks:
      - id: stripe-key
        type: stripe.account
        key: ${{secrets.stripe_key}}
        api_base: ${{api_base}}
        network_retries: 0
      - id: stripe-webhooks
        type: stripe.webhook_delivery
        url: ${{webhook_url}}
        secret: ${{secrets.webhook_secret}}
        negative_probes: false
"""


def test_stripe_keys_and_the_webhook_secret_appear_nowhere_outside_the_worker(
        bot_stack: BotStack) -> None:
    # A key Stripe rejects (its error quotes the key's last characters) and a webhook secret
    # the app echoes into its 500s: both checks fail with what Stripe and the app said.
    key = "sk_" + f"test_CANARY{uuid.uuid4().hex}"
    webhook_secret = f"whsec_CANARY{uuid.uuid4().hex}"
    fake = StripeFake()
    app = WebhookApp(dsn=bot_stack.dsn, secret=webhook_secret, echo_secret=True,
                     fail_types=frozenset({"invoice.payment_failed"}))
    with fake.serve() as api_base, app.serve() as app_url:
        bot_stack.write_suite(_stripe_suite(bot_stack, api_base, f"{app_url}{WEBHOOK_PATH}"))
        worker = bot_stack.start_worker({"SMOKE_STRIPE_KEY": key,
                                         "SMOKE_STRIPE_WEBHOOK_SECRET": webhook_secret})
        bot_stack.send(bot_stack.slack.slash_command("staging"))
        summary = bot_stack.wait_for(lambda: final_summary(bot_stack), what="the final summary")
        bot_stack.wait_for(lambda: outbox_drained(bot_stack), what="every message delivered")
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    replies = [message_text(m) for m in bot_stack.emulator.thread(CHANNEL, summary.ts)]
    assert any("invoice.payment_failed: the app answered 500" in r for r in replies), replies
    assert any("Stripe rejected the key" in r for r in replies), replies
    slack_text = "\n".join(
        [f"{c.method} {c.params}" for c in bot_stack.emulator.calls()]
        + [message_text(m) for m in bot_stack.emulator.messages(CHANNEL)] + replies
        + [f.content.decode("utf-8", "replace") for f in bot_stack.emulator.files()
           if f.content])
    everywhere = {"Slack": slack_text, "the store": _everything_in_the_store(bot_stack),
                  "the worker's log": bot_stack.worker_stderr(worker)}
    for secret in (key, webhook_secret):
        for where, text in everywhere.items():
            assert leaks(text, secret) == 0, f"{secret[:6]}… leaked into {where}"
