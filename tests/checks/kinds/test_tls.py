"""The `tls` kind against real TLS servers on loopback, presenting certificates made here: from a
trustme CA (valid, expiring in 10 days, expired, for another name) and self-signed; a server
held to TLS 1.2, one speaking only TLS 1.1, a plain HTTP server, a silent port, a closed one."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from checks.config import load_suite
from checks.errors import CheckError, ConfigError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan
from tests.support.asgi import free_port, serve_asgi
from tests.support.tls_server import issued, self_signed, serve_tls, silent_port

HOST = "shop.example.test"  # the name the certificates are for; the servers are on 127.0.0.1
ISSUER = f"trustme v{trustme.__version__}"  # the O of trustme's CA, which has no CN


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def certs(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("certs")
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    issued(ca, folder, HOST, "127.0.0.1", name="valid.pem")
    issued(ca, folder, HOST, days=10, name="ten-days.pem")
    issued(ca, folder, "other.example.test", name="other-name.pem")
    issued(ca, folder, "other.example.test", not_before_days=-40, days=-3, name="expired.pem")
    self_signed(folder, HOST, name="self-signed.pem")
    return folder


async def run_tls(params: dict[str, Any], suite_dir: Path | None = None) -> Outcome:
    kind = load_kind("tls")
    ctx = CheckContext(environment="test", redactor=Redactor(), suite_dir=suite_dir)
    return await kind.run(kind.Params.model_validate(params), ctx)


async def tls_error(params: dict[str, Any]) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await run_tls(params)
    return caught.value


def at(port: int, **params: Any) -> dict[str, Any]:
    """127.0.0.1:port, looked at as HOST (the name sent and checked)."""
    return {"host": f"127.0.0.1:{port}", "server_name": HOST, **params}


# ------------------------------------------------------------------------------ reporting

async def test_a_valid_certificate_passes_and_is_reported(certs: Path) -> None:
    with serve_tls(certs / "valid.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), min_version="1.2",
                                   min_days_left=7, warn_days_left=14))

    assert outcome.passed and outcome.warning is None
    assert outcome.summary.startswith("TLSv1.3, certificate expires in 89 days (")
    assert outcome.summary.endswith(f"), issued by {ISSUER}")
    lines = outcome.details.splitlines()
    assert lines[0].startswith(f"127.0.0.1:{port} (server name {HOST}): TLSv1.3, ")
    assert lines[1].startswith("subject: OU=Testing cert #")
    assert lines[2].startswith("issuer: OU=Testing CA #")
    assert lines[3] == f"names: {HOST}, 127.0.0.1"
    assert lines[4].endswith("UTC (89 days left)")
    assert lines[5] == ("verification: chain and host name verified against ca_file "
                        f"{certs / 'ca.pem'}")
    assert outcome.measurements["days_left"] == 89
    assert 0 <= outcome.measurements["handshake_ms"] < 2000
    evidence = outcome.evidence
    assert (evidence["version"], evidence["names"], evidence["verified"],
            evidence["verify_error"], evidence["failures"]) == (
        "TLSv1.3", [HOST, "127.0.0.1"], True, None, [])
    assert len(evidence["sha256"].split(":")) == 32


async def test_the_url_gives_host_and_port(certs: Path) -> None:
    with serve_tls(certs / "valid.pem") as port:
        outcome = await run_tls({"url": f"https://127.0.0.1:{port}/api/health",
                                 "ca_file": str(certs / "ca.pem")})

    assert outcome.passed, outcome.summary
    assert outcome.evidence["address"] == f"127.0.0.1:{port}"
    assert outcome.evidence["server_name"] == "127.0.0.1"


async def test_a_private_ca_is_unknown_to_the_system_store(certs: Path) -> None:
    with serve_tls(certs / "valid.pem") as port:
        outcome = await run_tls(at(port))

    assert not outcome.passed
    assert outcome.summary == (f"certificate issued by an unknown CA ({ISSUER}): not in the "
                               f"system store")
    assert "set ca_file to the certificate of the CA that issued it" in outcome.details
    # Refused, and still shown: what it is, and until when.
    assert f"names: {HOST}, 127.0.0.1" in outcome.details
    assert outcome.evidence["verified"] is False
    assert outcome.evidence["verify_error"] == "unable to get local issuer certificate"
    assert outcome.measurements["days_left"] == 89


# ------------------------------------------------------------------------------ days left

async def test_ten_days_left_under_warn_days_left_passes_with_a_warning(certs: Path) -> None:
    with serve_tls(certs / "ten-days.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), warn_days_left=14,
                                   min_days_left=7))

    assert outcome.passed
    assert outcome.warning is not None
    assert outcome.warning.startswith("certificate expires in 9 days (")
    assert outcome.warning.endswith("), under warn_days_left 14")
    assert outcome.measurements["days_left"] == 9


async def test_ten_days_left_under_min_days_left_fails(certs: Path) -> None:
    with serve_tls(certs / "ten-days.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), min_days_left=30,
                                   warn_days_left=45))

    assert not outcome.passed and outcome.warning is None
    assert outcome.summary.startswith("certificate expires in 9 days (")
    assert outcome.summary.endswith("), under min_days_left 30")


async def test_an_expired_certificate_for_another_name_says_both(certs: Path) -> None:
    with serve_tls(certs / "expired.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), min_days_left=7))

    assert not outcome.passed
    failures = outcome.summary.split("; ")
    assert len(failures) == 2
    assert failures[0].startswith("certificate expired on ") and failures[0].endswith(
        ", 3 days ago")
    assert failures[1] == f"certificate does not name {HOST} (it names other.example.test)"
    assert "(expired)" in outcome.details
    assert outcome.measurements["days_left"] == -3


# ------------------------------------------------------------------------------ names and chain

async def test_a_certificate_for_another_name_fails(certs: Path) -> None:
    with serve_tls(certs / "other-name.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem")))

    assert not outcome.passed
    assert outcome.summary == (f"certificate does not name {HOST} (it names "
                               f"other.example.test)")
    assert outcome.evidence["verify_error"] == (f"Hostname mismatch, certificate is not valid "
                                                f"for '{HOST}'.")


async def test_check_hostname_false_accepts_another_name(certs: Path) -> None:
    with serve_tls(certs / "other-name.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), check_hostname=False))

    assert outcome.passed, outcome.summary
    assert "verification: chain verified against ca_file" in outcome.details


async def test_a_self_signed_certificate_fails_and_is_reported(certs: Path) -> None:
    with serve_tls(certs / "self-signed.pem") as port:
        outcome = await run_tls(at(port))

    assert not outcome.passed
    assert outcome.summary == "self-signed certificate: not issued by a CA in the system store"
    assert "subject: CN=self-signed.test" in outcome.details
    assert "issuer: CN=self-signed.test" in outcome.details


async def test_a_self_signed_certificate_given_as_ca_file_verifies(certs: Path) -> None:
    with serve_tls(certs / "self-signed.pem") as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "self-signed.pem")))

    assert outcome.passed, outcome.summary


async def test_verify_chain_false_still_judges_name_and_expiry(certs: Path) -> None:
    with serve_tls(certs / "self-signed.pem") as port:
        passed = await run_tls(at(port, verify_chain=False))
        wrong_name = await run_tls({"host": f"127.0.0.1:{port}", "verify_chain": False})

    assert passed.passed, passed.summary
    assert "verification: not verified (verify_chain: false)" in passed.details
    assert not wrong_name.passed
    assert wrong_name.summary == f"certificate does not name 127.0.0.1 (it names {HOST})"


# ------------------------------------------------------------------------------ versions

async def test_a_server_held_to_tls_1_2_fails_min_version_1_3(certs: Path) -> None:
    ca_file = str(certs / "ca.pem")
    with serve_tls(certs / "valid.pem", maximum_version=ssl.TLSVersion.TLSv1_2) as port:
        too_old = await run_tls(at(port, ca_file=ca_file, min_version=1.3))
        enough = await run_tls(at(port, ca_file=ca_file, min_version="TLSv1.2"))

    assert (too_old.passed, too_old.summary) == (
        False, "negotiated TLSv1.2, expected at least TLS 1.3")
    assert enough.passed, enough.summary
    assert enough.evidence["version"] == "TLSv1.2"


async def test_a_server_that_speaks_only_tls_1_1_is_named_so(certs: Path) -> None:
    with serve_tls(certs / "valid.pem", maximum_version=ssl.TLSVersion.TLSv1_1) as port:
        outcome = await run_tls(at(port, ca_file=str(certs / "ca.pem"), min_version="1.2"))

    assert not outcome.passed
    assert outcome.summary == ("the server speaks only TLSv1.1, which current clients refuse "
                               "(TLS 1.2 is the oldest they accept)")
    assert "verification: not verified: the server speaks only TLSv1.1" in outcome.details


# ------------------------------------------------------------------------------ could not look

async def test_connection_refused_is_an_error() -> None:
    port = free_port()

    error = await tls_error({"host": f"127.0.0.1:{port}"})

    assert error.message == f"cannot connect to 127.0.0.1:{port}: connection refused"
    assert not error.permanent


async def test_a_plain_http_server_is_not_tls() -> None:
    app = Starlette(routes=[Route("/", lambda request: PlainTextResponse("hello"))])
    with serve_asgi(app) as base_url:
        address = base_url.removeprefix("http://")
        error = await tls_error({"host": address})

    assert error.message == (f"{address} did not answer with TLS (WRONG_VERSION_NUMBER): is TLS "
                             f"served on that port, or is it plain HTTP (or another protocol)?")


async def test_a_silent_port_times_out_with_a_reason() -> None:
    with silent_port() as port:
        error = await tls_error({"host": f"127.0.0.1:{port}", "handshake_timeout": "200ms"})

    assert error.message == (f"no TLS handshake with 127.0.0.1:{port} within 0.2s: is TLS "
                             f"served on that port?")


async def test_a_missing_ca_file_is_a_permanent_error(certs: Path, tmp_path: Path) -> None:
    with serve_tls(certs / "valid.pem") as port:
        error = await tls_error(at(port, ca_file=str(tmp_path / "nope.pem")))

    assert error.message == (f"cannot use ca_file {tmp_path / 'nope.pem'}: No such file or "
                             f"directory; expected a PEM file holding the CA certificate")
    assert error.permanent


# ------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize(("params", "message"), [
    ({}, "set exactly one of `host` (host or host:port) and `url` (https://...)"),
    ({"host": "a.test", "url": "https://a.test"}, "set exactly one of `host`"),
    ({"host": "a.test:99999"}, "expected a port between 1 and 65535 after the host, got '99999'"),
    ({"host": "a.test:443", "port": 8443}, "the port is given twice: keep `port`, or the one in "
                                           "`host`"),
    ({"host": "exa mple.test"}, "expected a host name or address (and an optional :port)"),
    ({"url": "http://a.test/"}, "expected an https:// url, got 'http://a.test/'"),
    ({"url": "https://a.test:http/"}, "invalid url 'https://a.test:http/'"),
    ({"host": "a.test", "min_version": "1.4"}, "Input should be '1.0', '1.1', '1.2' or '1.3'"),
    ({"host": "a.test", "min_days_left": 14, "warn_days_left": 7},
     "warn_days_left (7) must be more than min_days_left (14): the warning comes before the "
     "failure"),
    ({"host": "a.test", "min_days_left": -1}, "greater than or equal to 0"),
    ({"host": "a.test", "verify_chain": False, "ca_file": "ca.pem"},
     "'ca_file' has no effect with 'verify_chain: false'; keep one"),
    ({"host": "a.test", "verify": False}, "Extra inputs are not permitted"),
])
def test_mistaken_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("tls").Params.model_validate(params)
    assert message in str(caught.value)


@pytest.mark.parametrize(("value", "name"), [
    (1.2, "1.2"), ("1.3", "1.3"), ("TLSv1.2", "1.2"), ("TLS 1.3", "1.3"), (1.0, "1.0")])
def test_min_version_is_read_in_its_usual_spellings(value: Any, name: str) -> None:
    params = load_kind("tls").Params.model_validate({"host": "a.test", "min_version": value})
    assert params.min_version == name


def test_describe_says_what_is_judged() -> None:
    kind = load_kind("tls")
    params = kind.Params.model_validate({"host": "shop.example.test", "min_version": 1.2,
                                         "min_days_left": 7, "warn_days_left": 21})

    assert kind.describe(params) == (
        "TLS of shop.example.test: chain against the system store, host name, TLS 1.2 or "
        "newer, at least 7 days left, warns under 21 days")


BAD_SUITE = """\
suite: tls-params
environments:
  local: {}
