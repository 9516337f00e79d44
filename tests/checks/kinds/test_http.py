"""The `http` kind against real servers on loopback: the demo target, a probe app with the odd
endpoints (status codes, a slow one, redirects, text), and an HTTPS server with a trustme CA."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import trustme
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Route

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.http import HttpCheck, HttpClients, HttpRequest, perform, transport_error
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from demo.target import create_app
from tests.support.asgi import free_port, serve_asgi

DOCUMENT = {
    "status": "healthy",
    "version": "0.1.0",
    "node": None,
    "services": {"database": "healthy",
                 "ai_providers": {"anthropic": "healthy", "openai": "degraded"}},
    "clustering": {"enabled": True, "node_count": 2, "connected_nodes": ["rsolv@10.42.8.103"]},
}
DOCUMENT.pop("node")  # absent, for `exists`


async def _status(request: Request) -> Response:
    code = int(request.path_params["code"])
    if code == 204:
        return Response(status_code=204)
    return JSONResponse({"code": code}, status_code=code)


async def _slow(request: Request) -> Response:
    await asyncio.sleep(float(request.query_params["s"]))
    return JSONResponse({"slept": float(request.query_params["s"])})


async def _document(request: Request) -> Response:
    return JSONResponse(DOCUMENT)


async def _text(request: Request) -> Response:
    return HTMLResponse("<html><body>Welcome to rsolv, build 26603507</body></html>")


async def _redirect(request: Request) -> Response:
    return RedirectResponse("/document", status_code=302)


async def _loop(request: Request) -> Response:
    return RedirectResponse("/loop", status_code=302)


async def _echo(request: Request) -> Response:
    body = await request.body()
    return JSONResponse({"method": request.method, "headers": dict(request.headers),
                         "body": body.decode()})


async def _big(request: Request) -> Response:
    return PlainTextResponse("x" * 10_000)


async def _limited(request: Request) -> Response:
    """Rate-limit headers, a header sent twice, and body fields named like response fields."""
    response = JSONResponse({"headers": {"retry-after": "never"}, "status": "healthy",
                             "services": {"ai.providers": "healthy"}},
                            headers={"Retry-After": "120", "X-RateLimit-Remaining": "7"})
    response.raw_headers += [(b"x-served-by", b"edge-1"), (b"x-served-by", b"edge-2")]
    return response


PROBE = Starlette(routes=[
    Route("/status/{code:int}", _status), Route("/slow", _slow), Route("/document", _document),
    Route("/text", _text), Route("/redirect", _redirect), Route("/loop", _loop),
    Route("/echo", _echo, methods=["GET", "POST", "PUT", "DELETE"]), Route("/big", _big),
    Route("/limited", _limited),
])


@pytest.fixture(scope="module")
def probe() -> Iterator[str]:
    with serve_asgi(PROBE) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def demo() -> Iterator[str]:
    with serve_asgi(create_app()) as base_url:
        yield base_url


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """(https base URL, CA certificate file) of the probe app served over TLS."""
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server_pem = folder / "server.pem"
    ca.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(str(server_pem))
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with serve_asgi(PROBE, ssl_keyfile=str(server_pem), ssl_certfile=str(server_pem)) as base:
        yield base.replace("http://", "https://", 1), ca_file


def _ctx() -> CheckContext:
    return CheckContext(environment="test", redactor=Redactor())


async def _run(params: dict[str, Any]) -> Outcome:
    kind = HttpCheck()
    return await kind.run(HttpCheck.Params.model_validate(params), _ctx())


# ------------------------------------------------------------------------------ passing

def test_the_registry_loads_the_http_kind() -> None:
    assert isinstance(load_kind("http"), HttpCheck)


async def test_health_of_the_demo_target_passes_with_measurements(demo: str) -> None:
    outcome = await _run({"url": f"{demo}/api/health", "max_latency": 10,
                          "assert": ["status == healthy", "services.ai_providers.* == healthy",
                                     "clustering.node_count >= 2"]})

    assert outcome.passed, outcome.summary
    assert re.fullmatch(r"200 OK in \d+ ms", outcome.summary)
    assert outcome.measurements["status"] == 200
    assert outcome.measurements["bytes"] > 100
    assert isinstance(outcome.measurements["response_ms"], int)
    assert outcome.details.startswith(f"GET {demo}/api/health\nHTTP/1.1 200 OK (")
    assert "content-type: application/json" in outcome.details
    assert '"service": "rsolv-api"' in outcome.details


async def test_a_degraded_provider_fails_with_every_assertion_failure() -> None:
    with serve_asgi(create_app(degraded=frozenset({"openai"}))) as base_url:
        outcome = await _run({"url": f"{base_url}/api/health",
                              "assert": ["services.ai_providers.* == healthy",
                                         "status == healthy"]})

    assert not outcome.passed
    assert outcome.summary == ('services.ai_providers.openai: expected "healthy", got "degraded"; '
                               'status: expected "healthy", got "degraded"')
    assert outcome.details.startswith(
        'services.ai_providers.openai: expected "healthy", got "degraded"\n'
        'status: expected "healthy", got "degraded"\n\nGET ')
    assert outcome.evidence["failures"] == [
        'services.ai_providers.openai: expected "healthy", got "degraded"',
        'status: expected "healthy", got "degraded"']


# ------------------------------------------------------------------------------ status, latency

async def test_a_wrong_status_says_expected_and_got(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/status/503"})

    assert not outcome.passed
    assert outcome.summary == "expected status 200, got 503"
    assert outcome.measurements["status"] == 503
    assert "HTTP/1.1 503 Service Unavailable (" in outcome.details
    assert '"code": 503' in outcome.details


async def test_any_status_of_a_list_passes_and_the_list_is_named_on_failure(probe: str) -> None:
    passed = await _run({"url": f"{probe}/status/204", "status": [200, 204]})
    failed = await _run({"url": f"{probe}/status/404", "status": [200, 204]})

    assert passed.passed and passed.summary.startswith("204 No Content in ")
    assert failed.summary == "expected status 200 or 204, got 404"


async def test_body_assertions_are_not_checked_when_the_status_is_wrong(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/status/500", "assert": "status == healthy"})

    assert outcome.summary == "expected status 200, got 500"
    assert "body not checked: the status was not the expected one" in outcome.details


async def test_a_response_slower_than_max_latency_fails(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/slow?s=0.3", "max_latency": "100ms"})

    assert not outcome.passed
    match = re.fullmatch(r"response took (\d+) ms, over the 100 ms limit", outcome.summary)
    assert match and int(match.group(1)) >= 300
    assert outcome.measurements["response_ms"] == int(match.group(1))


async def test_a_response_within_max_latency_passes(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/slow?s=0.01", "max_latency": "5s"})

    assert outcome.passed, outcome.summary


# ------------------------------------------------------------------------------ body

@pytest.mark.parametrize(("assertion", "failure"), [
    ("status == healthy", None),
    ("status == down", 'status: expected "down", got "healthy"'),
    ("status != degraded", None),
    ("status != healthy", 'status: expected not "healthy", got "healthy"'),
    ("clustering.node_count >= 2", None),
    ("clustering.node_count > 2", "clustering.node_count: expected > 2, got 2"),
    ("clustering.node_count <= 2", None),
    ("clustering.node_count < 2", "clustering.node_count: expected < 2, got 2"),
    ("status in [healthy, degraded]", None),
    ("status in [down, degraded]", 'status: expected one of ["down", "degraded"], got "healthy"'),
    ("status not in [down]", None),
    ("status not in [healthy]", 'status: expected none of ["healthy"], got "healthy"'),
    ("version matches ^0[.]1[.]", None),
    ("version matches ^1[.]", 'version: expected to match "^1[.]", got "0.1.0"'),
    ("clustering.enabled == true", None),
    ("status exists", None),
    ("node exists", "node: expected a value, got nothing (missing)"),
    ("node not exists", None),
    ("status not exists", 'status: expected no value, got "healthy"'),
    ("len(clustering.connected_nodes) == 1", None),
    ("len(clustering.connected_nodes) >= 2",
     "clustering.connected_nodes: expected length >= 2, got 1"),
    ("services.database == healthy", None),
    ("services.ai_providers.* == healthy",
     'services.ai_providers.openai: expected "healthy", got "degraded"'),
])
async def test_each_assertion_operator_on_a_json_body(probe: str, assertion: str,
                                                      failure: str | None) -> None:
    outcome = await _run({"url": f"{probe}/document", "assert": [assertion]})

    if failure is None:
        assert outcome.passed, outcome.summary
    else:
        assert (outcome.passed, outcome.summary) == (False, failure)


async def test_assertions_on_a_body_that_is_not_json_fail_clearly(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/text", "assert": ["status == healthy"]})

    assert not outcome.passed
    assert outcome.summary == "expected a JSON body for 1 assertion, got text/html that is not JSON"
    assert "<html><body>Welcome to rsolv" in outcome.details


# ------------------------------------------------------------------------------ response fields

@pytest.mark.parametrize(("assertion", "failure"), [
    ("$headers.retry-after exists", None),
    ("$headers.Retry-After == 120", None),
    ("$headers.X-RATELIMIT-REMAINING <= 10", None),
    ("$headers.x-ratelimit-remaining < 5",
     '$headers.x-ratelimit-remaining: expected < 5, got "7"'),
    ("$headers.x-served-by == 'edge-1, edge-2'", None),
    ("$headers.location exists", "$headers.location: expected a value, got nothing (missing)"),
    ("$status in [200, 204]", None),
    ("$elapsed_ms < 5000", None),
    ("headers.retry-after == never", None),
    ("status == healthy", None),
    ('services["ai.providers"] == healthy', None),
])
async def test_response_assertions_on_a_real_response(probe: str, assertion: str,
                                                      failure: str | None) -> None:
    outcome = await _run({"url": f"{probe}/limited", "assert": [assertion]})

    if failure is None:
        assert outcome.passed, outcome.summary
    else:
        assert (outcome.passed, outcome.summary) == (False, failure)


async def test_elapsed_ms_is_the_measured_response_time(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/slow?s=0.05", "assert": "$elapsed_ms < 40"})

    match = re.fullmatch(r"\$elapsed_ms: expected < 40, got ([0-9.]+)", outcome.summary)
    assert match and float(match.group(1)) >= 50


def test_response_field_names_are_exact_while_header_names_are_not() -> None:
    with pytest.raises(ValidationError, match="expected a response field"):
        HttpCheck.Params.model_validate({"url": "http://127.0.0.1:1/", "assert": "$HEADERS.x == 1"})


async def test_a_status_assertion_replaces_the_default_status(probe: str) -> None:
    no_content = await _run({"url": f"{probe}/status/204", "assert": "$status in [200, 204]"})
    not_found = await _run({"url": f"{probe}/status/404", "assert": "$status in [200, 204]"})
    explicit = await _run({"url": f"{probe}/status/204", "status": 200,
                           "assert": "$status in [200, 204]"})

    assert no_content.passed, no_content.summary
    assert not_found.summary == "$status: expected one of [200, 204], got 404"
    assert explicit.summary == "expected status 200, got 204"


async def test_response_assertions_hold_on_a_body_that_is_not_json(probe: str) -> None:
    passed = await _run({"url": f"{probe}/text",
                         "assert": ["$headers.content-type matches ^text/html", "$status == 200"]})
    mixed = await _run({"url": f"{probe}/text",
                        "assert": ["$headers.content-type matches ^application/json",
                                   "status == healthy"]})

    assert passed.passed, passed.summary
    assert mixed.summary == ("expected a JSON body for 1 assertion, got text/html that is not "
                             'JSON; $headers.content-type: expected to match "^application/json", '
                             'got "text/html; charset=utf-8"')


async def test_body_matches_searches_the_text_body(probe: str) -> None:
    passed = await _run({"url": f"{probe}/text", "body_matches": r"build [0-9a-f]{8}"})
    failed = await _run({"url": f"{probe}/text", "body_matches": "Maintenance"})

    assert passed.passed, passed.summary
    assert failed.summary == "body does not match /Maintenance/"


async def test_a_long_body_is_cut_to_an_excerpt_in_the_details(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/big", "status": 201})

    assert outcome.measurements["bytes"] == 10_000
    assert "x" * 4096 + "\n… (truncated; the body has 10000 bytes)" in outcome.details
    assert "x" * 4097 not in outcome.details


async def test_method_headers_and_json_are_sent(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/echo", "method": "post",
                          "headers": {"X-Smoke": "on-air", "X-Count": 5},
                          "json": {"name": "Smoke", "n": 1},
                          "assert": ["method == POST", "headers.x-smoke == on-air",
                                     "headers.x-count == '5'",
                                     "headers.content-type == application/json",
                                     'body == \'{"name":"Smoke","n":1}\'']})

    assert outcome.passed, outcome.summary


async def test_a_text_body_is_sent_as_is(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/echo", "method": "PUT", "body": "plain words",
                          "assert": ["method == PUT", "body == plain words"]})

    assert outcome.passed, outcome.summary


# ------------------------------------------------------------------------------ redirects

async def test_a_redirect_is_not_followed_unless_asked(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/redirect"})

    assert outcome.summary == ("expected status 200, got 302 (redirect to /document; "
                               "set follow_redirects: true to follow it)")
    assert "location: /document" in outcome.details


async def test_a_followed_redirect_is_judged_on_the_final_response(probe: str) -> None:
    outcome = await _run({"url": f"{probe}/redirect", "follow_redirects": True,
                          "assert": "status == healthy"})

    assert outcome.passed, outcome.summary
    assert outcome.details.startswith(f"GET {probe}/document\nHTTP/1.1 200 OK (")
    assert ", after 1 redirect)" in outcome.details


async def test_a_redirect_loop_is_an_error_that_names_it(probe: str) -> None:
    with pytest.raises(CheckError) as raised:
        await _run({"url": f"{probe}/loop", "follow_redirects": True})

    assert raised.value.message == (f"too many redirects (more than 20) starting at {probe}/loop; "
                                    "check for a redirect loop")


# ------------------------------------------------------------------------------ TLS

async def test_an_unknown_certificate_authority_is_an_error_saying_how_to_fix_it(
        tls: tuple[str, Path]) -> None:
    base_url, _ = tls
    address = base_url.removeprefix("https://")

    with pytest.raises(CheckError) as raised:
        await _run({"url": f"{base_url}/document"})

    assert raised.value.message == (
        f"TLS verification failed for {address}: certificate verify failed: unable to get "
        "local issuer certificate; set ca_file to the CA certificate that signed the server's "
        "certificate, or verify_tls: false to skip verification (never against production)")
    assert not raised.value.permanent


async def test_ca_file_makes_the_certificate_verify(tls: tuple[str, Path]) -> None:
    base_url, ca_file = tls

    outcome = await _run({"url": f"{base_url}/document", "ca_file": str(ca_file),
                          "assert": "status == healthy"})

    assert outcome.passed, outcome.summary


async def test_verify_tls_false_skips_verification(tls: tuple[str, Path]) -> None:
    base_url, _ = tls

    outcome = await _run({"url": f"{base_url}/document", "verify_tls": False})

    assert outcome.passed, outcome.summary


async def test_a_missing_ca_file_is_a_permanent_error(tmp_path: Path, probe: str) -> None:
    missing = tmp_path / "nope.pem"

    with pytest.raises(CheckError) as raised:
        await _run({"url": f"{probe}/document", "ca_file": str(missing)})

    assert raised.value.message == (f"cannot use ca_file '{missing}': No such file or directory; "
                                    "expected a PEM file holding the CA certificate")
    assert raised.value.permanent


async def test_https_to_a_plain_http_port_says_so(probe: str) -> None:
    address = probe.removeprefix("http://")

    with pytest.raises(CheckError) as raised:
        await _run({"url": f"https://{address}/document"})

    assert raised.value.message.startswith(f"TLS handshake with {address} failed: ")
    assert raised.value.message.endswith(
        "; is it serving HTTPS on that port (or should the url start with http://)?")


# ------------------------------------------------------------------------------ transport

async def test_connection_refused_names_the_address() -> None:
    port = free_port()  # bound and released: nothing listens there

    with pytest.raises(CheckError) as raised:
        await _run({"url": f"http://127.0.0.1:{port}/api/health"})

    assert raised.value.message == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert "is the service running" in raised.value.details
    assert not raised.value.permanent


def test_a_dns_failure_names_the_host() -> None:
    # Built from the exceptions httpx raises for a failed lookup: a real one would leave loopback.
    url = httpx.URL("http://staging.rsolv.invalid/api/health")
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    try:
        try:
            raise lookup
        except socket.gaierror as exc:
            raise httpx.ConnectError(str(exc)) from exc
    except httpx.ConnectError as exc:
        error = transport_error(exc, url)

    assert error.message == ("cannot resolve host 'staging.rsolv.invalid': DNS lookup failed "
                             "(Name or service not known); check the host name in the url")


async def test_a_read_timeout_names_the_address_and_the_limit(probe: str) -> None:
    request = HttpRequest(url=f"{probe}/slow?s=2")
    address = probe.removeprefix("http://")

    async with HttpClients(timeout=0.2) as clients:
        with pytest.raises(CheckError) as raised:
            await perform(clients, request)

    assert raised.value.message == f"no response from {address} within 0.2s (read timeout)"


@pytest.mark.parametrize(("url", "message"), [
    ("localhost:4000/api/health",
     "invalid url 'localhost:4000/api/health': expected it to start with http:// or https://"),
    ("ftp://example.com/file",
     "invalid url 'ftp://example.com/file': expected it to start with http:// or https://"),
    ("/api/health", "invalid url '/api/health': expected it to start with http:// or https://"),
    ("http:///api/health",
     "invalid url 'http:///api/health': expected a host name or address after http://"),
    ("http://exa mple.com/",
     "invalid url 'http://exa mple.com/': expected a host name or address after http://"),
    ("http://127.0.0.1:99999/",
     "invalid url 'http://127.0.0.1:99999/': port 99999 is out of range (1-65535)"),
    ("http://127.0.0.1:abc/", "invalid url 'http://127.0.0.1:abc/': Invalid port: 'abc'"),
])
async def test_an_invalid_url_is_a_permanent_error(url: str, message: str) -> None:
    with pytest.raises(CheckError) as raised:
        await _run({"url": url})

    assert raised.value.message == message
    assert raised.value.permanent


async def test_a_header_value_that_is_not_ascii_is_a_permanent_error(probe: str) -> None:
    with pytest.raises(CheckError) as raised:
        await _run({"url": f"{probe}/echo", "headers": {"X-Name": "café"}})

    assert raised.value.message == (f"cannot send GET {probe}/echo: a header value is not ASCII "
                                    "('é')")
    assert raised.value.permanent


# ------------------------------------------------------------------------------ parameters

def test_params_accept_the_yaml_names_and_the_python_names() -> None:
    by_alias = HttpRequest.model_validate({"url": "http://h/x", "json": {"a": 1},
                                           "assert": "status == healthy"})
    by_name = HttpRequest.model_validate({"url": "http://h/x", "json_body": {"a": 1},
                                          "assertions": ["status == healthy"]})

    assert by_alias == by_name
    assert by_alias.json_body == {"a": 1}
    assert [str(a) for a in by_alias.assertions] == ['status == "healthy"']


@pytest.mark.parametrize(("params", "message"), [
    ({"json": {"a": 1}, "body": "b"}, "set either 'json' or 'body', not both"),
    ({"verify_tls": False, "ca_file": "ca.pem"},
     "'ca_file' has no effect with 'verify_tls: false'; keep one"),
    ({"status": 999}, "expected HTTP status codes between 100 and 599, got 999"),
    ({"method": "GE T"}, "expected an HTTP method such as GET or POST, got 'GE T'"),
    ({"body_matches": "("}, "invalid regular expression '('"),
    ({"max_latency": "fast"}, "expected a duration such as 10, '500ms', '10s' or '2m'"),
    ({"assert": "status ~ healthy"}, "cannot read assertion 'status ~ healthy'"),
    ({"verify": False}, "Extra inputs are not permitted"),
])
def test_invalid_params_are_refused_with_a_reason(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        HttpRequest.model_validate({"url": "http://h/x", **params})

    assert message in str(raised.value)


def test_describe_is_method_and_url() -> None:
    params = HttpRequest.model_validate({"url": "http://h/api/health", "method": "head"})

    assert HttpCheck().describe(params) == "HEAD http://h/api/health"


# ------------------------------------------------------------------------------ through the runner

SUITE = """
suite: http-kind
environments:
  local:
    variables:
      base_url: {base_url}
