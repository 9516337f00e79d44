"""k8s.pods against the fake API server, through the official client."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.fake_k8s import (
    NAMESPACE,
    POD_NAMES,
    SELECTOR,
    FakeKubernetes,
    check_context,
    make_pod,
    run_kind,
)

CRASHING, SECOND = POD_NAMES


async def test_the_reports_healthy_pods_pass_with_a_kubectl_like_table(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "min_pods": 2},
                             check_context(kubeconfig))

    assert outcome.passed
    assert outcome.summary == "2/2 pods Running and Ready, 0 restarts"
    assert outcome.measurements == {"pods": 2, "ready": 2, "restarts": 0}
    table = outcome.details.splitlines()
    assert table[0] == f"pods matching {SELECTOR} in {NAMESPACE}:"
    assert table[1].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    assert table[2].split()[:4] == [CRASHING, "1/1", "Running", "0"]
    assert [p["name"] for p in outcome.evidence["pods"]] == [CRASHING, SECOND]
    assert outcome.evidence["failing"] == []


async def test_a_crash_looping_pod_fails_with_its_state_termination_and_last_50_log_lines(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(
        CRASHING, restarts=7, waiting=("CrashLoopBackOff",
                                       "back-off 5m0s restarting failed container"),
        last_terminated=("Error", 1, "** (Postgrex.Error) connection refused")))
    cluster.logs[(NAMESPACE, CRASHING, "rsolv-platform", True)] = "".join(
        f"line {n}\n" for n in range(1, 81))

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "min_pods": 2},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"pod {CRASHING}: CrashLoopBackOff (restarts 7): "
                               f"last termination: Error exit 1")
    details = outcome.details
    assert f"pod {CRASHING}: CrashLoopBackOff (restarts 7); 7 restarts, expected at most 0" \
        in details
    assert ("  container rsolv-platform: waiting: CrashLoopBackOff: back-off 5m0s restarting "
            "failed container; ready false, restarts 7") in details
    assert "last termination: Error exit 1 at " in details
    assert ": ** (Postgrex.Error) connection refused" in details
    assert "  last 50 log lines of container rsolv-platform (previous run):\n" in details
    assert "    line 31\n" in details and details.endswith("    line 80")
    assert "    line 30\n" not in details
    log_requests = [r for r in cluster.requests if "/log?" in r]
    assert len(log_requests) == 1
    assert "tailLines=50" in log_requests[0] and "previous=true" in log_requests[0]
    assert outcome.measurements == {"pods": 2, "ready": 1, "restarts": 7}
    assert outcome.evidence["failing"] == [CRASHING]


async def test_a_running_pod_that_is_not_ready_fails(cluster: FakeKubernetes,
                                                      kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(SECOND, ready=False))
    cluster.logs[(NAMESPACE, SECOND, "rsolv-platform", False)] = "waiting for database\n"

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR}, check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == f"pod {SECOND}: Running but not Ready (0/1 containers ready)"
    assert ("Ready False (ContainersNotReady: containers with unready status: "
            "[rsolv-platform])") in outcome.details
    assert "  last 1 log line of container rsolv-platform (current run):\n" \
           "    waiting for database" in outcome.details


async def test_restarts_over_the_limit_fail_and_within_it_pass(cluster: FakeKubernetes,
                                                                kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(SECOND, restarts=3, last_terminated=("OOMKilled", 137, "")))

    over = await run_kind("k8s.pods", {"selector": SELECTOR, "max_restarts": 1},
                          check_context(kubeconfig))
    within = await run_kind("k8s.pods", {"selector": SELECTOR, "max_restarts": 3},
                            check_context(kubeconfig))

    assert not over.passed
    assert over.summary == (f"pod {SECOND}: 3 restarts, expected at most 1: "
                            f"last termination: OOMKilled exit 137")
    assert within.passed
    assert within.summary == "2/2 pods Running and Ready, 3 restarts"


async def test_a_pod_older_than_max_age_is_not_from_the_latest_deploy(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(SECOND, age_s=3 * 3600))

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "max_age": "5m"},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == f"pod {SECOND}: started 3h ago, expected at most 5m"


async def test_recent_pods_pass_max_age_and_say_how_old_the_oldest_is(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "max_age": "5m"},
                             check_context(kubeconfig))

    assert outcome.passed
    assert re.fullmatch(r"2/2 pods Running and Ready, 0 restarts, oldest started \dm \d\ds ago",
                        outcome.summary)


async def test_fewer_pods_than_required_fail(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "min_pods": 3},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"expected at least 3 pods matching {SELECTOR} in {NAMESPACE}, "
                               f"found 2")


async def test_a_selector_matching_nothing_fails_with_an_empty_table(kubeconfig: Path) -> None:
    outcome = await run_kind("k8s.pods", {"selector": "app=rsolv-platfrom"},
                             check_context(kubeconfig))

    assert outcome.summary == (f"expected at least 1 pod matching app=rsolv-platfrom in "
                               f"{NAMESPACE}, found 0")
    assert outcome.details == f"pods matching app=rsolv-platfrom in {NAMESPACE}:\n(none)"


async def test_pods_of_the_previous_rollout_being_deleted_are_ignored(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    old = "staging-rsolv-platform-6d4f7b8c9-abcde"
    cluster.add_pod(make_pod(old, replica_set="staging-rsolv-platform-6d4f7b8c9",
                             terminated=("Completed", 0, ""), deleting=True))

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "min_pods": 2},
                             check_context(kubeconfig))

    assert outcome.passed, outcome.summary
    assert outcome.evidence["terminating"] == [old]
    assert "Terminating" in outcome.details


async def test_an_image_pull_failure_names_the_reason(cluster: FakeKubernetes,
                                                      kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(SECOND, phase="Pending", ready=False, image_id="",
                             waiting=("ImagePullBackOff", 'Back-off pulling image "x"')))

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR}, check_context(kubeconfig))

    assert outcome.summary == f"pod {SECOND}: ImagePullBackOff"
    assert "container rsolv-platform (current run) logged nothing" in outcome.details


async def test_forbidden_logs_leave_the_failure_and_say_which_grant_is_missing(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_pod(make_pod(CRASHING, restarts=2, waiting=("CrashLoopBackOff", "back-off"),
                             last_terminated=("Error", 1, "")))
    cluster.forbid("get", "pods/log")

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR}, check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary.startswith(f"pod {CRASHING}: CrashLoopBackOff (restarts 2)")
    assert ("  logs of container rsolv-platform unavailable: the service account cannot get "
            f"pods/log in {NAMESPACE}: grant get on pods/log") in outcome.details


async def test_log_lines_are_redacted_with_the_runs_redactor(cluster: FakeKubernetes,
                                                             kubeconfig: Path) -> None:
    canary = "canary-db-password-7f3a9c"
    cluster.add_pod(make_pod(CRASHING, restarts=1, waiting=("CrashLoopBackOff", "back-off"),
                             last_terminated=("Error", 1, "")))
    cluster.logs[(NAMESPACE, CRASHING, "rsolv-platform", True)] = (
        f"connecting with password {canary}\n")
    ctx = check_context(kubeconfig)
    ctx.redactor.register(canary)

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR}, ctx)

    assert canary not in outcome.details
    assert "connecting with password [redacted (25 chars)]" in outcome.details


def test_describe_says_what_is_checked() -> None:
    from checks.kinds import load_kind

    kind = load_kind("k8s.pods")
    params = kind.Params.model_validate({"selector": SELECTOR, "min_pods": 2, "max_age": "5m"})
    assert kind.describe(params) == ("at least 2 pods app=rsolv-platform Running and Ready, "
                                     "at most 0 restarts, started within 5m")
