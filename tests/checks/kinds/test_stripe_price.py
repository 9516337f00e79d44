"""stripe.price through the real runner, against the Stripe fake on loopback with the real
`stripe` client: found by id, lookup_key or legacy plan id; active, with the amount, currency
and interval the app expects, its product active, metadata asserted in the assertion
language; a missing or wrong price fails naming the price and what was expected."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.errors import CheckError
from checks.kinds import load_kind
from checks.results import Outcome, Status
from tests.support.stripe_fake import StripeFake
from tests.support.stripe_runs import (
    RESTRICTED_KEY,
    TEST_KEY,
    WRONG_KEY,
    leaks,
    run_kind,
    run_stripe_suite,
)

PRO = {"id": "pro-price", "type": "stripe.price", "lookup_key": "pro_monthly",
       "unit_amount": 2900, "currency": "USD", "interval": "month",
       "assert": ["metadata.credits == 60", "product.name == Pro"]}


@pytest.fixture
def fake(served: tuple[StripeFake, str]) -> StripeFake:
    fake = served[0]
    fake.reset()
    fake.add_key(TEST_KEY)
    fake.add_product("prod_pro", name="Pro")
    fake.add_price("price_1ProMonthly", product="prod_pro", unit_amount=2900,
                   lookup_key="pro_monthly", metadata={"credits": "60"})
    fake.add_price("pro-monthly-2023", product="prod_pro", unit_amount=1900)  # a legacy plan
    return fake


async def price_check(api_base: str, **params: Any) -> Outcome:
    return await run_kind("stripe.price", {"key": TEST_KEY, "api_base": api_base, **params})


async def test_the_pro_price_by_lookup_key_passes_with_its_metadata(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[PRO])

    check = run.check
    assert check.status is Status.PASS
    assert check.summary == ("price price_1ProMonthly (lookup_key pro_monthly): active, 2900 "
                             "usd per month, product prod_pro (Pro) active")
    assert check.evidence == {
        "expected_mode": "test", "found": True, "price": "price_1ProMonthly",
        "lookup_key": "pro_monthly", "active": True, "livemode": False, "unit_amount": 2900,
        "currency": "usd", "interval": "month", "interval_count": 1,
        "metadata": {"credits": "60"},
        "product": {"id": "prod_pro", "name": "Pro", "active": True}}
    # One request, the product expanded in it.
    [call] = fake.calls()
    assert (call.path, call.params["lookup_keys"], call.params["expand"]) == (
        "/v1/prices", ["pro_monthly"], ["data.product"])


async def test_a_price_by_id_passes(api_base: str, fake: StripeFake) -> None:
    outcome = await price_check(api_base, price="price_1ProMonthly", unit_amount=2900)

    assert outcome.passed
    assert outcome.summary.startswith("price price_1ProMonthly: active, 2900 usd per month")
    assert [c.path for c in fake.calls()] == ["/v1/prices/price_1ProMonthly"]


async def test_a_legacy_plan_id_is_found_as_a_price(api_base: str) -> None:
    outcome = await price_check(api_base, price="pro-monthly-2023", unit_amount=1900,
                                interval="month")

    assert outcome.passed
    assert outcome.evidence["price"] == "pro-monthly-2023"


async def test_a_price_that_does_not_exist_fails_naming_it(
        api_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{"id": "p", "type": "stripe.price",
                                          "price": "price_1Gone"}])

    assert run.check.status is Status.FAIL
    assert run.check.summary == ("price price_1Gone does not exist in test mode (Stripe: No "
                                 "such price: 'price_1Gone')")
    assert "Traceback" not in run.check.details


async def test_a_lookup_key_no_price_has_fails_naming_it(api_base: str) -> None:
    outcome = await price_check(api_base, lookup_key="enterprise_yearly")

    assert not outcome.passed
    assert outcome.summary == "no price has lookup_key 'enterprise_yearly' in test mode"


async def test_every_difference_from_what_the_app_expects_is_named(
        api_base: str, fake: StripeFake) -> None:
    fake.add_product("prod_pro", name="Pro", active=False)
    fake.add_price("price_1ProMonthly", product="prod_pro", unit_amount=1900, currency="eur",
                   interval="year", active=False, lookup_key="pro_monthly",
                   metadata={"credits": "30"})

    outcome = await price_check(api_base, **{k: v for k, v in PRO.items()
                                             if k not in ("id", "type")})

    assert not outcome.passed
    assert outcome.summary == (
        "price price_1ProMonthly (lookup_key pro_monthly) is archived (inactive), expected "
        "active; unit_amount: expected 2900, got 1900; currency: expected usd, got eur; "
        "recurring.interval: expected month, got year; product prod_pro (Pro) is archived "
        "(inactive), expected active; metadata.credits: expected 60, got \"30\"")
    assert outcome.details.splitlines()[-6:] == [
        "price: price_1ProMonthly (lookup_key: pro_monthly)",
        "active: false, livemode: false",
        "unit_amount: 1900 eur",
        "recurring: every 1 year",
        "product: prod_pro (Pro), active: false",
        "metadata: credits=30"]


async def test_a_one_time_price_where_a_monthly_one_is_expected_fails(
        api_base: str, fake: StripeFake) -> None:
    fake.add_price("price_1Credits", product="prod_pro", unit_amount=500, interval=None)

    outcome = await price_check(api_base, price="price_1Credits", interval="month")

    assert outcome.summary == ("price price_1Credits is a one-time price, expected a recurring "
                               "one billed every month")


async def test_an_archived_price_can_be_expected_archived(api_base: str, fake: StripeFake) -> None:
    fake.add_price("price_1Old", product="prod_pro", unit_amount=900, active=False)

    outcome = await price_check(api_base, price="price_1Old", active=False)

    assert outcome.passed
    assert outcome.summary.startswith("price price_1Old: archived, 900 usd per month")


async def test_a_missing_metadata_key_reads_as_missing(api_base: str) -> None:
    outcome = await price_check(api_base, price="price_1ProMonthly",
                                **{"assert": ["metadata.tier == pro"]})

    assert outcome.summary == ('price price_1ProMonthly metadata.tier: expected "pro", got '
                               "nothing (missing)")


async def test_a_restricted_key_without_price_read_is_an_error_naming_the_permission(
        api_base: str, fake: StripeFake) -> None:
    fake.add_key(RESTRICTED_KEY, permissions={"rak_balance_read"})

    with pytest.raises(CheckError) as raised:
        await run_kind("stripe.price", {"key": RESTRICTED_KEY, "api_base": api_base,
                                        "price": "price_1ProMonthly"})

    assert raised.value.permanent
    assert raised.value.message == (
        f"the restricted key rk_test_…({len(RESTRICTED_KEY)} chars) lacks the permission "
        "rak_plan_read, needed to read price price_1ProMonthly; grant it on the key's page in "
        "the Stripe Dashboard")


async def test_a_wrong_key_is_a_permanent_error(
        api_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=WRONG_KEY,
                                 checks=[{**PRO, "retries": 2}])

    assert run.check.status is Status.ERROR
    assert run.check.attempts == 1
    assert run.check.summary.startswith(f"Stripe rejected the key sk_test_…({len(WRONG_KEY)} "
                                        "chars) (401 invalid key) when reading the price with "
                                        "lookup_key 'pro_monthly'")
    assert leaks(run.everything(), WRONG_KEY) == 0
    assert leaks(caplog.text, WRONG_KEY) == 0
    assert WRONG_KEY[-4:] not in run.everything()


async def test_stripe_down_is_retried_by_the_runner_too_then_an_error(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.fail_next(10, status=503)

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{**PRO, "network_retries": 0, "retries": 1}],
                                 defaults={"retry_backoff": "10ms"})

    assert run.check.status is Status.ERROR
    assert run.check.attempts == 2
    assert run.check.summary.startswith("Stripe answered the request for the price with "
                                        "lookup_key 'pro_monthly' with 503")
    assert len(fake.calls("/v1/prices")) == 2


@pytest.mark.parametrize(("params", "message"), [
    ({}, "set exactly one of 'price'"),
    ({"price": "price_1", "lookup_key": "pro"}, "set exactly one of 'price'"),
    ({"price": "price_1", "currency": "dollars"}, "String should match pattern"),
    ({"price": "price_1", "interval": "monthly"}, "'day', 'week', 'month' or 'year'"),
])
def test_invalid_params_are_refused_when_the_suite_loads(params: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        load_kind("stripe.price").Params.model_validate({"key": TEST_KEY, **params})
