"""A fake Kubernetes API server: a Starlette app that answers the real REST paths the k8s.*
kinds use, with JSON in the shapes `kubectl get -o json` shows, so the official client talks
to it over real HTTP and deserializes what it says.

State is plain dicts a test changes between calls: pods, deployments (a list of frames, one
per GET, so a rollout can progress while a check waits), secrets, events, pod logs; plus the
bearer token it accepts, the (verb, resource) pairs it refuses with 403, and a delay.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.redact import Redactor
from checks.results import Outcome
from tests.support.asgi import serve_asgi

__all__ = [
    "CONTAINER", "DEPLOYMENT", "DIGEST", "IMAGE", "IMAGE_ID", "NAMESPACE", "POD_NAMES",
    "REPLICA_SET", "SECRET", "SELECTOR", "SERVICE_ACCOUNT", "FakeKubernetes", "check_context",
    "make_deployment", "make_event", "make_pod", "make_secret", "run_kind", "running_fake",
    "serving", "staging_cluster", "write_kubeconfig",
]

# The report's staging deployment.
NAMESPACE = "rsolv-staging"
DEPLOYMENT = "staging-rsolv-platform"
CONTAINER = "rsolv-platform"
SELECTOR = "app=rsolv-platform"
LABELS = {"app": "rsolv-platform"}
IMAGE = "ghcr.io/rsolv-dev/rsolv-platform:staging"
DIGEST = "sha256:" + hashlib.sha256(b"rsolv-platform week-2-complete").hexdigest()
IMAGE_ID = f"ghcr.io/rsolv-dev/rsolv-platform@{DIGEST}"
REPLICA_SET = "staging-rsolv-platform-854c9c9984"
POD_NAMES = (f"{REPLICA_SET}-lvrsq", f"{REPLICA_SET}-z4xqv")
SECRET = "staging-rsolv-secrets"
SERVICE_ACCOUNT = "system:serviceaccount:smokebot:smokebot"  # manifests/rbac.yaml


def _timestamp(age_s: float) -> str:
    moment = datetime.now(timezone.utc) - timedelta(seconds=age_s)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _uid(*parts: str) -> str:
    digest = hashlib.md5("/".join(parts).encode()).hexdigest()
    return f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}"


def _metadata(kind: str, name: str, namespace: str, age_s: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "uid": _uid(kind, namespace, name),
            "resourceVersion": "48213", "creationTimestamp": _timestamp(age_s), **extra}


# ---------------------------------------------------------------- object builders

def make_pod(name: str, *, namespace: str = NAMESPACE, labels: dict[str, str] | None = None,
             container: str = CONTAINER, image: str = IMAGE, image_id: str = IMAGE_ID,
             age_s: float = 135, phase: str = "Running", ready: bool = True, restarts: int = 0,
             waiting: tuple[str, str] | None = None,
             terminated: tuple[str, int, str] | None = None,
             last_terminated: tuple[str, int, str] | None = None,
             replica_set: str = REPLICA_SET, deleting: bool = False,
             annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A pod as `kubectl get pod -o json` shows it. `waiting` is (reason, message);
    `terminated` and `last_terminated` are (reason, exit code, termination message).
    `labels` and `annotations` are its template's, as the ReplicaSet copied them."""
    started = _timestamp(age_s)
    if waiting is not None:
        state: dict[str, Any] = {"waiting": {"reason": waiting[0], "message": waiting[1]}}
    elif terminated is not None:
        state = {"terminated": {"exitCode": terminated[1], "reason": terminated[0],
                                "message": terminated[2], "startedAt": started,
                                "finishedAt": _timestamp(max(age_s - 30, 0)),
                                "containerID": f"containerd://{_uid('c', name)}"}}
    else:
        state = {"running": {"startedAt": started}}
    last_state: dict[str, Any] = {}
    if last_terminated is not None:
        last_state = {"terminated": {"exitCode": last_terminated[1],
                                     "reason": last_terminated[0],
                                     "message": last_terminated[2], "startedAt": started,
                                     "finishedAt": _timestamp(max(age_s - 60, 0)),
                                     "containerID": f"containerd://{_uid('old', name)}"}}
    running = "running" in state
    condition = "True" if ready and running else "False"
    not_ready = ({} if condition == "True" else
                 {"reason": "ContainersNotReady",
                  "message": f"containers with unready status: [{container}]"})
    extra: dict[str, Any] = ({"deletionTimestamp": _timestamp(0),
                              "deletionGracePeriodSeconds": 30} if deleting else {})
    if annotations:
        extra["annotations"] = dict(annotations)
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": _metadata("Pod", name, namespace, age_s, generateName=f"{replica_set}-",
                              labels={**(labels or LABELS), "pod-template-hash":
                                      replica_set.rsplit("-", 1)[-1]},
                              ownerReferences=[{
                                  "apiVersion": "apps/v1", "kind": "ReplicaSet",
                                  "name": replica_set, "uid": _uid("ReplicaSet", replica_set),
                                  "controller": True, "blockOwnerDeletion": True}], **extra),
        "spec": {
            "containers": [{
                "name": container, "image": image, "imagePullPolicy": "Always",
                "ports": [{"containerPort": 4000, "name": "http", "protocol": "TCP"}],
                "resources": {}, "terminationMessagePath": "/dev/termination-log",
                "terminationMessagePolicy": "File"}],
            "dnsPolicy": "ClusterFirst", "enableServiceLinks": True, "nodeName": "node-1",
            "preemptionPolicy": "PreemptLowerPriority", "priority": 0,
            "restartPolicy": "Always", "schedulerName": "default-scheduler",
            "securityContext": {}, "serviceAccount": "default",
            "serviceAccountName": "default", "terminationGracePeriodSeconds": 30,
        },
        "status": {
            "phase": phase,
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True",
                 "lastProbeTime": None, "lastTransitionTime": started},
                {"type": "Initialized", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": started},
                {"type": "Ready", "status": condition, "lastProbeTime": None,
                 "lastTransitionTime": started, **not_ready},
                {"type": "ContainersReady", "status": condition, "lastProbeTime": None,
                 "lastTransitionTime": started, **not_ready},
                {"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                 "lastTransitionTime": started},
            ],
            "containerStatuses": [{
                "name": container, "image": image, "imageID": image_id,
                "containerID": f"containerd://{_uid('c', name)}",
                "ready": ready and running, "restartCount": restarts,
                "started": running, "state": state, "lastState": last_state,
            }],
            "hostIP": "10.0.0.11", "podIP": "10.42.5.243",
            "podIPs": [{"ip": "10.42.5.243"}], "qosClass": "BestEffort",
            "startTime": started,
        },
    }


