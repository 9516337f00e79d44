"""How the k8s.* kinds reach a cluster: which cluster and namespace a check means, one official
`kubernetes` API client per check run (never the library's global default configuration), and
every failure of the client translated into a CheckError that says what to fix.

The official client blocks, so each call runs in a worker thread (`asyncio.to_thread`) with a
per-request timeout; the runner's check timeout bounds the whole check.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import os
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes.client import ApiClient, AppsV1Api, Configuration, CoreV1Api
from kubernetes.client.exceptions import ApiException
from kubernetes.client.models import CoreV1Event, V1Deployment, V1Pod
from kubernetes.config import load_incluster_config, load_kube_config
from kubernetes.config.config_exception import ConfigException
from pydantic import ValidationError

from checks.config import Duration
from checks.errors import CheckError
from checks.kinds.base import CheckContext, KindParams
from checks.redact import Redactor
from checks.secrets import Secret

__all__ = ["ApiCall", "Cluster", "ClusterTarget", "K8sParams", "compiling_regex", "open_cluster",
           "resolve_target"]

T = TypeVar("T")

DEFAULT_KUBECONFIG = "~/.kube/config"
LOG_LIMIT_BYTES = 64 * 1024  # 50 lines of a chatty app, not a whole log file


class K8sParams(KindParams):
    """The fields every k8s.* kind shares."""

    namespace: str | None = None  # default: the environment's `kubernetes.namespace`
    request_timeout: Duration = 5.0  # per API call; the check's own timeout bounds the whole


def compiling_regex(value: str | None) -> str | None:
    """A params validator (`AfterValidator(compiling_regex)`): a pattern that does not compile is
    a mistake in the suite, reported when it loads rather than when the check runs."""
    if value is not None:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
    return value


@dataclass(frozen=True)
class ClusterTarget:
    """Which cluster a check talks to and in which namespace, from the environment's
    `kubernetes:` block and the check's `namespace` parameter."""

    namespace: str
    kubeconfig: str | None = None
    context: str | None = None
    in_cluster: bool = False

    @property
    def kubeconfig_paths(self) -> list[str]:
        raw = self.kubeconfig or os.environ.get("KUBECONFIG") or DEFAULT_KUBECONFIG
        return [os.path.expanduser(p) for p in raw.split(os.pathsep) if p]

    @property
    def credentials(self) -> str:
        """Whose credentials these are, for messages: 'context staging of /path/kubeconfig'."""
        if self.in_cluster:
            return "the pod's service account"
        where = os.pathsep.join(self.kubeconfig_paths)
        return f"context {self.context} of {where}" if self.context else f"kubeconfig {where}"


def resolve_target(ctx: CheckContext, namespace: str | None) -> ClusterTarget:
    """The target of one check: the environment's connection, the check's namespace first."""
    settings = ctx.variables.get("kubernetes") or {}
    chosen = namespace or settings.get("namespace")
    if not chosen:
        raise CheckError(
            f"no namespace to look in: set `namespace:` on the check or `kubernetes: "
            f"{{namespace: ...}}` on environment '{ctx.environment}'", permanent=True)
    kubeconfig = settings.get("kubeconfig")
    if kubeconfig:  # the suite file's, so relative to its folder ($KUBECONFIG is not)
        kubeconfig = os.pathsep.join(str(ctx.resolve_path(part))
                                     for part in str(kubeconfig).split(os.pathsep) if part)
    return ClusterTarget(namespace=chosen, kubeconfig=kubeconfig,
                         context=settings.get("context"),
                         in_cluster=bool(settings.get("in_cluster")))


@dataclass(frozen=True)
class ApiCall:
    """One request, described in RBAC terms so that a refusal can name the missing grant."""

    verb: str  # get, list
    resource: str  # pods, pods/log, deployments, secrets, events
    namespace: str
    name: str | None = None
    grant_by_name: bool = True  # False where names change (pods): grant the whole resource

    @property
    def grant(self) -> str:
        named = self.name and self.grant_by_name
        return f"{self.resource}/{self.name}" if named else self.resource

    @property
    def object(self) -> str:
        """`deployment staging-rsolv-platform`, `secret staging-rsolv-secrets`."""
        singular = self.resource.split("/")[0].removesuffix("s")
        return f"{singular} {self.name}" if self.name else self.resource


# ---------------------------------------------------------------- building the client

