"""The `stripe.account` kind: the environment's key works, and it and the account are in the
mode the environment expects.

    - id: stripe-key
      type: stripe.account
      key: ${secrets.stripe_key}
      mode: test                     # default: the environment's `stripe_mode`, else test
      account: acct_1NuzflB0DBR1HOyc # optional: the account the key must belong to
      assert: [charges_enabled == true, country == US]   # optional, on GET /v1/account

The key's prefix (`sk_`/`rk_`, `_test_`/`_live_`) must agree with the expected mode before
the key is sent anywhere: a live key where test mode is expected fails without a request.
Then `GET /v1/balance` must answer with the same `livemode`. `GET /v1/account` adds the
account's id and name; a restricted key that may not read it is noted, unless `account` or
`assert` need it. A key Stripe rejects (401) or refuses (403, the missing permission named)
is what this check looks for, so it fails rather than errors.
"""

from __future__ import annotations

import time
from typing import Any

from pydantic import ConfigDict, Field

from checks.assertions import AssertionList, evaluate
from checks.errors import CheckError
from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.stripe._client import (
    ProblemKind,
    StripeParams,
    StripeProblem,
    as_document,
    attempt,
    expected_mode,
    fingerprint,
    key_mode,
    mode_mismatch,
    open_stripe,
)
from checks.results import Outcome

__all__ = ["AccountCheck", "AccountParams"]


class AccountParams(StripeParams):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    account: str | None = Field(None, pattern=r"^acct_[A-Za-z0-9]+$")
    assertions: AssertionList = Field(default_factory=list, alias="assert")


class AccountCheck(CheckKind[AccountParams]):
    Params = AccountParams

    async def run(self, params: AccountParams, ctx: CheckContext) -> Outcome:
        expected = expected_mode(params, ctx)
        try:
            key_type = key_mode(params.key)
        except CheckError as exc:  # a malformed key is this check's finding
            return Outcome.failed(exc.message, evidence=_key_evidence(params, expected))
        evidence: dict[str, Any] = {**_key_evidence(params, expected),
                                    "key_kind": key_type.kind, "key_mode": key_type.mode}
        mismatch = mode_mismatch(params.key, expected, ctx.environment)
        if mismatch is not None:
            return Outcome.failed(mismatch, evidence=evidence)

        started = time.perf_counter()
        async with open_stripe(params, ctx) as client:
            balance = await attempt(client.v1.balance.retrieve_async(),
                                    "the account's balance", params, ctx)
            response_ms = round((time.perf_counter() - started) * 1000)
            if isinstance(balance, StripeProblem):
                return _refused(balance, evidence)
            account: Any = None
            if params.account or params.assertions or key_type.kind == "secret":
                account = await attempt(client.v1.accounts.retrieve_current_async(),
                                        "the account's details", params, ctx)
        evidence["livemode"] = balance.livemode
        measurements = {"response_ms": response_ms}
        failures: list[str] = []
        notes: list[str] = []
        if balance.livemode != (expected == "live"):
            failures.append(f"Stripe answered with livemode {str(balance.livemode).lower()} "
                            f"for the {key_type.mode}-mode key {fingerprint(params.key)}; "
                            f"expected {expected} mode (livemode "
                            f"{str(expected == 'live').lower()})")
        if isinstance(account, StripeProblem):
            if params.account or params.assertions or account.kind is not ProblemKind.REFUSED:
                return _refused(account, evidence, measurements)
            notes.append(f"account details not read: {account.message}")
        elif account is not None:
            document = as_document(account)
            evidence["account"] = _account_evidence(document)
            if params.account and document.get("id") != params.account:
                failures.append(f"the key belongs to account {document.get('id')}, expected "
                                f"{params.account}")
            failures.extend(evaluate(params.assertions, document))
        details = "\n".join([*failures, *notes, *_details(evidence)])
        if failures:
            return Outcome.failed("; ".join(failures), details=details,
                                  measurements=measurements, evidence=evidence)
        return Outcome.ok(_passed(key_type.kind, expected, params, evidence, response_ms),
                          details=details, measurements=measurements, evidence=evidence)

    def describe(self, params: AccountParams) -> str:
        mode = f"{params.mode} mode" if params.mode else "the environment's mode"
        return f"Stripe key works in {mode} ({params.api_base})"


def _key_evidence(params: AccountParams, expected: str) -> dict[str, Any]:
    return {"key": fingerprint(params.key), "expected_mode": expected}


def _refused(problem: StripeProblem, evidence: dict[str, Any],
             measurements: dict[str, Any] | None = None) -> Outcome:
    """A rejected or refused key is the finding; Stripe being unreachable is not."""
    if problem.kind is not ProblemKind.REFUSED:
        raise problem.error()
    if problem.permissions:
        evidence = {**evidence, "missing_permissions": list(problem.permissions)}
    return Outcome.failed(problem.message, measurements=measurements or {},
                          evidence={**evidence, "http_status": problem.status})


def _account_evidence(document: dict[str, Any]) -> dict[str, Any]:
    settings = document.get("settings") or {}
    name = ((settings.get("dashboard") or {}).get("display_name")
            or (document.get("business_profile") or {}).get("name"))
    return {"id": document.get("id"), "name": name, "country": document.get("country"),
            "charges_enabled": document.get("charges_enabled"),
            "payouts_enabled": document.get("payouts_enabled")}


def _details(evidence: dict[str, Any]) -> list[str]:
    lines = [f"key: {evidence['key']} ({evidence['key_kind']}, {evidence['key_mode']} mode)",
             f"expected mode: {evidence['expected_mode']}",
             f"livemode: {str(evidence['livemode']).lower()}"]
    account = evidence.get("account")
    if account:
        lines.append(f"account: {account['id']}" + (f" ({account['name']})"
                                                     if account["name"] else ""))
    return lines


def _passed(kind: str, mode: str, params: AccountParams, evidence: dict[str, Any],
            response_ms: int) -> str:
    account = evidence.get("account")
    which = f" for account {account['id']}" if account else ""
    return (f"{mode}-mode {kind} key {fingerprint(params.key)} works{which}, livemode "
            f"{str(evidence['livemode']).lower()} ({response_ms} ms)")