def make_deployment(name: str = DEPLOYMENT, *, namespace: str = NAMESPACE, image: str = IMAGE,
                    replicas: int = 2, generation: int = 4,
                    observed_generation: int | None = None, total: int | None = None,
                    updated: int | None = None, ready: int | None = None,
                    available: int | None = None, progressing: tuple[str, str] | None = None,
                    paused: bool = False, template_labels: dict[str, str] | None = None,
                    template_annotations: dict[str, str] | None = None) -> dict[str, Any]:
    """A Deployment; replica counts default to a finished rollout. `progressing` is the
    Progressing condition's (status, reason). `template_labels` are added to the selector's
    labels on the pod template; `template_annotations` are the template's."""
    updated = replicas if updated is None else updated
    ready = replicas if ready is None else ready
    available = ready if available is None else available
    total = replicas if total is None else total
    observed = generation if observed_generation is None else observed_generation
    progressing = progressing or ("True", "NewReplicaSetAvailable")
    minimum = available >= replicas - max(replicas // 4, 0)
    now = _timestamp(0)
    status: dict[str, Any] = {
        "observedGeneration": observed, "replicas": total, "updatedReplicas": updated,
        "readyReplicas": ready, "availableReplicas": available,
        "conditions": [
            {"type": "Available", "status": "True" if minimum else "False",
             "reason": "MinimumReplicasAvailable" if minimum else "MinimumReplicasUnavailable",
             "message": ("Deployment has minimum availability." if minimum else
                         "Deployment does not have minimum availability."),
             "lastUpdateTime": now, "lastTransitionTime": now},
            {"type": "Progressing", "status": progressing[0], "reason": progressing[1],
             "message": (f'ReplicaSet "{REPLICA_SET}" has successfully progressed.'
                         if progressing[1] == "NewReplicaSetAvailable" else
                         f'ReplicaSet "{REPLICA_SET}" has timed out progressing.'
                         if progressing[1] == "ProgressDeadlineExceeded" else
                         f'ReplicaSet "{REPLICA_SET}" is progressing.'),
             "lastUpdateTime": now, "lastTransitionTime": now},
        ],
    }
    if available < total:
        status["unavailableReplicas"] = total - available
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": _metadata("Deployment", name, namespace, 86400, generation=generation,
                              labels=dict(LABELS),
                              annotations={"deployment.kubernetes.io/revision": "12"}),
        "spec": {
            "replicas": replicas, "paused": paused, "progressDeadlineSeconds": 600,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": dict(LABELS)},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {**LABELS, **(template_labels or {})},
                             **({"annotations": dict(template_annotations)}
                                if template_annotations else {})},
                "spec": {
                    "containers": [{
                        "name": CONTAINER, "image": image, "imagePullPolicy": "Always",
                        "ports": [{"containerPort": 4000, "name": "http", "protocol": "TCP"}],
                        "resources": {}, "terminationMessagePath": "/dev/termination-log",
                        "terminationMessagePolicy": "File"}],
                    "dnsPolicy": "ClusterFirst", "restartPolicy": "Always",
                    "schedulerName": "default-scheduler", "securityContext": {},
                    "terminationGracePeriodSeconds": 30,
                },
            },
        },
        "status": status,
    }


