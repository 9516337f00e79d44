"""Coverage in the `suite` kind: reports made by coverage.py itself (Cobertura XML, JSON and lcov
of one measured run), reports written here in each format's edge cases (lcov in a `.xml` file,
truncated JSON, a billion-laughs XML), `coverage_only` on an existing file, and suite files run
end to end."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from checks.config import load_suite
from checks.errors import CheckError
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.kinds.coverage import FORMATS_TRIED, parse_coverage, read_coverage
from checks.plan import build_plan
from checks.redact import Redactor
from checks.results import Outcome, Status
from checks.runner import run_plan

# 9 statements, 7 of them run (never the `else` branch's two): 77.78%.
MEASURED = """\
def pick(flag):
    if flag:
        value = "yes"
    else:
        value = "no"
        return value
    return value


results = [pick(True) for _ in range(3)]
print(results)
done = True
"""


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding coverage.py's three reports of one run: coverage.xml, coverage.json,
    coverage.lcov."""
    folder = tmp_path_factory.mktemp("measured")
    (folder / "app.py").write_text(MEASURED)
    coverage = [sys.executable, "-m", "coverage"]
    subprocess.run([*coverage, "run", "app.py"], cwd=folder, check=True, capture_output=True)
    for report in ("xml", "json", "lcov"):
        subprocess.run([*coverage, report, "-o", f"coverage.{report}"], cwd=folder, check=True,
                       capture_output=True)
    return folder


