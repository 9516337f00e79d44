"""A run with every string it carries passed through the redactor: renderers format only this
copy, so a secret the runner missed still cannot reach a report."""

from __future__ import annotations

from dataclasses import replace

from checks.redact import Redactor
from checks.results import RunResult

__all__ = ["redact_run"]


def redact_run(run: RunResult, redactor: Redactor) -> RunResult:
    def text(value: str | None) -> str | None:
        return redactor.redact(value) if value else value

    results = tuple(r.with_changes(
        check_id=redactor.redact(r.check_id), name=redactor.redact(r.name),
        category=redactor.redact(r.category), kind=redactor.redact(r.kind),
        summary=redactor.redact(r.summary), details=redactor.redact(r.details),
        measurements=redactor.redact_obj(r.measurements),
        evidence=redactor.redact_obj(r.evidence),
        tags=tuple(redactor.redact(t) for t in r.tags)) for r in run.results)
    return replace(run, suite=redactor.redact(run.suite),
                   environment=redactor.redact(run.environment),
                   version=text(run.version), trigger=text(run.trigger),
                   version_from=text(run.version_from),
                   categories=tuple(redactor.redact(c) for c in run.categories),
                   results=results)
