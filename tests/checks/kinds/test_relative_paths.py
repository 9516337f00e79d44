"""Relative paths in a suite file start at the suite file's folder, whatever folder smokebot was
started in: each kind that takes a path, in one suite file run from another directory."""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from checks.config import load_suite
from checks.kinds.base import CheckContext, resolve_path
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Status
from checks.runner import run_plan
from tests.support.asgi import serve_asgi
from tests.support.fake_k8s import serving, staging_cluster
from tests.support.tls_server import issued


async def _health(request: Request) -> JSONResponse:
    return JSONResponse({"status": "healthy"})


async def _webhook(request: Request) -> JSONResponse:
    await request.body()
    return JSONResponse({"received": True})


APP = Starlette(routes=[Route("/health", _health),
                        Route("/webhooks/stripe", _webhook, methods=["POST"])])


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The folder of the suite file: its CA certificate, kubeconfig and test runner."""
    folder = tmp_path / "project"
    (folder / "certs").mkdir(parents=True)
    (folder / "tests").mkdir()
    (folder / "kube").mkdir()
    (folder / "tests/run.py").write_text(textwrap.dedent("""\
        import pathlib
        pathlib.Path("junit.xml").write_text(
            '<testsuite><testcase classname="app" name="test_ok"/></testsuite>')
        """))
    return folder


@pytest.fixture
def https(project: Path) -> Iterator[str]:
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(project / "certs/ca.pem"))
    pem = issued(ca, project, "127.0.0.1", name="server.pem")
    with serve_asgi(APP, ssl_keyfile=str(pem), ssl_certfile=str(pem)) as base:
        yield base.replace("http://", "https://", 1)


SUITE = """\
suite: relative-paths
environments:
  local:
    variables: {{base_url: "{base_url}"}}
    kubernetes: {{kubeconfig: kube/kubeconfig, context: staging, namespace: rsolv-staging}}
categories:
  - name: Paths
    checks:
      - id: http
        type: http
        url: ${{base_url}}/health
        ca_file: certs/ca.pem
      - id: flow
        type: http.flow
        steps:
          - {{name: health, url: "${{base_url}}/health", ca_file: certs/ca.pem}}
      - id: tls
        type: tls
        url: ${{base_url}}
        ca_file: ./certs/ca.pem
      - id: webhook
        type: stripe.webhook_delivery
        url: ${{base_url}}/webhooks/stripe
        secret: whsec_relativepaths0123456789
        events: [customer.subscription.created]
        negative_probes: false
        ca_file: certs/ca.pem
      - id: load
        type: load
        url: ${{base_url}}/health
        rps: 20
        duration: 0.3s
        ca_file: certs/ca.pem
      - id: suite-cwd
        type: suite
        command: [{python}, run.py]
        cwd: tests
        junit: junit.xml
      - id: suite-default-cwd
        type: suite
        command: [{python}, tests/run.py]
        junit: junit.xml
      - id: pods
        type: k8s.pods
        selector: app=rsolv-platform
        min_pods: 2
"""


async def test_every_kind_s_relative_paths_start_at_the_suite_file_s_folder(
        project: Path, https: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=https, python=json.dumps(sys.executable)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    with serving(staging_cluster(), project / "kube"):
        monkeypatch.chdir(elsewhere)
        result = await run_plan(build_plan(load_suite(path), "local"))

    statuses = {r.check_id: (r.status, r.summary) for r in result.results}
    assert {check: status for check, (status, _) in statuses.items()} == {
        "http": Status.PASS, "flow": Status.PASS, "tls": Status.PASS, "webhook": Status.PASS,
        "load": Status.PASS,
        "suite-cwd": Status.PASS, "suite-default-cwd": Status.PASS, "pods": Status.PASS,
    }, statuses
    by_id = {r.check_id: r for r in result.results}
    assert by_id["suite-cwd"].evidence["source"] == f"junit {project / 'tests/junit.xml'}"
    assert by_id["suite-default-cwd"].evidence["source"] == f"junit {project / 'junit.xml'}"
    assert list(elsewhere.iterdir()) == []


async def test_a_relative_ca_file_names_where_it_was_looked_for(
        project: Path, https: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = project / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=https, python=json.dumps(sys.executable))
                    .replace("ca_file: certs/ca.pem", "ca_file: certs/missing.pem", 1))
    monkeypatch.chdir(tmp_path)

    result = await run_plan(build_plan(load_suite(path), "local", only=["http"]))

    [http] = result.results
    assert (http.status, http.summary) == (
        Status.ERROR, f"cannot use ca_file 'certs/missing.pem' ({project / 'certs/missing.pem'})"
                      f": No such file or directory; expected a PEM file holding the CA "
                      f"certificate")


def test_resolve_path_keeps_absolute_expands_home_and_starts_relative_at_the_suite(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    ctx = CheckContext(environment="test", redactor=Redactor(), suite_dir=Path("/srv/suite"))

    assert ctx.resolve_path("/etc/ssl/ca.pem") == Path("/etc/ssl/ca.pem")
    assert ctx.resolve_path("~/ca.pem") == tmp_path / "home/ca.pem"
    assert ctx.resolve_path("certs/ca.pem") == Path("/srv/suite/certs/ca.pem")
    assert resolve_path("certs/ca.pem", None) == tmp_path / "certs/ca.pem"
