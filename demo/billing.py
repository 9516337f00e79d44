"""The demo's Stripe, on loopback, in two emulators of the tests:

- the Stripe API fake (tests/support/stripe_fake.py): the account and its balance, the Pro
  price of the reference report ($599 a month, 60 credits, lookup key `pro_monthly`), and a
  test-mode webhook endpoint registered for the demo target's `/webhooks/stripe`, subscribed
  to the events the target handles;
- localstripe (tests/support/localstripe_server.py): what a subscription makes (customers,
  payment methods, subscriptions, invoices, events), with a monthly plan `pro_monthly` (it
  has no prices, and the subscription flow takes a plan id where a price's lookup key would
  do), delivering its events, signed, to the target's endpoint as Stripe would.

The test key (`sk_test_...`) both accept and the endpoint's signing secret (`whsec_...`) are
made fresh on every start, like the cluster's keys (demo/cluster.py), unless the environment
already holds them in $DEMO_STRIPE_KEY and $DEMO_STRIPE_WEBHOOK_SECRET (the tests plant
canaries there, to count them in the demo's output).
"""

from __future__ import annotations

import os
import re
import secrets
import string
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import stripe

from checks.secrets import Secret
from demo.cluster import stripe_key
from demo.webhooks import HANDLED_EVENTS
from tests.support.localstripe_server import serving_localstripe
from tests.support.stripe_fake import StripeFake

__all__ = ["KEY_VARIABLE", "PRO_LOOKUP_KEY", "WEBHOOK_SECRET_VARIABLE", "DemoStripe",
           "StripeSecrets", "serving_stripe", "stripe_secrets"]

KEY_VARIABLE = "DEMO_STRIPE_KEY"  # what the suite's `secrets:` read
WEBHOOK_SECRET_VARIABLE = "DEMO_STRIPE_WEBHOOK_SECRET"
PRO_LOOKUP_KEY = "pro_monthly"
PRO_PRODUCT = "prod_RsolvPro"
PRO_PRICE = "price_RsolvProMonthly"
PRO_UNIT_AMOUNT = 59900  # $599.00 a month
PRO_CREDITS = "60"  # Stripe metadata values are strings

_TEST_KEY = re.compile(r"^sk_test_[A-Za-z0-9]+$")  # the fake takes no other shape
_WEBHOOK_SECRET = re.compile(r"^whsec_[A-Za-z0-9]+$")
_ALPHABET = string.ascii_letters + string.digits


@dataclass(frozen=True)
class StripeSecrets:
    key: Secret  # a test-mode secret key, accepted by both emulators
    webhook_secret: Secret  # the endpoint's signing secret, shared by Stripe and the target


def stripe_secrets(environ: Mapping[str, str] = os.environ) -> StripeSecrets:
    """The environment's demo key and signing secret, each made fresh when it holds none;
    ValueError naming the variable (never its value) when one has the wrong shape."""
    key = environ.get(KEY_VARIABLE) or stripe_key("sk_test_")
    webhook_secret = environ.get(WEBHOOK_SECRET_VARIABLE) or \
        "whsec_" + "".join(secrets.choice(_ALPHABET) for _ in range(32))
    if not _TEST_KEY.match(key):
        raise ValueError(f"${KEY_VARIABLE} must hold a test-mode secret key, sk_test_ and "
                         "letters or digits; unset it to have one made")
    if not _WEBHOOK_SECRET.match(webhook_secret):
        raise ValueError(f"${WEBHOOK_SECRET_VARIABLE} must hold a signing secret, whsec_ and "
                         "letters or digits; unset it to have one made")
    return StripeSecrets(Secret(key), Secret(webhook_secret))


@dataclass(frozen=True)
class DemoStripe:
    api_base: str  # the Stripe API fake: account, prices, webhook endpoints
    flow_api_base: str  # localstripe: customers, subscriptions, events


def _stripe_fake(webhook_url: str, key: str) -> StripeFake:
    fake = StripeFake()
    fake.add_key(key)
    fake.add_product(PRO_PRODUCT, name="Pro")
    fake.add_price(PRO_PRICE, product=PRO_PRODUCT, unit_amount=PRO_UNIT_AMOUNT, currency="usd",
                   interval="month", lookup_key=PRO_LOOKUP_KEY, nickname="Pro monthly",
                   metadata={"credits": PRO_CREDITS})
    fake.add_webhook_endpoint(webhook_url, enabled_events=list(HANDLED_EVENTS),
                              description="rsolv staging")
    return fake


def _seed_localstripe(api_base: str, key: str) -> None:
    client = stripe.StripeClient(key, base_addresses={"api": api_base}, max_network_retries=0)
    product = client.v1.products.create({"name": "Pro"})
    client.v1.plans.create({"id": PRO_LOOKUP_KEY, "amount": PRO_UNIT_AMOUNT, "currency": "usd",
                            "interval": "month", "product": product.id,
                            "metadata": {"credits": PRO_CREDITS}})


@contextmanager
def serving_stripe(webhook_url: str, stripe_secrets: StripeSecrets) -> Iterator[DemoStripe]:
    """Serves both emulators, seeded, on loopback while the block runs; Stripe events go to
    `webhook_url`, signed with the webhook secret. RuntimeError when localstripe cannot
    start."""
    key = stripe_secrets.key.reveal()
    fake = _stripe_fake(webhook_url, key)
    with fake.serve() as api_base, serving_localstripe() as localstripe:
        _seed_localstripe(localstripe.api_base, key)
        localstripe.register_webhook("rsolv-staging", webhook_url,
                                     stripe_secrets.webhook_secret.reveal(),
                                     events=list(HANDLED_EVENTS))
        yield DemoStripe(api_base, localstripe.api_base)
