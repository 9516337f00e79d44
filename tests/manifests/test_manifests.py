"""The Kubernetes manifests: each overlay renders, every object it renders is valid against the
pinned Kubernetes schemas (offline), and the policies hold on every one: hardened containers,
a read-only Role with secrets by name only, a PodDisruptionBudget wherever there is more than
one replica, the suite as a hashed ConfigMap every pod mounts, no Secret committed, and the
Argo CD hook running the overlay's own environment. A broken manifest is refused, so the
validation can fail."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from checks.config import load_suite
from checks.plan import build_plan
from tests.support.k8s_manifests import (
    MANIFESTS,
    OVERLAYS,
    RenderFailed,
    named,
    render,
    schema_problems,
)

ROOT = MANIFESTS.parent
ENVIRONMENTS = {"staging": "rsolv-staging", "production": "rsolv-production"}
POD_OWNERS = ("Deployment", "Job")
SUITE_MOUNT = "/etc/smokebot"


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[dict[str, Any]]]:
    return {environment: render(OVERLAYS / environment) for environment in ENVIRONMENTS}


def pod_specs(objects: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]["spec"])
            for o in objects if o["kind"] in POD_OWNERS]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def test_the_overlays_are_the_ones_documented() -> None:
    assert sorted(p.name for p in OVERLAYS.iterdir() if p.is_dir()) == sorted(ENVIRONMENTS)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_rendered_object_is_valid_for_the_pinned_kubernetes(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    objects = rendered[environment]

    assert schema_problems(objects) == []
    assert sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects) == sorted([
        "ConfigMap/" + named(objects, "ConfigMap")["metadata"]["name"],
        "Deployment/smokebot-web", "Deployment/smokebot-worker", "Job/smokebot-postsync",
        "Role/smokebot-smoke-tests", "RoleBinding/smokebot-smoke-tests",
        "Service/smokebot", "ServiceAccount/smokebot",
        *(["PodDisruptionBudget/smokebot-web", "PodDisruptionBudget/smokebot-worker"]
          if environment == "production" else [])])


def test_a_broken_manifest_is_refused_by_the_schemas(tmp_path: Path) -> None:
    broken = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, broken)
    (broken / "overlays" / "staging" / "kustomization.yaml").write_text(
        (OVERLAYS / "staging" / "kustomization.yaml").read_text() + """\
  - target: {kind: Deployment, name: smokebot-web}
    patch: |
      - {op: replace, path: /spec/replicas, value: two}
      - {op: add, path: /spec/template/spec/containers/0/securityContext/readOnlyRootFileSystem,
         value: true}
  - target: {kind: Service, name: smokebot}
    patch: |
      - {op: remove, path: /spec/ports/0/port}
