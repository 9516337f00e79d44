"""stripe.webhook_endpoint through the real runner, against the Stripe fake on loopback with
the real `stripe` client: the endpoint for our URL is registered, enabled, in the expected
mode and subscribed to our events; what is wrong is named (the missing events by name)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.errors import CheckError
from checks.kinds import load_kind
from checks.results import Outcome, Status
from tests.support.stripe_fake import StripeFake
from tests.support.stripe_runs import (
    LIVE_KEY,
    RESTRICTED_KEY,
    TEST_KEY,
    leaks,
    run_kind,
    run_stripe_suite,
    stripe_context,
)

URL = "https://staging.rsolv.dev/webhooks/stripe"
EVENTS = ["customer.subscription.created", "customer.subscription.deleted", "invoice.paid",
          "invoice.payment_failed"]
CHECK = {"id": "webhook", "type": "stripe.webhook_endpoint", "url": URL, "events": EVENTS}


@pytest.fixture
def fake(served: tuple[StripeFake, str]) -> StripeFake:
    fake = served[0]
    fake.reset()
    fake.add_key(TEST_KEY)
    fake.add_key(LIVE_KEY)
    fake.add_webhook_endpoint("https://old.rsolv.dev/hooks", enabled_events=["charge.failed"],
                              id="we_old")
    return fake


async def endpoint_check(api_base: str, **params: object) -> Outcome:
    return await run_kind("stripe.webhook_endpoint",
                          {"key": TEST_KEY, "api_base": api_base, **params})


async def test_an_enabled_endpoint_with_every_event_passes(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=[*EVENTS, "charge.refunded"], id="we_staging",
                              api_version="2024-06-20")

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[CHECK])

    check = run.check
    assert check.status is Status.PASS
    assert check.summary == (f"webhook endpoint we_staging for {URL}: enabled, test mode, "
                             "subscribes to 4 expected events")
    assert check.measurements["endpoints_listed"] == 2
    assert check.measurements["endpoints_matching"] == 1
    assert check.evidence["endpoints"] == [{
        "id": "we_staging", "url": URL, "status": "enabled", "livemode": False,
        "api_version": "2024-06-20", "enabled_events": [*EVENTS, "charge.refunded"],
        "missing_events": [], "problems": []}]
    assert "secret" not in str(check.evidence)


async def test_a_disabled_endpoint_missing_events_fails_naming_them(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=["invoice.paid", "customer.subscription.created"],
                              status="disabled", id="we_staging")

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[CHECK])

    assert run.check.status is Status.FAIL
    assert run.check.summary == (
        f"webhook endpoint we_staging for {URL} is disabled, expected enabled; does not "
        "subscribe to customer.subscription.deleted, invoice.payment_failed")
    assert run.check.evidence["endpoints"][0]["missing_events"] == [
        "customer.subscription.deleted", "invoice.payment_failed"]
    assert run.check.details == (
        f"we_staging: {URL}\n"
        "  status: disabled, livemode: false, api_version: account default\n"
        "  enabled_events: invoice.paid, customer.subscription.created\n"
        "  is disabled, expected enabled\n"
        "  does not subscribe to customer.subscription.deleted, invoice.payment_failed")


async def test_no_endpoint_for_the_url_fails_listing_what_is_registered(
        api_base: str, fake: StripeFake) -> None:
    outcome = await endpoint_check(api_base, url=URL, events=EVENTS)

    assert not outcome.passed
    assert outcome.summary == (f"no webhook endpoint {URL} is registered in test mode; the "
                               "account has 1 other: https://old.rsolv.dev/hooks")
    assert outcome.evidence == {"expected_mode": "test",
                                "registered_urls": ["https://old.rsolv.dev/hooks"]}


async def test_a_live_mode_endpoint_is_not_seen_with_a_test_key(
        api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS, livemode=True)

    outcome = await endpoint_check(api_base, url=URL, events=EVENTS)

    assert not outcome.passed
    assert outcome.summary.startswith(f"no webhook endpoint {URL} is registered in test mode")


async def test_a_live_environment_checks_its_live_endpoint(
        api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=["*"], livemode=True, id="we_live")

    outcome = await run_kind("stripe.webhook_endpoint",
                             {"key": LIVE_KEY, "api_base": api_base, "url": URL,
                              "events": EVENTS}, stripe_context(stripe_mode="live"))

    assert outcome.passed
    assert outcome.summary == (f"webhook endpoint we_live for {URL}: enabled, live mode, "
                               "subscribes to every event")


async def test_a_live_key_is_refused_before_use_where_test_mode_is_expected(
        api_base: str, fake: StripeFake) -> None:
    with pytest.raises(CheckError) as raised:
        await run_kind("stripe.webhook_endpoint",
                       {"key": LIVE_KEY, "api_base": api_base, "url": URL})

    assert raised.value.permanent
    assert raised.value.message.startswith(f"the key sk_live_…({len(LIVE_KEY)} chars) is a "
                                           "live-mode key, but environment 'staging' expects "
                                           "test mode")
    assert fake.calls() == []


async def test_events_star_needs_an_endpoint_that_subscribes_to_everything(
        api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS, id="we_staging")

    outcome = await endpoint_check(api_base, url=URL, events=["*"])

    assert not outcome.passed
    assert outcome.summary == f"webhook endpoint we_staging for {URL} does not subscribe to *"


async def test_a_pattern_passes_when_one_matching_endpoint_meets_everything(
        api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint("https://pr-12.rsolv.dev/webhooks/stripe",
                              enabled_events=["invoice.paid"], id="we_preview")
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS, id="we_staging")

    outcome = await endpoint_check(api_base, url_pattern="https://*.rsolv.dev/webhooks/stripe",
                                   events=EVENTS)

    assert outcome.passed
    assert outcome.summary.startswith(f"webhook endpoint we_staging for {URL}: enabled")
    assert outcome.measurements["endpoints_matching"] == 2


async def test_a_pattern_whose_endpoints_all_fall_short_names_the_closest(
        api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint("https://pr-12.rsolv.dev/webhooks/stripe",
                              enabled_events=["invoice.paid"], id="we_preview", status="disabled")
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS[:3], id="we_staging")

    outcome = await endpoint_check(api_base, url_pattern="https://*.rsolv.dev/webhooks/stripe",
                                   events=EVENTS)

    assert outcome.summary == (f"webhook endpoint we_staging for {URL} does not subscribe to "
                               "invoice.payment_failed (and 1 more matching, none right)")


async def test_a_pinned_api_version_must_match(api_base: str, fake: StripeFake) -> None:
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS, id="we_staging")

    outcome = await endpoint_check(api_base, url=URL, api_version="2024-06-20")

    assert outcome.summary == (f"webhook endpoint we_staging for {URL} uses API version the "
                               "account's default (none set), expected 2024-06-20")


async def test_every_page_of_endpoints_is_read(api_base: str, fake: StripeFake) -> None:
    for number in range(120):  # more than one page of 100
        fake.add_webhook_endpoint(f"https://pr-{number}.rsolv.dev/hooks",
                                  enabled_events=["invoice.paid"])
    fake.add_webhook_endpoint(URL, enabled_events=EVENTS, id="we_staging")
    # The newest is listed first; make ours the oldest so it is on the second page.
    fake.webhook_endpoints["we_staging"]["created"] = 1

    outcome = await endpoint_check(api_base, url=URL, events=EVENTS)

    assert outcome.passed
    assert outcome.measurements["endpoints_listed"] == 122
    assert len(fake.calls("/v1/webhook_endpoints")) == 2


async def test_a_restricted_key_without_webhook_read_is_an_error_naming_the_permission(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.add_key(RESTRICTED_KEY, permissions={"rak_balance_read"})

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=RESTRICTED_KEY,
                                 checks=[CHECK])

    assert run.check.status is Status.ERROR
    assert run.check.summary == (
        f"the restricted key rk_test_…({len(RESTRICTED_KEY)} chars) lacks the permission "
        "rak_webhook_read, needed to read the account's webhook endpoints; grant it on the "
        "key's page in the Stripe Dashboard")
    assert run.check.attempts == 1  # permanent: the runner does not retry it
    assert leaks(run.everything(), RESTRICTED_KEY) == 0
    assert leaks(caplog.text, RESTRICTED_KEY) == 0


async def test_stripe_down_is_an_error_after_bounded_retries(
        api_base: str, fake: StripeFake) -> None:
    fake.fail_next(3, status=500)

    with pytest.raises(CheckError) as raised:
        await endpoint_check(api_base, url=URL, network_retries=0)

    assert not raised.value.permanent
    assert raised.value.message.startswith("Stripe answered the request for the account's "
                                           "webhook endpoints with 500")


@pytest.mark.parametrize(("params", "message"), [
    ({}, "set exactly one of 'url'"),
    ({"url": URL, "url_pattern": "https://*"}, "set exactly one of 'url'"),
])
def test_the_url_is_required_once(params: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_kind("stripe.webhook_endpoint").Params.model_validate({"key": TEST_KEY, **params})