def _build_api_client(target: ClusterTarget) -> ApiClient:
    """A client of its own: loading into a fresh Configuration leaves the library's global
    default alone, so two environments (or two tests) can talk to two clusters at once."""
    configuration = Configuration()
    try:
        if target.in_cluster:
            load_incluster_config(client_configuration=configuration)
        else:
            paths = target.kubeconfig_paths
            missing = [p for p in paths if not os.path.exists(p)]
            if missing and len(missing) == len(paths):
                raise CheckError(
                    f"kubeconfig {os.pathsep.join(paths)} does not exist: set `kubernetes: "
                    f"{{kubeconfig: PATH}}` on the environment, or $KUBECONFIG", permanent=True)
            # persist_config=False: a smoke test must never rewrite someone's kubeconfig.
            load_kube_config(config_file=os.pathsep.join(paths), context=target.context,
                             client_configuration=configuration, persist_config=False)
    except ConfigException as exc:
        if target.in_cluster:
            raise CheckError(
                f"`in_cluster: true`, but smokebot is not running in a Kubernetes pod with a "
                f"service account ({_one_line(exc)}); run it in the cluster, or use a kubeconfig",
                permanent=True) from None
        raise CheckError(f"cannot use {target.credentials}: {_one_line(exc)}",
                         permanent=True) from None
    except (OSError, ValueError, yaml.YAMLError) as exc:  # unreadable, not YAML, bad base64
        raise CheckError(f"cannot read {target.credentials}: {_one_line(exc)}",
                         permanent=True) from None
    # One attempt per call: the runner owns retries, with its backoff and its `permanent` stop.
    configuration.retries = 0
    return ApiClient(configuration)


@asynccontextmanager
async def open_cluster(target: ClusterTarget, redactor: Redactor,
                       request_timeout: float) -> AsyncIterator[Cluster]:
    api = await asyncio.to_thread(_build_api_client, target)
    try:
        # The bearer token is a secret like any other: nothing may print it.
        for value in api.configuration.api_key.values():
            if value:
                redactor.register(str(value))
                redactor.register(str(value).split(" ", 1)[-1])
        yield Cluster(api, target, redactor, request_timeout)
    finally:
        await asyncio.to_thread(api.close)


# ---------------------------------------------------------------- the calls the kinds make

