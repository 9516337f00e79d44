"""k8s.secret against the fake API server. Canary values are planted in the fake secret;
no output of the kind may carry one, a part of one, or its base64."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.errors import CheckError
from checks.kinds.k8s_secret import SecretParams
from checks.results import Outcome
from tests.support.fake_k8s import (
    NAMESPACE,
    SECRET,
    FakeKubernetes,
    check_context,
    make_secret,
    run_kind,
    staging_cluster,
)

TEST_KEY = "sk_test_CANARYtestkey51Hx9q2Lm8Zr4Tw"
LIVE_KEY = "sk_" + "live_CANARYlivekey51Hx9q2Lm8Zr4Tw"  # split: not a key to scanners
PUBLISHABLE = "pk_test_CANARYpublishable7Yb3Kd0Qe"
STRIPE_RULES = {"stripe-api-key": {"prefix": "sk_test_", "min_length": 20},
                "stripe-publishable-key": {"prefix": "pk_test_"}}


def forms(value: str) -> list[str]:
    """A value and the forms it could leak in: base64 with and without padding, and its
    non-public part (everything after the known prefix)."""
    encoded = base64.b64encode(value.encode()).decode()
    secret_part = value.split("_", 2)[-1]
    return [value, encoded, encoded.rstrip("=")] + ([secret_part] if len(secret_part) >= 8
                                                     else [])


def assert_nothing_of(values: list[str], outcome: Outcome) -> None:
    text = outcome.summary + outcome.details + json.dumps(outcome.evidence) + json.dumps(
        outcome.measurements)
    for value in values:
        for form in forms(value):
            assert form not in text


@pytest.fixture
def cluster() -> FakeKubernetes:
    return staging_cluster({"stripe-api-key": TEST_KEY, "stripe-publishable-key": PUBLISHABLE,
                            "database-url": "ecto://rsolv:CANARYdbpass@db/rsolv"})


async def test_test_mode_stripe_keys_in_staging_pass_showing_names_and_lengths_only(
        kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.secret", {"secret": SECRET, "keys": STRIPE_RULES},
                             check_context(kubeconfig))

    assert outcome.passed
    assert outcome.summary == f"secret {SECRET}: 2/2 keys present, every rule holds"
    assert outcome.details == (f"secret {SECRET} in {NAMESPACE}:\n"
                               f"  stripe-api-key: present, {len(TEST_KEY)} chars, ok\n"
                               f"  stripe-publishable-key: present, {len(PUBLISHABLE)} chars, ok")
    assert outcome.evidence["keys"] == {
        "stripe-api-key": {"present": True, "length": len(TEST_KEY), "failed_rules": []},
        "stripe-publishable-key": {"present": True, "length": len(PUBLISHABLE),
                                   "failed_rules": []}}
    assert outcome.measurements == {"keys_required": 2, "keys_present": 2}
    assert_nothing_of([TEST_KEY, PUBLISHABLE], outcome)


async def test_a_live_stripe_key_in_staging_fails_the_prefix_rule_without_the_value(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_secret(make_secret(data={"stripe-api-key": LIVE_KEY,
                                         "stripe-publishable-key": PUBLISHABLE}))

    outcome = await run_kind("k8s.secret", {"secret": SECRET, "keys": STRIPE_RULES},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"secret {SECRET}: key stripe-api-key fails rule prefix "
                               f"(expected sk_test_)")
    assert outcome.evidence["keys"]["stripe-api-key"] == {
        "present": True, "length": len(LIVE_KEY), "failed_rules": ["prefix"]}
    assert_nothing_of([LIVE_KEY, PUBLISHABLE], outcome)
    # Not even the value's own (public) prefix: the result says what was expected, only.
    assert "sk_live" not in outcome.summary + outcome.details + json.dumps(outcome.evidence)


async def test_a_missing_key_fails_and_is_reported_as_missing(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.secret", {"secret": SECRET,
                                            "keys": ["stripe-api-key", "stripe-webhook-secret"]},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == f"secret {SECRET}: missing key stripe-webhook-secret"
    assert "  stripe-webhook-secret: missing" in outcome.details
    assert outcome.evidence["keys"]["stripe-webhook-secret"] == {
        "present": False, "length": None, "failed_rules": []}
    assert outcome.measurements == {"keys_required": 2, "keys_present": 1}


async def test_every_rule_that_fails_is_named(cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_secret(make_secret(data={"empty": "", "short": "sk_test_x1"}))

    outcome = await run_kind("k8s.secret", {"secret": SECRET, "keys": {
        "empty": {},
        "short": {"min_length": 30, "pattern": "sk_test_[A-Za-z0-9]{24,}"},
    }}, check_context(kubeconfig))

    assert outcome.summary == f"secret {SECRET}: key empty fails rule non_empty (and 2 more)"
    assert outcome.details.splitlines()[1:3] == [
        "  empty: present, 0 chars, fails non_empty",
        "  short: present, 10 chars, fails min_length (expected at least 30 chars), "
        "pattern (expected to match sk_test_[A-Za-z0-9]{24,})",
    ]
    assert outcome.evidence["keys"]["short"]["failed_rules"] == ["min_length", "pattern"]
    assert_nothing_of(["sk_test_x1"], outcome)


async def test_every_value_is_registered_with_the_redactor_as_soon_as_it_is_read(
        kubeconfig: Path) -> None:
    ctx = check_context(kubeconfig)

    await run_kind("k8s.secret", {"secret": SECRET, "keys": ["stripe-api-key"]}, ctx)

    # Also the keys the check did not ask about: they were in memory all the same.
    for value in (TEST_KEY, PUBLISHABLE, "ecto://rsolv:CANARYdbpass@db/rsolv"):
        encoded = base64.b64encode(value.encode()).decode()
        text = ctx.redactor.redact(f"leak: {value} / {encoded}")
        assert value not in text and encoded not in text


async def test_no_value_reaches_the_logs_even_at_debug_level(
        kubeconfig: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)

    await run_kind("k8s.secret", {"secret": SECRET, "keys": STRIPE_RULES},
                   check_context(kubeconfig))

    assert caplog.records  # urllib3 logged the request: the capture works
    for value in (TEST_KEY, PUBLISHABLE):
        for form in forms(value):
            assert form not in caplog.text


async def test_a_secret_that_does_not_exist_is_an_error_naming_it(kubeconfig: Path) -> None:
    with pytest.raises(CheckError) as caught:
        await run_kind("k8s.secret", {"secret": "staging-rsolv-secret", "keys": ["a"]},
                       check_context(kubeconfig))

    assert caught.value.message == ("secret staging-rsolv-secret not found in namespace "
                                    f"{NAMESPACE}: check its name and that the namespace exists")
    assert caught.value.permanent


async def test_a_refused_get_names_the_grant_smokebot_needs(cluster: FakeKubernetes,
                                                            kubeconfig: Path) -> None:
    cluster.forbid("get", "secrets")

    with pytest.raises(CheckError) as caught:
        await run_kind("k8s.secret", {"secret": SECRET, "keys": ["stripe-api-key"]},
                       check_context(kubeconfig))

    assert caught.value.message == ("the service account cannot get secrets in rsolv-staging: "
                                    "grant get on secrets/staging-rsolv-secrets")
    assert caught.value.details == (
        f'the API said: secrets "{SECRET}" is forbidden: User "system:serviceaccount:'
        f'smokebot:smokebot" cannot get resource "secrets" in API group "" in the '
        f'namespace "rsolv-staging"')


def test_keys_may_be_a_list_or_a_mapping_of_rules() -> None:
    as_list = SecretParams.model_validate({"secret": SECRET, "keys": ["a", "b"]})
    as_map = SecretParams.model_validate({"secret": SECRET, "keys": {"a": None, "b": {}}})

    assert as_list.keys == as_map.keys
    assert as_list.keys["a"].non_empty


def test_unknown_rules_bad_patterns_and_no_keys_are_parameter_errors() -> None:
    with pytest.raises(ValidationError, match="prefixx"):
        SecretParams.model_validate({"secret": SECRET, "keys": {"a": {"prefixx": "sk_"}}})
    with pytest.raises(ValidationError, match="invalid regular expression"):
        SecretParams.model_validate({"secret": SECRET, "keys": {"a": {"pattern": "sk_("}}})
    with pytest.raises(ValidationError, match="at least 1 item"):
        SecretParams.model_validate({"secret": SECRET, "keys": []})
