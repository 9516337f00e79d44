"""stripe.account through the real runner, against the Stripe fake on loopback with the real
`stripe` client: the key's prefix and Stripe's livemode agree with the environment's mode;
rejected and restricted keys, Stripe down, slow or absent are each one readable line; the
key itself appears in no result, report or log."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.kinds import load_kind
from checks.kinds.stripe._client import StripeParams
from checks.results import Severity, Status
from tests.support.asgi import free_port
from tests.support.stripe_fake import ACCOUNT_ID, StripeFake
from tests.support.stripe_runs import (
    LIVE_KEY,
    RESTRICTED_KEY,
    TEST_KEY,
    WRONG_KEY,
    leaks,
    run_kind,
    run_stripe_suite,
    stripe_context,
)

FP_TEST = f"sk_test_…({len(TEST_KEY)} chars)"
FP_LIVE = f"sk_live_…({len(LIVE_KEY)} chars)"
FP_RESTRICTED = f"rk_test_…({len(RESTRICTED_KEY)} chars)"
ACCOUNT = {"id": "key", "name": "Stripe key works", "type": "stripe.account"}


@pytest.fixture
def fake(served: tuple[StripeFake, str]) -> StripeFake:
    fake = served[0]
    fake.reset()
    fake.add_key(TEST_KEY)
    fake.add_key(LIVE_KEY)
    return fake


def test_the_registry_loads_the_stripe_kinds() -> None:
    for name in ("stripe.account", "stripe.webhook_endpoint", "stripe.price"):
        assert issubclass(load_kind(name).Params, StripeParams)


async def test_a_test_mode_secret_key_passes_naming_the_account(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY, checks=[ACCOUNT])

    check = run.check
    assert check.status is Status.PASS
    assert re.fullmatch(rf"test-mode secret key {re.escape(FP_TEST)} works for account "
                        rf"{ACCOUNT_ID}, livemode false \(\d+ ms\)", check.summary)
    assert check.evidence == {
        "key": FP_TEST, "expected_mode": "test", "key_kind": "secret", "key_mode": "test",
        "livemode": False, "account": {"id": ACCOUNT_ID, "name": "Rsolv", "country": "US",
                                       "charges_enabled": True, "payouts_enabled": True}}
    assert check.details == (f"key: {FP_TEST} (secret, test mode)\nexpected mode: test\n"
                             f"livemode: false\naccount: {ACCOUNT_ID} (Rsolv)")
    assert set(check.measurements) == {"response_ms"}
    assert [c.path for c in fake.calls()] == ["/v1/balance", "/v1/account"]


async def test_a_live_key_where_test_mode_is_expected_fails_critically_without_a_request(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=LIVE_KEY, checks=[ACCOUNT])

    assert (run.check.status, run.check.severity) == (Status.FAIL, Severity.CRITICAL)
    assert run.check.summary == (
        f"the key {FP_LIVE} is a live-mode key, but environment 'staging' expects test mode; "
        "check which key the environment's secret holds")
    assert fake.calls() == []  # a live key is never sent where test mode is expected
    assert leaks(run.everything(), LIVE_KEY) == 0


async def test_an_environment_that_says_live_accepts_its_live_key(
        api_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=LIVE_KEY, checks=[ACCOUNT],
                                 variables={"stripe_mode": "live"})

    assert run.check.status is Status.PASS
    assert run.check.summary.startswith(f"live-mode secret key {FP_LIVE} works")
    assert run.check.evidence["livemode"] is True


async def test_a_test_key_where_the_check_says_live_fails(
        api_base: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{**ACCOUNT, "mode": "live"}])

    assert run.check.status is Status.FAIL
    assert run.check.summary.startswith(f"the key {FP_TEST} is a test-mode key, but "
                                        "environment 'staging' expects live mode")


async def test_stripe_answering_in_the_other_mode_than_the_key_says_fails(
        api_base: str, fake: StripeFake) -> None:
    fake.add_key(TEST_KEY, livemode=True)  # an emulator, or a proxy, that answers live

    outcome = await run_kind("stripe.account", {"key": TEST_KEY, "api_base": api_base})

    assert not outcome.passed
    assert outcome.summary == (f"Stripe answered with livemode true for the test-mode key "
                               f"{FP_TEST}; expected test mode (livemode false)")


async def test_a_rejected_key_fails_with_a_reason_and_no_part_of_the_key(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=WRONG_KEY,
                                 checks=[ACCOUNT])

    assert run.check.status is Status.FAIL
    assert run.check.summary == (
        f"Stripe rejected the key sk_test_…({len(WRONG_KEY)} chars) (401 invalid key) when "
        "reading the account's balance; check the secret the suite reads it from, and that "
        "the key has not been rolled or revoked")
    assert run.check.evidence["http_status"] == 401
    # Stripe's message quoted the key's last four characters; ours does not.
    assert WRONG_KEY[-4:] not in run.everything()
    assert leaks(run.everything(), WRONG_KEY) == 0


async def test_a_restricted_key_without_balance_read_names_the_missing_permission(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.add_key(RESTRICTED_KEY, permissions={"rak_webhook_read", "rak_plan_read"})

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=RESTRICTED_KEY,
                                 checks=[ACCOUNT])

    assert run.check.status is Status.FAIL
    assert run.check.summary == (
        f"the restricted key {FP_RESTRICTED} lacks the permission rak_balance_read, needed to "
        "read the account's balance; grant it on the key's page in the Stripe Dashboard")
    assert run.check.evidence["missing_permissions"] == ["rak_balance_read"]
    assert "Traceback" not in run.check.details
    assert RESTRICTED_KEY[-6:] not in run.everything()  # Stripe's 403 quotes the last six
    assert ACCOUNT_ID not in run.check.summary


async def test_a_restricted_key_that_reads_the_balance_passes_without_account_details(
        api_base: str, fake: StripeFake) -> None:
    fake.add_key(RESTRICTED_KEY, permissions={"rak_balance_read"})

    outcome = await run_kind("stripe.account", {"key": RESTRICTED_KEY, "api_base": api_base})

    assert outcome.passed
    assert outcome.summary.startswith(f"test-mode restricted key {FP_RESTRICTED} works, "
                                      "livemode false")
    assert [c.path for c in fake.calls()] == ["/v1/balance"]


async def test_an_expected_account_needs_account_read_and_says_so(
        api_base: str, fake: StripeFake) -> None:
    fake.add_key(RESTRICTED_KEY, permissions={"rak_balance_read"})

    outcome = await run_kind("stripe.account", {"key": RESTRICTED_KEY, "api_base": api_base,
                                                "account": ACCOUNT_ID})

    assert not outcome.passed
    assert outcome.summary.startswith(f"the restricted key {FP_RESTRICTED} lacks the "
                                      "permission rak_account_read, needed to read the "
                                      "account's details")


async def test_the_key_of_another_account_fails(api_base: str) -> None:
    outcome = await run_kind("stripe.account", {"key": TEST_KEY, "api_base": api_base,
                                                "account": "acct_1OtherAccount00"})

    assert not outcome.passed
    assert outcome.summary == f"the key belongs to account {ACCOUNT_ID}, expected " \
                              "acct_1OtherAccount00"


async def test_assertions_on_the_account_use_the_assertion_language(api_base: str) -> None:
    outcome = await run_kind("stripe.account", {
        "key": TEST_KEY, "api_base": api_base,
        "assert": ["charges_enabled == true", "country == DE", "default_currency == usd"]})

    assert not outcome.passed
    assert outcome.summary == 'country: expected "DE", got "US"'


@pytest.mark.parametrize(("key", "message"), [
    ("sk_nottest_CANARY51Hx9q2Lm8", "is not a Stripe API key: expected it to start with "
                                    "sk_test_, sk_live_, rk_test_ or rk_live_"),
    ("pk_test_CANARY51Hx9q2Lm8Zr4T", "is a publishable key, which cannot read the account"),
])
async def test_a_key_that_cannot_be_a_secret_key_fails_before_any_request(
        api_base: str, fake: StripeFake, key: str, message: str) -> None:
    outcome = await run_kind("stripe.account", {"key": key, "api_base": api_base})

    assert not outcome.passed
    assert message in outcome.summary
    assert key not in outcome.summary and key[8:] not in outcome.summary
    assert fake.calls() == []


# ------------------------------------------------------------------------------ faults

async def test_stripe_failing_is_retried_a_bounded_number_of_times_then_an_error(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.fail_next(10, status=503)

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{**ACCOUNT, "network_retries": 1}])

    assert run.check.status is Status.ERROR
    assert run.check.summary == (
        "Stripe answered the request for the account's balance with 503 (An unknown error "
        "occurred), still after 1 retry; Stripe may be having trouble (status.stripe.com)")
    assert len(fake.calls("/v1/balance")) == 2


async def test_one_failed_answer_is_retried_and_the_check_passes(
        api_base: str, fake: StripeFake) -> None:
    fake.fail_next(1, status=500)

    outcome = await run_kind("stripe.account", {"key": TEST_KEY, "api_base": api_base,
                                                "network_retries": 1})

    assert outcome.passed
    assert [c.status for c in fake.calls("/v1/balance")] == [500, 200]


async def test_a_proxys_html_error_page_is_named_as_such(api_base: str, fake: StripeFake) -> None:
    fake.fail_next(1, status=502, html=True)

    with pytest.raises(Exception) as raised:
        await run_kind("stripe.account", {"key": TEST_KEY, "api_base": api_base,
                                          "network_retries": 0})

    assert str(raised.value) == ("Stripe answered the request for the account's balance with "
                                 "502 and a body that is not Stripe's JSON; Stripe, or a "
                                 "proxy before it, may be having trouble")


async def test_a_slow_stripe_times_out_with_the_wait_named(
        api_base: str, fake: StripeFake, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake.delay_s = 1.0
    port = api_base.rsplit(":", 1)[1]

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{**ACCOUNT, "request_timeout": "0.2s",
                                          "network_retries": 0}])

    assert run.check.status is Status.ERROR
    assert run.check.summary == (f"no answer from Stripe at 127.0.0.1:{port} within 0.2s when "
                                 "reading the account's balance")


async def test_nothing_listening_at_api_base_is_an_error_naming_the_address() -> None:
    port = free_port()

    with pytest.raises(Exception) as raised:
        await run_kind("stripe.account", {"key": TEST_KEY, "network_retries": 0,
                                          "api_base": f"http://127.0.0.1:{port}"})

    assert str(raised.value) == (f"cannot reach Stripe at 127.0.0.1:{port} (connection "
                                 "refused) when reading the account's balance; is api_base "
                                 "right?")
    assert raised.value.__cause__ is None and raised.value.__context__ is None


def test_an_api_base_that_is_not_a_url_is_refused_when_the_suite_loads() -> None:
    with pytest.raises(ValidationError, match="expected an http:// or https:// address"):
        load_kind("stripe.account").Params.model_validate({"key": TEST_KEY,
                                                           "api_base": "api.stripe.com"})


def test_the_key_is_not_in_the_params_repr() -> None:
    params = load_kind("stripe.account").Params.model_validate({"key": TEST_KEY})
    assert TEST_KEY not in repr(params) and TEST_KEY not in str(params)


# ------------------------------------------------------------------------------ canaries

@pytest.mark.parametrize("scenario", ["pass", "wrong key", "restricted", "live in test",
                                      "stripe down"])
async def test_no_key_reaches_any_result_report_or_log(
        scenario: str, api_base: str, fake: StripeFake, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = {"wrong key": WRONG_KEY, "restricted": RESTRICTED_KEY,
           "live in test": LIVE_KEY}.get(scenario, TEST_KEY)
    if scenario == "restricted":
        fake.add_key(RESTRICTED_KEY, permissions=set())
    if scenario == "stripe down":
        fake.fail_next(5, status=500)

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=key,
                                 checks=[{**ACCOUNT, "network_retries": 0}])

    assert run.check.status is not Status.PASS or scenario == "pass"
    assert leaks(run.everything(), key) == 0
    assert leaks(caplog.text, key) == 0
    assert all(leaks(str(record.__dict__), key) == 0 for record in caplog.records)
    # Not even masked: stripe-python's own lines quote a key's last characters.
    assert [r for r in caplog.records if r.name.startswith("stripe")] == []


async def test_the_key_is_registered_with_the_redactor_even_when_given_literally(
        api_base: str) -> None:
    ctx = stripe_context()

    await run_kind("stripe.account", {"key": TEST_KEY, "api_base": api_base}, ctx)

    assert ctx.redactor.redact(f"oops {TEST_KEY}") == f"oops [redacted {FP_TEST}]"