class Cluster:
    """The few reads the k8s.* kinds need, each translated into CheckError on failure."""

    def __init__(self, api: ApiClient, target: ClusterTarget, redactor: Redactor,
                 request_timeout: float) -> None:
        self._api = api
        self._core = CoreV1Api(api)
        self._apps = AppsV1Api(api)
        self.target = target
        self._redactor = redactor
        self._timeout = request_timeout

    @property
    def server(self) -> str:
        return str(self._api.configuration.host)

    async def list_pods(self, namespace: str, selector: str) -> list[V1Pod]:
        call = ApiCall("list", "pods", namespace)
        pods = await self._call(call, lambda: self._core.list_namespaced_pod(
            namespace, label_selector=selector, _request_timeout=self._timeout))
        return list(pods.items or [])

    async def pod_log(self, namespace: str, pod: str, container: str, *, tail_lines: int,
                      previous: bool) -> str:
        call = ApiCall("get", "pods/log", namespace, pod, grant_by_name=False)
        text = await self._call(call, lambda: self._core.read_namespaced_pod_log(
            pod, namespace, container=container, tail_lines=tail_lines, previous=previous,
            limit_bytes=LOG_LIMIT_BYTES, _request_timeout=self._timeout))
        return str(text or "")

    async def deployment(self, namespace: str, name: str) -> V1Deployment:
        call = ApiCall("get", "deployments", namespace, name)
        return await self._call(call, lambda: self._apps.read_namespaced_deployment(
            name, namespace, _request_timeout=self._timeout))

    async def warning_events(self, namespace: str) -> list[CoreV1Event]:
        call = ApiCall("list", "events", namespace)
        events = await self._call(call, lambda: self._core.list_namespaced_event(
            namespace, field_selector="type=Warning", _request_timeout=self._timeout))
        return list(events.items or [])

    async def secret_data(self, namespace: str, name: str) -> dict[str, Secret]:
        """The secret's keys and decoded values. Every value, decoded and in its base64 form,
        is registered with the redactor before this returns, so that no later slip (a log
        line, an exception, a report) can carry it out."""
        call = ApiCall("get", "secrets", namespace, name)
        # The raw body, not the client's model: a model that failed to validate would put
        # the data in its exception message.
        response = await self._call(call, lambda: self._core.read_namespaced_secret(
            name, namespace, _preload_content=False, _request_timeout=self._timeout))
        try:
            raw = response.data
        finally:
            response.release_conn()
        try:
            document = json.loads(raw)
            encoded = document.get("data") or {}
        except (ValueError, AttributeError):
            raise CheckError(f"the Kubernetes API at {self.server} answered get {call.grant} "
                             f"with a body that is not a Secret") from None
        values: dict[str, Secret] = {}
        for key, value in encoded.items():
            text = str(value)
            self._redactor.register(text)
            try:
                decoded = base64.b64decode(text, validate=True).decode("utf-8", "replace")
            except (binascii.Error, ValueError):
                decoded = ""
            self._redactor.register(decoded)
            values[str(key)] = Secret(decoded)
        return values

    # ------------------------------------------------------------ error translation

    async def _call(self, call: ApiCall, request: Callable[[], T]) -> T:
        try:
            return await asyncio.to_thread(request)
        except ApiException as exc:
            raise self._api_error(call, exc) from None
        except urllib3.exceptions.HTTPError as exc:
            raise self._network_error(call, exc) from None
        except ValidationError as exc:
            # Name the first bad field, never its input: a pod spec can hold env values.
            first = exc.errors(include_input=False, include_url=False)[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            if not where:  # not even an object: text or HTML where JSON was due
                raise self._not_kubernetes(call, "a body that is not a Kubernetes object") \
                    from None
            raise CheckError(
                f"the Kubernetes API at {self.server} answered {call.verb} {call.grant} with "
                f"an object this client cannot read ({where}: {first.get('msg')}); does the "
                f"`kubernetes` package suit the cluster's version?", permanent=True) from None
        except ValueError:  # a 200 whose body is not JSON at all
            raise self._not_kubernetes(call, "a body that is not JSON") from None

    def _api_error(self, call: ApiCall, exc: ApiException) -> CheckError:
        status = exc.status or 0
        said = _status_message(exc.body)
        details = f"the API said: {said}" if said else ""
        if status == 0:  # the client's own failures: TLS, or a body it cannot decode
            reason = str(exc.reason or "")
            if reason.startswith("Unsupported content type"):
                return self._not_kubernetes(call, f"content of type {reason.split(': ', 1)[-1]}")
            return CheckError(
                f"TLS with the Kubernetes API at {self.server} failed: check the certificate "
                f"authority and server name in {self.target.credentials}", permanent=True,
                details=reason)
        if status == 401:
            return CheckError(
                f"the Kubernetes API at {self.server} rejected the credentials of "
                f"{self.target.credentials} (401 Unauthorized): the token or client "
                f"certificate is missing, wrong or expired; renew it", permanent=True,
                details=details)
        if status == 403:
            return CheckError(
                f"the service account cannot {call.verb} {call.resource} in {call.namespace}: "
                f"grant {call.verb} on {call.grant}", permanent=True, details=details)
        if status == 404:
            if call.name:
                return CheckError(
                    f"{call.object} not found in namespace {call.namespace}: check its name "
                    f"and that the namespace exists", permanent=True, details=details)
            return CheckError(f"the Kubernetes API at {self.server} does not serve "
                              f"{call.resource} in namespace {call.namespace} (404)",
                              permanent=True, details=details)
        reason = f"{status} {exc.reason}" if exc.reason else str(status)
        return CheckError(
            f"the Kubernetes API at {self.server} answered {reason} to {call.verb} "
            f"{call.grant} in {call.namespace}", permanent=400 <= status < 500 and status != 429,
            details=details)

    def _not_kubernetes(self, call: ApiCall, what: str) -> CheckError:
        return CheckError(
            f"{self.server} answered {call.verb} {call.grant} with {what}: it is not a "
            f"Kubernetes API server; check the server address in {self.target.credentials}",
            permanent=True)

    def _network_error(self, call: ApiCall, exc: urllib3.exceptions.HTTPError) -> CheckError:
        cause: BaseException = exc
        if isinstance(exc, urllib3.exceptions.MaxRetryError) and exc.reason is not None:
            cause = exc.reason
        # NewConnectionError subclasses ConnectTimeoutError: test it first.
        if isinstance(cause, urllib3.exceptions.NameResolutionError):
            return CheckError(f"cannot reach the Kubernetes API at {self.server}: its host "
                              f"name does not resolve; check the server address in "
                              f"{self.target.credentials}")
        if isinstance(cause, urllib3.exceptions.NewConnectionError):
            return CheckError(
                f"cannot reach the Kubernetes API at {self.server}: {_socket_cause(cause)}; "
                f"check the server address in {self.target.credentials}, the network or VPN, "
                f"and that the cluster is up")
        if isinstance(cause, urllib3.exceptions.TimeoutError):
            return CheckError(
                f"the Kubernetes API at {self.server} did not answer {call.verb} {call.grant} "
                f"within {self._timeout:g}s")
        if isinstance(cause, urllib3.exceptions.SSLError):
            return CheckError(
                f"TLS with the Kubernetes API at {self.server} failed: check the certificate "
                f"authority and server name in {self.target.credentials}", permanent=True,
                details=str(cause))
        return CheckError(f"the connection to the Kubernetes API at {self.server} failed "
                          f"during {call.verb} {call.grant}: {type(cause).__name__}")


def _one_line(error: BaseException) -> str:
    """A summary is one line; YAML parser errors span four."""
    return " ".join(str(error).split())


def _status_message(body: Any) -> str:
    """The `message` of a Kubernetes Status body: it names the user and the missing verb."""
    if not body:
        return ""
    try:
        document = json.loads(body)
    except (TypeError, ValueError):
        return ""
    return str(document.get("message", "")) if isinstance(document, dict) else ""


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\]\s*(.+)$")


def _socket_cause(error: BaseException) -> str:
    """'connection refused' from urllib3's 'Failed to establish a new connection: [Errno 111]
    Connection refused'."""
    text = str(error)
    match = _ERRNO_TEXT.search(text)
    return (match.group(1) if match else text.rsplit(":", 1)[-1]).strip().lower()
