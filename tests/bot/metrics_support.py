"""Reading a `/metrics` exposition in the metrics tests (not a test module): parsed with
prometheus_client's own parser, looked up by name and labels, and scanned for identifiers
that must never be a label (run ids, Slack user ids)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

__all__ = ["Exposition", "read_exposition", "scrape"]

_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.I)
_SLACK_USER = re.compile(r"\b[UW][A-Z0-9]{8,}\b")


@dataclass(frozen=True)
class Exposition:
    text: str
    samples: tuple[Sample, ...]

    def value(self, name: str, **labels: str) -> float | None:
        """The sum of `name`'s samples whose labels include `labels`; None when none has."""
        found = [s.value for s in self.samples
                 if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
        return sum(found) if found else None

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def identifiers_in_labels(self) -> list[tuple[str, str, str]]:
        """(sample, label, value) of every label value that looks like a run or user id."""
        return [(s.name, key, value) for s in self.samples for key, value in s.labels.items()
                if _UUID.search(value) or _SLACK_USER.search(value)]


def read_exposition(text: str) -> Exposition:
    return Exposition(text, tuple(sample for family in text_string_to_metric_families(text)
                                  for sample in family.samples))


def scrape(url: str, *, timeout_s: float = 5.0) -> tuple[Exposition, float, httpx.Response]:
    """GET `url`: the exposition, how long the answer took (s), and the response."""
    with httpx.Client(timeout=timeout_s) as client:
        started = time.monotonic()
        response = client.get(url)
        took = time.monotonic() - started
    assert response.status_code == 200, response.text
    return read_exposition(response.text), took, response
