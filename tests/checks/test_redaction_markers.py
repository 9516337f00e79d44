"""What a redaction marker may say about a secret: a key's public kind marker (`sk_test_`,
`xoxb-`, `AKIA` ...) when it has one, and its length; of any other secret, only the length,
never its first characters."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, quote_plus

import pytest

from checks.redact import Redactor
from checks.report import render_json, render_junit, render_markdown
from checks.results import RunResult, Status
from checks.secrets import Secret, describe_secret
from tests.checks.report.runs import FINISHED, STARTED, result

# Built at run time so that no secret-shaped literal is committed; `/`, `+` and `@` make the
# URL-encoded forms differ from the raw value.
UNKNOWN = "hunter" + "2/Q7v+Zp@x" * 3  # no known prefix: nothing of it may show
AWS_KEY_ID = "AK" + "IA" + "Q3EGRT7XKZ4M2PJB"


@pytest.mark.parametrize(("value", "prefix"), [
    (AWS_KEY_ID, "AKIA"),
    ("AS" + "IA" + "Q3EGRT7XKZ4M2PJB", "ASIA"),
    ("gh" + "p_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8", "ghp_"),
    ("github_" + "pat_" + "11ABCDEFG0123456789_abcdefghij", "github_pat_"),
    ("xa" + "pp-" + "1-A0123456789-0123456789-abcdef", "xapp-"),
    ("xo" + "xb-" + "123456789012-abcdefABCDEF", "xoxb-"),
    ("rk" + "_live_" + "0123456789abcdef", "rk_live_"),
])
def test_a_known_kind_marker_is_kept_and_nothing_after_it(value: str, prefix: str) -> None:
    redacted = Redactor([value]).redact(f"key={value}")

    assert redacted == f"key=[redacted {prefix}…({len(value)} chars)]"
    assert value.removeprefix(prefix)[:3] not in redacted


@pytest.mark.parametrize("value", [
    UNKNOWN,
    "sk-" + "0123456789abcdefghijklmnop",  # looks like a key, but `sk-` is no listed marker
    "ak" + "ia" + "lowercase-is-not-aws-0123",  # prefixes are matched exactly
    "postgres-password-1234",
])
def test_a_secret_of_no_known_kind_shows_only_its_length(value: str) -> None:
    redacted = Redactor([value]).redact(f"password={value}.")

    assert redacted == f"password=[redacted ({len(value)} chars)]."
    assert value[:3] not in redacted.removeprefix("password=")
    assert str(Secret(value)) == f"({len(value)} chars)"


def test_a_value_that_is_mostly_a_known_prefix_shows_no_prefix() -> None:
    # With the prefix shown, only three characters of this value would be hidden.
    assert describe_secret("wh" + "sec_" + "abc") == "(9 chars)"
    assert describe_secret("wh" + "sec_" + "abcdefgh") == "whsec_…(14 chars)"


def _run_with(canary: str) -> RunResult:
    url = f"https://api.example.test/v1?key={quote(canary, safe='')}&alt={quote_plus(canary)}"
    checks = tuple(
        result(f"check-{n}", f"Check {n}", "Auth", status,
               f"expected 200 from {url}, got 401 for {canary}",
               details=f"Authorization: Bearer {canary}\nGET {url}",
               measurements={"token": canary}, evidence={"headers": {"authorization": canary}})
        for n, status in enumerate(Status))
    return RunResult(suite="platform", environment="staging", started_at=STARTED,
                     finished_at=FINISHED, results=checks, categories=("Auth",),
                     version=canary, trigger=f"deploy with {url}")


@pytest.mark.parametrize(("canary", "marker"), [
    (UNKNOWN, f"[redacted ({len(UNKNOWN)} chars)]"),
    (AWS_KEY_ID, "[redacted AKIA…(20 chars)]"),
])
@pytest.mark.parametrize("render", [render_markdown, render_json, render_junit])
def test_reports_show_the_marker_and_no_form_of_the_canary(
        canary: str, marker: str, render: Callable[[RunResult, Redactor], str]) -> None:
    output = render(_run_with(canary), Redactor([canary]))

    hidden = canary.removeprefix("AKIA")
    for form in (canary, quote(canary, safe=""), quote(canary), quote_plus(canary), hidden,
                 quote(hidden, safe="")):
        assert output.count(form) == 0, form
    assert output.count(UNKNOWN[:8]) == 0
    assert marker.removeprefix("[").removesuffix("]") in output.replace("\\", "")
