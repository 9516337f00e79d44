"""The `stripe.webhook_delivery` kind against an app that verifies deliveries with the real
Stripe SDK and records events in a PostgreSQL database of the test's own, over loopback HTTP;
and as a suite uses it, with a `postgres.query` that finds the run's events by `${run.id}`."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import stripe
from pydantic import ValidationError
from rich.console import Console

from checks.config import load_suite
from checks.errors import CheckError, ConfigError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.stripe._synthetic_events import DEFAULT_EVENTS, build_event, signature_header
from checks.kinds.stripe.webhook_delivery import WebhookDeliveryCheck
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_junit, render_markdown, render_summary
from checks.results import Outcome, RunResult, Status
from checks.runner import run_plan
from tests.support.asgi import free_port
from tests.support.stripe_webhook_app import PATH, WebhookApp

SECRET = "whsec_" + "CANARYwebhook7Yb3Kd0QeVvX9q2Lm8Zr"  # split: not a secret to scanners
RUN = "r1a2b3c4d5e6"
STALE = "a timestamp 600 s old (over the 300 s tolerance)"


@contextmanager
def serving(dsn: str, **faults: Any) -> Iterator[tuple[WebhookApp, str]]:
    app = WebhookApp(dsn, SECRET, **faults)
    with app.serve() as base_url:
        yield app, f"{base_url}{PATH}"


async def deliver(url: str, *, redactor: Redactor | None = None, run_id: str = RUN,
                  **params: Any) -> Outcome:
    ctx = CheckContext(environment="test", redactor=Redactor() if redactor is None else redactor,
                       variables={"run": {"id": run_id}})
    check = WebhookDeliveryCheck()
    return await check.run(check.Params.model_validate({"url": url, "secret": SECRET, **params}),
                           ctx)


def ids(*suffixes: int | str) -> list[str]:
    return [f"evt_smokebot_{RUN}_{n}" for n in suffixes]


def everything_in(outcome: Outcome) -> str:
    return json.dumps([outcome.summary, outcome.details, outcome.measurements, outcome.evidence])


# ------------------------------------------------------------------------------ passing

def test_the_registry_loads_the_kind() -> None:
    assert isinstance(load_kind("stripe.webhook_delivery"), WebhookDeliveryCheck)


async def test_the_five_critical_events_are_acknowledged_and_recorded_by_id(pg_dsn: str) -> None:
    with serving(pg_dsn) as (app, url):
        outcome = await deliver(url)

    assert outcome.passed, outcome.summary
    assert re.fullmatch(r"5 events acknowledged \(slowest \d+ ms\); forged events refused "
                        r"\(400, 400\)", outcome.summary)
    assert app.recorded() == [(event_id, event_type, RUN) for event_id, event_type in
                              zip(ids(1, 2, 3, 4, 5), DEFAULT_EVENTS)]
    events = outcome.evidence["events"]
    assert list(events) == list(DEFAULT_EVENTS)
    assert [(e["id"], e["status"], e["passed"]) for e in events.values()] == [
        (event_id, 200, True) for event_id in ids(1, 2, 3, 4, 5)]
    probes = outcome.evidence["probes"]
    assert {name: (p["id"], p["status"], p["refused"]) for name, p in probes.items()} == {
        "wrong_signature": (ids("probe_signature")[0], 400, True),
        "stale_timestamp": (ids("probe_stale")[0], 400, True)}
    assert outcome.evidence["run_id"] == RUN
    assert set(outcome.measurements["event_response_ms"]) == set(DEFAULT_EVENTS)
    assert outcome.measurements["response_ms"] == max(
        [e["response_ms"] for e in events.values()] + [p["response_ms"] for p in probes.values()])
    assert outcome.details.splitlines()[1] == (
        f"customer.subscription.created: {ids(1)[0]}: 200 in "
        f"{events['customer.subscription.created']['response_ms']} ms: ok")


async def test_a_redelivery_of_the_same_run_is_acknowledged_and_recorded_once(
        pg_dsn: str) -> None:
    with serving(pg_dsn) as (app, url):
        first = await deliver(url)
        again = await deliver(url)  # a retried attempt sends the same ids, as Stripe does

    assert first.passed and again.passed, again.summary
    assert [row[0] for row in app.recorded()] == ids(1, 2, 3, 4, 5)


async def test_the_listed_event_types_only_and_no_probes_when_they_are_off(pg_dsn: str) -> None:
    with serving(pg_dsn) as (app, url):
        outcome = await deliver(url, events=["invoice.paid", "checkout.session.completed"],
                                negative_probes=False)

    assert outcome.passed, outcome.summary
    assert outcome.summary.endswith("; negative probes off")
    assert app.recorded() == [(ids(1)[0], "invoice.paid", RUN),
                              (ids(2)[0], "checkout.session.completed", RUN)]
    assert len(app.answers) == 2 and outcome.evidence["probes"] == {}


async def test_the_deliveries_overlap_at_the_app(pg_dsn: str) -> None:
    # Each delivery is held until all seven (five events, two probes) are in flight: one sent
    # at a time would leave max_in_flight at 1.
    with serving(pg_dsn, gather=7) as (app, url):
        outcome = await deliver(url)

    assert outcome.passed, outcome.summary
    assert app.max_in_flight == 7


# ------------------------------------------------------------------------------ the events

def test_the_signature_is_the_one_the_stripe_sdk_makes() -> None:
    payload = json.dumps(build_event("invoice.payment_failed", run_id=RUN, n=5,
                                     created=1_700_000_000), indent=2)

    ours = signature_header(payload.encode(), SECRET, 1_700_000_000)

    assert ours == stripe.WebhookSignature.generate_signature_header(payload, SECRET,
                                                                     1_700_000_000)
    assert re.fullmatch(r"t=1700000000,v1=[0-9a-f]{64}", ours)


def test_events_have_stripes_event_shape_and_objects_of_the_right_type() -> None:
    created = int(time.time())
    events = [build_event(t, run_id=RUN, n=n, created=created)
              for n, t in enumerate(DEFAULT_EVENTS, start=1)]

    for n, (event, event_type) in enumerate(zip(events, DEFAULT_EVENTS), start=1):
        assert {k: event[k] for k in ("id", "object", "api_version", "created", "type",
                                      "livemode")} == {
            "id": f"evt_smokebot_{RUN}_{n}", "object": "event", "api_version": "2024-06-20",
            "created": created, "type": event_type, "livemode": False}
        assert event["data"]["object"]["metadata"] == {"smokebot_run": RUN}
        assert event["data"]["object"]["livemode"] is False
    objects = [e["data"]["object"] for e in events]
    assert [(o["object"], o["id"], o["status"]) for o in objects] == [
        ("subscription", f"sub_smokebot_{RUN}", "active"),
        ("subscription", f"sub_smokebot_{RUN}", "active"),
        ("subscription", f"sub_smokebot_{RUN}", "canceled"),
        ("invoice", f"in_smokebot_{RUN}_4", "paid"),
        ("invoice", f"in_smokebot_{RUN}_5", "open")]
    assert {o["customer"] for o in objects} == {f"cus_smokebot_{RUN}"}
    assert objects[4]["paid"] is False and objects[4]["next_payment_attempt"] > created
    assert objects[3]["subscription"] == f"sub_smokebot_{RUN}"
    assert "previous_attributes" in events[1]["data"]
    # What an app does with a delivery: the SDK builds its typed objects from it.
    payload = json.dumps(events[0])
    event = stripe.Webhook.construct_event(payload, signature_header(
        payload.encode(), SECRET, created), SECRET)
    assert isinstance(event.data.object, stripe.Subscription)
    assert event.data.object.items.data[0].price.id == "price_smokebot"


def test_a_customer_the_app_knows_can_be_named() -> None:
    event = build_event("invoice.payment_succeeded", run_id=RUN, n=1, created=1,
                        customer="cus_known")
    assert event["data"]["object"]["customer"] == "cus_known"


# ------------------------------------------------------------------------------ failing

async def test_an_app_answering_500_to_one_type_fails_naming_it(pg_dsn: str) -> None:
    with serving(pg_dsn, fail_types=frozenset({"customer.subscription.updated"})) as (app, url):
        outcome = await deliver(url)

    assert not outcome.passed
    assert outcome.summary == "customer.subscription.updated: the app answered 500; expected 2xx"
    assert outcome.evidence["events"]["customer.subscription.updated"]["status"] == 500
    assert f"customer.subscription.updated: {ids(2)[0]}: 500 in " in outcome.details
    assert "handler for customer.subscription.updated crashed" in outcome.details
    assert "Traceback" not in everything_in(outcome)
    assert [row[0] for row in app.recorded()] == ids(1, 3, 4, 5)


async def test_an_app_that_skips_verification_accepts_forged_events_and_fails(
        pg_dsn: str) -> None:
    with serving(pg_dsn, verify=False) as (app, url):
        outcome = await deliver(url)

    assert not outcome.passed
    assert outcome.summary == ("the webhook endpoint accepts forged events: a wrong signature "
                               f"got 200, {STALE} got 200; expected 4xx")
    assert outcome.evidence["probes"]["wrong_signature"]["refused"] is False
    # What the probes' ids are for: a forged event the app recorded can be found.
    assert ids("probe_signature", "probe_stale")[0] in [row[0] for row in app.recorded()]


async def test_an_app_that_ignores_the_timestamp_fails_on_the_stale_probe(pg_dsn: str) -> None:
    with serving(pg_dsn, check_age=False) as (_, url):
        outcome = await deliver(url)

    assert outcome.summary == (f"the webhook endpoint accepts forged events: {STALE} got 200; "
                               "expected 4xx")
    assert outcome.evidence["probes"]["wrong_signature"]["refused"] is True


async def test_a_stale_probe_follows_the_tolerance(pg_dsn: str) -> None:
    with serving(pg_dsn, check_age=False) as (_, url):
        outcome = await deliver(url, tolerance="60s")

    assert outcome.summary == ("the webhook endpoint accepts forged events: a timestamp 360 s "
                               "old (over the 60 s tolerance) got 200; expected 4xx")


async def test_an_app_holding_another_secret_refuses_everything_and_the_check_says_why(
        pg_dsn: str) -> None:
    app = WebhookApp(pg_dsn, "whsec_someotherendpointsecret00")
    with app.serve() as base_url:
        outcome = await deliver(f"{base_url}{PATH}")

    assert not outcome.passed
    assert outcome.summary == (
        "customer.subscription.created: the app answered 400; expected 2xx; "
        "customer.subscription.updated: the app answered 400; expected 2xx; "
        "customer.subscription.deleted: the app answered 400; expected 2xx; and 2 more; "
        "every event was refused with 400: is `secret` the signing secret of this endpoint "
        "(Stripe dashboard: Webhooks, the endpoint, Signing secret)?")
    assert app.recorded() == []


async def test_an_event_type_that_hangs_is_a_failure_bounded_by_the_request_timeout(
        pg_dsn: str) -> None:
    with serving(pg_dsn, hang_types=frozenset({"invoice.payment_failed"})) as (_, url):
        started = time.monotonic()
        outcome = await deliver(url, request_timeout="500ms")
        took = time.monotonic() - started
        where = url.split("/")[2]

    assert outcome.summary == (f"invoice.payment_failed: no answer from {where} within 0.5s; "
                               "expected 2xx")
    assert outcome.evidence["events"]["invoice.payment_failed"] == {
        "id": ids(5)[0], "status": None, "passed": False,
        "response_ms": outcome.evidence["events"]["invoice.payment_failed"]["response_ms"],
        "error": f"no answer from {where} within 0.5s"}
    assert took < 5  # bounded by the request timeout, not by the app


async def test_an_app_that_never_answers_is_an_error_of_the_check(pg_dsn: str) -> None:
    with serving(pg_dsn, hang_types=frozenset({"*"})) as (_, url):
        with pytest.raises(CheckError) as caught:
            await deliver(url, request_timeout="300ms")
        where = url.split("/")[2]

    assert caught.value.message == f"no answer from {where} within 0.3s"
    assert not caught.value.permanent


async def test_nothing_listening_is_an_error_that_says_so() -> None:
    port = free_port()

    with pytest.raises(CheckError) as caught:
        await deliver(f"http://127.0.0.1:{port}{PATH}")

    assert caught.value.message == f"cannot connect to 127.0.0.1:{port}: connection refused"


async def test_an_invalid_url_is_one_permanent_error() -> None:
    with pytest.raises(CheckError) as caught:
        await deliver("ftp://127.0.0.1/webhooks")

    assert caught.value.permanent
    assert "expected it to start with http:// or https://" in caught.value.message


# ------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize(("params", "message"), [
    ({"events": ["customer.subscription.created", "customer.subscription.created"]},
     "each event type once; listed more than once: customer.subscription.created"),
    ({"events": ["Invoice Paid"]}, "expected Stripe event types such as "
                                   "customer.subscription.created, got 'Invoice Paid'"),
    ({"events": []}, "List should have at least 1 item"),
    ({"headers": {"Stripe-Signature": "t=1,v1=0"}},
     "header Stripe-Signature is set by the check itself; remove it"),
    ({"expect_status": 700}, "expected HTTP status codes between 100 and 599, got 700"),
])
def test_parameters_are_checked(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhookDeliveryCheck.Params.model_validate({"url": "http://x/", "secret": SECRET,
                                                    **params})
    assert message in str(caught.value)


def test_an_api_key_given_as_the_secret_is_refused_without_quoting_it(tmp_path: Path) -> None:
    api_key = "sk_" + "test_51HxCANARYkeyNotASigningSecret"
    path = tmp_path / "smoketest.yaml"
    path.write_text("suite: x\nenvironments:\n  staging: {}\ncategories:\n  - name: A\n"
                    "    checks:\n      - id: w\n        type: stripe.webhook_delivery\n"
                    f"        url: http://127.0.0.1:9/x\n        secret: {api_key}\n")

    with pytest.raises(ConfigError) as caught:
        build_plan(load_suite(path), "staging")

    assert caught.value.render() == (
        f"{path}:10:17: categories[0].checks[0].secret: stripe.webhook_delivery: expected the "
        "webhook endpoint's signing secret (whsec_...), got a Stripe API key; the dashboard "
        "shows the signing secret on the endpoint's page")


def test_the_params_never_show_the_secret() -> None:
    params = WebhookDeliveryCheck.Params.model_validate({"url": "http://x/", "secret": SECRET})
    assert SECRET not in repr(params) and SECRET not in str(params)
    assert WebhookDeliveryCheck().describe(params) == (
        "POST 5 signed Stripe events to http://x/; forged ones must be refused")


async def test_expect_status_narrows_what_counts_as_acknowledged(pg_dsn: str) -> None:
    with serving(pg_dsn) as (_, url):
        outcome = await deliver(url, events=["invoice.paid"], expect_status=[202, 204])

    assert outcome.summary == "invoice.paid: the app answered 200; expected 202 or 204"


# ------------------------------------------------------------------------------ secrets

def leak_forms(value: str) -> list[str]:
    return [value, quote(value, safe=""), quote(value), quote_plus(value),
            value.removeprefix("whsec_")]


def every_output(run: RunResult, redactor: Redactor, logs: str) -> dict[str, str]:
    console = Console(file=io.StringIO(), record=True, width=200)
    render_summary(run, console, redactor)
    results = json.dumps([(r.summary, r.details, r.evidence, r.measurements)
                          for r in run.results], default=str)
    return {"markdown": render_markdown(run, redactor), "json": render_json(run, redactor),
            "junit": render_junit(run, redactor), "terminal": console.export_text(),
            "stored": render_json(run, Redactor()), "results": results, "logs": logs}


SUITE = """
suite: shop
defaults: {{timeout: 10s}}
environments:
  staging:
    variables: {{base_url: "{base_url}"}}
    secrets:
      stripe_webhook_secret: {{env: SMOKEBOT_TEST_WEBHOOK_SECRET}}
      database_url: {{env: SMOKEBOT_TEST_APP_DSN}}
