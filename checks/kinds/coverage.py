"""Reads the line coverage a test run measured, from whichever of three common reports it wrote:
Cobertura XML (coverage.py `coverage xml`, pytest-cov, jest's cobertura reporter, excoveralls'
xml), coverage.py JSON (`coverage json`) and lcov (`lcov.info`: jest, c8, excoveralls, genhtml).

The format is told by the content, not the file name: a report's name is whatever the tool was
told to write (`coverage.xml` holding lcov is a mistake easily made). Only the totals are read:
Cobertura's root element (the rest of a 50 MB file is never parsed), coverage.py's `totals`,
lcov's LF/LH sums.

XML is read with expat and no DTD processing beyond what expat must: an entity declaration
(the billion-laughs kind) is refused before it is expanded, and no external entity is loaded.

Every problem is a CheckError naming the path and the formats that were tried.
"""

from __future__ import annotations

import json
import math
import re
import xml.parsers.expat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from checks.errors import CheckError

__all__ = ["FORMATS_TRIED", "CoverageReport", "format_percent", "parse_coverage",
           "read_coverage"]

FORMATS_TRIED = "Cobertura XML, coverage.py JSON or lcov"
MAX_BYTES = 256 * 1024 * 1024  # a report larger than this is not one a test run wrote
XML_PROLOG_BYTES = 1024 * 1024  # the root element comes before this, or the file is not a report
_LCOV_RECORD = re.compile(r"^(?:TN|SF|FN|FNDA|FNF|FNH|DA|BRDA|BRF|BRH|LF|LH):|^end_of_record\s*$",
                          re.MULTILINE)


@dataclass(frozen=True)
class CoverageReport:
    """The totals of one coverage report. `covered`/`valid` are lines, when the format says."""

    path: str
    format: str  # "Cobertura XML", "coverage.py JSON", "lcov"
    percent: float  # 0..100
    covered: int | None = None
    valid: int | None = None

    @property
    def shown(self) -> str:
        """`83.4%`: rounded down, so a value shown as 80.0% never fails a minimum of 80."""
        return format_percent(self.percent)


def format_percent(value: float) -> str:
    return f"{math.floor(value * 10 + 1e-9) / 10:.1f}%"


def _error(path: str, reason: str) -> CheckError:
    return CheckError(f"cannot read coverage from {path}: {reason}; expected {FORMATS_TRIED}")