def make_secret(name: str = SECRET, *, namespace: str = NAMESPACE,
                data: dict[str, str | bytes]) -> dict[str, Any]:
    encoded = {key: base64.b64encode(value if isinstance(value, bytes)
                                     else value.encode()).decode()
               for key, value in data.items()}
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": _metadata("Secret", name, namespace, 86400), "data": encoded}


def make_event(*, involved_name: str, reason: str, message: str, age_s: float = 60,
               involved_kind: str = "Pod", namespace: str = NAMESPACE, count: int = 1,
               event_type: str = "Warning") -> dict[str, Any]:
    when = _timestamp(age_s)
    name = f"{involved_name}.{hashlib.md5((reason + message).encode()).hexdigest()[:16]}"
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": _metadata("Event", name, namespace, age_s),
        "involvedObject": {"apiVersion": "v1", "kind": involved_kind, "name": involved_name,
                           "namespace": namespace, "uid": _uid(involved_kind, involved_name),
                           "resourceVersion": "48100",
                           "fieldPath": f"spec.containers{{{CONTAINER}}}"},
        "reason": reason, "message": message, "type": event_type, "count": count,
        "source": {"component": "kubelet", "host": "node-1"},
        "firstTimestamp": when, "lastTimestamp": when, "eventTime": None,
        "reportingComponent": "kubelet", "reportingInstance": "node-1",
    }


# ---------------------------------------------------------------- label selectors

_REQUIREMENT = re.compile(
    r"^\s*(?P<neg>!)?\s*(?P<key>[A-Za-z0-9_./-]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[A-Za-z0-9_.-]*)"
    r"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?\s*$")


def _split_selector(selector: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for char in selector:
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
            continue
        depth += {"(": 1, ")": -1}.get(char, 0)
        current += char
    if current.strip():
        parts.append(current)
    return parts


def selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """Equality- and set-based selectors, as the API server reads them."""
    for part in _split_selector(selector or ""):
        match = _REQUIREMENT.match(part)
        if not match:
            raise ValueError(f"unable to parse requirement: {part!r}")
        key, value = match.group("key"), labels.get(match.group("key"))
        if match.group("setop"):
            values = {v.strip() for v in match.group("values").split(",") if v.strip()}
            ok = value in values if match.group("setop") == "in" else value not in values
        elif match.group("op"):
            ok = (value == match.group("value")) == (match.group("op") != "!=")
        else:
            ok = (value is None) if match.group("neg") else (value is not None)
        if not ok:
            return False
    return True


# ---------------------------------------------------------------- the server

def _status(code: int, reason: str, message: str, details: dict[str, Any] | None = None
            ) -> JSONResponse:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                            "status": "Failure", "message": message, "reason": reason,
                            "code": code}
    if details is not None:
        body["details"] = details
    return JSONResponse(body, status_code=code)


_GROUPS = {"deployments": "apps"}


