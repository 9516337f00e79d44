"""The demo's fake cluster: the reference report's staging, with Stripe keys and a token made
fresh on every start (none is committed), and one thing `--degrade` can break."""

from __future__ import annotations

import base64

import pytest

from demo.cluster import create_cluster
from tests.support.fake_k8s import NAMESPACE, SECRET, FakeKubernetes


def stripe_keys(cluster: FakeKubernetes) -> dict[str, str]:
    data = cluster.secrets[(NAMESPACE, SECRET)]["data"]
    return {key: base64.b64decode(value).decode() for key, value in data.items()}


def test_every_start_makes_new_test_mode_keys_and_token() -> None:
    first, second = create_cluster(), create_cluster()

    keys = stripe_keys(first)
    assert sorted(keys) == ["stripe-api-key", "stripe-publishable-key"]
    assert keys["stripe-api-key"].startswith("sk_test_51")
    assert keys["stripe-publishable-key"].startswith("pk_test_51")
    assert {len(value) for value in keys.values()} == {107}
    assert set(keys.values()).isdisjoint(stripe_keys(second).values())
    assert first.token != second.token != FakeKubernetes.token


def test_live_stripe_key_degrade_puts_a_live_secret_key_in_staging() -> None:
    keys = stripe_keys(create_cluster(frozenset({"live-stripe-key"})))

    assert keys["stripe-api-key"].startswith("sk_live_")
    assert keys["stripe-publishable-key"].startswith("pk_test_")


def test_unknown_component_to_degrade_is_refused() -> None:
    with pytest.raises(ValueError) as caught:
        create_cluster(frozenset({"crashloop"}))

    assert str(caught.value) == "cannot degrade crashloop: expected any of live-stripe-key"
