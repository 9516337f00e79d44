"""The engine's commands (`smokebot run`, `validate`, `list`, `schema`): exit codes, filters,
variables, report files, config lookup, redaction of every output, and Ctrl-C.

The checks are real `http` checks against the demo target served on loopback. Most tests run
the CLI in-process with click's CliRunner; those about signals, the real entry point or what
leaves the process run `python -m bot` as a subprocess."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import queue
import secrets
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from click.testing import CliRunner, Result
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route

from bot.cli import cli
from checks.kinds import kind_names
from demo.target import create_app
from tests.support.asgi import free_port, serve_asgi

REPO = Path(__file__).resolve().parents[3]
OPENAI_DEGRADED = 'services.ai_providers.openai: expected "healthy", got "degraded"'


# ------------------------------------------------------------------------------ the target

class Target:
    """The demo target (healthy at /, OpenAI degraded under /degraded), plus /echo, which
    answers with the request's headers and URL, and /slow, which answers after `s` seconds
    unless released first."""

    def __init__(self) -> None:
        self.slow_started = threading.Event()
        self.release = threading.Event()
        self.base_url = ""

    def app(self) -> Starlette:
        async def echo(request: Request) -> Response:
            headers = dict(request.headers)
            auth = headers.get("authorization", "")
            # Like a server building a link from what it was sent: the URL-encoded form.
            return JSONResponse({"headers": headers, "url": str(request.url),
                                 "query": dict(request.query_params),
                                 "next": f"/echo?auth={quote(auth, safe='')}"})

        async def slow(request: Request) -> Response:
            self.slow_started.set()
            deadline = time.monotonic() + float(request.query_params["s"])
            while time.monotonic() < deadline and not self.release.is_set():
                await asyncio.sleep(0.05)
            return JSONResponse({"slept": True})

        return Starlette(routes=[
            Route("/echo", echo),
            Route("/slow", slow),
            Mount("/degraded", app=create_app(degraded=frozenset({"openai"}))),
            Mount("/", app=create_app()),
        ])


@pytest.fixture(scope="module")
def target() -> Iterator[Target]:
    target = Target()
    with serve_asgi(target.app()) as base_url:
        target.base_url = base_url
        try:
            yield target
        finally:
            target.release.set()  # a /slow request still open must not hold the server up


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """`smokebot run` takes over the root logger (as a CLI should); give it back to pytest."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# ------------------------------------------------------------------------------ suites

def check(check_id: str, url: str, *assertions: str, **fields: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": check_id, "type": "http", "url": url, **fields}
    if assertions:
        entry["assert"] = list(assertions)
    return entry


def health_checks() -> list[dict[str, Any]]:
    return [
        check("health", "${base_url}/api/health", "services.database == healthy",
              name="Health endpoint", tags=["health"]),
        check("version", "${base_url}/api/version", 'version == "0.1.0"',
              name="Deployed version", tags=["health", "release"]),
    ]


def account_check() -> dict[str, Any]:
    return check("account-needs-key", "${base_url}/api/v1/account", status=401,
                 name="Account needs an API key", tags=["api"], depends_on=["health"])


def openai_check(**fields: Any) -> dict[str, Any]:
    return check("openai", "${base_url}/degraded/api/health",
                 "services.ai_providers.openai == healthy", name="OpenAI provider",
                 tags=["ai"], **fields)


def suite_document(base_url: str, categories: list[tuple[str, list[dict[str, Any]]]], *,
                   secrets_: dict[str, Any] | None = None,
                   defaults: dict[str, Any] | None = None) -> dict[str, Any]:
    staging: dict[str, Any] = {"description": "the local target",
                               "variables": {"base_url": base_url}}
    if secrets_:
        staging["secrets"] = secrets_
    document: dict[str, Any] = {
        "suite": "cli-tests",
        "environments": {"staging": staging,
                         "production": {"variables": {"base_url": "http://127.0.0.1:9"}}},
        "categories": [{"name": name, "checks": checks} for name, checks in categories],
    }
    if defaults:
        document["defaults"] = defaults
    return document


def write_suite(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def standard_suite(base_url: str, *extra: tuple[str, list[dict[str, Any]]]) -> dict[str, Any]:
    return suite_document(base_url, [("Health & Infrastructure", health_checks()),
                                     ("Customer Provisioning", [account_check()]), *extra])


@pytest.fixture
def passing_suite(tmp_path: Path, target: Target) -> Path:
    return write_suite(tmp_path / "suite.yaml", standard_suite(target.base_url))


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args], prog_name="smokebot")