categories:
  - name: Health & Infrastructure
    checks:
      - id: health
        type: http
        url: ${{base_url}}/api/health
        max_latency: 5s
        assert:
          - status == healthy
          - services.ai_providers.* == healthy
      - id: version
        type: http
        url: ${{base_url}}/api/version
        assert: [version == 0.1.0, "commit matches ^[0-9a-f]{{7,40}}$"]
      - id: refused
        type: http
        url: http://127.0.0.1:{refused_port}/api/health
"""


async def test_a_suite_file_runs_http_checks_through_plan_and_runner(tmp_path: Path) -> None:
    path = tmp_path / "smoketest.yaml"
    refused_port = free_port()
    with serve_asgi(create_app(degraded=frozenset({"anthropic"}))) as base_url:
        path.write_text(SUITE.format(base_url=base_url, refused_port=refused_port))
        plan = build_plan(load_suite(path), "local")
        result = await run_plan(plan)

    by_id = {r.check_id: r for r in result.results}
    assert plan.checks[0].description == f"GET {base_url}/api/health"
    assert (by_id["health"].status, by_id["health"].summary) == (
        Status.FAIL, 'status: expected "healthy", got "degraded"; '
                     'services.ai_providers.anthropic: expected "healthy", got "degraded"')
    assert by_id["version"].status is Status.PASS
    assert (by_id["refused"].status, by_id["refused"].summary) == (
        Status.ERROR, f"cannot connect to 127.0.0.1:{refused_port}: connection refused")
