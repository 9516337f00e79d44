"""`python -m demo`, run the way `make demo` runs it: a subprocess from the repository root,
against the machine's PostgreSQL, with its Markdown report in tmp_path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN

REPO = Path(__file__).resolve().parents[2]
SUITE = yaml.safe_load((REPO / "demo" / "smoketest.yaml").read_text(encoding="utf-8"))
CHECKS = {check["id"]: check["name"] for category in SUITE["categories"]
          for check in category["checks"]}
DATABASE_CHECKS = {"db-connect", "billing-tables", "api-key-hash-column",
                   "customer-billing-columns", "customer-defaults"}


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def check_line(report: str, check_id: str) -> str:
    """The check's line in the report's Details section."""
    marker = f"**{CHECKS[check_id]}** (`{check_id}`): "
    (line,) = [line for line in report.splitlines() if marker in line]
    return line


def test_demo_passes_every_check_and_writes_the_report(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--report", str(report), "--database-url", PG_ADMIN_DSN)

    assert process.returncode == 0, process.stdout + process.stderr
    assert f"wrote {report}" in process.stdout
    text = report.read_text(encoding="utf-8")
    assert f"**Overall result**: ✅ **SMOKE TESTS PASSED: all {len(CHECKS)} checks passed**" in text
    for check_id in CHECKS:
        assert check_line(text, check_id).startswith("- ✅ "), check_id
    assert "Traceback" not in process.stderr


def test_degraded_provider_fails_the_demo_and_names_the_failure(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--degrade", "openai", "--report", str(report),
                       "--database-url", PG_ADMIN_DSN)

    assert process.returncode == 1, process.stdout + process.stderr
    assert "demo: target serving at http://127.0.0.1:" in process.stdout
    assert " with openai degraded" in process.stdout
    text = report.read_text(encoding="utf-8")
    assert check_line(text, "health").startswith(
        '- ❌ **Health endpoint** (`health`): status: expected "healthy", got "degraded"; '
        'services.ai_providers.openai: expected "healthy", got "degraded" (')
    assert "**Overall result**: ❌ **SMOKE TESTS FAILED: 1 of 8 checks failed**" in text
    # Only the health check: what depends on it (the onboarding flow) needs no AI provider.
    failed = {check_id for check_id in CHECKS if check_line(text, check_id).startswith("- ❌ ")}
    assert failed == {"health"}


def test_unreachable_database_skips_the_database_checks_with_the_reason(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"
    port = free_port()  # nothing listens there

    process = run_demo("--report", str(report),
                       "--database-url", f"postgresql://postgres@127.0.0.1:{port}/postgres")

    # The connect check could not run: that fails the run, as the suite says it must.
    assert process.returncode == 1, process.stdout + process.stderr
    assert process.stderr.startswith("demo: PostgreSQL is not reachable (")
    assert process.stderr.endswith("the database checks will be skipped\n")
    assert "Traceback" not in process.stderr
    text = report.read_text(encoding="utf-8")
    # The reason names the server that was asked for, not some stand-in address.
    assert check_line(text, "db-connect").startswith(
        f"- ⛔ **Database reachable** (`db-connect`): cannot connect to PostgreSQL at "
        f"127.0.0.1:{port}: connection refused")
    for check_id in ("billing-tables", "api-key-hash-column", "customer-billing-columns"):
        assert check_line(text, check_id).endswith(
            "skipped: depends on 'db-connect', which could not run"), check_id
    assert check_line(text, "customer-defaults").endswith(
        "skipped: depends on 'billing-tables', which was skipped")
    for check_id in set(CHECKS) - DATABASE_CHECKS:  # the HTTP checks still ran, and passed
        assert check_line(text, check_id).startswith("- ✅ "), check_id
    assert ("**Overall result**: ❌ **SMOKE TESTS FAILED: 1 of 8 checks failed "
            "(1 could not run)**") in text


def test_database_url_that_is_not_a_dsn_is_a_usage_error(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--report", str(report), "--database-url", "not-a-dsn")

    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        'python -m demo: error: argument --database-url: missing "=" after "not-a-dsn" in '
        "connection info string; expected a URL such as "
        "postgresql://postgres@127.0.0.1:5432/postgres")
    assert "Traceback" not in process.stderr
    assert not report.exists()


def test_unknown_component_to_degrade_is_a_usage_error(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--degrade", "gemini", "--report", str(report))

    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        "python -m demo: error: argument --degrade: invalid choice: 'gemini' "
        "(choose from 'anthropic', 'openai', 'openrouter', 'database')")
    assert "Traceback" not in process.stderr
    assert not report.exists()
