"""`k8s.image`: the deployment's container image (repository, tag, digest) is the expected one,
and its pods actually run it: each pod's container reports that image, and the pods' image
IDs (the digests the kubelet pulled) agree with each other and with any expected digest.
Optionally, labels or annotations the deploy stamped on the pod template (a commit, for an
image under a mutable tag such as `:staging`) are on the template and on every pod. The
report's

    kubectl get deployment staging-rsolv-platform -o jsonpath='{..containers[0].image}'

plus what it could not see: a pod still running an older push of a mutable tag."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar

from kubernetes.client import V1ObjectMeta
from pydantic import AfterValidator, BeforeValidator, Field, field_validator

from checks.kinds.base import CheckContext, CheckKind
from checks.kinds.k8s_client import K8sParams, compiling_regex, open_cluster, resolve_target
from checks.kinds.k8s_objects import read_pod, selector_string
from checks.results import Outcome

__all__ = ["ImageCheck", "ImageParams", "ImageRef"]

_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_COMMIT = re.compile(r"^[0-9a-f]{7,40}$")


def _blank_is_unset(value: Any) -> Any:
    """`tag: ${deploy.commit:-}` means "check the tag when the deploy told us one"."""
    return None if isinstance(value, str) and not value.strip() else value


OptionalText = Annotated[str | None, BeforeValidator(_blank_is_unset)]


class ImageParams(K8sParams):
    deployment: str
    container: str | None = None  # default: the deployment's first container
    image: OptionalText = None  # the whole reference: ghcr.io/rsolv-dev/rsolv-platform:staging
    tag: OptionalText = None  # e.g. ${deploy.commit}; a commit matches its short form too
    # a regular expression searched in the reference
    pattern: Annotated[OptionalText, AfterValidator(compiling_regex)] = None
    digest: OptionalText = None  # sha256:...
    # On the pod template and every pod: `rsolv.dev/commit: ${deploy.commit:-}`. An empty
    # value is not checked; a commit matches its short form.
    labels: dict[str, OptionalText] = Field(default_factory=dict)
    annotations: dict[str, OptionalText] = Field(default_factory=dict)
    check_pods: bool = True

    @field_validator("digest")
    @classmethod
    def _is_digest(cls, value: str | None) -> str | None:
        if value is not None and not _DIGEST.fullmatch(value):
            raise ValueError("expected a digest such as sha256:<64 hex digits>")
        return value


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, reference: str) -> ImageRef:
        name, _, digest = reference.partition("@")
        slash = name.rfind("/")
        colon = name.rfind(":")
        tag = None
        if colon > slash:  # a colon before the last slash is a registry port
            name, tag = name[:colon], name[colon + 1:]
        return cls(name, tag, digest or None)

    @property
    def canonical(self) -> str:
        """The reference as the kubelet reports it: Docker Hub names spelled out, `latest`
        made explicit, so `nginx` and `docker.io/library/nginx:latest` compare equal."""
        parts = self.repository.split("/")
        if len(parts) == 1:
            parts = ["docker.io", "library", *parts]
        elif not ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
            parts = ["docker.io", *parts]
        text = "/".join(parts)
        if self.tag or not self.digest:
            text += f":{self.tag or 'latest'}"
        return text + (f"@{self.digest}" if self.digest else "")


def short_digest(digest: str) -> str:
    return digest[:19]  # sha256: and 12 hex digits, as `docker images` shows an id


def _tag_matches(expected: str, actual: str | None) -> bool:
    if actual is None:
        return False
    if expected == actual:
        return True
    # A deploy knows the full commit; images are often tagged with its short form.
    both_commits = _COMMIT.match(expected) and _COMMIT.match(actual)
    return bool(both_commits) and (expected.startswith(actual) or actual.startswith(expected))


def _expectation_problems(params: ImageParams, reference: str, ref: ImageRef) -> list[str]:
    problems = []
    if params.image is not None and ImageRef.parse(params.image).canonical != ref.canonical:
        problems.append(f"expected image {params.image}, got {reference}")
    if params.tag is not None and not _tag_matches(params.tag, ref.tag):
        problems.append(f"expected tag {params.tag}, got {ref.tag or 'no tag'} ({reference})")
    if params.pattern is not None and not re.search(params.pattern, reference):
        problems.append(f"image {reference} does not match pattern {params.pattern}")
    if params.digest is not None and ref.digest is not None and ref.digest != params.digest:
        problems.append(f"expected digest {short_digest(params.digest)}, deployment pins "
                        f"{short_digest(ref.digest)}")
    return problems


def _stamped(params: ImageParams) -> list[tuple[str, str, str]]:
    """(`label` or `annotation`, key, expected value) for each one to check."""
    return [(what, key, value) for what, wanted in (("label", params.labels),
                                                    ("annotation", params.annotations))
            for key, value in wanted.items() if value is not None]


def _stamp(meta: V1ObjectMeta | None, what: str, key: str) -> str | None:
    if meta is None:
        return None
    return ((meta.labels if what == "label" else meta.annotations) or {}).get(key)


def _stamp_problems(stamped: list[tuple[str, str, str]], meta: V1ObjectMeta | None,
                    owner: str) -> list[str]:
    problems = []
    for what, key, expected in stamped:
        actual = _stamp(meta, what, key)
        if actual is None:
            problems.append(f"{owner} has no {what} {key}, expected {expected}")
        elif not _tag_matches(expected, actual):
            problems.append(f"{owner}: expected {what} {key} {expected}, got {actual}")
    return problems


class ImageCheck(CheckKind[ImageParams]):
    Params: ClassVar[type[ImageParams]] = ImageParams

    def describe(self, params: ImageParams) -> str:
        wanted = [f"image {params.image}" if params.image else "",
                  f"tag {params.tag}" if params.tag else "",
                  f"matching {params.pattern}" if params.pattern else "",
                  f"digest {short_digest(params.digest)}" if params.digest else "",
                  *(f"{what} {key}={value}" for what, key, value in _stamped(params))]
        expected = ", ".join(w for w in wanted if w) or "the deployed image"
        pods = ", run by its pods" if params.check_pods else ""
        return f"deployment {params.deployment}: {expected}{pods}"

    async def run(self, params: ImageParams, ctx: CheckContext) -> Outcome:
        target = resolve_target(ctx, params.namespace)
        namespace = target.namespace
        async with open_cluster(target, ctx.redactor, params.request_timeout) as cluster:
            deployment = await cluster.deployment(namespace, params.deployment)
            containers = deployment.spec.template.spec.containers \
                if deployment.spec.template.spec else []
            names = [c.name for c in containers]
            chosen = next((c for c in containers if c.name == params.container), None) \
                if params.container else (containers[0] if containers else None)
            if chosen is None:
                wanted = f"container named {params.container}" if params.container \
                    else "containers"
                return Outcome.failed(
                    f"deployment {params.deployment} has no {wanted}; it has: "
                    f"{', '.join(names) or 'none'}", evidence={"containers": names})
            selector = selector_string(deployment.spec.selector)
            listed = await cluster.list_pods(namespace, selector) if params.check_pods else []
            pods = [(read_pod(p), p.metadata) for p in listed]

        reference = chosen.image or ""
        ref = ImageRef.parse(reference)
        problems = _expectation_problems(params, reference, ref)
        stamped = _stamped(params)
        template = deployment.spec.template.metadata
        problems += _stamp_problems(stamped, template,
                                    f"deployment {params.deployment} pod template")
        expected_digest = params.digest or ref.digest
        running: list[tuple[str, str, str]] = []  # (pod, image, digest)
        unstarted = 0
        for pod, meta in pods:
            if pod.terminating:
                continue
            status = next((c for c in pod.containers if c.name == chosen.name), None)
            if status is None or not status.image_id:
                unstarted += 1
                problems.append(f"pod {pod.name} has not started container {chosen.name}")
                continue
            found = _DIGEST.findall(status.image_id)
            running.append((pod.name, status.image, found[-1] if found else ""))
            problems += _stamp_problems(stamped, meta, f"pod {pod.name}")
        for pod_name, image, _ in running:
            if ImageRef.parse(image).canonical != ref.canonical and not ref.digest:
                problems.append(f"pod {pod_name} runs {image}, expected {reference}")
        digests = sorted({digest for _, _, digest in running if digest})
        if expected_digest:
            for pod_name, _, digest in running:
                if digest != expected_digest:
                    problems.append(f"pod {pod_name} runs digest "
                                    f"{short_digest(digest) if digest else 'unknown'}, "
                                    f"expected {short_digest(expected_digest)}")
        elif len(digests) > 1:
            listing = ", ".join(
                f"{short_digest(d)} ({', '.join(p for p, _, g in running if g == d)})"
                for d in digests)
            problems.append(f"pods run {len(digests)} different digests of {reference}: "
                            f"{listing}")
        if params.check_pods and not running and not unstarted:
            problems.append(f"no running pod of deployment {params.deployment} "
                            f"(selector {selector})")

        digest = expected_digest or (digests[0] if len(digests) == 1 else None)
        measurements = {"image": reference, "tag": ref.tag, "digest": digest}
        evidence = {"namespace": namespace, "deployment": params.deployment,
                    "container": chosen.name, "image": reference, "repository": ref.repository,
                    "tag": ref.tag, "digest": digest, "selector": selector,
                    "pods": [{"name": p, "image": i, "digest": d} for p, i, d in running]}
        seen = {f"{what} {key}": _stamp(template, what, key) for what, key, _ in stamped}
        if seen:
            evidence["stamped"] = seen
        lines = [f"deployment {params.deployment} container {chosen.name}: {reference}"]
        lines += [f"pod template {name}: {value or 'none'}" for name, value in seen.items()]
        lines += [f"pod {p}: {i} ({d or 'no digest'})" for p, i, d in running]
        if problems:
            lines += ["", *problems]
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            return Outcome.failed(problems[0] + more, details="\n".join(lines),
                                  measurements=measurements, evidence=evidence)
        facts = [f"tag {ref.tag}" if ref.tag else "", f"digest {short_digest(digest)}"
                 if digest else "", *(f"{name} {value}" for name, value in seen.items())]
        facts_text = ", ".join(f for f in facts if f)
        on_pods = f" on {len(running)}/{len(running)} pods" if params.check_pods else ""
        summary = f"{reference}" + (f" ({facts_text})" if facts_text else "") + on_pods
        return Outcome.ok(summary, details="\n".join(lines), measurements=measurements,
                          evidence=evidence)
