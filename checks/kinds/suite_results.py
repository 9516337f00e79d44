"""What a test run reported, read into one shape whichever tool ran it: from a JUnit XML file
(pytest --junitxml, mix's JUnitFormatter, jest-junit, go-junit-report), or from the summary
lines each tool prints (`read_output(text, "mix")`).

A JUnit file names every test. Printed output has the counts of its summary line and names
only the failures (pytest's short summary, ExUnit's numbered failures, jest's `●` headers), so
`SuiteResults.names_every_pass` says whether a test absent from `cases` can be taken as not run.
Problems reading either raise CheckError, saying what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from xml.etree import ElementTree

from checks.errors import CheckError

__all__ = ["FORMATS", "CaseResult", "OutputFormat", "SuiteResults", "read_junit", "read_output"]

CaseStatus = Literal["passed", "failed", "skipped"]
OutputFormat = Literal["pytest", "mix", "jest", "go"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
MESSAGE_LINES = 3  # of a failure's text: enough to say what broke, not the stack


@dataclass(frozen=True)
class CaseResult:
    name: str  # the fullest id the source gives: "classname::name", a pytest node id, ...
    status: CaseStatus
    message: str = ""
    short: str = ""  # the bare test name, so a pattern need not spell out its module

    def names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(n for n in (self.name, self.short) if n))


@dataclass(frozen=True)
class SuiteResults:
    tests: int  # every test the tool reported, skipped ones included
    failed: int  # failures and errors
    skipped: int  # skipped, excluded, xfailed, todo: did not run to a verdict
    cases: tuple[CaseResult, ...]
    source: str  # "junit report.xml" or "mix output", for messages
    names_every_pass: bool = True
    files: tuple[str, ...] = ()  # the JUnit files read

    @property
    def passed(self) -> int:
        return self.tests - self.failed - self.skipped

    @property
    def ran(self) -> int:
        return self.tests - self.skipped


def _first_lines(text: str, limit: int = MESSAGE_LINES) -> str:
    lines = [line.strip() for line in _ANSI.sub("", text).splitlines() if line.strip()]
    return "\n".join(lines[:limit])


# ------------------------------------------------------------------------------ JUnit XML

def read_junit(paths: Iterable[Path]) -> SuiteResults:
    cases: list[CaseResult] = []
    read: list[str] = []
    for path in paths:
        try:
            root = ElementTree.parse(path).getroot()
        except ElementTree.ParseError as exc:
            raise CheckError(f"{path} is not valid JUnit XML ({exc}); check that the command "
                             f"finished writing it") from None
        except OSError as exc:
            raise CheckError(f"cannot read the JUnit file {path}: {exc.strerror}") from None
        if root.tag not in ("testsuites", "testsuite"):
            raise CheckError(f"{path} is not a JUnit report: its root element is <{root.tag}>, "
                             f"expected <testsuites> or <testsuite>")
        # Cases are counted one by one: testsuite totals are summed differently by each tool.
        cases.extend(_junit_case(case) for case in root.iter("testcase"))
        read.append(str(path))
    failed = sum(c.status == "failed" for c in cases)
    skipped = sum(c.status == "skipped" for c in cases)
    return SuiteResults(tests=len(cases), failed=failed, skipped=skipped, cases=tuple(cases),
                        source=f"junit {', '.join(read)}", files=tuple(read))


def _junit_case(case: ElementTree.Element) -> CaseResult:
    classname = (case.get("classname") or "").strip()
    name = (case.get("name") or "").strip() or "(unnamed)"
    full = f"{classname}::{name}" if classname and classname != name else name
    status: CaseStatus = "passed"
    message = ""
    for child in case:
        if child.tag in ("failure", "error"):
            status = "failed"
            message = _first_lines(child.get("message") or child.text or "") or child.tag
            break
        if child.tag == "skipped":
            status = "skipped"
    return CaseResult(full, status, message, short=name)


# ------------------------------------------------------------------------------ printed output

def read_output(text: str, fmt: OutputFormat) -> SuiteResults:
    return FORMATS[fmt](_ANSI.sub("", text).replace("\r\n", "\n"))


def _no_summary(fmt: str, example: str, hint: str = "") -> CheckError:
    return CheckError(f"no {fmt} summary line in the command's output; expected a line such as "
                      f"'{example}'{hint}")


def _unique(cases: list[CaseResult]) -> tuple[CaseResult, ...]:
    """One entry per name: jest, for one, prints each failure twice."""
    seen: dict[str, CaseResult] = {}
    for case in cases:
        seen.setdefault(case.name, case)
    return tuple(seen.values())


# pytest: "==== 1 failed, 3 passed, 1 skipped in 0.12s ====", or with -q "1 failed in 0.1s"
_PYTEST_SUMMARY = re.compile(
    r"^=*\s*(?P<counts>no tests ran|\d+ \w+(?:, \d+ \w+)*) in \d+(?:\.\d+)?s\b.*$")
_PYTEST_WORDS = {"passed", "failed", "error", "errors", "skipped", "xfailed", "xpassed",
                 "deselected", "warning", "warnings", "rerun", "subtests"}
_PYTEST_RESULT = re.compile(r"^(?P<status>PASSED|FAILED|ERROR) (?P<id>.+?)(?: - (?P<msg>.*))?$")


def _read_pytest(text: str) -> SuiteResults:
    counts: dict[str, int] | None = None
    for line in reversed(text.splitlines()):
        match = _PYTEST_SUMMARY.match(line.strip())
        if not match:
            continue
        found = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", match["counts"])}
        if match["counts"] == "no tests ran" or (found and set(found) <= _PYTEST_WORDS):
            counts = found
            break
    if counts is None:
        raise _no_summary("pytest", "3 passed, 1 failed in 0.52s",
                          " (pytest prints it unless run with -qq or more)")
    failed = counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)
    skipped = counts.get("skipped", 0) + counts.get("xfailed", 0)
    passed = counts.get("passed", 0) + counts.get("xpassed", 0)
    cases = []
    for line in text.splitlines():
        if match := _PYTEST_RESULT.match(line):
            status: CaseStatus = "passed" if match["status"] == "PASSED" else "failed"
            node = match["id"].strip()
            cases.append(CaseResult(node, status, _first_lines(match["msg"] or ""),
                                    short=node.rpartition("::")[2]))
    unique = _unique(cases)
    named_passes = sum(c.status == "passed" for c in unique)
    # `-rA` lists the passes in the short summary too; only then is a missing test known absent.
    return SuiteResults(tests=passed + failed + skipped, failed=failed, skipped=skipped,
                        cases=unique, source="pytest output",
                        names_every_pass=named_passes >= passed)


# mix: "529 doctests, 4502 tests, 6 failures, 83 excluded, 70 skipped"; every test type is
# counted (excluded and skipped tests included), and the failures are those of all types.
_MIX_SUMMARY = re.compile(
    r"^(?P<types>(?:\d+ \w+, )+)(?P<failures>\d+) failures?"
    r"(?P<rest>(?:, \d+ (?:excluded|invalid|skipped))*)\s*$")
_MIX_FAILURE = re.compile(r"^\s+\d+\) (?P<name>.+) \((?P<module>[\w.]+)\)\s*$")
_MIX_LOCATION = re.compile(r"^\s+\S+\.exs?:\d+\s*$")


def _read_mix(text: str) -> SuiteResults:
    lines = text.splitlines()
    summary = next((m for line in reversed(lines) if (m := _MIX_SUMMARY.match(line.strip()))),
                   None)
    if summary is None:
        raise _no_summary("mix", "4502 tests, 6 failures, 83 excluded, 70 skipped")
    tests = sum(int(n) for n in re.findall(r"(\d+) \w+, ", summary["types"]))
    rest = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary["rest"])}
    # An invalid test is one whose module's setup_all failed: it did not pass either.
    failed = int(summary["failures"]) + rest.get("invalid", 0)
    skipped = rest.get("excluded", 0) + rest.get("skipped", 0)
    cases = []
    for index, line in enumerate(lines):
        if match := _MIX_FAILURE.match(line):
            body: list[str] = []
            for following in lines[index + 1:]:
                if not following.strip() or _MIX_FAILURE.match(following):
                    if body:
                        break
                    continue
                if not _MIX_LOCATION.match(following):
                    body.append(following)
                if len(body) == MESSAGE_LINES:
                    break
            cases.append(CaseResult(f"{match['module']}::{match['name']}", "failed",
                                    _first_lines("\n".join(body)), short=match["name"]))
    return SuiteResults(tests=tests, failed=failed, skipped=skipped, cases=_unique(cases),
                        source="mix output", names_every_pass=False)


# jest: "Tests:       1 failed, 2 skipped, 40 passed, 43 total"
_JEST_SUMMARY = re.compile(r"^Tests:\s+(?P<counts>(?:\d+ \w+, )*\d+ total)\s*$")
_JEST_FAILURE = re.compile(r"^\s*● (?P<name>.+?)\s*$")
_JEST_FILE = re.compile(r"^\s*FAIL\s+(?P<path>\S+)")


def _read_jest(text: str) -> SuiteResults:
    lines = text.splitlines()
    summary = next((m for line in reversed(lines) if (m := _JEST_SUMMARY.match(line.strip()))),
                   None)
    if summary is None:
        raise _no_summary("jest", "Tests:       1 failed, 40 passed, 41 total")
    counts = {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", summary["counts"])}
    tests = counts.get("total", 0)
    failed = counts.get("failed", 0)
    skipped = counts.get("skipped", 0) + counts.get("todo", 0)
    cases: list[CaseResult] = []
    broken_files: set[str] = set()
    current_file = ""
    for index, line in enumerate(lines):
        if match := _JEST_FILE.match(line):
            current_file = match["path"]
            continue
        match = _JEST_FAILURE.match(line)
        if not match or match["name"] == "Console":
            continue
        message = _first_lines("\n".join(lines[index + 1:index + 8]), 1)
        if match["name"] == "Test suite failed to run":
            # Its tests are in no count: the file is one failure of its own.
            name = current_file or "test suite"
            if name not in broken_files:
                broken_files.add(name)
                cases.append(CaseResult(name, "failed", message, short=name))
            continue
        name = match["name"]
        cases.append(CaseResult(name, "failed", message, short=name.rpartition(" › ")[2]))
    return SuiteResults(tests=tests + len(broken_files), failed=failed + len(broken_files),
                        skipped=skipped, cases=_unique(cases), source="jest output",
                        names_every_pass=False)


# go test -v: "--- FAIL: TestCharge/declined (0.00s)", one line per test and subtest
_GO_RESULT = re.compile(r"^\s*--- (?P<status>PASS|FAIL|SKIP): (?P<name>\S+) \(")
_GO_RUNNING = re.compile(r"^=== (?:RUN|CONT|PAUSE|NAME)\s+(?P<name>\S+)")
_GO_BROKEN_PACKAGE = re.compile(r"^FAIL\s+(?P<package>\S+)\s+\[(?:build|setup) failed\]")
_GO_STATUS: dict[str, CaseStatus] = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}


def _read_go(text: str) -> SuiteResults:
    results: list[tuple[str, CaseStatus]] = []
    logs: dict[str, list[str]] = {}
    current = ""
    verbose = False
    for line in text.splitlines():
        if match := _GO_RESULT.match(line):
            current = match["name"]  # without -v, a failure's log lines follow its result
            results.append((current, _GO_STATUS[match["status"]]))
        elif match := _GO_RUNNING.match(line):
            current = match["name"]
            verbose = True
        elif match := _GO_BROKEN_PACKAGE.match(line):
            results.append((match["package"], "failed"))
            logs.setdefault(match["package"], []).append("the package did not build")
        elif line.startswith((" ", "\t")) and current:
            logs.setdefault(current, []).append(line)
    # Without -v, go prints only the failures: the passes could not be counted.
    if not results or not verbose:
        raise _no_summary("go test -v", "--- PASS: TestCharge (0.01s)",
                          " (run `go test -v` so that every test's result is printed)")
    cases = tuple(CaseResult(name, status,
                             _first_lines("\n".join(logs.get(name, []))) if status == "failed"
                             else "", short=name)
                  for name, status in results)
    return SuiteResults(tests=len(cases), failed=sum(c.status == "failed" for c in cases),
                        skipped=sum(c.status == "skipped" for c in cases), cases=cases,
                        source="go test output")


FORMATS: dict[str, Callable[[str], SuiteResults]] = {
    "pytest": _read_pytest, "mix": _read_mix, "jest": _read_jest, "go": _read_go}
