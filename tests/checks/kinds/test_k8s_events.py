"""k8s.events against the fake API server: warning events since the deploy."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.support.fake_k8s import (
    NAMESPACE,
    POD_NAMES,
    FakeKubernetes,
    check_context,
    make_event,
    run_kind,
)

BACKOFF = dict(involved_name=POD_NAMES[0], reason="BackOff",
               message="Back-off restarting failed container rsolv-platform", count=7)


async def test_a_quiet_namespace_passes(cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_event(make_event(involved_name=POD_NAMES[0], reason="Pulled",
                                 message="Container image already present", event_type="Normal"))

    outcome = await run_kind("k8s.events", {}, check_context(kubeconfig))

    assert outcome.passed
    assert outcome.summary == f"0 warning events in {NAMESPACE} in the last 15m"
    assert any("fieldSelector=type%3DWarning" in r for r in cluster.requests)


async def test_a_recent_warning_fails_with_reason_object_message_and_count(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_event(make_event(age_s=30, **BACKOFF))

    outcome = await run_kind("k8s.events", {"since": "10m"}, check_context(kubeconfig))

    assert not outcome.passed
    assert outcome.summary == (f"1 warning event in {NAMESPACE} in the last 10m, expected at "
                               f"most 0: BackOff on pod/{POD_NAMES[0]}: Back-off restarting "
                               f"failed container rsolv-platform (x7)")
    assert outcome.measurements == {"warnings": 1}
    assert outcome.evidence["events"][0]["object"] == f"Pod/{POD_NAMES[0]}"


async def test_warnings_older_than_the_window_are_ignored(cluster: FakeKubernetes,
                                                          kubeconfig: Path) -> None:
    cluster.add_event(make_event(age_s=3600, **BACKOFF))

    outcome = await run_kind("k8s.events", {"since": "10m"}, check_context(kubeconfig))

    assert outcome.passed


async def test_since_time_from_the_deploy_sets_the_window(cluster: FakeKubernetes,
                                                          kubeconfig: Path) -> None:
    cluster.add_event(make_event(age_s=1800, **BACKOFF))
    deployed = datetime.now(timezone.utc) - timedelta(hours=1)

    outcome = await run_kind("k8s.events", {"since": "1m", "since_time": deployed.isoformat()},
                             check_context(kubeconfig))

    assert not outcome.passed
    assert f"since {deployed.strftime('%Y-%m-%dT%H:%M:%SZ')}" in outcome.summary


async def test_involving_ignore_reasons_and_max_warnings_narrow_the_check(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.add_event(make_event(involved_name="redis-0", reason="BackOff", message="other app"))
    cluster.add_event(make_event(involved_name=POD_NAMES[1], reason="Unhealthy",
                                 message="Readiness probe failed: HTTP probe failed with "
                                         "statuscode: 503"))

    ignoring = await run_kind("k8s.events", {"involving": "staging-rsolv-platform",
                                             "ignore_reasons": ["Unhealthy"]},
                              check_context(kubeconfig))
    tolerating = await run_kind("k8s.events", {"max_warnings": 2}, check_context(kubeconfig))
    strict = await run_kind("k8s.events", {"involving": "staging-rsolv-platform"},
                            check_context(kubeconfig))

    assert ignoring.passed
    assert ignoring.summary == (f"0 warning events about staging-rsolv-platform* in "
                                f"{NAMESPACE} in the last 15m")
    assert tolerating.passed
    assert not strict.passed
    assert strict.summary.endswith(f"Unhealthy on pod/{POD_NAMES[1]}: Readiness probe failed: "
                                   f"HTTP probe failed with statuscode: 503")
