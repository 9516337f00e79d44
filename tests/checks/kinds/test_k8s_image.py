"""k8s.image against the fake API server: the deployment's image, and what the pods run."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from pydantic import ValidationError

from checks.kinds.k8s_image import ImageParams, ImageRef
from tests.support.fake_k8s import (
    DEPLOYMENT,
    DIGEST,
    IMAGE,
    POD_NAMES,
    FakeKubernetes,
    check_context,
    make_deployment,
    make_pod,
    run_kind,
)

COMMIT = "26603507f1c2d3e4a5b6c7d8e9f0011223344556"  # the report's week-2-complete commit
OLDER_PUSH = "sha256:" + hashlib.sha256(b"rsolv-platform week-1").hexdigest()


def deploy_everywhere(cluster: FakeKubernetes, image: str) -> None:
    """The deployment and both pods on `image`."""
    cluster.set_deployment(make_deployment(image=image))
    for name in POD_NAMES:
        cluster.add_pod(make_pod(name, image=image))


async def test_the_reports_image_passes_and_reads_like_its_version_line(
        kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "image": IMAGE},
                             check_context(kubeconfig))

    assert outcome.passed
    assert outcome.summary == f"{IMAGE} (tag staging, digest {DIGEST[:19]}) on 2/2 pods"
    assert outcome.measurements == {"image": IMAGE, "tag": "staging", "digest": DIGEST}
    assert outcome.evidence["repository"] == "ghcr.io/rsolv-dev/rsolv-platform"
    assert outcome.evidence["selector"] == "app=rsolv-platform"


async def test_a_wrong_tag_fails_with_expected_and_actual(cluster: FakeKubernetes,
                                                          kubeconfig: Path) -> None:
    deploy_everywhere(cluster, "ghcr.io/rsolv-dev/rsolv-platform:week-1")

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "tag": "staging"},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == ("expected tag staging, got week-1 "
                               "(ghcr.io/rsolv-dev/rsolv-platform:week-1)")


async def test_a_wrong_image_fails(cluster: FakeKubernetes, kubeconfig: Path) -> None:
    deploy_everywhere(cluster, "ghcr.io/rsolv-dev/rsolv-api:staging")

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "image": IMAGE},
                             check_context(kubeconfig))

    assert outcome.summary == f"expected image {IMAGE}, got ghcr.io/rsolv-dev/rsolv-api:staging"


async def test_a_deploy_commit_matches_an_image_tagged_with_its_short_form(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    deploy_everywhere(cluster, "ghcr.io/rsolv-dev/rsolv-platform:26603507")

    matching = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "tag": COMMIT},
                              check_context(kubeconfig))
    other = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "tag": "9f8e7d6c5b4a"},
                           check_context(kubeconfig))

    assert matching.passed, matching.summary
    assert other.summary == ("expected tag 9f8e7d6c5b4a, got 26603507 "
                             "(ghcr.io/rsolv-dev/rsolv-platform:26603507)")


async def test_an_unknown_deploy_commit_leaves_the_tag_unchecked(kubeconfig: Path) -> None:
    # `tag: ${deploy.commit:-}` outside a deploy run interpolates to "".
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "tag": ""},
                             check_context(kubeconfig))

    assert outcome.passed


async def test_a_pattern_the_image_does_not_match_fails(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT,
                                           "pattern": r":(main|[0-9a-f]{8})$"},
                             check_context(kubeconfig))

    assert outcome.summary == f"image {IMAGE} does not match pattern :(main|[0-9a-f]{{8}})$"


async def test_pods_running_another_image_id_of_the_tag_fail(cluster: FakeKubernetes,
                                                             kubeconfig: Path) -> None:
    stale = POD_NAMES[1]
    cluster.add_pod(make_pod(stale, image_id=f"ghcr.io/rsolv-dev/rsolv-platform@{OLDER_PUSH}"))

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "image": IMAGE},
                             check_context(kubeconfig))

    listing = sorted([(DIGEST, POD_NAMES[0]), (OLDER_PUSH, stale)])
    assert not outcome.passed
    assert outcome.summary == (f"pods run 2 different digests of {IMAGE}: "
                               + ", ".join(f"{d[:19]} ({p})" for d, p in listing))
    assert outcome.measurements["digest"] is None


async def test_an_expected_digest_is_checked_on_every_pod(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "digest": OLDER_PUSH},
                             check_context(kubeconfig))

    assert outcome.summary == (f"pod {POD_NAMES[0]} runs digest {DIGEST[:19]}, expected "
                               f"{OLDER_PUSH[:19]} (and 1 more)")


async def test_a_pod_of_an_older_replica_set_running_the_old_image_fails(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(POD_NAMES[1], image="ghcr.io/rsolv-dev/rsolv-platform:week-1",
                             image_id=f"ghcr.io/rsolv-dev/rsolv-platform@{OLDER_PUSH}"))

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT},
                             check_context(kubeconfig))

    assert outcome.summary == (f"pod {POD_NAMES[1]} runs ghcr.io/rsolv-dev/rsolv-platform:week-1,"
                               f" expected {IMAGE} (and 1 more)")


async def test_a_container_name_the_deployment_lacks_fails(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "container": "worker"},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"deployment {DEPLOYMENT} has no container named worker; "
                               f"it has: rsolv-platform")


async def test_without_pods_only_the_deployment_is_checked(cluster: FakeKubernetes,
                                                           kubeconfig: Path) -> None:
    cluster.pods.clear()

    skipped = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "check_pods": False},
                             check_context(kubeconfig))
    checked = await run_kind("k8s.image", {"deployment": DEPLOYMENT},
                             check_context(kubeconfig))

    assert skipped.summary == f"{IMAGE} (tag staging)"
    assert checked.summary == (f"no running pod of deployment {DEPLOYMENT} "
                               f"(selector app=rsolv-platform)")


@pytest.mark.parametrize(("reference", "repository", "tag", "digest", "canonical"), [
    (IMAGE, "ghcr.io/rsolv-dev/rsolv-platform", "staging", None, IMAGE),
    ("registry.local:5000/app", "registry.local:5000/app", None, None,
     "registry.local:5000/app:latest"),
    (f"ghcr.io/a/b@{DIGEST}", "ghcr.io/a/b", None, DIGEST, f"ghcr.io/a/b@{DIGEST}"),
    ("nginx:1.25", "nginx", "1.25", None, "docker.io/library/nginx:1.25"),
    ("bitnami/redis", "bitnami/redis", None, None, "docker.io/bitnami/redis:latest"),
])
def test_image_references_are_parsed_like_the_kubelet_reads_them(
        reference: str, repository: str, tag: str | None, digest: str | None,
        canonical: str) -> None:
    ref = ImageRef.parse(reference)
    assert (ref.repository, ref.tag, ref.digest, ref.canonical) == (
        repository, tag, digest, canonical)


def test_a_malformed_digest_or_pattern_is_a_parameter_error() -> None:
    with pytest.raises(ValidationError, match="expected a digest such as sha256"):
        ImageParams.model_validate({"deployment": DEPLOYMENT, "digest": "sha256:abc"})
    with pytest.raises(ValidationError, match="invalid regular expression"):
        ImageParams.model_validate({"deployment": DEPLOYMENT, "pattern": "staging("})
