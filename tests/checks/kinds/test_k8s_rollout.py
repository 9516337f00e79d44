"""k8s.rollout against the fake API server, whose deployment can progress between GETs."""

from __future__ import annotations

from pathlib import Path

from tests.support.fake_k8s import (
    DEPLOYMENT,
    FakeKubernetes,
    check_context,
    make_deployment,
    run_kind,
)

# A rolling update half way: one new pod up, both old ones still there.
HALF_WAY = make_deployment(generation=5, total=3, updated=1, ready=2, available=2,
                           progressing=("True", "ReplicaSetUpdated"))
ALMOST = make_deployment(generation=5, total=3, updated=2, ready=2, available=2,
                         progressing=("True", "ReplicaSetUpdated"))
DONE = make_deployment(generation=5)


def deployment_gets(cluster: FakeKubernetes) -> int:
    return sum("/deployments/" in r for r in cluster.requests)


async def test_a_finished_rollout_passes(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(kubeconfig))

    assert outcome.passed
    assert outcome.summary == (f"deployment {DEPLOYMENT} rolled out: 2/2 replicas updated, "
                               f"ready and available")
    assert outcome.measurements == {"desired": 2, "updated": 2, "ready": 2, "available": 2}
    assert outcome.evidence["conditions"]["Progressing"]["reason"] == "NewReplicaSetAvailable"


async def test_a_rollout_in_progress_that_completes_while_waiting_passes(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.set_deployment(HALF_WAY, ALMOST, DONE)

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT, "wait": "30s",
                                             "poll_interval": "10ms"}, check_context(kubeconfig))

    assert outcome.passed, outcome.summary
    assert outcome.evidence["polls"] == 3
    assert deployment_gets(cluster) == 3


async def test_a_rollout_that_never_completes_reports_what_is_pending(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.set_deployment(HALF_WAY)

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT, "wait": "300ms",
                                             "poll_interval": "20ms"}, check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"deployment {DEPLOYMENT} not rolled out after 0.3s: 1/2 "
                               f"replicas updated, 2 old replicas pending termination")
    assert outcome.evidence["pending"] == ["1/2 replicas updated",
                                           "2 old replicas pending termination"]
    assert outcome.evidence["polls"] >= 2
    assert "replicas: desired 2, current 3, updated 1, ready 2, available 2" in outcome.details


async def test_without_wait_a_rollout_in_progress_fails_after_one_look(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.set_deployment(ALMOST, DONE)

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(kubeconfig))

    assert outcome.summary == (f"deployment {DEPLOYMENT} not rolled out: "
                               f"1 old replica pending termination")
    assert deployment_gets(cluster) == 1


async def test_unavailable_replicas_are_pending(cluster: FakeKubernetes,
                                                kubeconfig: Path) -> None:
    cluster.set_deployment(make_deployment(ready=0, available=0,
                                           progressing=("True", "ReplicaSetUpdated")))

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(kubeconfig))

    assert outcome.summary == (f"deployment {DEPLOYMENT} not rolled out: 0/2 ready, "
                               f"0/2 available, condition Available is False "
                               f"(MinimumReplicasUnavailable)")


async def test_an_exceeded_progress_deadline_fails_at_once_even_with_wait(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.set_deployment(make_deployment(total=3, updated=1, ready=2, available=2,
                                           progressing=("False", "ProgressDeadlineExceeded")))

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT, "wait": "10m"},
                             check_context(kubeconfig))

    assert outcome.summary == (f"deployment {DEPLOYMENT} not rolled out: progress deadline "
                               f'exceeded: ReplicaSet "staging-rsolv-platform-854c9c9984" has '
                               f"timed out progressing.")
    assert deployment_gets(cluster) == 1


async def test_a_generation_the_controller_has_not_seen_is_pending(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.set_deployment(make_deployment(generation=6, observed_generation=5))

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(kubeconfig))

    assert outcome.summary == (f"deployment {DEPLOYMENT} not rolled out: the controller has not "
                               f"observed generation 6 yet (observed 5)")


async def test_a_paused_deployment_is_not_waited_for(cluster: FakeKubernetes,
                                                     kubeconfig: Path) -> None:
    cluster.set_deployment(make_deployment(paused=True))

    outcome = await run_kind("k8s.rollout", {"deployment": DEPLOYMENT, "wait": "10m"},
                             check_context(kubeconfig))

    assert outcome.summary == f"deployment {DEPLOYMENT} not rolled out: the deployment is paused"