""")

    problems = schema_problems(render(broken / "overlays" / "staging"))

    # Each names the file to fix: the object's own, and the overlay whose patch broke it.
    patched = "(patched in manifests/overlays/staging/kustomization.yaml)"
    assert sorted(problems) == [
        f"manifests/base/service.yaml {patched}: Service/smokebot: spec.ports.0: 'port' is a "
        "required property",
        f"manifests/base/web.yaml {patched}: Deployment/smokebot-web: spec.replicas: 'two' is "
        "not of type 'integer', 'null'"]
    # Strict schemas: a misspelt field is refused, not dropped (the first problem of each
    # object is reported; with a right `replicas`, the typo is that one).
    fixed = [o for o in render(broken / "overlays" / "staging") if o["kind"] == "Deployment"]
    fixed[0]["spec"]["replicas"] = 1
    assert schema_problems(fixed[:1]) == [
        f"manifests/base/web.yaml {patched}: Deployment/smokebot-web: spec.template.spec.containers.0.securityContext: Additional "
        "properties are not allowed ('readOnlyRootFileSystem' was unexpected)"]


def test_a_patch_that_no_longer_fits_the_base_fails_the_render(tmp_path: Path) -> None:
    moved = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, moved)
    role = moved / "base" / "role.yaml"
    rules = role.read_text()
    # Swap the deployments and secrets rules: the overlay's index-based patch must not grant
    # `get` on the app's deployment name for secrets.
    deployments = rules.index("  # k8s.rollout")
    secrets = rules.index("  # k8s.secret")
    events = rules.index("  # k8s.events")
    role.write_text(rules[:deployments] + rules[secrets:events] + rules[deployments:secrets]
                    + rules[events:])

    with pytest.raises(RenderFailed, match="testing value"):
        render(moved / "overlays" / "staging")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_container_runs_hardened_with_resources(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    specs = pod_specs(rendered[environment])
    assert len(specs) == 3
    for what, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, what
        assert pod["runAsUser"] == pod["runAsGroup"] == 10001, what
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, what
        assert spec.get("hostNetwork") is not True and spec.get("hostPID") is not True, what
        # The Service is called smokebot: its links would set SMOKEBOT_PORT=tcp://…, which
        # reads as a setting.
        assert spec["enableServiceLinks"] is False, what
        volumes = {v["name"]: v for v in spec["volumes"]}
        for container in containers(spec):
            where = f"{what} container {container['name']}"
            assert container["securityContext"] == {
                "allowPrivilegeEscalation": False, "privileged": False,
                "readOnlyRootFilesystem": True, "capabilities": {"drop": ["ALL"]}}, where
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, where
            assert "memory" in resources["limits"], where
            # The root filesystem is read-only: /tmp is the one writable place, an emptyDir.
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert "emptyDir" in volumes[mounts["/tmp"]], where
            assert "configMap" in volumes[mounts[SUITE_MOUNT]], where
            assert container["envFrom"] == [{"secretRef": {"name": "smokebot"}}], where
            assert "env" not in container, where  # settings come from the Secret only


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_only_the_pods_that_run_checks_hold_a_service_account_token(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    objects = rendered[environment]
    tokens = {what: spec["automountServiceAccountToken"] for what, spec in pod_specs(objects)}

    assert tokens == {"Deployment/smokebot-web": False, "Deployment/smokebot-worker": True,
                      "Job/smokebot-postsync": True}
    assert named(objects, "ServiceAccount")["automountServiceAccountToken"] is False
    assert {spec["serviceAccountName"] for _, spec in pod_specs(objects)} == {"smokebot"}


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_web_pods_are_probed_and_served(rendered: dict[str, list[dict[str, Any]]],
                                            environment: str) -> None:
    objects = rendered[environment]
    web = named(objects, "Deployment", "smokebot-web")
    container = web["spec"]["template"]["spec"]["containers"][0]
    service = named(objects, "Service")

    assert container["args"] == ["serve", "--port", "3000"]
    assert container["ports"] == [{"containerPort": 3000, "name": "http"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http"}]
    worker = named(objects, "Deployment", "smokebot-worker")
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == ["worker"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_role_only_reads_and_reads_secrets_by_name(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    objects = rendered[environment]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    rules = named(objects, "Role")["rules"]

    grants = {(group, resource): rule for rule in rules for group in rule["apiGroups"]
              for resource in rule["resources"]}
    assert {key: sorted(rule["verbs"]) for key, rule in grants.items()} == {
        ("", "pods"): ["get", "list"], ("", "pods/log"): ["get"],
        ("apps", "deployments"): ["get"], ("", "secrets"): ["get"], ("", "events"): ["list"]}
    for rule in rules:
        assert "*" not in rule["apiGroups"] + rule["resources"] + rule["verbs"]
    prefix = environment
    assert grants[("", "secrets")]["resourceNames"] == [f"{prefix}-rsolv-secrets"]
    assert grants[("apps", "deployments")]["resourceNames"] == [f"{prefix}-rsolv-platform"]
    binding = named(objects, "RoleBinding")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": "smokebot-smoke-tests"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "smokebot",
                                    "namespace": ENVIRONMENTS[environment]}]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_role_names_what_the_suite_checks_in_that_environment(
        rendered: dict[str, list[dict[str, Any]]], environment: str, tmp_path: Path) -> None:
    objects = rendered[environment]
    suite_file = tmp_path / "smoketest.yaml"
    suite_file.write_text(named(objects, "ConfigMap")["data"]["smoketest.yaml"])

    plan = build_plan(load_suite(suite_file), environment, require_secrets=False)

    rules = named(objects, "Role")["rules"]
    names = {rule["resources"][0]: rule.get("resourceNames") for rule in rules}
    params = {c.spec.type: c.params for c in plan.checks}  # interpolated for the environment
    assert names["deployments"] == [params["k8s.rollout"].deployment]  # type: ignore[attr-defined]
    assert names["secrets"] == [params["k8s.secret"].secret]  # type: ignore[attr-defined]
    assert plan.variables["kubernetes"]["in_cluster"] is True
    assert plan.variables["kubernetes"]["namespace"] == ENVIRONMENTS[environment]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_a_deployment_of_more_than_one_replica_has_a_disruption_budget(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    objects = rendered[environment]
    budgets = [o for o in objects if o["kind"] == "PodDisruptionBudget"]
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [b for b in budgets
                    if b["spec"]["selector"]["matchLabels"].items() <= labels.items()]
        if deployment["spec"].get("replicas", 1) > 1:
            assert [b["spec"]["minAvailable"] for b in covering] == [1], \
                deployment["metadata"]["name"]
        else:  # a budget of one pod would block every node drain
            assert covering == [], deployment["metadata"]["name"]
    replicas = {o["metadata"]["name"]: o["spec"]["replicas"] for o in objects
                if o["kind"] == "Deployment"}
    assert replicas == ({"smokebot-web": 2, "smokebot-worker": 2} if environment == "production"
                        else {"smokebot-web": 1, "smokebot-worker": 1})


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_suite_is_a_hashed_configmap_that_every_pod_mounts(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    objects = rendered[environment]
    config_map = named(objects, "ConfigMap")

    assert re.fullmatch(r"smokebot-suite-[a-z0-9]{10}", config_map["metadata"]["name"])
    assert config_map["data"] == {
        "smoketest.yaml": (MANIFESTS / "base" / "smoketest.yaml").read_text()}
    for what, spec in pod_specs(objects):
        mounted = [v["configMap"]["name"] for v in spec["volumes"] if "configMap" in v]
        assert mounted == [config_map["metadata"]["name"]], what


def test_an_edit_of_the_suite_renames_the_configmap_so_the_pods_roll(tmp_path: Path) -> None:
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    before = named(render(copy / "overlays" / "staging"), "ConfigMap")["metadata"]["name"]
    suite = copy / "base" / "smoketest.yaml"
    suite.write_text(suite.read_text().replace("since: 30m", "since: 45m"))

    after = render(copy / "overlays" / "staging")

    assert named(after, "ConfigMap")["metadata"]["name"] != before
    for what, spec in pod_specs(after):
        assert before not in str(spec["volumes"]), what


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_no_secret_is_committed_only_referenced(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    assert [o for o in rendered[environment] if o["kind"] == "Secret"] == []
    for path in MANIFESTS.rglob("*.yaml"):
        for document in yaml.safe_load_all(path.read_text()):
            kind = (document or {}).get("kind")
            assert kind != "Secret", path
            assert "secretGenerator" not in (document or {}), path


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_object_lives_in_the_overlays_namespace(
        rendered: dict[str, list[dict[str, Any]]], environment: str) -> None:
    namespaces = {o["metadata"].get("namespace") for o in rendered[environment]}
    assert namespaces == {ENVIRONMENTS[environment]}
    assert not [o for o in rendered[environment] if o["kind"] == "Namespace"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_argocd_hook_runs_the_overlays_environment_and_fails_the_sync_when_it_fails(
        rendered: dict[str, list[dict[str, Any]]], environment: str, tmp_path: Path) -> None:
    job = named(rendered[environment], "Job")
    spec = job["spec"]
    container = spec["template"]["spec"]["containers"][0]

    assert job["metadata"]["annotations"] == {
        "argocd.argoproj.io/hook": "PostSync",
        "argocd.argoproj.io/hook-delete-policy": "BeforeHookCreation"}
    assert container["args"] == ["run", environment, "--junit", "/tmp/reports/junit.xml"]
    assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (0, "Never")
    images = {c["image"] for _, pod in pod_specs(rendered[environment]) for c in containers(pod)}
    assert images == {container["image"]}  # the hook runs the version the overlay deploys
    suite_file = tmp_path / "smoketest.yaml"
    suite_file.write_text(named(rendered[environment], "ConfigMap")["data"]["smoketest.yaml"])
    assert environment in load_suite(suite_file).environments


def test_the_images_are_pinned_in_production_and_follow_main_in_staging(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    def images(environment: str) -> set[str]:
        return {c["image"] for _, spec in pod_specs(rendered[environment])
                for c in containers(spec)}

    assert images("staging") == {"ghcr.io/rsolv-dev/smokebot:main"}
    assert images("production") == {"ghcr.io/rsolv-dev/smokebot:0.1.0"}


def test_the_image_runs_as_the_manifests_user_and_writes_no_bytecode(
        rendered: dict[str, list[dict[str, Any]]]) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    user = re.search(r"^USER (\d+):(\d+)$", dockerfile, re.MULTILINE)
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(
        line for line in dockerfile.splitlines() if line.startswith("ENV "))))

    assert user is not None, "the image's USER is numeric, so runAsNonRoot can verify it"
    for _, spec in pod_specs(rendered["production"]):
        assert (spec["securityContext"]["runAsUser"],
                spec["securityContext"]["runAsGroup"]) == (int(user[1]), int(user[2]))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"  # a read-only root: no __pycache__ to write
    assert env["SMOKEBOT_CONFIG"] == f"{SUITE_MOUNT}/smoketest.yaml"
    assert 'ENTRYPOINT ["smokebot"]' in dockerfile


def test_a_misspelt_field_in_a_base_file_names_that_file_and_the_field(tmp_path: Path) -> None:
    broken = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, broken)
    service = broken / "base" / "service.yaml"
    service.write_text(service.read_text().replace("selector:", "selectr:", 1))

    problems = schema_problems(render(broken / "overlays" / "staging"))

    [problem] = problems
    assert problem.startswith("manifests/base/service.yaml")
    assert problem.endswith("Service/smokebot: spec: Additional properties are not allowed "
                            "('selectr' was unexpected)")