def billion_laughs(levels: int = 9) -> bytes:
    """The XML "billion laughs": each entity ten of the one below, 10**9 `lol`s at nine."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels + 1)]
    return (f'<?xml version="1.0"?>\n<!DOCTYPE coverage [\n{chr(10).join(entities)}\n]>\n'
            f'<coverage line-rate="1" name="&lol{levels};"/>\n').encode()


def report_error(data: bytes | str, name: str = "coverage.out") -> str:
    with pytest.raises(CheckError) as caught:
        parse_coverage(data.encode() if isinstance(data, str) else data, name)
    return caught.value.message


# ------------------------------------------------------------------------------ the three formats

@pytest.mark.parametrize(("name", "fmt"), [("coverage.xml", "Cobertura XML"),
                                           ("coverage.json", "coverage.py JSON"),
                                           ("coverage.lcov", "lcov")])
def test_coverage_py_s_three_reports_give_the_same_totals(measured: Path, name: str,
                                                          fmt: str) -> None:
    report = read_coverage(measured / name)

    assert (report.format, report.covered, report.valid) == (fmt, 7, 9)
    assert report.percent == pytest.approx(77.78, abs=0.01)
    assert report.shown == "77.7%"  # rounded down: never shown as meeting a 77.8 minimum


def test_the_format_is_told_by_content_not_by_name(measured: Path, tmp_path: Path) -> None:
    misnamed = tmp_path / "coverage.xml"
    misnamed.write_bytes((measured / "coverage.lcov").read_bytes())
    json_as_txt = tmp_path / "report.txt"
    json_as_txt.write_bytes((measured / "coverage.json").read_bytes())

    assert read_coverage(misnamed).format == "lcov"
    assert read_coverage(json_as_txt).format == "coverage.py JSON"


def test_cobertura_line_rate_alone_is_enough() -> None:
    report = parse_coverage(b'<?xml version="1.0" ?>\n<coverage line-rate="0.834" '
                            b'branch-rate="0"><packages/></coverage>', "c.xml")

    assert (report.percent, report.covered, report.valid) == (pytest.approx(83.4), None, None)
    assert report.shown == "83.4%"


async def test_a_rate_at_the_minimum_passes_despite_float_arithmetic(tmp_path: Path) -> None:
    (tmp_path / "coverage.xml").write_text('<coverage line-rate="0.57"/>')  # 56.99999999999999

    outcome = await run_suite({"coverage_only": True,
                               "coverage": {"file": "coverage.xml", "min": 57}}, tmp_path)

    assert (outcome.passed, outcome.summary) == (True, "coverage 57.0% (min 57%)")


def test_cobertura_with_a_doctype_as_java_cobertura_writes_it_is_read() -> None:
    data = (b'<?xml version="1.0"?>\n<!DOCTYPE coverage SYSTEM '
            b'"http://cobertura.sourceforge.net/xml/coverage-04.dtd">\n'
            b'<coverage lines-covered="57" lines-valid="100" line-rate="0.57"></coverage>')

    report = parse_coverage(data, "c.xml")

    assert (report.covered, report.valid, report.shown) == (57, 100, "57.0%")


def test_lcov_sums_lf_and_lh_over_its_records() -> None:
    text = ("TN:\nSF:lib/a.ex\nDA:1,1\nDA:2,0\nLF:40\nLH:30\nend_of_record\n"
            "SF:lib/b.ex\nFNF:0\nLF:10\nLH:10\nend_of_record\n")

    report = parse_coverage(text.encode(), "lcov.info")

    assert (report.covered, report.valid, report.shown) == (40, 50, "80.0%")


def test_lcov_without_summary_lines_is_counted_from_its_da_lines() -> None:
    text = "SF:a.js\nDA:1,3\nDA:2,0\nDA:3,1\nDA:4,-1\nend_of_record\nSF:b.js\nDA:1,0\n"

    report = parse_coverage(text.encode(), "lcov.info")

    assert (report.covered, report.valid) == (2, 4)  # -1: a line that was not instrumented


# ------------------------------------------------------------------------------ unreadable reports

@pytest.mark.parametrize(("data", "reason"), [
    ("", "the file is empty"),
    ('{"totals": {"percent_covered": 8', "it starts like JSON but is not valid JSON ("),
    ('{"total": {"lines": {"pct": 80}}}',
     "it is JSON but not a coverage.py report (no totals.percent_covered between 0 and 100; "
     "write it with `coverage json`)"),
    ('{"totals": {"percent_covered": 180}}', "it is JSON but not a coverage.py report"),
    ("<coverage line-rate", "it starts like XML but is not valid XML ("),
    ('<report name="jacoco"/>',
     "it is XML but not Cobertura: its root element is <report>, expected <coverage "
     "line-rate=...>"),
    ('<coverage line-rate="high"/>', "it is Cobertura XML without a usable line coverage"),
    ("SF:a.py\nLF:ten\nLH:3\nend_of_record\n",
     "it is lcov with a malformed line 'LF:ten' (expected LF:<number>)"),
    ("SF:a.py\nDA:x,1\nend_of_record\n", "it is lcov with a malformed line 'DA:x,1'"),
    ("TN:\nend_of_record\n", "it is lcov, but counts no lines (LF: 0 or no records)"),
    ("=== 3 passed in 0.1s ===\n", "its content is none of these (no JSON object, no XML, no "
                                   "lcov SF:/LF:/LH: records)"),
])
def test_an_unreadable_report_names_the_file_and_the_formats(data: str, reason: str) -> None:
    message = report_error(data, "out/coverage.dat")

    assert message.startswith(f"cannot read coverage from out/coverage.dat: {reason}")
    assert message.endswith(f"; expected {FORMATS_TRIED}")


def test_a_billion_laughs_xml_is_refused_before_it_expands() -> None:
    bomb = billion_laughs()
    started = time.perf_counter()

    message = report_error(bomb, "coverage.xml")

    assert time.perf_counter() - started < 0.5
    assert message.startswith("cannot read coverage from coverage.xml: the XML declares "
                              "entities, which no coverage report does (refused, so that an "
                              "entity bomb is never expanded)")


def test_a_missing_report_and_a_folder_are_errors_naming_the_path(tmp_path: Path) -> None:
    with pytest.raises(CheckError) as missing:
        read_coverage(tmp_path / "coverage.xml")
    with pytest.raises(CheckError) as folder:
        read_coverage(tmp_path)

    assert missing.value.message == (
        f"no coverage file at {tmp_path / 'coverage.xml'} (expected {FORMATS_TRIED}); check the "
        f"path, and that the command writes its coverage report there")
    assert folder.value.message.startswith(f"cannot read coverage from {tmp_path}: it is a "
                                           f"directory")


# ------------------------------------------------------------------------------ the suite kind

def ctx(suite_dir: Path | None = None) -> CheckContext:
    return CheckContext(environment="test", redactor=Redactor(), suite_dir=suite_dir)


async def run_suite(params: dict[str, Any], suite_dir: Path | None = None) -> Outcome:
    kind = load_kind("suite")
    return await kind.run(kind.Params.model_validate(params), ctx(suite_dir))


def measuring_command(folder: Path, report: str) -> list[str]:
    """Runs app.py under coverage.py, prints a pytest summary, writes the report."""
    (folder / "app.py").write_text(MEASURED)
    runner = folder / "run_tests.py"
    runner.write_text(textwrap.dedent(f"""\
        import subprocess, sys
        coverage = [sys.executable, "-m", "coverage"]
        subprocess.run([*coverage, "run", "app.py"], check=True, capture_output=True)
        subprocess.run([*coverage, {report!r}, "-o", "out/coverage.{report}"], check=True,
                       capture_output=True)
        print("3 passed in 0.05s")
        """))
    return [sys.executable, str(runner)]


async def test_a_run_s_coverage_is_in_its_summary_and_measurements(tmp_path: Path) -> None:
    command = measuring_command(tmp_path, "lcov")

    outcome = await run_suite({"command": command, "cwd": str(tmp_path), "format": "pytest",
                               "coverage": {"file": "out/coverage.lcov", "min": 75}})

    assert outcome.passed, outcome.summary
    assert outcome.summary == "3/3 passed (100.00%), 0 failed, coverage 77.7% (min 75%)"
    assert (outcome.measurements["coverage_percent"], outcome.measurements["coverage_min"]) == (
        77.77, 75)
    assert outcome.evidence["coverage"] == {
        "file": str(tmp_path / "out/coverage.lcov"), "format": "lcov",
        "percent": pytest.approx(77.78, abs=0.01), "min": 75, "lines_covered": 7,
        "lines_valid": 9}
    assert (f"coverage 77.7% (min 75%) (7/9 lines), from {tmp_path / 'out/coverage.lcov'} "
            f"(lcov)") in outcome.details


async def test_coverage_under_the_minimum_fails_though_every_test_passed(tmp_path: Path) -> None:
    command = measuring_command(tmp_path, "json")

    outcome = await run_suite({"command": command, "cwd": str(tmp_path), "format": "pytest",
                               "coverage": {"file": "out/coverage.json", "min": 80}})

    assert not outcome.passed
    assert outcome.summary == ("3/3 passed (100.00%), 0 failed, coverage 77.7% (min 80%): "
                               "coverage below the 80% minimum")


async def test_a_coverage_file_the_run_did_not_rewrite_is_an_error(tmp_path: Path) -> None:
    stale = tmp_path / "coverage.xml"
    stale.write_text('<coverage line-rate="0.99"/>')
    command = [sys.executable, "-c", "print('3 passed in 0.05s')"]

    with pytest.raises(CheckError) as caught:
        await run_suite({"command": command, "cwd": str(tmp_path), "format": "pytest",
                         "coverage": {"file": "coverage.xml", "min": 80}})

    assert caught.value.message == (f"the coverage file {stale} was not rewritten by this run "
                                    f"(exit code 0); check that the command still writes its "
                                    f"coverage report there")
    assert "3 passed in 0.05s" in caught.value.details


async def test_a_run_that_writes_no_coverage_file_is_an_error_with_its_output(
        tmp_path: Path) -> None:
    command = [sys.executable, "-c", "print('3 passed in 0.05s')"]

    with pytest.raises(CheckError) as caught:
        await run_suite({"command": command, "cwd": str(tmp_path), "format": "pytest",
                         "coverage": {"file": "coverage.xml"}})

    assert caught.value.message.startswith(f"no coverage file at {tmp_path / 'coverage.xml'} "
                                           f"(expected {FORMATS_TRIED})")
    assert "3 passed in 0.05s" in caught.value.details


async def test_coverage_only_judges_an_artifact_without_running_anything(
        measured: Path) -> None:
    passing = await run_suite({"coverage_only": True,
                               "coverage": {"file": "coverage.xml", "min": 70}}, measured)
    failing = await run_suite({"coverage_only": True,
                               "coverage": {"file": "coverage.xml", "min": 77.8}}, measured)

    assert (passing.passed, passing.summary) == (True, "coverage 77.7% (min 70%)")
    assert passing.measurements == {"coverage_percent": 77.77, "coverage_min": 70}
    assert passing.details == (f"coverage 77.7% (min 70%) (7/9 lines), from "
                               f"{measured / 'coverage.xml'} (Cobertura XML)")
    assert (failing.passed, failing.summary) == (
        False, "coverage 77.7% (min 77.8%): coverage below the 77.8% minimum")


async def test_coverage_only_without_a_minimum_reports_the_figure(measured: Path) -> None:
    outcome = await run_suite({"coverage_only": True, "coverage": {"file": "coverage.json"}},
                              measured)

    assert (outcome.passed, outcome.summary) == (True, "coverage 77.7%")
    assert outcome.measurements == {"coverage_percent": 77.77}


async def test_coverage_only_on_a_malformed_file_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "coverage.json").write_text('{"meta": {}, "files": {}}')

    with pytest.raises(CheckError) as caught:
        await run_suite({"coverage_only": True, "coverage": {"file": "coverage.json"}},
                        tmp_path)

    assert caught.value.message == (
        f"cannot read coverage from {tmp_path / 'coverage.json'}: it is JSON but not a "
        f"coverage.py report (no totals.percent_covered between 0 and 100; write it with "
        f"`coverage json`); expected {FORMATS_TRIED}")


@pytest.mark.parametrize(("params", "message"), [
    ({"coverage_only": True}, "`coverage_only: true` needs `coverage: {file: ..., min: ...}`"),
    ({"coverage_only": True, "coverage": {"file": "c.xml"}, "command": "pytest",
      "format": "pytest"},
     "`coverage_only: true` runs no command, so `command`, `format` would never be used; "
     "remove them, or `coverage_only`"),
    ({"format": "pytest"}, "set `command` (the program that runs the tests), or "
                           "`coverage_only: true` to judge an existing coverage file"),
    ({"command": "pytest", "format": "pytest", "coverage": {"file": "c.xml", "min": 120}},
     "less than or equal to 100"),
    ({"command": "pytest", "format": "pytest", "coverage": {"file": ""}}, "at least 1 character"),
    ({"command": "pytest", "format": "pytest", "coverage": {"path": "c.xml"}},
     "Extra inputs are not permitted"),
])
def test_mistaken_coverage_parameters_are_refused(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_kind("suite").Params.model_validate(params)
    assert message in str(caught.value)


def test_describe_names_the_coverage_rule() -> None:
    kind = load_kind("suite")
    with_tests = kind.Params.model_validate({"command": "pytest", "format": "pytest",
                                             "coverage": {"file": "coverage.xml", "min": 80}})
    artifact = kind.Params.model_validate({"coverage_only": True,
                                           "coverage": {"file": "cov/lcov.info", "min": 80}})

    assert kind.describe(with_tests) == ("runs `pytest`, reads its pytest summary: at most 0 new "
                                         "failures; coverage at least 80% (from coverage.xml)")
    assert kind.describe(artifact) == ("reads the coverage report cov/lcov.info: coverage at "
                                       "least 80%")


# ------------------------------------------------------------------------------ suite files

SUITE = """\
suite: coverage
environments:
  ci: {{}}