def run_json(suite: Path, tmp_path: Path, *args: str) -> tuple[Result, dict[str, Any]]:
    report = tmp_path / "run.json"
    result = invoke("run", "staging", "--config", suite, "--json", report, *args)
    return result, json.loads(report.read_text(encoding="utf-8"))


def statuses(document: dict[str, Any]) -> dict[str, str]:
    return {c["id"]: c["status"] for cat in document["categories"] for c in cat["checks"]}


def assert_clean_user_error(result: Result, message: str) -> None:
    """Exit 2, the message alone on stderr (one line, unwrapped), no traceback anywhere."""
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stderr == f"error: {message}\n"
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ run: verdicts

def test_run_exits_0_when_every_check_passes(passing_suite: Path, tmp_path: Path) -> None:
    result, document = run_json(passing_suite, tmp_path)

    assert result.exit_code == 0, result.output
    assert statuses(document) == {"health": "pass", "version": "pass",
                                  "account-needs-key": "pass"}
    assert document["verdict"] == "passed"
    assert "SMOKE TESTS PASSED: all 3 checks passed" in result.stdout
    assert result.stderr == ""


def test_run_exits_1_when_a_critical_check_fails(tmp_path: Path, target: Target) -> None:
    suite = write_suite(tmp_path / "suite.yaml",
                        standard_suite(target.base_url, ("AI Providers", [openai_check()])))

    result, document = run_json(suite, tmp_path)

    assert result.exit_code == 1, result.output
    assert statuses(document)["openai"] == "fail"
    openai = document["categories"][2]["checks"][0]
    assert openai["summary"] == OPENAI_DEGRADED
    assert document["verdict"] == "failed"
    assert "SMOKE TESTS FAILED: 1 of 4 checks failed" in result.stdout


def test_run_exits_0_when_only_a_warning_check_fails(tmp_path: Path, target: Target) -> None:
    suite = write_suite(tmp_path / "suite.yaml", standard_suite(
        target.base_url, ("AI Providers", [openai_check(severity="warning")])))

    result, document = run_json(suite, tmp_path)

    assert result.exit_code == 0, result.output
    assert statuses(document) == {"health": "pass", "version": "pass",
                                  "account-needs-key": "pass", "openai": "warn"}
    assert document["verdict"] == "passed"
    assert document["categories"][2]["checks"][0]["summary"] == OPENAI_DEGRADED


