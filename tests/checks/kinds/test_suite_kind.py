"""The `suite` kind against real subprocesses: tiny scripts that print a tool's summary or write
a JUnit file, a real pytest project, and a command that outlives its timeout."""

from __future__ import annotations

import asyncio
import os
import shlex
import stat
import sys
import textwrap
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan

# The report's six pre-existing failures, as ExUnit would print them.
KNOWN = [
    ("test detects comments in Python source", "Rsolv.AST.ValidatorTest"),
    ("test standardizes syntax errors", "Rsolv.ParserErrorTest"),
    ("test rate limit headers are formatted", "RsolvWeb.RateLimitTest"),
    ("test rate limit applies to the auth endpoint", "RsolvWeb.RateLimitTest"),
    ("test forge account id must be a string", "Rsolv.ForgeAccountTest"),
    ("test forge account id rejects integers", "Rsolv.ForgeAccountTest"),
]
KNOWN_PATTERNS = ["Rsolv.AST.ValidatorTest::*", "test standardizes syntax errors",
                  "*RateLimitTest*", "*forge account id*"]
NEW = ("test charges the trial customer", "Rsolv.BillingTest")


def context() -> CheckContext:
    return CheckContext(environment="test", redactor=Redactor())


async def run_suite(params: dict[str, Any]) -> Outcome:
    kind = load_kind("suite")
    return await kind.run(kind.Params.model_validate(params), context())


async def suite_error(params: dict[str, Any]) -> CheckError:
    with pytest.raises(CheckError) as caught:
        await run_suite(params)
    return caught.value


