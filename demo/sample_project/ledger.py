"""A stand-in for the platform's billing code (the report's Week 2 features): a new customer's
trial defaults, the credit ledger, and how API keys are stored. The demo's `suite` check runs
its tests under coverage.py and requires 80% of these lines to be covered."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

TRIAL_FIXES_LIMIT = 5
PRO_MONTHLY_CREDITS = 60


class InsufficientCredits(Exception):
    pass


@dataclass(frozen=True)
class Customer:
    email: str
    subscription_type: str = "trial"
    credit_balance: int = 0
    trial_fixes_limit: int = TRIAL_FIXES_LIMIT
    transactions: tuple[tuple[int, str], ...] = field(default=())


def new_customer(email: str) -> Customer:
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    return Customer(email=email)


def credit(customer: Customer, amount: int, source: str) -> Customer:
    if amount <= 0:
        raise ValueError("a credit must be positive")
    return replace(customer, credit_balance=customer.credit_balance + amount,
                   transactions=(*customer.transactions, (amount, source)))


def debit(customer: Customer, amount: int, source: str) -> Customer:
    if amount <= 0:
        raise ValueError("a debit must be positive")
    if amount > customer.credit_balance:
        raise InsufficientCredits(f"{customer.email} has {customer.credit_balance} credits, "
                                  f"{amount} needed")
    return replace(customer, credit_balance=customer.credit_balance - amount,
                   transactions=(*customer.transactions, (-amount, source)))


def subscribe_pro(customer: Customer) -> Customer:
    upgraded = replace(customer, subscription_type="pro")
    return credit(upgraded, PRO_MONTHLY_CREDITS, "pro_monthly")


def refund(customer: Customer, amount: int) -> Customer:
    # Not covered by the tests yet (Week 3's "credit ledger transactions").
    if amount <= 0:
        raise ValueError("a refund must be positive")
    return credit(customer, amount, "refund")


def hash_api_key(api_key: str) -> str:
    """Only the SHA-256 of a key is stored, hex."""
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()
