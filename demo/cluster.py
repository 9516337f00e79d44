"""The demo's Kubernetes cluster: the fake API server of the tests, holding the reference
report's healthy staging (namespace rsolv-staging, two pods app=rsolv-platform 1/1 Running
with 0 restarts, deployment staging-rsolv-platform on ghcr.io/rsolv-dev/rsolv-platform:staging
fully rolled out, secret staging-rsolv-secrets with test-mode Stripe keys).

The Stripe keys and the API token are generated at random on every start, so that no secret
is ever committed, and a leak in the demo's output could only be a real leak.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.fake_k8s import FakeKubernetes, running_fake, staging_cluster, write_kubeconfig

__all__ = ["CLUSTER_DEGRADABLE", "CONTEXT", "create_cluster", "serving_cluster", "stripe_key"]

CONTEXT = "rsolv-staging"  # the kubeconfig context the example suite names
# What `--degrade` can break in the cluster: a live Stripe key where staging needs a test one.
CLUSTER_DEGRADABLE = ("live-stripe-key",)

_ALPHABET = string.ascii_letters + string.digits


def stripe_key(prefix: str) -> str:
    """A random key shaped like Stripe's (`sk_test_51...`, 107 characters); never a real one."""
    return prefix + "51" + "".join(secrets.choice(_ALPHABET) for _ in range(97))


def create_cluster(degraded: frozenset[str] = frozenset()) -> FakeKubernetes:
    """The healthy staging cluster, with fresh secrets; `live-stripe-key` puts a live-mode
    secret key where staging must hold a test one."""
    unknown = sorted(set(degraded) - set(CLUSTER_DEGRADABLE))
    if unknown:
        raise ValueError(f"cannot degrade {', '.join(unknown)}: expected any of "
                         f"{', '.join(CLUSTER_DEGRADABLE)}")
    mode = "live" if "live-stripe-key" in degraded else "test"
    cluster = staging_cluster({"stripe-api-key": stripe_key(f"sk_{mode}_"),
                               "stripe-publishable-key": stripe_key("pk_test_")})
    cluster.token = secrets.token_urlsafe(32)
    return cluster


@contextmanager
def serving_cluster(cluster: FakeKubernetes, directory: Path) -> Iterator[tuple[str, Path]]:
    """Serves the cluster on loopback and writes a kubeconfig for it (context `CONTEXT`) in
    `directory`; yields the server's URL and the kubeconfig's path."""
    with running_fake(cluster) as url:
        yield url, write_kubeconfig(directory / "kubeconfig", url, cluster.token, context=CONTEXT)
