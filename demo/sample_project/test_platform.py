"""A stand-in for the platform's own test suite (the report's `mix test`), run by the demo's
`suite` check: billing tests that must pass, and one pre-existing failure marked as known."""


def test_billing_customer_defaults_to_trial() -> None:
    assert {"subscription_type": "trial", "credit_balance": 0}["subscription_type"] == "trial"


def test_billing_credit_balance_starts_at_zero() -> None:
    assert sum([]) == 0


def test_api_keys_are_hashed_with_sha256() -> None:
    import hashlib
    assert len(hashlib.sha256(b"rsk_test_key").hexdigest()) == 64


def test_parser_error_standardization() -> None:
    # Pre-existing failure, as in the reference report; the suite lists it as known.
    assert "SyntaxError".lower() == "syntax_error"
