from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace

from checks.redact import Redactor
from checks.report import render_junit
from tests.checks.report.runs import HEALTH, SCHEMA, failing_run, passing_run


def _cases(root: ET.Element) -> dict[str, ET.Element]:
    return {case.attrib["name"]: case for case in root.iter("testcase")}


def test_one_testsuite_per_category_with_counts() -> None:
    root = ET.fromstring(render_junit(failing_run(), Redactor()))
    assert root.tag == "testsuites"
    assert root.attrib == {"name": "platform", "tests": "5", "failures": "1", "errors": "1",
                           "skipped": "1", "time": "12.340"}
    suites = root.findall("testsuite")
    assert [s.attrib for s in suites] == [
        {"name": SCHEMA, "tests": "2", "failures": "1", "errors": "0", "skipped": "0",
         "time": "0.076", "timestamp": "2025-10-28T21:37:04"},
        {"name": HEALTH, "tests": "3", "failures": "0", "errors": "1", "skipped": "1",
         "time": "1.740", "timestamp": "2025-10-28T21:37:04"},
    ]
    properties = {p.attrib["name"]: p.attrib["value"]
                  for p in suites[0].find("properties").iter("property")}
    assert properties == {"environment": "staging", "version": "week-2-complete",
                          "trigger": "deploy by @ana"}


def test_each_status_becomes_its_junit_element() -> None:
    cases = _cases(ET.fromstring(render_junit(failing_run(), Redactor())))
    assert list(cases) == ["Billing tables exist [db.tables]", "API key hash column [db.key-hash]",
                           "Health endpoint [health]", "Health latency [health.latency]",
                           "Pods ready [pods]"]

    passed = cases["Billing tables exist [db.tables]"]
    assert passed.attrib == {"classname": f"platform.{SCHEMA}",
                             "name": "Billing tables exist [db.tables]", "time": "0.045"}
    assert [child.tag for child in passed] == ["properties"]  # its measurements, nothing else

    failure = cases["API key hash column [db.key-hash]"].find("failure")
    assert failure is not None
    assert failure.attrib == {"message": "expected column api_keys.key_hash, got no such column",
                              "type": "fail"}
    assert failure.text == "columns of api_keys:\n  id (bigint)\n  name (text)\n"

    error = cases["Health endpoint [health]"].find("error")
    assert error is not None
    assert error.attrib["message"] == "connection refused: 127.0.0.1:4000 [errno 111]"

    warned = cases["Health latency [health.latency]"]
    assert [child.tag for child in warned if child.tag != "properties"] == ["system-out"]
    assert warned.findtext("system-out") == "WARNING: expected latency_ms < 100, got 240"

    skipped = cases["Pods ready [pods]"].find("skipped")
    assert skipped is not None
    assert skipped.attrib == {"message": "skipped: depends on 'health', which could not run"}


def test_passing_run_has_no_failure_elements() -> None:
    root = ET.fromstring(render_junit(passing_run(), Redactor()))
    assert root.attrib["failures"] == "0" and root.attrib["errors"] == "0"
    assert root.find(".//failure") is None and root.find(".//error") is None


def test_control_characters_xml_cannot_hold_are_stripped() -> None:
    run = failing_run()
    dirty = "bad\x00byte\x1b[31m\x0bend\ufffe"
    run = replace(run, results=tuple(
        r.with_changes(summary=dirty, details=f"line\x01\n{dirty}", name=f"n\x02{r.name}")
        for r in run.results))
    text = render_junit(run, Redactor())
    root = ET.fromstring(text)  # would raise on an invalid character
    failure = root.find(".//failure")
    assert failure is not None
    assert failure.attrib["message"] == "badbyte[31mend"
    assert failure.text == "line\nbadbyte[31mend"
    assert "n" + "Billing tables exist [db.tables]" in _cases(root)


def test_document_starts_with_an_xml_declaration() -> None:
    text = render_junit(passing_run(), Redactor())
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites ')


def test_a_checks_measurements_are_its_testcase_properties() -> None:
    run = failing_run()
    figures = {"p95_ms": 41.2, "statuses": {"200": 98, "503": 2}, "recovered": True,
               "note": None}
    run = replace(run, results=(run.results[0].with_changes(measurements=figures),
                                *run.results[1:]))
    case = _cases(ET.fromstring(render_junit(run, Redactor())))["Billing tables exist [db.tables]"]
    assert case[0].tag == "properties"  # first, as the JUnit schema orders a testcase
    assert {p.attrib["name"]: p.attrib["value"] for p in case[0]} == {
        "p95_ms": "41.2", "statuses.200": "98", "statuses.503": "2", "recovered": "true"}