def read_coverage(path: Path) -> CoverageReport:
    """The report at `path`, its format told by its content. Blocking: run it in a thread."""
    shown = str(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise CheckError(f"no coverage file at {shown} (expected {FORMATS_TRIED}); check the "
                         f"path, and that the command writes its coverage report there") from None
    except OSError as exc:
        raise _error(shown, exc.strerror or str(exc)) from None
    if path.is_dir():
        raise _error(shown, "it is a directory (point `file` at the report inside it)")
    if size > MAX_BYTES:
        raise _error(shown, f"the file has {size} bytes, more than the {MAX_BYTES} read")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(shown, exc.strerror or str(exc)) from None
    return parse_coverage(data, shown)


def parse_coverage(data: bytes, path: str) -> CoverageReport:
    """The report in `data` (the content of `path`, named in errors)."""
    start = data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    if not start:
        raise _error(path, "the file is empty")
    if start == b"{":
        return _coverage_py_json(data, path)
    if start == b"<":
        return _cobertura(data, path)
    text = data.decode("utf-8", errors="replace")
    if _LCOV_RECORD.search(text):
        return _lcov(text, path)
    raise _error(path, "its content is none of these (no JSON object, no XML, no lcov SF:/LF:/LH: "
                       "records)")


# ------------------------------------------------------------------------------ coverage.py JSON

def _coverage_py_json(data: bytes, path: str) -> CoverageReport:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise _error(path, f"it starts like JSON but is not valid JSON ({exc})") from None
    totals = document.get("totals") if isinstance(document, dict) else None
    percent = totals.get("percent_covered") if isinstance(totals, dict) else None
    if not _is_number(percent) or not 0 <= percent <= 100:
        raise _error(path, "it is JSON but not a coverage.py report (no totals.percent_covered "
                           "between 0 and 100; write it with `coverage json`)")
    assert isinstance(totals, dict)
    covered, valid = totals.get("covered_lines"), totals.get("num_statements")
    lines = isinstance(covered, int) and isinstance(valid, int)
    return CoverageReport(path, "coverage.py JSON", float(percent),
                          covered if lines else None, valid if lines else None)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ------------------------------------------------------------------------------ Cobertura XML

class _Refused(Exception):
    pass


class _RootFound(Exception):
    def __init__(self, tag: str, attributes: dict[str, str]) -> None:
        super().__init__(tag)
        self.tag = tag
        self.attributes = attributes


def _root_element(data: bytes, path: str) -> tuple[str, dict[str, str]]:
    """The first element's name and attributes; parsing stops there."""
    parser = xml.parsers.expat.ParserCreate()

    def refuse_entities(*args: object) -> None:
        raise _Refused("the XML declares entities, which no coverage report does (refused, so "
                       "that an entity bomb is never expanded)")

    def found(tag: str, attributes: dict[str, str]) -> None:
        raise _RootFound(tag, attributes)

    parser.EntityDeclHandler = refuse_entities
    parser.UnparsedEntityDeclHandler = refuse_entities
    parser.ExternalEntityRefHandler = lambda *args: 0  # never loaded: reported as an error
    parser.StartElementHandler = found
    prolog = data[:XML_PROLOG_BYTES]
    try:
        parser.Parse(prolog, len(prolog) == len(data))
    except _RootFound as root:
        return root.tag, root.attributes
    except _Refused as exc:
        raise _error(path, str(exc)) from None
    except xml.parsers.expat.ExpatError as exc:
        raise _error(path, f"it starts like XML but is not valid XML ({exc})") from None
    raise _error(path, "no XML element in its first "
                       f"{min(len(data), XML_PROLOG_BYTES)} bytes")


def _cobertura(data: bytes, path: str) -> CoverageReport:
    tag, attributes = _root_element(data, path)
    if tag != "coverage":
        raise _error(path, f"it is XML but not Cobertura: its root element is <{tag}>, expected "
                           f"<coverage line-rate=...>")
    covered = _whole(attributes.get("lines-covered"))
    valid = _whole(attributes.get("lines-valid"))
    if covered is not None and valid and covered <= valid:
        return CoverageReport(path, "Cobertura XML", covered * 100 / valid, covered, valid)
    try:
        rate = float(attributes.get("line-rate", ""))
    except ValueError:
        rate = math.nan
    if not 0 <= rate <= 1:
        raise _error(path, "it is Cobertura XML without a usable line coverage (expected "
                           "line-rate between 0 and 1, or lines-covered and lines-valid, on "
                           "<coverage>)")
    return CoverageReport(path, "Cobertura XML", rate * 100, covered, valid)


def _whole(value: str | None) -> int | None:
    if value is None or not value.strip().isdigit():
        return None
    return int(value)


# ------------------------------------------------------------------------------ lcov

def _lcov(text: str, path: str) -> CoverageReport:
    found = hit = 0
    counted = False  # LF/LH lines seen
    lines_seen: dict[int, int] = {}  # DA:<line>,<hits> of the current record, when LF/LH lack
    da_found = da_hit = 0
    for raw in text.splitlines():
        line = raw.strip()
        key, _, value = line.partition(":")
        if key in ("LF", "LH"):
            number = _whole(value)
            if number is None:
                raise _error(path, f"it is lcov with a malformed line {line!r} (expected "
                                   f"{key}:<number>)")
            counted = True
            if key == "LF":
                found += number
            else:
                hit += number
        elif key == "DA":
            parts = value.split(",")
            try:
                number, hits = int(parts[0]), int(parts[1])
            except (IndexError, ValueError):
                raise _error(path, f"it is lcov with a malformed line {line!r} (expected "
                                   f"DA:<line>,<hits>)") from None
            if hits >= 0:  # some tools write -1 for a line that was not instrumented
                lines_seen[number] = max(lines_seen.get(number, 0), hits)
        elif line == "end_of_record":
            da_found += len(lines_seen)
            da_hit += sum(1 for count in lines_seen.values() if count > 0)
            lines_seen = {}
    da_found += len(lines_seen)
    da_hit += sum(1 for count in lines_seen.values() if count > 0)
    if not counted:  # a report without the summary lines still lists each line's hits
        found, hit = da_found, da_hit
    if found == 0:
        raise _error(path, "it is lcov, but counts no lines (LF: 0 or no records): did the "
                           "tests run with coverage on?")
    if hit > found:
        raise _error(path, f"it is lcov with more lines hit ({hit}) than found ({found})")
    return CoverageReport(path, "lcov", hit * 100 / found, hit, found)