categories:
  - name: Tests
    checks:
      - id: unit
        type: suite
        command: [{python}, run_tests.py]
        format: pytest
        coverage: {{file: out/coverage.xml, min: 75}}
      - id: artifact
        type: suite
        coverage_only: true
        coverage: {{file: artifacts/lcov.info, min: 90}}
"""


async def test_a_suite_file_s_coverage_paths_start_at_its_folder(
        measured: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = tmp_path / "project"
    project.mkdir()
    measuring_command(project, "xml")
    (project / "artifacts").mkdir()
    (project / "artifacts/lcov.info").write_bytes((measured / "coverage.lcov").read_bytes())
    path = project / "smoketest.yaml"
    path.write_text(SUITE.format(python=json.dumps(sys.executable)))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # smokebot started in another folder

    result = await run_plan(build_plan(load_suite(path), "ci"))

    unit, artifact = result.results
    assert (unit.status, unit.summary) == (
        Status.PASS, "3/3 passed (100.00%), 0 failed, coverage 77.7% (min 75%)")
    assert unit.measurements["coverage_percent"] == 77.77
    assert (artifact.status, artifact.summary) == (
        Status.FAIL, "coverage 77.7% (min 90%): coverage below the 90% minimum")
    assert artifact.evidence["coverage"]["file"] == str(project / "artifacts/lcov.info")
    assert not (elsewhere / "out").exists()
