"""The k8s.* kinds as a suite uses them: loaded from YAML with the environment's
`kubernetes:` block, planned, run by the runner, rendered in every report format. Canary
secret values live in the fake cluster's secret, in a crashing pod's log and in an event;
none may reach any report or log line."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
from rich.console import Console

from checks.config import load_suite
from checks.errors import ConfigError
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_junit, render_markdown, render_summary
from checks.results import RunResult, Status
from checks.runner import run_plan
from tests.support.fake_k8s import (
    NAMESPACE,
    POD_NAMES,
    FakeKubernetes,
    make_event,
    make_pod,
    make_secret,
    staging_cluster,
)
from tests.support.k8s_manifests import OVERLAYS, named, render

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "kubernetes.md"
LIVE_KEY = "sk_" + "live_CANARYsuite51Hx9q2Lm8Zr4TwQ"  # split: not a key to scanners
PUBLISHABLE = "pk_test_CANARYsuitepub7Yb3Kd0QeVv"

SUITE = """
suite: rsolv-platform
defaults: {{timeout: 10s, concurrency: {concurrency}}}
environments:
  staging:
    kubernetes: {{kubeconfig: "{kubeconfig}", context: staging, namespace: rsolv-staging}}
categories:
  - name: Health & Infrastructure
    checks:
      - id: stripe-secrets
        name: Stripe test keys configured
        type: k8s.secret
        secret: staging-rsolv-secrets
        keys:
          stripe-api-key: {{prefix: sk_test_}}
          stripe-publishable-key: {{prefix: pk_test_}}
      - id: pods
        name: Pods Running and Ready
        type: k8s.pods
        selector: app=rsolv-platform
        min_pods: 2
        max_age: 5m
      - id: rollout
        type: k8s.rollout
        deployment: staging-rsolv-platform
      - id: version
        name: Deployment version
        type: k8s.image
        deployment: staging-rsolv-platform
        image: ghcr.io/rsolv-dev/rsolv-platform:staging
        tag: ${{deploy.commit:-}}
      - id: warnings
        type: k8s.events
        involving: staging-rsolv-platform