def script(tmp_path: Path, body: str, name: str = "fake_suite.py") -> list[str]:
    """A Python script to run as the suite's command."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(body))
    return [sys.executable, str(path)]


def printing(tmp_path: Path, output: str, exit_code: int = 0) -> list[str]:
    return script(tmp_path, f"import sys\nsys.stdout.write({output!r})\nsys.exit({exit_code})\n")


def mix_output(failures: list[tuple[str, str]], tests: int = 4502) -> str:
    blocks = "".join(
        f"\n  {n}) {name} ({module})\n     test/{module.lower()}_test.exs:{10 * n}\n"
        f"     Assertion with == failed\n     code:  assert result == :ok\n"
        f"     left:  {{:error, :invalid}}\n     right: :ok\n"
        for n, (name, module) in enumerate(failures, start=1))
    return (f"Running ExUnit with seed: 4242, max_cases: 16\n\n....{blocks}\n....*...\n"
            f"Finished in 119.1 seconds (24.5s async, 94.5s sync)\n"
            f"\x1b[31m529 doctests, {tests} tests, {len(failures)} failures, 83 excluded, "
            f"70 skipped\x1b[0m\n")


def junit_xml(cases: list[tuple[str, str, str]]) -> str:
    """(classname, name, outcome) with outcome passed, failed or skipped."""
    body = []
    for classname, name, outcome in cases:
        inner = {"failed": '<failure message="expected 200, got 500">trace</failure>',
                 "skipped": '<skipped message="not today"/>', "passed": ""}[outcome]
        body.append(f'<testcase classname="{classname}" name="{name}" time="0.01">{inner}'
                    f'</testcase>')
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<testsuites><testsuite name="app" '
            f'tests="{len(cases)}">{"".join(body)}</testsuite></testsuites>\n')


def writing_junit(tmp_path: Path, cases: list[tuple[str, str, str]], exit_code: int) -> list[str]:
    return script(tmp_path, f"""\
        import pathlib, sys
        pathlib.Path("report.xml").write_text({junit_xml(cases)!r})
        print("wrote report.xml")
        sys.exit({exit_code})
        """)


# ------------------------------------------------------------------------------ mix output

async def test_report_run_passes_when_its_six_failures_are_known(tmp_path: Path) -> None:
    command = printing(tmp_path, mix_output(KNOWN), exit_code=2)

    outcome = await run_suite({"command": command, "format": "mix",
                               "known_failures": KNOWN_PATTERNS})

    # 529 doctests + 4502 tests, of which 83 excluded and 70 skipped did not run.
    assert outcome.passed
    assert outcome.summary == "4872/4878 passed (99.87%), 6 failed (6 known), 153 skipped"
    assert {k: v for k, v in outcome.measurements.items() if k != "duration"} == {
        "tests": 5031, "passed": 4872, "failed": 6, "skipped": 153, "pass_rate": 99.87,
        "known_failures": 6, "new_failures": 0}
    assert outcome.measurements["duration"] >= 0
    assert outcome.details.splitlines()[:3] == [
        "known failures (6):",
        ("- Rsolv.AST.ValidatorTest::test detects comments in Python source: Assertion with "
         "== failed / code:  assert result == :ok / left:  {:error, :invalid}"),
        ("- Rsolv.ParserErrorTest::test standardizes syntax errors: Assertion with == failed / "
         "code:  assert result == :ok / left:  {:error, :invalid}"),
    ]
    assert [f["known"] for f in outcome.evidence["failures"]] == [True] * 6
    assert outcome.evidence["exit_code"] == 2


async def test_a_new_failure_beside_the_known_ones_fails_and_is_named(tmp_path: Path) -> None:
    command = printing(tmp_path, mix_output([*KNOWN, NEW], tests=4503), exit_code=2)

    outcome = await run_suite({"command": command, "format": "mix",
                               "known_failures": KNOWN_PATTERNS})

    assert not outcome.passed
    assert outcome.summary == ("4872/4879 passed (99.85%), 7 failed (6 known), 153 skipped: "
                               "1 new failure, expected at most 0")
    assert outcome.details.splitlines()[:3] == [
        "new failures (1):",
        ("- Rsolv.BillingTest::test charges the trial customer: Assertion with == failed / "
         "code:  assert result == :ok / left:  {:error, :invalid}"),
        "known failures (6):",
    ]
    assert outcome.measurements["new_failures"] == 1


async def test_without_known_failures_every_failure_counts(tmp_path: Path) -> None:
    outcome = await run_suite({"command": printing(tmp_path, mix_output(KNOWN), 2),
                               "format": "mix", "max_failures": 5})

    assert outcome.summary == ("4872/4878 passed (99.87%), 6 failed, 153 skipped: "
                               "6 new failures, expected at most 5")


async def test_known_pattern_that_no_longer_fails_is_pointed_out(tmp_path: Path) -> None:
    outcome = await run_suite({"command": printing(tmp_path, mix_output(KNOWN[:5]), 2),
                               "format": "mix",
                               "known_failures": [*KNOWN_PATTERNS, "*Flaky*"]})

    assert outcome.passed
    assert "known failures that did not fail this time: *Flaky*" in outcome.details


async def test_command_given_as_one_string_is_split_not_shelled(tmp_path: Path) -> None:
    command = printing(tmp_path, mix_output([]))
    marker = tmp_path / "not-created"

    outcome = await run_suite({"command": f"{shlex.join(command)} ; touch {marker}",
                               "format": "mix"})

    # The script saw `;` and the rest as arguments; no shell ran `touch`.
    assert outcome.summary == "4878/4878 passed (100.00%), 0 failed, 153 skipped"
    assert not marker.exists()


# ------------------------------------------------------------------------------ JUnit files

async def test_pass_rate_below_the_minimum_fails(tmp_path: Path) -> None:
    cases = [("app.BillingTest", f"test_{i}", "passed") for i in range(196)]
    cases += [("app.ParserTest", f"test_broken_{i}", "failed") for i in range(4)]
    command = writing_junit(tmp_path, cases, exit_code=1)

    outcome = await run_suite({"command": command, "cwd": str(tmp_path),
                               "junit": "report.xml", "min_pass_rate": 99.5})

    assert not outcome.passed
    assert outcome.summary == "196/200 passed (98.00%), 4 failed: pass rate 98.00%, expected " \
                              "at least 99.5%"
    assert outcome.details.splitlines()[:2] == [
        "new failures (4):", "- app.ParserTest::test_broken_0: expected 200, got 500"]
    assert outcome.evidence["source"] == f"junit {tmp_path / 'report.xml'}"


async def test_pass_rate_above_the_minimum_passes_despite_new_failures(tmp_path: Path) -> None:
    cases = [("app.Test", f"test_{i}", "passed") for i in range(999)]
    cases += [("app.Test", "test_flaky", "failed")]

    outcome = await run_suite({"command": writing_junit(tmp_path, cases, 1), "cwd": str(tmp_path),
                               "junit": "report.xml", "min_pass_rate": 99.5})

    assert outcome.passed
    assert outcome.summary == "999/1000 passed (99.90%), 1 failed"


async def test_known_failures_are_left_out_of_the_pass_rate(tmp_path: Path) -> None:
    cases = [("app.Test", f"test_{i}", "passed") for i in range(97)]
    cases += [("app.LegacyTest", f"test_old_{i}", "failed") for i in range(2)]
    cases += [("app.Test", "test_new", "failed")]
    params = {"command": writing_junit(tmp_path, cases, 1), "cwd": str(tmp_path),
              "junit": "report.xml", "min_pass_rate": 99.5, "max_failures": 1}

    outcome = await run_suite(params | {"known_failures": ["app.LegacyTest::*"]})

    assert outcome.summary == ("97/100 passed (97.00%), 3 failed (2 known): pass rate 98.97% "
                               "without the 2 known failures, expected at least 99.5%")
    assert [(f["name"], f["known"]) for f in outcome.evidence["failures"]] == [
        ("app.LegacyTest::test_old_0", True), ("app.LegacyTest::test_old_1", True),
        ("app.Test::test_new", False)]


async def test_required_glob_with_a_failing_or_missing_test_fails(tmp_path: Path) -> None:
    cases = [("app.BillingTest", "test_provisions_customer", "passed"),
             ("app.BillingTest", "test_charges_card", "failed"),
             ("app.SchemaTest", "test_billing_tables", "passed"),
             ("app.AuthTest", "test_login", "passed")]
    params = {"command": writing_junit(tmp_path, cases, 1), "cwd": str(tmp_path),
              "junit": "report.xml", "known_failures": ["*charges_card"]}

    outcome = await run_suite(params | {"require": ["*billing*", "*migration*", "*login"]})

    assert not outcome.passed
    assert outcome.summary == ("3/4 passed (75.00%), 1 failed (1 known): 1 of 3 tests matching "
                               "'*billing*' did not pass; no test matching '*migration*' ran")
    assert outcome.evidence["required"] == {"*billing*": "failed", "*migration*": "not run",
                                            "*login": "passed"}
    assert "required: *billing* failed, *migration* not run, *login passed" in outcome.details


async def test_skipped_required_test_has_not_passed(tmp_path: Path) -> None:
    cases = [("app.BillingTest", "test_a", "passed"), ("app.BillingTest", "test_b", "skipped")]

    outcome = await run_suite({"command": writing_junit(tmp_path, cases, 0), "cwd": str(tmp_path),
                               "junit": "report.xml", "require": ["*billing*"]})

    assert outcome.summary == ("1/1 passed (100.00%), 0 failed, 1 skipped: 1 of 2 tests "
                               "matching '*billing*' did not pass")


async def test_stale_junit_file_from_an_earlier_run_is_refused(tmp_path: Path) -> None:
    report = tmp_path / "report.xml"
    report.write_text(junit_xml([("app.Test", "test_ok", "passed")]))
    os.utime(report, ns=(1_000_000_000, 1_000_000_000))

    error = await suite_error({"command": printing(tmp_path, "compile error\n", 1),
                               "cwd": str(tmp_path), "junit": "report.xml"})

    assert error.message == (f"the JUnit file {report} was not rewritten by this run (exit "
                             f"code 1); check that the command still writes its report there")
    assert error.details == "output (last 1 lines):\ncompile error"


async def test_missing_junit_file_is_an_error_with_the_output(tmp_path: Path) -> None:
    error = await suite_error({"command": printing(tmp_path, "** (CompileError) boom\n", 1),
                               "cwd": str(tmp_path), "junit": "_build/test-junit-report.xml"})

    assert error.message == (f"the command produced no JUnit file at "
                             f"{tmp_path / '_build/test-junit-report.xml'} (exit code 1); "
                             f"check the command's junit option and its output")
    assert "** (CompileError) boom" in error.details
    assert not error.permanent


async def test_junit_glob_reads_every_report_written(tmp_path: Path) -> None:
    reports = {"billing": junit_xml([("app.BillingTest", "test_charge", "passed")]),
               "web": junit_xml([("app.WebTest", "test_home", "failed")])}
    command = script(tmp_path, f"""\
        import pathlib
        for app, report in {reports!r}.items():
            folder = pathlib.Path("apps", app)
            folder.mkdir(parents=True)
            (folder / "junit.xml").write_text(report)
        """)

    outcome = await run_suite({"command": command, "cwd": str(tmp_path),
                               "junit": "apps/*/junit.xml", "max_failures": 1})

    assert outcome.summary == "1/2 passed (50.00%), 1 failed"
    assert outcome.evidence["source"] == (f"junit {tmp_path / 'apps/billing/junit.xml'}, "
                                          f"{tmp_path / 'apps/web/junit.xml'}")


async def test_unparseable_junit_file_is_an_error(tmp_path: Path) -> None:
    command = script(tmp_path, "open('report.xml', 'w').write('<testsuites><testcase')\n")

    error = await suite_error({"command": command, "cwd": str(tmp_path), "junit": "report.xml"})

    assert error.message.startswith(f"{tmp_path / 'report.xml'} is not valid JUnit XML (")
    assert error.message.endswith("); check that the command finished writing it")


# ------------------------------------------------------------------------------ real pytest

PROJECT = {
    "test_billing.py": """
        def test_billing_provisions_trial_customer():
            assert {"credit_balance": 0}["credit_balance"] == 0

        def test_billing_tables_exist():
            assert True
        """,
    "test_legacy.py": """
        import pytest

        def test_parser_standardizes_errors():
            assert "SyntaxError" == "ParseError", "error names differ"

        @pytest.mark.skip(reason="needs the forge")
        def test_forge_account():
            pass

        def test_rate_limit_headers():
            assert True
        """,
}


@pytest.fixture
def pytest_project(tmp_path: Path) -> Path:
    for name, source in PROJECT.items():
        (tmp_path / name).write_text(textwrap.dedent(source))
    return tmp_path


PYTEST = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly"]


async def test_real_pytest_project_through_its_junit_report(pytest_project: Path) -> None:
    params = {"command": [*PYTEST, "--junitxml=out/junit.xml"], "cwd": str(pytest_project),
              "junit": "out/junit.xml", "require": ["*billing*"]}

    failing = await run_suite(params)
    passing = await run_suite(params | {"known_failures": ["*test_parser_standardizes_errors"]})

    assert failing.summary == "3/4 passed (75.00%), 1 failed, 1 skipped: 1 new failure, " \
                              "expected at most 0"
    assert failing.details.splitlines()[:2] == [
        "new failures (1):",
        ("- test_legacy::test_parser_standardizes_errors: AssertionError: error names differ / "
         "assert 'SyntaxError' == 'ParseError' / - ParseError")]
    assert passing.passed
    assert passing.summary == "3/4 passed (75.00%), 1 failed (1 known), 1 skipped"
    assert passing.evidence["required"] == {"*billing*": "passed"}


async def test_real_pytest_project_through_its_printed_summary(pytest_project: Path) -> None:
    # COLUMNS: pytest cuts the short summary's messages to the terminal's width.
    outcome = await run_suite({"command": [*PYTEST, "-rA"], "cwd": str(pytest_project),
                               "env": {"COLUMNS": "200"},
                               "format": "pytest", "require": ["*billing*"],
                               "known_failures": ["test_legacy.py::*"]})

    assert outcome.passed
    assert outcome.summary == "3/4 passed (75.00%), 1 failed (1 known), 1 skipped"
    assert outcome.evidence["failures"] == [{
        "name": "test_legacy.py::test_parser_standardizes_errors", "known": True,
        "message": "AssertionError: error names differ"}]


async def test_require_cannot_be_proven_from_output_that_names_only_failures(
        tmp_path: Path) -> None:
    error = await suite_error({"command": printing(tmp_path, mix_output([])), "format": "mix",
                               "require": ["*billing*"]})

    assert error.message == ("`require` needs the name of every test that ran, and the mix "
                             "output names only the failures; read a JUnit file instead "
                             "(`junit:`)")
    assert error.permanent


# ------------------------------------------------------------------------------ other formats

JEST = """\
 FAIL  src/billing.test.js
  ● Billing › charges the trial customer

    expect(received).toBe(expected) // Object.is equality

 FAIL  src/broken.test.js
  ● Test suite failed to run

    Cannot find module './missing' from 'src/broken.test.js'

