"""The version a run reports when its trigger names none: read from one check's outcome, where
the suite's `version: {from: <check id>, path: <path>}` says."""

from __future__ import annotations

import json
from typing import Any

from checks.assertions import found_values
from checks.config import VersionSource
from checks.results import Outcome

__all__ = ["MAX_VERSION_CHARS", "read_version"]

MAX_VERSION_CHARS = 200  # a version is a label, not a document


def read_version(source: VersionSource, outcome: Outcome) -> str | None:
    """The first value at `source.path` in what the check read whole (an HTTP JSON body), else
    in its measurements, else in its evidence; None when none holds one."""
    for data in (outcome.document, outcome.measurements, outcome.evidence):
        for value in found_values(data, source.path) if data is not None else ():
            text = _as_label(value)
            if text:
                return text
    return None


def _as_label(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None  # `null` or `true` is no version: keep looking
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False,
                                                           default=str)
    text = " ".join(text.split())
    if len(text) > MAX_VERSION_CHARS:
        text = text[:MAX_VERSION_CHARS - 1] + "…"
    return text or None
