"""The JUnit XML report, for CI systems that show test results: one <testsuite> per category,
one <testcase> per check. A warning passes (it does not fail the run) and says so in
<system-out>.

A flaky or slow check is a passed <testcase> too (no <failure>: every consumer counts it as
passed, as the run's verdict does) that says what it is in <system-out>, the first line
`FLAKY: ...` or `SLOW: ...`: Jenkins shows a passed test's standard output on its page (GitLab
shows output for failed tests only). A flaky one also carries one <flakyFailure> per failed
attempt, the element Maven Surefire and Gradle write for a test that passed on a rerun, which
rerun-aware tools (Jenkins' Flaky Test Handler plugin) list as flaky and the others (GitLab,
Jenkins' JUnit plugin) ignore. The test's name is the same whatever its status, so a CI's
history of the test is kept."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

from checks.redact import Redactor
from checks.report._redact import redact_run
from checks.report._summary import failed_attempts, grouped, remark
from checks.report._text import as_utc
from checks.results import CheckResult, RunResult, Status

__all__ = ["render_junit"]

# XML 1.0 cannot hold these at all, not even as character references.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _seconds(value: float) -> str:
    return f"{max(value, 0.0):.3f}"


def _testcase(parent: ET.Element, suite: str, category: str, result: CheckResult) -> None:
    case = ET.SubElement(parent, "testcase", {
        "classname": _xml_text(f"{suite}.{category}"),
        "name": _xml_text(f"{result.name} [{result.check_id}]"),
        "time": _seconds(result.duration_s),
    })
    _measurements(case, result)
    summary = _xml_text(result.summary)
    details = _xml_text(result.details)
    if result.status is Status.FAIL:
        ET.SubElement(case, "failure", {"message": summary, "type": "fail"}).text = details
    elif result.status is Status.ERROR:
        ET.SubElement(case, "error", {"message": summary, "type": "error"}).text = details
    elif result.status is Status.SKIP:
        ET.SubElement(case, "skipped", {"message": summary})
    elif result.status is Status.WARN:
        lines = [f"WARNING: {summary}"]
        if details:
            lines += ["", details]
        ET.SubElement(case, "system-out").text = "\n".join(lines)
    elif result.status in (Status.FLAKY, Status.SLOW):
        _remarked(case, result)


def _measurements(case: ET.Element, result: CheckResult) -> None:
    """The check's figures (a load probe's p95, a coverage percentage) as the testcase's
    <properties>, as pytest's `record_property` writes them: nested ones dotted
    (`statuses.200`)."""
    flat = list(_flattened(result.measurements))
    if not flat:
        return
    properties = ET.SubElement(case, "properties")
    for name, value in flat:
        ET.SubElement(properties, "property", {"name": _xml_text(name),
                                               "value": _xml_text(value)})


def _flattened(values: dict[str, object], prefix: str = "") -> Iterator[tuple[str, str]]:
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _flattened(value, f"{name}.")
        elif isinstance(value, (list, tuple)):
            yield name, ", ".join(str(item) for item in value)
        elif value is not None:
            yield name, str(value).lower() if isinstance(value, bool) else str(value)


def _remarked(case: ET.Element, result: CheckResult) -> None:
    """`FLAKY: passed on attempt 2` (then what each failed attempt said) or `SLOW: 412 ms,
    over the 300 ms warn_latency`, then the summary, in <system-out>."""
    attempts = failed_attempts(result) if result.status is Status.FLAKY else []
    for text in attempts:
        ET.SubElement(case, "flakyFailure", {"message": _xml_text(text), "type": "flaky"})
    lines = [f"{result.status.value.upper()}: {_xml_text(remark(result))}"]
    lines += [f"attempt {n} failed: {_xml_text(text)}" for n, text in enumerate(attempts, 1)]
    lines += ["", _xml_text(result.summary)]
    ET.SubElement(case, "system-out").text = "\n".join(lines)


def _counts(results: list[CheckResult]) -> dict[str, str]:
    return {"tests": str(len(results)),
            "failures": str(sum(r.status is Status.FAIL for r in results)),
            "errors": str(sum(r.status is Status.ERROR for r in results)),
            "skipped": str(sum(r.status is Status.SKIP for r in results))}


def render_junit(run: RunResult, redactor: Redactor) -> str:
    safe = redact_run(run, redactor)
    # JUnit's timestamp is an xs:dateTime without a zone; ours is UTC.
    timestamp = as_utc(safe.started_at).replace(tzinfo=None).isoformat(timespec="seconds")
    root = ET.Element("testsuites", {"name": _xml_text(safe.suite),
                                     **_counts(list(safe.results)),
                                     "time": _seconds(safe.duration_s)})
    for category, results in grouped(safe):
        # Checks of a category run concurrently: its time is the sum of their durations.
        suite = ET.SubElement(root, "testsuite", {
            "name": _xml_text(category), **_counts(results),
            "time": _seconds(sum(r.duration_s for r in results)), "timestamp": timestamp})
        properties = ET.SubElement(suite, "properties")
        for name, value in (("environment", safe.environment), ("version", safe.version),
                            ("trigger", safe.trigger)):
            if value:
                ET.SubElement(properties, "property", {"name": name, "value": _xml_text(value)})
        for result in results:
            _testcase(suite, safe.suite, category, result)
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return redactor.redact(f'<?xml version="1.0" encoding="UTF-8"?>\n{body}\n')