@dataclass
class FakeKubernetes:
    token: str = "fake-k8s-token-0123456789abcdef"
    user: str = SERVICE_ACCOUNT
    pods: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    deployments: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    secrets: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (namespace, pod, container, previous) -> the log text
    logs: dict[tuple[str, str, str, bool], str] = field(default_factory=dict)
    forbidden: set[tuple[str, str]] = field(default_factory=set)  # (verb, resource)
    # When set, RBAC as the API server applies it: only what these Role rules allow.
    role_rules: list[dict[str, Any]] | None = None
    delay_s: float = 0.0
    requests: list[str] = field(default_factory=list)

    # ------------------------------------------------------------ state helpers

    def add_pod(self, pod: dict[str, Any]) -> None:
        meta = pod["metadata"]
        self.pods[(meta["namespace"], meta["name"])] = pod

    def set_deployment(self, *frames: dict[str, Any]) -> None:
        """Each GET answers the first frame and moves on; the last one stays."""
        meta = frames[0]["metadata"]
        self.deployments[(meta["namespace"], meta["name"])] = list(frames)

    def add_secret(self, secret: dict[str, Any]) -> None:
        meta = secret["metadata"]
        self.secrets[(meta["namespace"], meta["name"])] = secret

    def add_event(self, event: dict[str, Any]) -> None:
        self.events.setdefault(event["metadata"]["namespace"], []).append(event)

    def forbid(self, verb: str, resource: str) -> None:
        self.forbidden.add((verb, resource))

    # ------------------------------------------------------------ request handling

    async def _guard(self, request: Request, verb: str, resource: str, namespace: str,
                     name: str | None = None) -> Response | None:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _status(401, "Unauthorized", "Unauthorized")
        group = _GROUPS.get(resource.split("/")[0], "")
        if (verb, resource) in self.forbidden or not self._role_allows(group, resource, verb,
                                                                        name):
            base = resource.split("/")[0]
            subject = f'{base} "{name}"' if name else resource
            details: dict[str, Any] = {"kind": base}
            if name:
                details["name"] = name
            if group:
                details["group"] = group
                subject = f'{base}.{group} "{name}"' if name else f"{base}.{group}"
            return _status(403, "Forbidden",
                           f'{subject} is forbidden: User "{self.user}" cannot {verb} resource '
                           f'"{resource}" in API group "{group}" in the namespace "{namespace}"',
                           details)
        return None

    def _role_allows(self, group: str, resource: str, verb: str, name: str | None) -> bool:
        if self.role_rules is None:
            return True
        for rule in self.role_rules:
            names = rule.get("resourceNames")
            if (group in rule.get("apiGroups", ()) and resource in rule.get("resources", ())
                    and verb in rule.get("verbs", ()) and (not names or name in names)):
                return True
        return False

    @staticmethod
    def _not_found(resource: str, name: str) -> JSONResponse:
        group = _GROUPS.get(resource, "")
        qualified = f"{resource}.{group}" if group else resource
        details = {"name": name, "kind": resource, **({"group": group} if group else {})}
        return _status(404, "NotFound", f'{qualified} "{name}" not found', details)

    async def list_pods(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        if refused := await self._guard(request, "list", "pods", ns):
            return refused
        selector = request.query_params.get("labelSelector", "")
        try:
            items = [pod for (pod_ns, _), pod in sorted(self.pods.items())
                     if pod_ns == ns and selector_matches(selector, pod["metadata"]["labels"])]
        except ValueError as exc:
            return _status(400, "BadRequest", str(exc))
        return JSONResponse({"kind": "PodList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": "48213"}, "items": items})

    async def pod_log(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        if refused := await self._guard(request, "get", "pods/log", ns, name):
            return refused
        pod = self.pods.get((ns, name))
        if pod is None:
            return self._not_found("pods", name)
        container = request.query_params.get(
            "container", pod["spec"]["containers"][0]["name"])
        previous = request.query_params.get("previous") == "true"
        text = self.logs.get((ns, name, container, previous))
        if text is None and previous:
            return _status(400, "BadRequest", f'previous terminated container "{container}" '
                                              f'in pod "{name}" not found')
        lines = (text or "").splitlines(keepends=True)
        if "tailLines" in request.query_params:
            lines = lines[-int(request.query_params["tailLines"]):] if int(
                request.query_params["tailLines"]) else []
        body = "".join(lines)
        if "limitBytes" in request.query_params:
            body = body.encode()[:int(request.query_params["limitBytes"])].decode(errors="ignore")
        return PlainTextResponse(body)

    async def get_deployment(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        if refused := await self._guard(request, "get", "deployments", ns, name):
            return refused
        frames = self.deployments.get((ns, name))
        if not frames:
            return self._not_found("deployments", name)
        current = frames[0]
        if len(frames) > 1:
            frames.pop(0)
        return JSONResponse(current)

    async def get_secret(self, request: Request) -> Response:
        ns, name = request.path_params["namespace"], request.path_params["name"]
        if refused := await self._guard(request, "get", "secrets", ns, name):
            return refused
        secret = self.secrets.get((ns, name))
        if secret is None:
            return self._not_found("secrets", name)
        return JSONResponse(secret)

    async def list_events(self, request: Request) -> Response:
        ns = request.path_params["namespace"]
        if refused := await self._guard(request, "list", "events", ns):
            return refused
        wanted = request.query_params.get("fieldSelector", "")
        items = list(self.events.get(ns, []))
        for requirement in filter(None, wanted.split(",")):
            key, _, value = requirement.partition("=")
            if key == "type":
                items = [e for e in items if e.get("type") == value.lstrip("=")]
        return JSONResponse({"kind": "EventList", "apiVersion": "v1",
                             "metadata": {"resourceVersion": "48213"}, "items": items})

    async def unknown(self, request: Request) -> Response:
        self.requests.append(f"{request.method} {request.url.path}?{request.url.query}")
        return _status(404, "NotFound", "the server could not find the requested resource",
                       {})

    def app(self) -> Starlette:
        base = "/api/v1/namespaces/{namespace}"
        return Starlette(routes=[
            Route(f"{base}/pods", self.list_pods),
            Route(f"{base}/pods/{{name}}/log", self.pod_log),
            Route("/apis/apps/v1/namespaces/{namespace}/deployments/{name}",
                  self.get_deployment),
            Route(f"{base}/secrets/{{name}}", self.get_secret),
            Route(f"{base}/events", self.list_events),
            Route("/{path:path}", self.unknown),
        ])


# ---------------------------------------------------------------- scenarios and wiring

def staging_cluster(secret_data: dict[str, str | bytes] | None = None) -> FakeKubernetes:
    """The reference report's healthy staging: two pods 1/1 Running with 0 restarts, the
    deployment on `ghcr.io/rsolv-dev/rsolv-platform:staging`, the Stripe secret."""
    cluster = FakeKubernetes()
    cluster.add_pod(make_pod(POD_NAMES[0], age_s=135))
    cluster.add_pod(make_pod(POD_NAMES[1], age_s=173))
    cluster.set_deployment(make_deployment())
    if secret_data is not None:
        cluster.add_secret(make_secret(data=secret_data))
    return cluster


@contextmanager
def running_fake(cluster: FakeKubernetes) -> Iterator[str]:
    """Serves the fake on loopback; yields its base URL."""
    with serve_asgi(cluster.app(), timeout_graceful_shutdown=1) as url:
        yield url


def write_kubeconfig(path: Path, server: str, token: str, *, context: str = "staging",
                     namespace: str | None = None) -> Path:
    """A kubeconfig with one cluster, one token user and one context, as kubectl writes it."""
    context_body: dict[str, Any] = {"cluster": "fake", "user": "smokebot"}
    if namespace:
        context_body["namespace"] = namespace
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "smokebot", "user": {"token": token}}],
        "contexts": [{"name": context, "context": context_body}],
        "current-context": context,
    }), encoding="utf-8")
    return path


@contextmanager
def serving(cluster: FakeKubernetes, directory: Path) -> Iterator[Path]:
    """Serves the fake and writes a kubeconfig for it in `directory`; yields its path."""
    with running_fake(cluster) as url:
        yield write_kubeconfig(directory / "kubeconfig", url, cluster.token)


def check_context(kubeconfig: Path | None, *, namespace: str | None = NAMESPACE,
                  redactor: Redactor | None = None, **settings: Any) -> CheckContext:
    """What the plan hands a k8s.* kind: the environment's `kubernetes:` block in
    `variables["kubernetes"]`."""
    kubernetes = {"kubeconfig": str(kubeconfig) if kubeconfig else None, "context": "staging",
                  "in_cluster": False, "namespace": namespace, **settings}
    return CheckContext(environment="staging", redactor=redactor or Redactor(),
                        variables={"kubernetes": kubernetes})


async def run_kind(kind: str, params: dict[str, Any], ctx: CheckContext) -> Outcome:
    """One k8s.* check, its parameters validated as the suite loader does."""
    check = load_kind(kind)
    return await check.run(check.Params.model_validate(params), ctx)
