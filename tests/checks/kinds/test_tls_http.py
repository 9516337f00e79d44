"""The `http` kind's `tls:` block, against an HTTPS app on loopback whose certificate (from a
trustme CA) expires in 10 days."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from checks.config import load_suite
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from tests.support.asgi import serve_asgi
from tests.support.tls_server import issued

APP = Starlette(routes=[
    Route("/health", lambda request: JSONResponse({"status": "healthy"})),
    Route("/broken", lambda request: JSONResponse({"status": "down"}, status_code=503)),
])


@pytest.fixture(scope="module")
def https(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(https base URL, CA file) of the app, served with a certificate that has 10 days left."""
    folder = tmp_path_factory.mktemp("https")
    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    pem = issued(ca, folder, "127.0.0.1", days=10)
    with serve_asgi(APP, ssl_keyfile=str(pem), ssl_certfile=str(pem)) as base:
        yield base.replace("http://", "https://", 1), folder / "ca.pem"


async def run_http(params: dict[str, Any]) -> Outcome:
    kind = load_kind("http")
    return await kind.run(kind.Params.model_validate(params),
                          CheckContext(environment="test", redactor=Redactor()))


async def test_days_left_under_warn_days_left_is_a_warning(https: tuple[str, Path]) -> None:
    base_url, ca_file = https

    outcome = await run_http({"url": f"{base_url}/health", "ca_file": str(ca_file),
                              "tls": {"min_days_left": 7, "warn_days_left": 14}})

    assert outcome.passed
    assert outcome.summary.startswith("200 OK in ")
    assert outcome.warning is not None
    assert outcome.warning.startswith("certificate expires in 9 days (")
    assert outcome.warning.endswith("), under warn_days_left 14")
    assert outcome.measurements["tls_days_left"] == 9
    assert outcome.measurements["status"] == 200
    assert outcome.evidence["tls"]["version"] == "TLSv1.3"
    assert outcome.evidence["tls"]["names"] == ["127.0.0.1"]
    # The response first, then what the handshake saw.
    assert outcome.details.index("GET ") < outcome.details.index("subject: ")


async def test_days_left_under_min_days_left_fails_the_request(https: tuple[str, Path]) -> None:
    base_url, ca_file = https

    outcome = await run_http({"url": f"{base_url}/health", "ca_file": str(ca_file),
                              "tls": {"min_days_left": 30, "min_version": "1.3"}})

    assert not outcome.passed and outcome.warning is None
    assert outcome.summary.startswith("TLS: certificate expires in 9 days (")
    assert outcome.summary.endswith("), under min_days_left 30")
    assert outcome.evidence["tls"]["failures"] == [outcome.summary.removeprefix("TLS: ")]


async def test_tls_failures_add_to_the_response_s_own(https: tuple[str, Path]) -> None:
    base_url, ca_file = https

    outcome = await run_http({"url": f"{base_url}/broken", "ca_file": str(ca_file),
                              "tls": {"min_days_left": 30}})

    assert not outcome.passed
    first, second = outcome.summary.split("; ")
    assert first == "expected status 200, got 503"
    assert second.startswith("TLS: certificate expires in 9 days (")


async def test_a_response_and_certificate_that_are_fine_pass_without_a_warning(
        https: tuple[str, Path]) -> None:
    base_url, ca_file = https

    outcome = await run_http({"url": f"{base_url}/health", "ca_file": str(ca_file),
                              "tls": {"min_days_left": 7, "min_version": 1.2}})

    assert outcome.passed and outcome.warning is None


def test_a_tls_block_needs_an_https_url() -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("http").Params.model_validate({"url": "http://127.0.0.1/health",
                                                 "tls": {"min_days_left": 7}})
    assert "`tls:` judges the certificate of an https:// url; this url is not one" in str(
        caught.value)


def test_a_tls_block_has_only_the_thresholds() -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("http").Params.model_validate({"url": "https://127.0.0.1/health",
                                                 "tls": {"host": "elsewhere"}})
    assert "Extra inputs are not permitted" in str(caught.value)


def test_a_flow_step_takes_no_tls_block() -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("http.flow").Params.model_validate({"steps": [
            {"name": "health", "url": "https://127.0.0.1/health", "tls": {}}]})
    assert "Extra inputs are not permitted" in str(caught.value)


SUITE = """\
suite: http-tls
environments:
  local: {{}}
categories:
  - name: Health
    checks:
      - id: health
        type: http
        url: {base_url}/health
        ca_file: ca.pem
        tls:
          warn_days_left: 14
"""


async def test_through_the_runner_the_warning_is_a_warn_result(https: tuple[str, Path],
                                                               tmp_path: Path) -> None:
    base_url, ca_file = https
    (tmp_path / "ca.pem").write_bytes(ca_file.read_bytes())  # relative to the suite file
    path = tmp_path / "smoketest.yaml"
    path.write_text(SUITE.format(base_url=base_url))

    result = await run_plan(build_plan(load_suite(path), "local"))

    [health] = result.results
    assert health.status is Status.WARN, health.summary
    assert health.evidence["warning"].endswith(", under warn_days_left 14")
    assert health.measurements["tls_days_left"] == 9