Summary of all failing tests
 FAIL  src/billing.test.js
  ● Billing › charges the trial customer

    expect(received).toBe(expected) // Object.is equality

Test Suites: 2 failed, 3 passed, 5 total
Tests:       1 failed, 2 skipped, 1 todo, 40 passed, 44 total
Time:        3.021 s
"""

GO = """\
=== RUN   TestProvision
--- PASS: TestProvision (0.00s)
=== RUN   TestCharge
=== RUN   TestCharge/declined
    charge_test.go:31: expected status declined, got approved
--- FAIL: TestCharge (0.00s)
    --- FAIL: TestCharge/declined (0.00s)
=== RUN   TestForge
    forge_test.go:9: no forge in CI
--- SKIP: TestForge (0.00s)
FAIL
FAIL\texample.com/billing\t0.012s
FAIL\texample.com/web [build failed]
"""

PYTEST_QUIET = """\
..F.s
=========================== short test summary info ============================
FAILED tests/test_api.py::test_health[v1] - assert 503 == 200
ERROR tests/test_db.py::test_migrations - psycopg.OperationalError: refused
1 failed, 3 passed, 1 skipped, 1 xfailed, 2 warnings, 1 error in 0.52s
"""


@pytest.mark.parametrize(("fmt", "output", "summary", "failures"), [
    ("jest", JEST, "40/42 passed (95.23%), 2 failed, 3 skipped: 2 new failures, expected at most 0",
     [("Billing › charges the trial customer",
       "expect(received).toBe(expected) // Object.is equality"),
      ("src/broken.test.js", "Cannot find module './missing' from 'src/broken.test.js'")]),
    ("go", GO, "1/4 passed (25.00%), 3 failed, 1 skipped: 3 new failures, expected at most 0",
     [("TestCharge", ""),
      ("TestCharge/declined", "charge_test.go:31: expected status declined, got approved"),
      ("example.com/web", "the package did not build")]),
    ("pytest", PYTEST_QUIET,
     "3/5 passed (60.00%), 2 failed, 2 skipped: 2 new failures, expected at most 0",
     [("tests/test_api.py::test_health[v1]", "assert 503 == 200"),
      ("tests/test_db.py::test_migrations", "psycopg.OperationalError: refused")]),
])
async def test_each_format_reads_counts_and_failing_tests(
        tmp_path: Path, fmt: str, output: str, summary: str,
        failures: list[tuple[str, str]]) -> None:
    outcome = await run_suite({"command": printing(tmp_path, output, 1), "format": fmt})

    assert outcome.summary == summary
    assert [(f["name"], f["message"]) for f in outcome.evidence["failures"]] == failures


async def test_known_pytest_id_with_brackets_matches_exactly(tmp_path: Path) -> None:
    outcome = await run_suite({
        "command": printing(tmp_path, PYTEST_QUIET, 1), "format": "pytest",
        "known_failures": ["tests/test_api.py::test_health[v1]", "test_migrations"]})

    assert outcome.passed
    assert outcome.summary == "3/5 passed (60.00%), 2 failed (2 known), 2 skipped"


async def test_go_output_without_v_cannot_be_counted(tmp_path: Path) -> None:
    output = "--- FAIL: TestCharge (0.00s)\nFAIL\nFAIL\texample.com/billing\t0.01s\n"

    error = await suite_error({"command": printing(tmp_path, output, 1), "format": "go"})

    assert error.message == ("no go test -v summary line in the command's output; expected a "
                             "line such as '--- PASS: TestCharge (0.01s)' (run `go test -v` so "
                             "that every test's result is printed) (exit code 1)")


async def test_output_without_a_summary_line_is_an_error_with_its_tail(tmp_path: Path) -> None:
    output = "".join(f"line {i}\n" for i in range(40)) + "** (Mix) could not compile\n"

    error = await suite_error({"command": printing(tmp_path, output, 1), "format": "mix"})

    assert error.message == ("no mix summary line in the command's output; expected a line "
                             "such as '4502 tests, 6 failures, 83 excluded, 70 skipped' "
                             "(exit code 1)")
    assert error.details.splitlines()[0] == "output (last 30 lines):"
    assert error.details.splitlines()[-1] == "** (Mix) could not compile"


async def test_nonzero_exit_without_a_failing_test_fails(tmp_path: Path) -> None:
    output = "3 passed in 0.10s\nFAIL Required test coverage of 90% not reached.\n"

    outcome = await run_suite({"command": printing(tmp_path, output, 2), "format": "pytest"})

    assert not outcome.passed
    assert outcome.summary == "3/3 passed (100.00%), 0 failed: exit code 2 though no test failed"
    assert outcome.details.endswith("FAIL Required test coverage of 90% not reached.")


async def test_a_run_of_no_tests_fails(tmp_path: Path) -> None:
    outcome = await run_suite({"command": printing(tmp_path, "no tests ran in 0.01s\n", 5),
                               "format": "pytest"})

    assert not outcome.passed
    assert outcome.summary == "no tests ran: expected at least one test to run"


# ------------------------------------------------------------------------------ the process

async def test_env_reaches_the_command_and_its_values_are_never_echoed(tmp_path: Path) -> None:
    canary = f"canary-{uuid.uuid4().hex}"
    command = script(tmp_path, f"""\
        import os, sys
        ok = os.environ["SMOKE_TOKEN"] == {canary!r} and os.environ["SMOKE_CI"] == "true"
        print("1 passed in 0.01s" if ok else "1 failed in 0.01s")
        sys.exit(0 if ok else 1)
        """)
    params = {"command": command, "format": "pytest",
              "env": {"SMOKE_TOKEN": canary, "SMOKE_CI": True}}

    outcome = await run_suite(params)
    missing = await suite_error(params | {"command": ["no-such-suite-runner"]})
    kind = load_kind("suite")
    described = kind.describe(kind.Params.model_validate(params))

    assert outcome.summary == "1/1 passed (100.00%), 0 failed"
    assert canary not in repr(asdict(outcome)) + repr(missing) + missing.details + described


async def test_command_not_found_is_a_permanent_error(tmp_path: Path) -> None:
    missing = await suite_error({"command": ["no-such-suite-runner", "test"], "format": "mix"})
    no_file = await suite_error({"command": [str(tmp_path / "bin/mix"), "test"], "format": "mix"})

    assert missing.message == ("command not found: no-such-suite-runner (it is not on PATH); "
                               "give its full path, or set PATH in the check's env")
    assert missing.permanent
    assert no_file.message == (f"command not found: {tmp_path / 'bin/mix'} (no such file); "
                               f"give its full path, or set PATH in the check's env")


async def test_command_that_is_not_executable_is_a_permanent_error(tmp_path: Path) -> None:
    runner = tmp_path / "run-tests.sh"
    runner.write_text("#!/bin/sh\necho '1 passed in 0.01s'\n")
    runner.chmod(stat.S_IRUSR | stat.S_IWUSR)

    error = await suite_error({"command": [str(runner)], "format": "pytest"})

    assert error.message == (f"cannot run {runner}: it is not executable (chmod +x it, or run it "
                             f"through its interpreter)")
    assert error.permanent


async def test_missing_working_directory_is_a_permanent_error(tmp_path: Path) -> None:
    error = await suite_error({"command": ["true"], "format": "mix",
                               "cwd": str(tmp_path / "nope")})

    assert error.message == (f"the working directory {tmp_path / 'nope'} does not exist; fix "
                             f"the check's cwd")
    assert error.permanent


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's zombie waits for a reaper, but runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


async def _wait_until_gone(pids: list[int]) -> list[int]:
    # SIGKILL is delivered at once, but the kernel tears a process down asynchronously.
    for _ in range(200):
        alive = [pid for pid in pids if _running(pid)]
        if not alive:
            return []
        await asyncio.sleep(0.05)
    return alive


TIMEOUT_SUITE = """
suite: timeouts
environments:
  test: {}