categories:
  - name: Billing
    checks:
      - id: stripe-webhooks
        type: stripe.webhook_delivery
        url: ${{base_url}}{path}
        secret: ${{secrets.stripe_webhook_secret}}
      - id: stripe-events-recorded
        type: postgres.query
        depends_on: [stripe-webhooks]
        dsn: ${{secrets.database_url}}
        sql: SELECT id, type FROM stripe_events WHERE starts_with(id, %s) ORDER BY id
        params: ["evt_smokebot_${{run.id}}_"]
        assert:
          - len($) == 5
          - "[0].type == customer.subscription.created"
"""


def write_suite(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=base_url, path=PATH))
    return path


async def test_a_follow_up_query_finds_the_runs_events_by_the_run_id(
        pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SMOKEBOT_TEST_APP_DSN", pg_dsn)
    with serving(pg_dsn) as (app, url):
        base_url = url.removesuffix(PATH)
        await deliver(url, run_id="anotherrun00")  # an earlier run's events: not counted
        plan = build_plan(load_suite(write_suite(tmp_path, base_url)), "staging")
        run = await run_plan(plan)

    assert [(r.check_id, r.status) for r in run.results] == [
        ("stripe-webhooks", Status.PASS), ("stripe-events-recorded", Status.PASS)], \
        [r.summary for r in run.results]
    run_id = plan.variables["run"]["id"]
    assert run.results[0].evidence["run_id"] == run_id
    assert run.results[1].summary == "query returned 5 rows; 2 assertions held"
    assert len(app.recorded()) == 10


def test_run_id_is_new_for_every_plan_unless_the_caller_gives_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SMOKEBOT_TEST_APP_DSN", "postgresql://127.0.0.1:9/none")
    suite = load_suite(write_suite(tmp_path, "http://127.0.0.1:9"))

    first, second = (build_plan(suite, "staging") for _ in range(2))
    given = build_plan(suite, "staging", run_id="0f6a7c1e-run")

    assert re.fullmatch(r"[0-9a-f]{12}", first.variables["run"]["id"])
    assert first.variables["run"]["id"] != second.variables["run"]["id"]
    assert given.variables["run"]["id"] == "0f6a7c1e-run"
    query = next(c for c in given.checks if c.id == "stripe-events-recorded")
    assert query.params.params == ["evt_smokebot_0f6a7c1e-run_"]  # type: ignore[attr-defined]


async def test_the_secret_reaches_no_report_store_or_log(
        pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SMOKEBOT_TEST_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SMOKEBOT_TEST_APP_DSN", pg_dsn)
    # The app quotes the secret in its 500s, and takes forged events: every failure path runs.
    with serving(pg_dsn, fail_types=frozenset({"invoice.payment_failed"}), echo_secret=True,
                 check_age=False) as (_, url):
        plan = build_plan(load_suite(write_suite(tmp_path, url.removesuffix(PATH))), "staging")
        run = await run_plan(plan)

    webhook = run.results[0]
    assert webhook.status is Status.FAIL
    assert f"STRIPE_WEBHOOK_SECRET=[redacted whsec_…({len(SECRET)} chars)]" in webhook.details
    for name, text in every_output(run, plan.redactor, caplog.text).items():
        for form in leak_forms(SECRET):
            assert text.count(form) == 0, f"{name} holds a form of the secret"


async def test_a_secret_written_into_the_suite_is_redacted_too(pg_dsn: str) -> None:
    # Not from `secrets:`, so no plan registered it: the kind does.
    with serving(pg_dsn, fail_types=frozenset({"invoice.paid"}), echo_secret=True) as (_, url):
        outcome = await deliver(url, events=["invoice.paid"])

    assert "STRIPE_WEBHOOK_SECRET=[redacted" in outcome.details
    for form in leak_forms(SECRET):
        assert everything_in(outcome).count(form) == 0
