"""The Kubernetes manifests under `manifests/`, as a cluster would receive them: an overlay
rendered by `kubectl kustomize` (kustomize v5, built into kubectl), each object validated
offline against the Kubernetes API's JSON schemas of a pinned version (kubernetes-validate
ships them; strict mode, so a misspelt field is an error, not a silently dropped one).

    objects = render(OVERLAYS / "staging")      # [{"apiVersion": ..., "kind": ...}, ...]
    schema_problems(objects)                    # [] or ["Deployment/x: spec.replicas: ..."]

kubectl is on every machine of this project's kind (Debian's `kubectl` package); where it is
missing, `render` skips the test, except under CI=true, where it fails it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

__all__ = ["KUBERNETES_VERSION", "MANIFESTS", "OVERLAYS", "RenderFailed", "kubectl", "named",
           "render", "schema_problems", "sources"]

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = MANIFESTS / "overlays"
# The oldest Kubernetes the manifests must apply to; every field used exists there.
KUBERNETES_VERSION = "1.30.0"
RENDER_TIMEOUT_S = 30.0


class RenderFailed(Exception):
    """kustomize refused the directory; the message is its own."""


def kubectl() -> str:
    """kubectl's path; skips the test without it (fails it in CI)."""
    found = shutil.which("kubectl")
    if found is None:
        message = ("kubectl is not installed: it renders the kustomize overlays "
                   "(apt-get install kubectl)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def render(directory: Path) -> list[dict[str, Any]]:
    """Every object `kubectl kustomize DIRECTORY` renders, in its order. Each carries, as
    kustomize's build metadata, the file it came from and the kustomizations that patched it
    (`sources(obj)` reads them), so a problem can name the file to fix."""
    with tempfile.TemporaryDirectory() as wrapper:
        # A kustomization around the directory asks for the metadata without it being in the
        # manifests themselves; kustomize takes only relative paths to other kustomizations.
        relative = os.path.relpath(directory.resolve(), wrapper)
        (Path(wrapper) / "kustomization.yaml").write_text(
            f"resources: [{relative}]\nbuildMetadata: [originAnnotations, "
            "transformerAnnotations]\n")
        done = subprocess.run(
            [kubectl(), "kustomize", "--load-restrictor", "LoadRestrictionsNone", wrapper],
            capture_output=True, text=True, timeout=RENDER_TIMEOUT_S, check=False,
            env={**os.environ, "KUBECONFIG": os.devnull})  # no cluster is asked
    if done.returncode != 0:
        raise RenderFailed(done.stderr.strip() or f"kubectl kustomize exited {done.returncode}")
    objects = [document for document in yaml.safe_load_all(done.stdout) if document is not None]
    # Files are named from the folder holding `manifests/` (the repository, or a test's copy).
    tree = next((parent.parent for parent in [directory.resolve(), *directory.resolve().parents]
                 if parent.name == "manifests"), ROOT)
    for obj in objects:
        _take_sources(obj, Path(wrapper), tree)
    return objects


_ORIGIN = "config.kubernetes.io/origin"
_TRANSFORMATIONS = "alpha.config.kubernetes.io/transformations"


def _take_sources(obj: dict[str, Any], wrapper: Path, tree: Path) -> None:
    """Moves kustomize's build metadata out of the object (it is not part of the manifests)
    into `_sources`: the file the object came from, then those of the patches applied to it."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    origin = yaml.safe_load(annotations.pop(_ORIGIN, "") or "{}") or {}
    steps = yaml.safe_load(annotations.pop(_TRANSFORMATIONS, "") or "[]") or []
    if not annotations and "annotations" in (obj.get("metadata") or {}):
        del obj["metadata"]["annotations"]

    def shown(path: str) -> str:
        return os.path.relpath(os.path.normpath(wrapper / path), tree)

    files = [shown(origin["path"])] if origin.get("path") else []
    files += sorted({shown(step["configuredIn"]) for step in steps
                     if (step.get("configuredBy") or {}).get("kind") == "PatchTransformer"})
    obj["_sources"] = files


def sources(obj: dict[str, Any]) -> list[str]:
    """The file an object came from, then the files of the patches applied to it."""
    return list(obj.get("_sources", []))


def schema_problems(objects: list[dict[str, Any]],
                    version: str = KUBERNETES_VERSION) -> list[str]:
    """One line per object that the schemas of Kubernetes `version` refuse (the first problem
    the validator finds in it)."""
    problems = []
    for obj in objects:
        what = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        files = sources(obj)
        if files:  # the file to fix: the object's own, and any patch applied to it
            what = f"{files[0]}{' (patched in ' + ', '.join(files[1:]) + ')' if files[1:] else ''}: {what}"
        manifest = {key: value for key, value in obj.items() if key != "_sources"}
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.absolute_path) or "(the object)"
            problems.append(f"{what}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{what}: {exc.message}")
    return problems


def named(objects: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one object of `kind` (and `name`); fails the test when there is not exactly one."""
    found = [o for o in objects if o["kind"] == kind
             and (name is None or o["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]
