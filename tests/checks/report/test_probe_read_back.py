"""The Markdown report of a `postgres.probe` run against this machine's PostgreSQL shows the
values the row was read back with and each assertion that held, as the hand-written report's
"Customer Provisioning" did; a value in a credential-named column shows only as redacted."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest
import yaml

from checks.config import parse_suite
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_markdown
from checks.results import RunResult, Status
from checks.runner import run_plan
from checks.yamlsource import load_yaml

SCHEMA_SQL = Path(__file__).resolve().parents[3] / "demo" / "schema.sql"
# A table-made credential: no suite secret names it, so only its column's name can hide it.
TOKEN = "tok-" + "CANARY-5f1e9a7b3c2d4e6f8a0b1c2d"
TIMESTAMP = re.compile(r'"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?"')

CUSTOMER_ENTRY = """\
- ✅ **New customer gets trial defaults** (`customer-defaults`): inserted a row into \
demo_billing.customers and rolled it back; 4 assertions held (<took>)
  - What it checks: inserts a row (name, email) into demo_billing.customers, rolls it back, \
and checks 4 assertions
  ```
  read back from demo_billing.customers (then rolled back):
    id                        1
    name                      "Smoke Test Customer"
    email                     "smoke-test-8520@example.com"
    active                    true
    metadata                  {}
    monthly_limit             100
    current_usage             0
    credit_balance            0
    subscription_type         "trial"
    subscription_state        null
    trial_fixes_used          0
    trial_fixes_limit         5
    fix_mode                  "auto"
    stripe_customer_id        null
    stripe_payment_method_id  null
    stripe_subscription_id    null
    billing_consent_given     false
    billing_consent_at        null
    has_payment_method        false
    payment_method_added_at   null
    inserted_at               <now>
    updated_at                <now>

  4 assertions held:
    ✓ id exists
    ✓ subscription_type == "trial"
    ✓ credit_balance == 0
    ✓ trial_fixes_limit == 5
  ```
"""


@pytest.fixture
def billing_dsn(pg_dsn: str) -> str:
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(SCHEMA_SQL.read_text())
        conn.execute("CREATE TABLE demo_billing.webhook_endpoints (id bigserial PRIMARY KEY, "
                     "url text NOT NULL, signing_token text NOT NULL DEFAULT "
                     f"'{TOKEN}')")
    return pg_dsn


def _suite(dsn: str, trial_fixes_limit: int = 5) -> str:
    probe = {"type": "postgres.probe", "dsn": dsn, "schema": "demo_billing"}
    return yaml.safe_dump({
        "suite": "platform",
        "environments": {"staging": {}},
        "categories": [{"name": "Customer Provisioning", "checks": [
            {"id": "customer-defaults", "name": "New customer gets trial defaults", **probe,
             "table": "customers",
             "values": {"name": "Smoke Test Customer", "email": "smoke-test-8520@example.com"},
             "assert": ["id exists", "subscription_type == trial", "credit_balance == 0",
                        f"trial_fixes_limit == {trial_fixes_limit}"]},
            {"id": "webhook-endpoint", "name": "Webhook endpoint gets a signing token", **probe,
             "table": "webhook_endpoints", "values": {"url": "https://example.com/hook"},
             "assert": ["signing_token exists"]},
        ]}],
    }, sort_keys=False, allow_unicode=True)


async def _run(dsn: str, **changes: int) -> tuple[RunResult, str]:
    plan = build_plan(parse_suite(load_yaml(_suite(dsn, **changes), "smoketest.yaml")),
                      "staging")
    run = await run_plan(plan)
    markdown = render_markdown(run, plan.redactor, descriptions={
        c.id: c.description for c in plan.checks})
    return run, markdown


def _entry(markdown: str, check_id: str) -> str:
    """The check's entry in the Details section, with its timings and timestamps blanked."""
    details = markdown.split("## Details\n", 1)[1]
    start = details.index(f"(`{check_id}`)")
    start = details.rindex("\n- ", 0, start) + 1
    end = details.find("\n- ", start + 1)
    end = details.index("\n\n**", start) if end == -1 else end
    entry = details[start:end + 1]
    entry = re.sub(r"\((\d+(\.\d+)?(ms|s))\)\n", "(<took>)\n", entry, count=1)
    return TIMESTAMP.sub("<now>", entry)


async def test_the_report_shows_the_values_read_back_and_the_assertions_that_held(
        billing_dsn: str) -> None:
    run, markdown = await _run(billing_dsn)

    assert [r.status for r in run.results] == [Status.PASS, Status.PASS]
    assert _entry(markdown, "customer-defaults") == CUSTOMER_ENTRY


async def test_a_failed_assertion_is_shown_above_the_values_read_back(billing_dsn: str) -> None:
    run, markdown = await _run(billing_dsn, trial_fixes_limit=10)

    assert run.results[0].status is Status.FAIL
    issue = markdown.split("## Issues found\n", 1)[1].split("## Details\n", 1)[0]
    assert ("```\ntrial_fixes_limit: expected 10, got 5\n\n"
            "read back from demo_billing.customers (then rolled back):\n  id   ") in issue
    assert "\n3 assertions held:\n  ✓ id exists\n" in issue
    assert "✓ trial_fixes_limit" not in issue


async def test_a_credential_read_back_is_redacted_everywhere(billing_dsn: str) -> None:
    run, markdown = await _run(billing_dsn)

    assert run.results[1].status is Status.PASS
    assert (f"    signing_token  \"[redacted ({len(TOKEN)} chars)]\"\n"
            in _entry(markdown, "webhook-endpoint"))
    document = render_json(run, Redactor())  # redacting nothing: the run holds no trace of it
    for text in (markdown, document, repr(run)):
        assert text.count(TOKEN) == 0 and text.count(TOKEN[4:]) == 0
