"""Reaching the cluster: which one and where, and every way of failing to, as the actionable
CheckError each k8s.* kind raises. The official client talks to the fake API server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import Configuration
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from checks.errors import CheckError
from checks.kinds.base import CheckContext
from checks.redact import Redactor
from tests.support.asgi import free_port, serve_asgi
from tests.support.fake_k8s import (
    DEPLOYMENT,
    NAMESPACE,
    POD_NAMES,
    SELECTOR,
    FakeKubernetes,
    check_context,
    make_pod,
    run_kind,
    running_fake,
    write_kubeconfig,
)


@pytest.fixture
def server(cluster: FakeKubernetes) -> Iterator[str]:
    with running_fake(cluster) as url:
        yield url


@pytest.fixture
def kubeconfig(cluster: FakeKubernetes, server: str, tmp_path: Path) -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", server, cluster.token)


async def failure(kind: str, params: dict[str, object], ctx: CheckContext) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await run_kind(kind, params, ctx)
    return caught.value


async def test_a_rejected_token_is_a_permanent_error_naming_the_credentials(
        server: str, tmp_path: Path) -> None:
    stale = write_kubeconfig(tmp_path / "kubeconfig", server, "expired-token-4242")

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(stale))

    assert error.message == (
        f"the Kubernetes API at {server} rejected the credentials of context staging of "
        f"{stale} (401 Unauthorized): the token or client certificate is missing, wrong or "
        f"expired; renew it")
    assert error.permanent
    assert "expired-token-4242" not in error.message + error.details


async def test_a_forbidden_list_names_the_verb_resource_and_namespace(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    cluster.forbid("list", "pods")

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(kubeconfig))

    assert error.message == ("the service account cannot list pods in rsolv-staging: "
                             "grant list on pods")
    assert error.permanent
    assert 'User "system:serviceaccount:smokebot:smokebot"' in error.details


async def test_a_forbidden_deployment_get_names_the_deployment(cluster: FakeKubernetes,
                                                               kubeconfig: Path) -> None:
    cluster.forbid("get", "deployments")

    error = await failure("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(kubeconfig))

    assert error.message == ("the service account cannot get deployments in rsolv-staging: "
                             "grant get on deployments/staging-rsolv-platform")


async def test_a_missing_deployment_is_a_permanent_not_found(kubeconfig: Path) -> None:
    error = await failure("k8s.image", {"deployment": "rsolv-platform"},
                          check_context(kubeconfig))

    assert error.message == ("deployment rsolv-platform not found in namespace rsolv-staging: "
                             "check its name and that the namespace exists")
    assert error.permanent
    assert error.details == 'the API said: deployments.apps "rsolv-platform" not found'


async def test_a_wrong_namespace_is_not_found_for_objects_and_empty_for_lists(
        kubeconfig: Path) -> None:
    ctx = check_context(kubeconfig, namespace="rsolv-stagin")

    error = await failure("k8s.rollout", {"deployment": DEPLOYMENT}, ctx)
    pods = await run_kind("k8s.pods", {"selector": SELECTOR}, ctx)

    assert error.message == (f"deployment {DEPLOYMENT} not found in namespace rsolv-stagin: "
                             f"check its name and that the namespace exists")
    # As the real API server does: listing in a namespace that does not exist returns nothing.
    assert pods.summary == (f"expected at least 1 pod matching {SELECTOR} in rsolv-stagin, "
                            f"found 0")


async def test_an_unreachable_api_is_a_retryable_error_naming_the_server(
        tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    path = write_kubeconfig(tmp_path / "kubeconfig", closed, "token-1234")

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(path))

    assert error.message == (
        f"cannot reach the Kubernetes API at {closed}: connection refused; check the server "
        f"address in context staging of {path}, the network or VPN, and that the cluster is up")
    assert not error.permanent


async def test_an_api_slower_than_the_request_timeout_is_a_timeout_error(
        cluster: FakeKubernetes, server: str, kubeconfig: Path) -> None:
    cluster.delay_s = 1.0

    error = await failure("k8s.rollout", {"deployment": DEPLOYMENT, "request_timeout": "200ms"},
                          check_context(kubeconfig))

    assert error.message == (f"the Kubernetes API at {server} did not answer get "
                             f"deployments/{DEPLOYMENT} within 0.2s")
    assert not error.permanent


async def test_an_answer_the_client_cannot_read_names_the_field_not_its_value(
        cluster: FakeKubernetes, server: str, kubeconfig: Path) -> None:
    pod = make_pod(POD_NAMES[0])
    pod["spec"]["containers"][0]["env"] = [{"name": "DATABASE_URL",
                                            "value": "ecto://CANARYinline@db"}]
    del pod["status"]["containerStatuses"][0]["imageID"]
    cluster.add_pod(pod)

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(kubeconfig))

    assert error.message == (f"the Kubernetes API at {server} answered list pods with an object "
                             f"this client cannot read (imageID: Input should be a valid "
                             f"string); does the `kubernetes` package suit the cluster's "
                             f"version?")
    assert "CANARY" not in error.message + error.details


async def test_a_server_that_is_not_a_kubernetes_api_is_named_as_such(tmp_path: Path) -> None:
    async def page(request: Request) -> HTMLResponse:
        return HTMLResponse("<html><body>rsolv</body></html>")

    with serve_asgi(Starlette(routes=[Route("/{path:path}", page)])) as url:
        path = write_kubeconfig(tmp_path / "kubeconfig", url, "token-1234")
        error = await failure("k8s.rollout", {"deployment": DEPLOYMENT}, check_context(path))

    assert error.message == (f"{url} answered get deployments/{DEPLOYMENT} with a body that "
                             f"is not a Kubernetes object: it is not a Kubernetes API server; "
                             f"check the server address in context staging of {path}")
    assert error.permanent


async def test_a_missing_kubeconfig_is_a_permanent_error_saying_where_to_set_it(
        tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "config"

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(missing))

    assert error.message == (f"kubeconfig {missing} does not exist: set `kubernetes: "
                             f"{{kubeconfig: PATH}}` on the environment, or $KUBECONFIG")
    assert error.permanent


async def test_a_kubeconfig_that_is_not_yaml_is_a_one_line_permanent_error(
        tmp_path: Path) -> None:
    broken = tmp_path / "kubeconfig"
    broken.write_text("clusters: [unclosed\n  - x: {")

    error = await failure("k8s.pods", {"selector": SELECTOR}, check_context(broken))

    assert error.message.startswith(f"cannot read context staging of {broken}: while parsing")
    assert "\n" not in error.message
    assert error.permanent


async def test_an_unknown_context_is_a_permanent_error(kubeconfig: Path) -> None:
    error = await failure("k8s.pods", {"selector": SELECTOR},
                          check_context(kubeconfig, context="production"))

    assert error.message.startswith(f"cannot use context production of {kubeconfig}: ")
    assert "production" in error.message.split(": ", 1)[1]
    assert error.permanent


async def test_in_cluster_outside_a_pod_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    error = await failure("k8s.pods", {"selector": SELECTOR},
                          check_context(None, in_cluster=True))

    assert error.message == ("`in_cluster: true`, but smokebot is not running in a Kubernetes "
                             "pod with a service account (Service host/port is not set.); run "
                             "it in the cluster, or use a kubeconfig")
    assert error.permanent


async def test_without_any_namespace_the_check_says_where_to_set_one(kubeconfig: Path) -> None:
    error = await failure("k8s.pods", {"selector": SELECTOR},
                          check_context(kubeconfig, namespace=None))

    assert error.message == ("no namespace to look in: set `namespace:` on the check or "
                             "`kubernetes: {namespace: ...}` on environment 'staging'")


async def test_a_checks_namespace_overrides_the_environments(cluster: FakeKubernetes,
                                                             kubeconfig: Path) -> None:
    cluster.add_pod(make_pod("rsolv-platform-7c9d-abcde", namespace="rsolv-production"))

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "namespace": "rsolv-production"},
                             check_context(kubeconfig))

    assert outcome.summary == "1/1 pods Running and Ready, 0 restarts"
    assert any("/namespaces/rsolv-production/pods" in r for r in cluster.requests)


async def test_an_environment_without_a_kubernetes_block_uses_kubeconfig_from_the_env(
        kubeconfig: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    ctx = CheckContext(environment="staging", redactor=Redactor(),
                       variables={"kubernetes": None})

    outcome = await run_kind("k8s.pods", {"selector": SELECTOR, "namespace": NAMESPACE}, ctx)

    assert outcome.passed


async def test_the_token_is_registered_and_the_global_client_config_left_alone(
        cluster: FakeKubernetes, kubeconfig: Path) -> None:
    before = Configuration.get_default_copy().host
    ctx = check_context(kubeconfig)

    await run_kind("k8s.pods", {"selector": SELECTOR}, ctx)

    assert cluster.token not in ctx.redactor.redact(f"Authorization: Bearer {cluster.token}")
    assert Configuration.get_default_copy().host == before
