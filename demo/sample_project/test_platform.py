"""A stand-in for the platform's own test suite (the report's `mix test`), run by the demo's
`suite` check under coverage.py: billing tests that must pass, and one pre-existing failure
marked as known."""

import pytest

from ledger import (
    InsufficientCredits, credit, debit, hash_api_key, new_customer, subscribe_pro,
)


def test_billing_customer_defaults_to_trial() -> None:
    customer = new_customer("smoke-test@example.com")
    assert (customer.subscription_type, customer.trial_fixes_limit) == ("trial", 5)


def test_billing_credit_balance_starts_at_zero() -> None:
    assert new_customer("smoke-test@example.com").credit_balance == 0


def test_billing_rejects_an_email_without_at() -> None:
    with pytest.raises(ValueError):
        new_customer("smoke-test")


def test_billing_pro_subscription_allocates_60_credits() -> None:
    customer = subscribe_pro(new_customer("pro@example.com"))
    assert (customer.subscription_type, customer.credit_balance) == ("pro", 60)


def test_billing_debit_records_the_transaction() -> None:
    customer = debit(credit(new_customer("a@example.com"), 10, "manual"), 4, "fix")
    assert customer.credit_balance == 6
    assert customer.transactions == ((10, "manual"), (-4, "fix"))


def test_billing_debit_refuses_more_than_the_balance() -> None:
    with pytest.raises(InsufficientCredits):
        debit(new_customer("a@example.com"), 1, "fix")


def test_api_keys_are_hashed_with_sha256() -> None:
    assert len(hash_api_key("rsk_test_key")) == 64


def test_parser_error_standardization() -> None:
    # Pre-existing failure, as in the reference report; the suite lists it as known.
    assert "SyntaxError".lower() == "syntax_error"
