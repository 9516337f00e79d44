"""The fake cluster the k8s.* kind tests share: the reference report's healthy staging, served
on loopback, with a kubeconfig for it. A test module that needs another cluster (a planted
secret, say) overrides `cluster`; `kubeconfig` then serves that one."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.fake_k8s import FakeKubernetes, serving, staging_cluster


@pytest.fixture
def cluster() -> FakeKubernetes:
    return staging_cluster()


@pytest.fixture
def kubeconfig(cluster: FakeKubernetes, tmp_path: Path) -> Iterator[Path]:
    with serving(cluster, tmp_path) as path:
        yield path
