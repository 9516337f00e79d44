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
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

__all__ = ["KUBERNETES_VERSION", "MANIFESTS", "OVERLAYS", "RenderFailed", "kubectl", "named",
           "render", "schema_problems"]

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
    """Every object `kubectl kustomize DIRECTORY` renders, in its order."""
    done = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True,
                          text=True, timeout=RENDER_TIMEOUT_S, check=False,
                          env={**os.environ, "KUBECONFIG": os.devnull})  # no cluster is asked
    if done.returncode != 0:
        raise RenderFailed(done.stderr.strip() or f"kubectl kustomize exited {done.returncode}")
    return [document for document in yaml.safe_load_all(done.stdout) if document is not None]


def schema_problems(objects: list[dict[str, Any]],
                    version: str = KUBERNETES_VERSION) -> list[str]:
    """One line per object that the schemas of Kubernetes `version` refuse (the first problem
    the validator finds in it)."""
    problems = []
    for obj in objects:
        what = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, version, strict=True)
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
