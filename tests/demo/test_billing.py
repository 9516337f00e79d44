"""The demo's Stripe: fresh secrets on every start unless the environment plants them, and
both emulators seeded with what the example suite's Billing (Stripe) checks look for."""

from __future__ import annotations

import httpx
import pytest
import stripe

from demo.billing import (
    KEY_VARIABLE, PRO_LOOKUP_KEY, WEBHOOK_SECRET_VARIABLE, serving_stripe, stripe_secrets,
)
from demo.webhooks import HANDLED_EVENTS

# Canaries: split, so that they are no secrets to a scanner.
KEY = "sk_" + "test_CANARYdemo51Hx9q2Lm8Zr4TwQab"
WEBHOOK_SECRET = "whsec_" + "CANARYdemo0123456789abcdef"
WEBHOOK_URL = "http://127.0.0.1:9/webhooks/stripe"  # nothing listens: no event is delivered


def test_every_start_makes_a_new_test_key_and_signing_secret() -> None:
    first, second = stripe_secrets({}), stripe_secrets({})

    assert first.key.reveal().startswith("sk_test_51")
    assert len(first.key.reveal()) == 107
    assert first.webhook_secret.reveal().startswith("whsec_")
    assert len(first.webhook_secret.reveal()) == len("whsec_") + 32
    assert first.key != second.key and first.webhook_secret != second.webhook_secret
    assert first.key.reveal() not in repr(first)
    assert first.webhook_secret.reveal() not in repr(first)


def test_secrets_the_environment_holds_are_used() -> None:
    planted = stripe_secrets({KEY_VARIABLE: KEY, WEBHOOK_SECRET_VARIABLE: WEBHOOK_SECRET})

    assert (planted.key.reveal(), planted.webhook_secret.reveal()) == (KEY, WEBHOOK_SECRET)


@pytest.mark.parametrize(("variable", "value", "message"), [
    (KEY_VARIABLE, "sk_" + "live_CANARYdemo51Hx9q2Lm8Zr4TwQab",
     "$DEMO_STRIPE_KEY must hold a test-mode secret key, sk_test_ and letters or digits; "
     "unset it to have one made"),
    (WEBHOOK_SECRET_VARIABLE, "CANARYdemo0123456789abcdef",
     "$DEMO_STRIPE_WEBHOOK_SECRET must hold a signing secret, whsec_ and letters or digits; "
     "unset it to have one made"),
])
def test_a_planted_secret_of_the_wrong_shape_is_refused_without_quoting_it(
        variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        stripe_secrets({variable: value})

    assert str(raised.value) == message
    assert "CANARY" not in str(raised.value)


def test_the_emulators_hold_the_pro_price_the_endpoint_and_the_plan() -> None:
    secrets = stripe_secrets({KEY_VARIABLE: KEY, WEBHOOK_SECRET_VARIABLE: WEBHOOK_SECRET})
    with serving_stripe(WEBHOOK_URL, secrets) as emulators:
        fake = stripe.StripeClient(KEY, base_addresses={"api": emulators.api_base})
        prices = fake.v1.prices.list({"lookup_keys": [PRO_LOOKUP_KEY],
                                      "expand": ["data.product"]})
        endpoints = fake.v1.webhook_endpoints.list()
        balance = fake.v1.balance.retrieve()
        local = stripe.StripeClient(KEY, base_addresses={"api": emulators.flow_api_base})
        plan = local.v1.plans.retrieve(PRO_LOOKUP_KEY)
    api_base = emulators.api_base

    [price] = prices.data
    assert (price.unit_amount, price.currency, price.recurring.interval) == (59900, "usd",
                                                                             "month")
    assert price.metadata.to_dict() == {"credits": "60"}
    assert (price.product.name, price.product.active) == ("Pro", True)
    [endpoint] = endpoints.data
    assert (endpoint.url, endpoint.status, endpoint.livemode) == (WEBHOOK_URL, "enabled", False)
    assert endpoint.enabled_events == list(HANDLED_EVENTS)
    assert balance.livemode is False
    assert (plan.amount, plan.currency, plan.interval) == (59900, "usd", "month")
    with pytest.raises(httpx.HTTPError):  # stopped with the block
        httpx.get(f"{api_base}/v1/balance", timeout=1)