categories:
  - name: Platform Test Suite
    checks:
      - id: mix-test
        type: suite
        timeout: 3s
        command: [{python}, {script}, {pids}]
        format: mix
"""


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    runner = tmp_path / "hangs.py"
    runner.write_text(textwrap.dedent("""\
        import os, pathlib, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pathlib.Path(sys.argv[1]).write_text(f"{os.getpid()} {child.pid}")
        time.sleep(600)
        """))
    suite_file = tmp_path / "smoketest.yaml"
    suite_file.write_text(TIMEOUT_SUITE.replace("{python}", sys.executable)
                          .replace("{script}", str(runner)).replace("{pids}", str(pids)))

    result = await run_plan(build_plan(load_suite(suite_file), "test"))

    [check] = result.results
    assert (check.status, check.summary) == (Status.ERROR, "timed out after 3s")
    runner_pid, child_pid = (int(p) for p in pids.read_text().split())
    assert await _wait_until_gone([runner_pid, child_pid]) == []


async def test_processes_the_command_leaves_behind_are_killed_when_it_exits(
        tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    # The forked server keeps the output pipe open: unless it is killed, reading never ends.
    command = script(tmp_path, f"""\
        import pathlib, subprocess, sys
        server = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        pathlib.Path({str(pids)!r}).write_text(str(server.pid))
        print("2 passed in 0.01s")
        """)

    outcome = await run_suite({"command": command, "format": "pytest"})

    assert outcome.summary == "2/2 passed (100.00%), 0 failed"
    assert await _wait_until_gone([int(pids.read_text())]) == []


# ------------------------------------------------------------------------------ parameters

@pytest.mark.parametrize(("params", "message"), [
    ({"command": ["mix", "test"]}, "set exactly one of `junit`"),
    ({"command": ["mix", "test"], "junit": "r.xml", "format": "mix"}, "set exactly one of"),
    ({"command": "", "format": "mix"}, "at least 1 item"),
    ({"command": "mix test 'unclosed", "format": "mix"}, "cannot split the command into words"),
    ({"command": ["mix"], "format": "rspec"}, "'pytest', 'mix', 'jest' or 'go'"),
    ({"command": ["mix"], "format": "mix", "min_pass_rate": 101}, "less than or equal to 100"),
    ({"command": ["mix"], "format": "mix", "shell": True}, "Extra inputs are not permitted"),
])
def test_mistaken_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("suite").Params.model_validate(params)
    assert message in str(caught.value)


def test_describe_names_the_command_source_and_rules() -> None:
    kind = load_kind("suite")
    params = kind.Params.model_validate({
        "command": "mix test --color", "cwd": "~/dev/rsolv",
        "junit": "_build/test/lib/rsolv/test-junit-report.xml", "min_pass_rate": 99.5,
        "require": ["*billing*"]})

    assert kind.describe(params) == (
        "runs `mix test --color` in ~/dev/rsolv, reads JUnit "
        "_build/test/lib/rsolv/test-junit-report.xml: pass rate at least 99.5%; *billing* passing")
