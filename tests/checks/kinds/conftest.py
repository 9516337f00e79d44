"""The fake cluster the k8s.* kind tests share: the reference report's healthy staging, served
on loopback, with a kubeconfig for it. A test module that needs another cluster (a planted
secret, say) overrides `cluster`; `kubeconfig` then serves that one. And the Stripe API fake
the stripe.* kind tests share: each module's own `fake` fixture resets and seeds it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_k8s import FakeKubernetes, serving, staging_cluster
from tests.support.stripe_fake import StripeFake


@pytest.fixture
def cluster() -> FakeKubernetes:
    return staging_cluster()


@pytest.fixture
def kubeconfig(cluster: FakeKubernetes, tmp_path: Path) -> Iterator[Path]:
    with serving(cluster, tmp_path) as path:
        yield path


# The Stripe kinds' tests: one fake per module, reset and seeded by each module's `fake`.
@pytest.fixture(scope="module")
def served() -> Iterator[tuple[StripeFake, str]]:
    fake = StripeFake()
    with fake.serve() as url:
        yield fake, url


@pytest.fixture
def api_base(served: tuple[StripeFake, str], fake: StripeFake) -> str:
    """The fake's api_base, once the module's `fake` has seeded it for this test."""
    return served[1]
