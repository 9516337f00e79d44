"""k8s.image's `labels:` and `annotations:`: with an image under a mutable tag (`:staging`), the
commit a deploy stamped on the pod template is what says which build runs; the template and
every pod must carry it."""

from __future__ import annotations

from pathlib import Path

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
OLDER = "1b2c3d4e5f60718293a4b5c6d7e8f90011223344"
KEY = "rsolv.dev/commit"


def stamp(cluster: FakeKubernetes, template: str | None, pods: tuple[str, ...]) -> None:
    """The deployment on `:staging` with `template` as its commit annotation, and one pod per
    commit in `pods`, each carrying what its template had."""
    cluster.set_deployment(make_deployment(
        template_annotations={KEY: template} if template else None))
    cluster.pods.clear()
    for name, commit in zip(POD_NAMES, pods):
        cluster.add_pod(make_pod(name, annotations={KEY: commit}))


async def test_the_deploys_commit_on_template_and_pods_passes_a_mutable_tag(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    stamp(cluster, COMMIT[:8], (COMMIT[:8], COMMIT[:8]))  # CI stamped the short form

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "image": IMAGE,
                                           "annotations": {KEY: COMMIT}},
                             check_context(kubeconfig))

    assert outcome.passed, outcome.summary
    assert outcome.summary == (f"{IMAGE} (tag staging, digest {DIGEST[:19]}, annotation {KEY} "
                               f"{COMMIT[:8]}) on 2/2 pods")
    assert outcome.evidence["stamped"] == {f"annotation {KEY}": COMMIT[:8]}
    assert f"pod template annotation {KEY}: {COMMIT[:8]}" in outcome.details


async def test_a_pod_left_from_the_previous_deploy_fails_by_name(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    stamp(cluster, COMMIT, (COMMIT, OLDER))

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT,
                                           "annotations": {KEY: COMMIT}},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"pod {POD_NAMES[1]}: expected annotation {KEY} {COMMIT}, "
                               f"got {OLDER}")


async def test_a_template_without_the_stamp_fails(cluster: FakeKubernetes,
                                                  kubeconfig: Path) -> None:
    stamp(cluster, None, ())
    cluster.add_pod(make_pod(POD_NAMES[0]))

    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT,
                                           "annotations": {KEY: COMMIT}},
                             check_context(kubeconfig))

    assert outcome.summary == (f"deployment {DEPLOYMENT} pod template has no annotation {KEY}, "
                               f"expected {COMMIT} (and 1 more)")
    assert f"pod {POD_NAMES[0]} has no annotation {KEY}, expected {COMMIT}" in outcome.details


async def test_an_empty_expected_value_outside_a_deploy_run_is_not_checked(
        kubeconfig: Path) -> None:
    # `${deploy.commit:-}` in a run no deploy started interpolates to "".
    outcome = await run_kind("k8s.image", {"deployment": DEPLOYMENT,
                                           "annotations": {KEY: ""}, "labels": {"x": " "}},
                             check_context(kubeconfig))

    assert outcome.passed, outcome.summary
    assert "stamped" not in outcome.evidence


async def test_a_version_label_is_checked_like_an_annotation(cluster: FakeKubernetes,
                                                             kubeconfig: Path) -> None:
    version = {"app.kubernetes.io/version": "week-2-complete"}
    cluster.set_deployment(make_deployment(template_labels=version))
    cluster.pods.clear()
    for name in POD_NAMES:
        cluster.add_pod(make_pod(name, labels={"app": "rsolv-platform", **version}))

    passing = await run_kind("k8s.image", {"deployment": DEPLOYMENT, "labels": version},
                             check_context(kubeconfig))
    failing = await run_kind("k8s.image", {"deployment": DEPLOYMENT,
                                           "labels": {"app.kubernetes.io/version": "week-3"}},
                             check_context(kubeconfig))

    assert passing.passed, passing.summary
    assert failing.summary == (f"deployment {DEPLOYMENT} pod template: expected label "
                               "app.kubernetes.io/version week-3, got week-2-complete "
                               "(and 2 more)")