"""


def write_suite(directory: Path, kubeconfig: Path, concurrency: int = 20) -> Path:
    path = directory / "smoketest.yaml"
    path.write_text(SUITE.format(kubeconfig=kubeconfig, concurrency=concurrency))
    return path


async def run_suite(path: Path) -> tuple[RunResult, Redactor]:
    plan = build_plan(load_suite(path), "staging")
    return await run_plan(plan), plan.redactor


def every_report(run: RunResult, redactor: Redactor) -> dict[str, str]:
    console = Console(file=io.StringIO(), record=True, width=200)
    render_summary(run, console, redactor)
    return {"markdown": render_markdown(run, redactor), "json": render_json(run, redactor),
            "junit": render_junit(run, redactor), "terminal": console.export_text()}


def leak_forms(value: str) -> list[str]:
    encoded = base64.b64encode(value.encode()).decode()
    return [value, encoded, encoded.rstrip("="), value.split("_", 2)[-1]]


@pytest.fixture
def cluster() -> FakeKubernetes:
    return staging_cluster({"stripe-api-key": "sk_test_51Hx9q2Lm8Zr4TwQhealthy",
                            "stripe-publishable-key": PUBLISHABLE})


async def test_the_reports_health_and_infrastructure_checks_pass_on_healthy_staging(
        kubeconfig: Path, tmp_path: Path) -> None:
    run, redactor = await run_suite(write_suite(tmp_path, kubeconfig))

    assert [(r.check_id, r.status) for r in run.results] == [
        ("stripe-secrets", Status.PASS), ("pods", Status.PASS), ("rollout", Status.PASS),
        ("version", Status.PASS), ("warnings", Status.PASS)]
    summaries = {r.check_id: r.summary for r in run.results}
    assert summaries["stripe-secrets"] == ("secret staging-rsolv-secrets: 2/2 keys present, "
                                           "every rule holds")
    assert summaries["version"].startswith("ghcr.io/rsolv-dev/rsolv-platform:staging (tag "
                                           "staging, digest sha256:")
    markdown = render_markdown(run, redactor)
    assert "2/2 pods Running and Ready, 0 restarts" in markdown
    assert PUBLISHABLE not in markdown


async def test_no_canary_reaches_any_report_format_or_log(
        cluster: FakeKubernetes, kubeconfig: Path, tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    cluster.add_secret(make_secret(data={"stripe-api-key": LIVE_KEY,
                                         "stripe-publishable-key": PUBLISHABLE}))
    crashing = POD_NAMES[0]
    cluster.add_pod(make_pod(crashing, restarts=4, waiting=("CrashLoopBackOff", "back-off"),
                             last_terminated=("Error", 1, "** (Stripe.Error) invalid key")))
    encoded = base64.b64encode(LIVE_KEY.encode()).decode()
    cluster.logs[(NAMESPACE, crashing, "rsolv-platform", True)] = (
        f"boot\nSTRIPE_API_KEY={LIVE_KEY}\nraw secret volume: {encoded}\ncrash\n")
    cluster.add_event(make_event(involved_name=crashing, reason="BackOff",
                                 message=f"Back-off restarting; env had {PUBLISHABLE}"))
    # One check at a time, in suite order: the secret check has registered the values by the
    # time the pod's log is read, so even the stored results hold none.
    run, redactor = await run_suite(write_suite(tmp_path, kubeconfig, concurrency=1))

    by_id = {r.check_id: r for r in run.results}
    assert by_id["stripe-secrets"].status is Status.FAIL
    assert by_id["stripe-secrets"].summary == ("secret staging-rsolv-secrets: key stripe-api-key "
                                               "fails rule prefix (expected sk_test_)")
    assert by_id["pods"].status is Status.FAIL
    assert "STRIPE_API_KEY=[redacted" in by_id["pods"].details  # the log made it, masked
    assert by_id["warnings"].status is Status.FAIL

    reports = every_report(run, redactor)
    stored = every_report(run, Redactor())  # the results as the store would keep them
    results_text = json.dumps([(r.summary, r.details, r.evidence, r.measurements)
                               for r in run.results], default=str)
    for name, text in [*reports.items(), *(("stored " + k, v) for k, v in stored.items()),
                       ("results", results_text), ("logs", caplog.text)]:
        for value in (LIVE_KEY, PUBLISHABLE):
            for form in leak_forms(value):
                assert form not in text, f"{name} holds a form of a secret"


def test_a_typo_in_a_k8s_parameter_is_caught_when_the_suite_is_loaded(tmp_path: Path) -> None:
    path = write_suite(tmp_path, tmp_path / "kubeconfig")
    path.write_text(path.read_text().replace("selector: app=", "selectr: app="))

    with pytest.raises(ConfigError) as caught:
        load_suite(path)

    messages = [e.message for e in (caught.value, *getattr(caught.value, "others", []))]
    assert "k8s.pods: missing required field 'selector'" in messages
    assert any(m.startswith("k8s.pods: unknown field 'selectr' (did you mean 'selector'?)")
               for m in messages)


def staging_role_rules() -> list[dict[str, object]]:
    role = named(render(OVERLAYS / "staging"), "Role")  # as the staging overlay deploys it
    assert role["metadata"]["namespace"] == NAMESPACE
    return role["rules"]


async def test_the_rbac_manifest_grants_every_call_the_suite_makes(
        cluster: FakeKubernetes, kubeconfig: Path, tmp_path: Path) -> None:
    cluster.role_rules = staging_role_rules()
    # A crashing pod, so that k8s.pods also reads its log.
    cluster.add_pod(make_pod(POD_NAMES[0], restarts=1, waiting=("CrashLoopBackOff", "back-off"),
                             last_terminated=("Error", 1, "")))
    cluster.logs[(NAMESPACE, POD_NAMES[0], "rsolv-platform", True)] = "crash\n"

    run, _ = await run_suite(write_suite(tmp_path, kubeconfig))

    assert [r.check_id for r in run.results if r.status is Status.ERROR] == []
    assert "last 1 log line of container rsolv-platform" in run.results[1].details


async def test_the_rbac_manifest_grants_no_secret_but_the_named_one(
        cluster: FakeKubernetes, kubeconfig: Path, tmp_path: Path) -> None:
    cluster.role_rules = staging_role_rules()
    cluster.add_secret(make_secret("staging-database", data={"url": "ecto://CANARY@db"}))
    path = write_suite(tmp_path, kubeconfig)
    path.write_text(path.read_text().replace("secret: staging-rsolv-secrets",
                                             "secret: staging-database"))

    run, _ = await run_suite(path)

    assert (run.results[0].status, run.results[0].summary) == (
        Status.ERROR, "the service account cannot get secrets in rsolv-staging: "
                      "grant get on secrets/staging-database")


def test_the_documented_suite_entries_for_a_real_cluster_are_a_valid_suite(
        tmp_path: Path) -> None:
    section = DOCS.read_text().split("## Suite entries for the real staging cluster", 1)[1]
    block = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "smoketest.yaml"
    path.write_text(block)

    plan = build_plan(load_suite(path), "staging")

    assert [(c.id, c.spec.type) for c in plan.checks] == [
        ("rollout", "k8s.rollout"), ("pods", "k8s.pods"), ("stripe-secrets", "k8s.secret"),
        ("version", "k8s.image"), ("warning-events", "k8s.events")]
    assert plan.variables["kubernetes"] == {"kubeconfig": None, "context": "rsolv-staging",
                                            "in_cluster": False, "namespace": "rsolv-staging"}
