"""The stripe.* kinds as a suite uses them, for their tests: a suite file with the key in a
secret (read from an environment variable), planned, run by the real runner against a
`StripeFake` on loopback, and rendered in every report format; plus canary keys and a count
of the forms a key could leak in.

    run = await run_stripe_suite(tmp_path, monkeypatch, api_base, key=TEST_KEY,
                                 checks=[{"id": "key", "type": "stripe.account"}])
    run.check.status, run.reports["markdown"]
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import pytest
import yaml
from rich.console import Console

from checks.config import load_suite
from checks.kinds import load_kind
from checks.kinds.base import CheckContext
from checks.plan import build_plan
from checks.redact import Redactor
from checks.report import render_json, render_junit, render_markdown, render_summary
from checks.results import CheckResult, Outcome, RunResult
from checks.runner import run_plan

__all__ = [
    "KEY_VARIABLE", "LIVE_KEY", "RESTRICTED_KEY", "StripeRun", "TEST_KEY", "WRONG_KEY",
    "leaks", "run_kind", "run_stripe_suite", "stripe_context",
]

# Canaries: each must appear nowhere a run writes. Split: not keys to secret scanners.
TEST_KEY = "sk_" + "test_CANARYtest51Hx9q2Lm8Zr4TwQab"
LIVE_KEY = "sk_" + "live_CANARYlive51Hx9q2Lm8Zr4TwQcd"
RESTRICTED_KEY = "rk_" + "test_CANARYrestr51Hx9q2Lm8Zr4Twef"
WRONG_KEY = "sk_" + "test_CANARYwrong51Hx9q2Lm8Zr4Twgh"
KEY_VARIABLE = "SMOKEBOT_TEST_STRIPE_KEY"


def leaks(text: str, key: str) -> int:
    """How often the key, its URL-encoded forms or its secret part (everything after the
    public prefix) occur in `text`."""
    forms = {key, quote(key, safe=""), quote_plus(key), key[8:]}
    return sum(text.count(form) for form in forms)


@dataclass(frozen=True)
class StripeRun:
    run: RunResult
    redactor: Redactor
    reports: dict[str, str]

    @property
    def check(self) -> CheckResult:
        return self.run.results[0]

    def everything(self) -> str:
        """Every result field and every report, as one text to count leaks in."""
        fields = [str([r.summary, r.details, r.measurements, r.evidence])
                  for r in self.run.results]
        return "\n".join([*fields, *self.reports.values()])


async def run_stripe_suite(directory: Path, monkeypatch: pytest.MonkeyPatch, api_base: str, *,
                           key: str, checks: list[dict[str, Any]],
                           variables: dict[str, Any] | None = None,
                           defaults: dict[str, Any] | None = None) -> StripeRun:
    """Writes a suite whose checks read `key` from `${secrets.stripe_key}` and talk to
    `api_base`, runs it in environment `staging` and renders every report."""
    monkeypatch.setenv(KEY_VARIABLE, key)
    specs = [{"key": "${secrets.stripe_key}", "api_base": api_base, **check}
             for check in checks]
    document = {
        "suite": "rsolv-platform",
        "defaults": {"timeout": "10s", **(defaults or {})},
        "environments": {"staging": {"variables": dict(variables or {}),
                                     "secrets": {"stripe_key": {"env": KEY_VARIABLE}}}},
        "categories": [{"name": "Billing", "checks": specs}],
    }
    path = directory / "smoketest.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    plan = build_plan(load_suite(path), "staging")
    run = await run_plan(plan)
    console = Console(file=io.StringIO(), record=True, width=200)
    render_summary(run, console, plan.redactor)
    reports = {"markdown": render_markdown(run, plan.redactor),
               "json": render_json(run, plan.redactor),
               "junit": render_junit(run, plan.redactor), "terminal": console.export_text()}
    return StripeRun(run, plan.redactor, reports)


def stripe_context(*, redactor: Redactor | None = None, **variables: Any) -> CheckContext:
    return CheckContext(environment="staging", redactor=redactor or Redactor(),
                        variables=variables)


async def run_kind(kind: str, params: dict[str, Any], ctx: CheckContext | None = None) -> Outcome:
    """One stripe.* check, its parameters validated as the suite loader does."""
    check = load_kind(kind)
    return await check.run(check.Params.model_validate(params), ctx or stripe_context())
