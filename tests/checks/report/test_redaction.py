"""A reporter must never be the leak: a canary secret planted in every field of a run that was
NOT redacted beforehand must not appear in any reporter's output, raw or URL-encoded."""

from __future__ import annotations

import io
from urllib.parse import quote, quote_plus

import pytest
from rich.console import Console

from checks.config import CheckSpec
from checks.kinds.base import CheckKind, KindParams
from checks.plan import PlannedCheck
from checks.redact import Redactor
from checks.report import (
    TerminalProgress,
    render_json,
    render_junit,
    render_markdown,
    render_summary,
)
from checks.results import RunResult, Severity, Status
from checks.runner import CheckFinished, CheckStarted
from tests.checks.report.runs import FINISHED, STARTED, result

# Built at run time so that no secret-shaped literal is committed; `/` and `+` make its
# URL-encoded forms differ from the raw value.
BODY = "Q7v/x+Zp" * 3
CANARY = "sk_" + "live_" + BODY


class _Leaky:
    """An evidence value whose text is the secret: only a redaction after `str()` stops it."""

    def __str__(self) -> str:
        return CANARY


def _forms() -> list[str]:
    return [CANARY, quote(CANARY, safe=""), quote(CANARY), quote_plus(CANARY), BODY,
            quote(BODY, safe="")]


def _canary_run() -> RunResult:
    url = f"https://api.example.test/v1?key={quote(CANARY, safe='')}&alt={quote_plus(CANARY)}"
    results = tuple(
        result(f"check-{n}", f"Check {n} {CANARY}", f"Category {CANARY}", status,
               f"expected 200 from {url}, got 401 for {CANARY}",
               kind=f"http {CANARY}", severity=Severity.CRITICAL,
               details=f"Authorization: Bearer {CANARY}\nGET {url}\n```{CANARY}```",
               measurements={f"m_{CANARY}": CANARY, "url": url},
               evidence={"headers": [{"authorization": CANARY}], CANARY: (url, _Leaky())},
               tags=(CANARY,), duration_s=0.1, attempts=2)
        for n, status in enumerate(Status))
    return RunResult(suite=f"suite {CANARY}", environment=f"env {CANARY}", started_at=STARTED,
                     finished_at=FINISHED, results=results,
                     categories=(f"Category {CANARY}",), version=CANARY,
                     trigger=f"deploy with {url}")


def _redactor() -> Redactor:
    return Redactor([CANARY])


def _terminal_output(*, live: bool) -> str:
    console = Console(file=io.StringIO(), record=True, width=120, force_terminal=live,
                      force_interactive=live)
    run = _canary_run()
    redactor = _redactor()
    with TerminalProgress(console, len(run.results), f"env {CANARY}",
                          redactor=redactor) as progress:
        for n, check in enumerate(run.results, 1):
            spec = CheckSpec(id=check.check_id, name=check.name, type="http")
            progress.on_event(CheckStarted(PlannedCheck(
                spec=spec, category=check.category, kind=CheckKind(), params=KindParams(),
                timeout=5.0, retries=0, retry_backoff=0.5)))
            progress.on_event(CheckFinished(check, n, len(run.results)))
    render_summary(run, console, redactor)
    return console.export_text() + console.file.getvalue()  # type: ignore[attr-defined]


RENDERERS = {
    "markdown": lambda: render_markdown(_canary_run(), _redactor(),
                                        descriptions={"check-0": f"uses {CANARY}"}),
    "json": lambda: render_json(_canary_run(), _redactor()),
    "junit": lambda: render_junit(_canary_run(), _redactor()),
    "terminal": lambda: _terminal_output(live=False),
    "live terminal": lambda: _terminal_output(live=True),
}


@pytest.mark.parametrize("renderer", list(RENDERERS))
def test_canary_secret_never_appears_in_output(renderer: str) -> None:
    output = RENDERERS[renderer]()
    for form in _forms():
        assert output.count(form) == 0, f"{renderer} leaked {form!r}"
    assert "redacted sk_live_…(32 chars)" in output  # the canary's fields were really rendered


def test_canary_is_really_in_the_run_the_renderers_receive() -> None:
    # Without the secret registered, the same run shows it: the test above can fail.
    assert CANARY in render_json(_canary_run(), Redactor())
    assert CANARY in render_markdown(_canary_run(), Redactor())