categories:
  - name: Certificates
    checks:
      - id: shop
        type: tls
        host: shop.example.test
        min_days_left: 14
        warn_days_left: 7
      - id: api
        type: tls
        url: http://api.example.test
"""


def test_mistaken_parameters_in_a_suite_file_point_at_their_line(tmp_path: Path) -> None:
    path = tmp_path / "smoketest.yaml"
    path.write_text(BAD_SUITE)

    with pytest.raises(ConfigError) as caught:
        load_suite(path)

    rendered = [e.render() for e in (caught.value, *getattr(caught.value, "others", []))]
    assert rendered == [
        f"{path}:7:9: categories[0].checks[0]: tls: warn_days_left (7) must be more than "
        f"min_days_left (14): the warning comes before the failure",
        f"{path}:14:14: categories[0].checks[1].url: tls: expected an https:// url, got "
        f"'http://api.example.test' (for another protocol over TLS, give host and port instead)"]


# ------------------------------------------------------------------------------ through the runner

SUITE = """\
suite: tls-kind
environments:
  local: {{}}
categories:
  - name: Certificates
    checks:
      - id: shop
        type: tls
        host: 127.0.0.1:{port}
        server_name: {host}
        ca_file: certs/ca.pem
        min_days_left: 7
        warn_days_left: 14
      - id: strict
        type: tls
        host: 127.0.0.1:{port}
        server_name: {host}
        ca_file: certs/ca.pem
        min_days_left: 30
"""


async def test_a_warning_makes_a_warn_result_through_the_runner(certs: Path,
                                                                tmp_path: Path) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs/ca.pem").write_bytes((certs / "ca.pem").read_bytes())
    with serve_tls(certs / "ten-days.pem") as port:
        path = tmp_path / "smoketest.yaml"
        path.write_text(SUITE.format(port=port, host=HOST))
        result = await run_plan(build_plan(load_suite(path), "local"))

    shop, strict = result.results
    assert shop.status is Status.WARN  # passed, but look: not `slow`, not failed
    assert shop.evidence["warning"].endswith(", under warn_days_left 14")
    assert strict.status is Status.FAIL
    assert strict.summary.endswith(", under min_days_left 30")