def test_real_entry_point_exits_with_the_verdict(tmp_path: Path, target: Target) -> None:
    """`python -m bot` (what CI runs) passes the verdict on as the process's exit code."""
    suite = write_suite(tmp_path / "suite.yaml",
                        standard_suite(target.base_url, ("AI Providers", [openai_check()])))

    failed = subprocess.run([sys.executable, "-m", "bot", "run", "staging", "-c", str(suite)],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    passed = subprocess.run([sys.executable, "-m", "bot", "run", "staging", "-c", str(suite),
                             "--only", "health"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)

    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert passed.returncode == 0, passed.stdout + passed.stderr


# ------------------------------------------------------------------------------ run: user errors

ENVIRONMENTS = "environments:\n  staging:\n    variables: {base_url: 'http://x'}\n"
CONFIG_ERRORS = {
    "unknown check type": (
        ENVIRONMENTS + "categories:\n  - name: A\n    checks:\n      - id: x\n"
        "        type: htp\n        url: http://127.0.0.1:9\n",
        "8:15: categories[0].checks[0].type: unknown check type 'htp' (did you mean 'http'?); "
        f"expected one of: {', '.join(kind_names())}"),
    "undefined variable": (
        ENVIRONMENTS + "categories:\n  - name: A\n    checks:\n      - id: x\n"
        "        type: http\n        url: ${base_ur}/api/health\n",
        "9:14: categories[0].checks[0].url: undefined variable 'base_ur' in environment "
        "'staging' (did you mean 'base_url'?); expected one of: base_url, environment"),
}


@pytest.mark.parametrize("case", CONFIG_ERRORS, ids=list(CONFIG_ERRORS))
def test_config_error_exits_2_with_its_location_and_no_traceback(tmp_path: Path,
                                                                 case: str) -> None:
    text, location_and_message = CONFIG_ERRORS[case]
    suite = tmp_path / "suite.yaml"
    suite.write_text(text, encoding="utf-8")

    result = invoke("run", "staging", "--config", suite)

    assert_clean_user_error(result, f"{suite}:{location_and_message}")


def test_unknown_environment_exits_2_and_lists_the_choices(passing_suite: Path) -> None:
    result = invoke("run", "prod", "--config", passing_suite)

    assert_clean_user_error(result, "unknown environment 'prod'; expected one of: staging, "
                                    "production")


def test_filter_matching_nothing_exits_2_and_lists_the_choices(passing_suite: Path) -> None:
    result = invoke("run", "staging", "--config", passing_suite, "--only", "helth")

    assert_clean_user_error(
        result, "filter 'helth' matches no check (did you mean 'health'?); expected a category "
                "(health-infrastructure, customer-provisioning), a tag (api, health, release) "
                "or a check id (health, version, account-needs-key)")


def test_var_without_a_value_exits_2(passing_suite: Path) -> None:
    result = invoke("run", "staging", "--config", passing_suite, "--var", "base_url")

    assert_clean_user_error(result, "--var expects NAME=VALUE, got 'base_url'")


def test_missing_secret_exits_2_naming_the_variable_to_set(tmp_path: Path,
                                                           target: Target) -> None:
    variable = f"SMOKEBOT_TEST_ABSENT_{secrets.token_hex(4).upper()}"
    suite = write_suite(tmp_path / "suite.yaml", suite_document(
        target.base_url, [("Health & Infrastructure", health_checks())],
        secrets_={"api_token": {"env": variable}}))

    result = invoke("run", "staging", "--config", suite)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {suite}:")
    assert result.stderr.endswith(
        f"environments.staging.secrets.api_token.env: secret 'api_token' of environment "
        f"'staging' is absent; expected environment variable {variable} to be set\n")


# ------------------------------------------------------------------------------ run: --only, --var

@pytest.mark.parametrize(("only", "expected"), [
    (["health-infrastructure"], {"health", "version"}),  # category slug
    (["Customer Provisioning"], {"account-needs-key", "health"}),  # category name, + its dependency
    (["release"], {"version"}),  # tag
    (["version"], {"version"}),  # id
    (["release,api"], {"version", "account-needs-key", "health"}),  # comma-separated
    (["release", "account-needs-key"], {"version", "account-needs-key", "health"}),  # repeated
])
def test_only_runs_the_checks_matching_a_category_tag_or_id(
        passing_suite: Path, tmp_path: Path, only: list[str], expected: set[str]) -> None:
    args = [arg for value in only for arg in ("--only", value)]

    result, document = run_json(passing_suite, tmp_path, *args)

    assert result.exit_code == 0, result.output
    assert set(statuses(document)) == expected
    assert set(statuses(document).values()) == {"pass"}


def test_var_overrides_an_environment_variable(tmp_path: Path, target: Target) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    suite = write_suite(tmp_path / "suite.yaml", suite_document(
        closed, [("Health & Infrastructure", health_checks())]))

    without, refused = run_json(suite, tmp_path)
    overridden, document = run_json(suite, tmp_path, "--var", f"base_url={target.base_url}")

    assert without.exit_code == 1
    assert refused["categories"][0]["checks"][0]["summary"] == (
        f"cannot connect to {closed.removeprefix('http://')}: connection refused")
    assert overridden.exit_code == 0, overridden.output
    assert statuses(document) == {"health": "pass", "version": "pass"}


# ------------------------------------------------------------------------------ run: report files

def test_reports_hold_the_whole_run_in_each_format(tmp_path: Path, target: Target) -> None:
    suite = write_suite(tmp_path / "suite.yaml",
                        standard_suite(target.base_url, ("AI Providers", [openai_check()])))
    reports = tmp_path / "reports"
    markdown, json_path, junit = reports / "run.md", reports / "run.json", reports / "junit.xml"

    result = invoke("run", "staging", "--config", suite, "--markdown", markdown,
                    "--json", json_path, "--junit", junit)

    assert result.exit_code == 1, result.output
    for path in (markdown, json_path, junit):
        assert f"wrote {path}\n" in result.stdout
    # Only the three reports: nothing half-written (a `.partial`) is left next to them.
    assert sorted(p.name for p in reports.iterdir()) == ["junit.xml", "run.json", "run.md"]

    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["schema_version"] == 1
    assert document["suite"] == "cli-tests"
    assert document["environment"] == "staging"
    assert document["trigger"] == "cli"
    assert document["verdict"] == "failed"
    assert document["counts"] == {"total": 4, "pass": 3, "fail": 1, "error": 0, "skip": 0,
                                  "warn": 0, "flaky": 0, "slow": 0}
    assert [c["name"] for c in document["categories"]] == [
        "Health & Infrastructure", "Customer Provisioning", "AI Providers"]

    root = ET.fromstring(junit.read_text(encoding="utf-8"))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    ai = root.find("testsuite[@name='AI Providers']")
    assert ai is not None
    case = ai.find("testcase")
    assert case is not None and case.get("name") == "OpenAI provider [openai]"
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == OPENAI_DEGRADED

    text = markdown.read_text(encoding="utf-8")
    assert text.startswith("# Smoke test: staging\n")
    assert ("| Category | Checks | Passed | Failed | Skipped | Status |\n"
            "|----------|-------:|-------:|-------:|--------:|--------|\n"
            "| Health & Infrastructure | 2 | 2 | 0 | 0 | ✅ PASS |\n"
            "| Customer Provisioning | 1 | 1 | 0 | 0 | ✅ PASS |\n"
            "| AI Providers | 1 | 0 | 1 | 0 | ❌ FAIL |\n"
            "| **TOTAL** | 4 | 3 | 1 | 0 | ❌ FAIL |\n") in text
    assert "- **Result**: " + OPENAI_DEGRADED in text
    assert text.endswith("_Generated by smokebot from suite `cli-tests`._\n")


def test_reports_replace_an_earlier_file_whole(passing_suite: Path, tmp_path: Path) -> None:
    json_path, junit = tmp_path / "run.json", tmp_path / "junit.xml"
    leftover = "x" * 100_000  # longer than the report: a write in place would leave a tail
    json_path.write_text(leftover, encoding="utf-8")
    junit.write_text(leftover, encoding="utf-8")

    result = invoke("run", "staging", "--config", passing_suite, "--json", json_path,
                    "--junit", junit)

    assert result.exit_code == 0, result.output
    assert json.loads(json_path.read_text(encoding="utf-8"))["verdict"] == "passed"
    assert ET.fromstring(junit.read_text(encoding="utf-8")).get("tests") == "3"
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_report_path_that_cannot_be_written_exits_2_before_running(
        passing_suite: Path, tmp_path: Path) -> None:
    """A report path under a file: found before the checks run, not as a traceback after."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder", encoding="utf-8")
    report = blocker / "run.md"

    result = invoke("run", "staging", "--config", passing_suite, "--markdown", report)

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: cannot write a report to {report}: ")
    assert result.stderr.endswith("; expected a path whose folder exists or can be created\n")
    assert "Running" not in result.stdout  # no check ran
    assert "Traceback" not in result.output


# ------------------------------------------------------------------------------ config lookup

def test_smokebot_config_names_the_suite_file(passing_suite: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"  # no ./smoketest.yaml here
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.setenv("SMOKEBOT_CONFIG", str(passing_suite))

    result = invoke("validate")

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{passing_suite}: valid (2 environments, 2 categories, 3 checks)\n"


def test_config_option_wins_over_smokebot_config(passing_suite: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMOKEBOT_CONFIG", str(tmp_path / "absent.yaml"))

    result = invoke("validate", "--config", passing_suite)

    assert result.exit_code == 0, result.output


def test_smoketest_yaml_in_the_current_folder_is_the_default(
        tmp_path: Path, target: Target, monkeypatch: pytest.MonkeyPatch) -> None:
    write_suite(tmp_path / "smoketest.yaml", standard_suite(target.base_url))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMOKEBOT_CONFIG", raising=False)

    result = invoke("run", "staging", "--json", "run.json")

    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "run.json").read_text(encoding="utf-8"))["verdict"] == "passed"


def test_missing_default_suite_file_says_how_to_name_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SMOKEBOT_CONFIG", raising=False)

    result = invoke("run", "staging")

    assert_clean_user_error(
        result, "smoketest.yaml: suite file not found (pass --config FILE or set SMOKEBOT_CONFIG)")


# ------------------------------------------------------------------ validate, list, schema

def test_validate_prints_the_counts_of_a_valid_suite(tmp_path: Path, target: Target) -> None:
    # A secret that is not set is fine: validate runs nothing.
    suite = write_suite(tmp_path / "suite.yaml", suite_document(
        target.base_url, [("Health & Infrastructure", health_checks()),
                          ("Customer Provisioning", [account_check()]),
                          ("AI Providers", [openai_check()])],
        secrets_={"api_token": {"env": f"SMOKEBOT_TEST_ABSENT_{secrets.token_hex(4).upper()}"}}))

    result = invoke("validate", "--config", suite)

    assert result.exit_code == 0, result.output
    assert result.stdout == f"{suite}: valid (2 environments, 3 categories, 4 checks)\n"


def test_validate_exits_2_on_an_invalid_suite(tmp_path: Path, target: Target) -> None:
    document = standard_suite(target.base_url)
    document["categories"][0]["checks"][0]["depends_on"] = ["versoin"]
    suite = write_suite(tmp_path / "suite.yaml", document)

    result = invoke("validate", "--config", suite)

    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {suite}:")
    assert "depends on unknown check 'versoin'" in result.stderr
    assert "Traceback" not in result.output


def test_list_shows_the_environments(passing_suite: Path) -> None:
    result = invoke("list", "--config", passing_suite)

    assert result.exit_code == 0, result.output
    assert result.stdout == "staging: the local target\nproduction\n"


def test_list_environment_shows_its_checks_by_category(passing_suite: Path,
                                                       target: Target) -> None:
    result = invoke("list", "staging", "--config", passing_suite)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "",
        "Health & Infrastructure",
        f"  {'health':<28} {'http':<18} Health endpoint  [tags: health]",
        f"  {'':<28} {'':<18} GET {target.base_url}/api/health",
    ]
    assert lines[4:6] == [
        f"  {'version':<28} {'http':<18} Deployed version  [tags: health, release]",
        f"  {'':<28} {'':<18} GET {target.base_url}/api/version",
    ]
    assert lines[6:9] == [
        "",
        "Customer Provisioning",
        f"  {'account-needs-key':<28} {'http':<18} Account needs an API key  "
        "[tags: api; after: health]",
    ]


def test_list_unknown_environment_exits_2(passing_suite: Path) -> None:
    result = invoke("list", "stagin", "--config", passing_suite)

    assert_clean_user_error(result, "unknown environment 'stagin' (did you mean 'staging'?); "
                                    "expected one of: staging, production")


def test_schema_prints_a_json_schema_that_accepts_a_suite(passing_suite: Path) -> None:
    if not (REPO / "checks" / "schema.py").exists():
        pytest.skip("checks/schema.py is missing: `smokebot schema` has nothing to print")
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is a test extra")

    result = invoke("schema")

    assert result.exit_code == 0, result.output
    schema = json.loads(result.stdout)
    assert {"environments", "categories"} <= set(schema["properties"])
    jsonschema.validate(yaml.safe_load(passing_suite.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"environments": {}, "categories": [], "colour": "red"}, schema)


# ------------------------------------------------------------------------------ redaction

def test_a_secret_in_a_failing_checks_response_leaves_no_trace(tmp_path: Path,
                                                               target: Target) -> None:
    """The secret goes out in a header and the URL, comes back in the response body (raw
    and URL-encoded) and in the failed assertion's "got"; with -v logging on. Not one output
    of the process may hold it."""
    body = secrets.token_hex(16)
    canary = "sk_" + "test_" + body[:16] + "/" + body[16:]  # `/` makes the encoded forms differ
    variable = f"SMOKEBOT_TEST_TOKEN_{secrets.token_hex(4).upper()}"
    echo = check("echo", "${base_url}/echo?token=${secrets.api_token}",
                 'headers.authorization == "Bearer not-this"', name="Echo",
                 headers={"Authorization": "Bearer ${secrets.api_token}",
                          "X-Api-Key": "${secrets.api_token}"})
    suite = write_suite(tmp_path / "suite.yaml", suite_document(
        target.base_url, [("Echo", [echo])], secrets_={"api_token": {"env": variable}}))
    markdown, json_path, junit = (tmp_path / "run.md", tmp_path / "run.json",
                                  tmp_path / "junit.xml")

    process = subprocess.run(
        [sys.executable, "-m", "bot", "run", "staging", "-c", str(suite), "-v",
         "--markdown", str(markdown), "--json", str(json_path), "--junit", str(junit)],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, variable: canary})

    assert process.returncode == 1, process.stdout + process.stderr
    document = json.loads(json_path.read_text(encoding="utf-8"))
    (echoed,) = document["categories"][0]["checks"]
    # The check did see the secret come back: the failure quotes it, redacted.
    assert echoed["summary"] == ('headers.authorization: expected "Bearer not-this", '
                                 f'got "Bearer [redacted sk_test_…({len(canary)} chars)]"')
    # ... came back raw and URL-encoded in the body the details show ...
    redacted = f"[redacted sk_test_…({len(canary)} chars)]"
    assert f'"x-api-key": "{redacted}"' in echoed["details"]
    encoded = f"[redacted sk_test_…({len(quote(canary, safe=''))} chars)]"
    assert f'"next": "/echo?auth=Bearer%20{encoded}"' in echoed["details"]
    # ... and -v logged the request, whose URL holds it.
    assert f"HTTP Request: GET {target.base_url}/echo?token={redacted}" in process.stderr
    outputs = {"stdout": process.stdout, "stderr": process.stderr,
               "markdown": markdown.read_text(encoding="utf-8"),
               "json": json_path.read_text(encoding="utf-8"),
               "junit": junit.read_text(encoding="utf-8")}
    forms = {canary, quote(canary, safe=""), quote(canary), quote_plus(canary), body[:16],
             body[16:]}
    leaks = {(name, form) for name, text in outputs.items() for form in forms if form in text}
    assert leaks == set()


# ------------------------------------------------------------------------------ Ctrl-C

class LineReader:
    """Reads a process's stdout lines in a thread, so the test can wait with a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        assert process.stdout is not None
        stream = process.stdout

        def pump() -> None:
            for line in stream:
                self.lines.put(line)
            self.lines.put(None)

        self.thread = threading.Thread(target=pump, daemon=True)
        self.thread.start()

    def wait_for(self, count: int, marker: str, within: float) -> None:
        deadline = time.monotonic() + within
        while sum(marker in line for line in self.seen) < count:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no {count} lines with {marker!r} within {within}s; "
                                     f"got {self.seen}") from None
            if line is None:
                raise AssertionError(f"stdout closed early; got {self.seen}")
            self.seen.append(line)

    def rest(self) -> str:
        self.thread.join(timeout=10)
        while not self.lines.empty():
            line = self.lines.get()
            if line is not None:
                self.seen.append(line)
        return "".join(self.seen)


def test_ctrl_c_stops_the_run_and_writes_a_cancelled_report(tmp_path: Path,
                                                            target: Target) -> None:
    slow_seconds = 30
    fast = [check(f"fast-{n}", "${base_url}/api/version", name=f"Fast {n}") for n in (1, 2, 3)]
    slow = check("slow", f"${{base_url}}/slow?s={slow_seconds}", name="Slow", timeout="60s")
    suite = write_suite(tmp_path / "suite.yaml", suite_document(
        target.base_url, [("Fast", fast), ("Slow", [slow])], defaults={"timeout": "60s"}))
    markdown, json_path = tmp_path / "run.md", tmp_path / "run.json"
    target.slow_started.clear()

    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "run", "staging", "-c", str(suite),
         "--markdown", str(markdown), "--json", str(json_path)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        reader = LineReader(process)
        reader.wait_for(3, "PASS", within=30)  # the fast checks are reported as they finish
        assert target.slow_started.wait(timeout=30)  # and the slow one is waiting on the target
        interrupted = time.monotonic()
        process.send_signal(signal.SIGINT)
        # Well within the slow endpoint's delay: the run does not wait for it.
        returncode = process.wait(timeout=slow_seconds / 2)
        stopped_after = time.monotonic() - interrupted
        stdout, stderr = reader.rest(), process.stderr.read()  # type: ignore[union-attr]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()

    assert returncode == 130, stdout + stderr
    assert stopped_after < slow_seconds / 2
    assert "cancelling: finishing the report" in stdout
    assert "Traceback" not in stderr
    document = json.loads(json_path.read_text(encoding="utf-8"))
    assert document["verdict"] == "cancelled"
    assert statuses(document) == {"fast-1": "pass", "fast-2": "pass", "fast-3": "pass",
                                  "slow": "skip"}
    (slow_result,) = document["categories"][1]["checks"]
    assert slow_result["summary"] == "cancelled before it finished"
    text = markdown.read_text(encoding="utf-8")
    assert "- **Status**: 🛑 CANCELLED: stopped after 3 of 4 checks" in text
    assert "| **TOTAL** | 4 | 3 | 0 | 1 | 🛑 CANCELLED |" in text
    assert "- ⏭️ Slow (`slow`): cancelled before it finished" in text
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
