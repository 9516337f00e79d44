"""`python -m demo`, run the way `make demo` runs it: a subprocess from the repository root,
against the machine's PostgreSQL and the demo's fake Kubernetes cluster, with its Markdown
report in tmp_path."""

from __future__ import annotations

import re
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
K8S_CHECKS = {"rollout", "pods", "stripe-secrets", "deployment-image"}
# The demo's Stripe keys are random on each start, so a test cannot know them: it looks for
# their shapes instead. A key with its prefix, or its 99-character body or its base64 (a run
# of 90+ base64 characters; the longest legitimate run, an image digest, has 64).
STRIPE_KEY = re.compile(r"[sp]k_(?:test|live)_[A-Za-z0-9]")
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/]{90,}")


def run_demo(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def check_line(report: str, check_id: str) -> str:
    """The check's line in the report's Details section."""
    marker = f"**{CHECKS[check_id]}** (`{check_id}`): "
    (line,) = [line for line in report.splitlines() if marker in line]
    return line


def assert_no_stripe_key(*texts: str) -> None:
    for text in texts:
        assert STRIPE_KEY.findall(text) == []
        assert LONG_TOKEN.findall(text) == []


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


def test_demo_runs_the_kubernetes_checks_against_its_fake_cluster_without_printing_a_key(
        tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--report", str(report), "--database-url", PG_ADMIN_DSN)

    assert process.returncode == 0, process.stdout + process.stderr
    assert K8S_CHECKS <= set(CHECKS)
    (served,) = [line for line in process.stdout.splitlines()
                 if line.startswith("demo: fake Kubernetes API serving at http://127.0.0.1:")]
    kubeconfig = Path(served.split("KUBECONFIG=", 1)[1])
    assert not kubeconfig.exists()  # it holds the fake's token: removed with its directory
    text = report.read_text(encoding="utf-8")
    assert check_line(text, "rollout").startswith(
        "- ✅ **Rollout complete** (`rollout`): deployment staging-rsolv-platform rolled out: "
        "2/2 replicas updated, ready and available (")
    assert check_line(text, "pods").startswith(
        "- ✅ **Pod status** (`pods`): 2/2 pods Running and Ready, 0 restarts, oldest started ")
    assert check_line(text, "stripe-secrets").startswith(
        "- ✅ **Stripe secrets configuration** (`stripe-secrets`): secret staging-rsolv-secrets: "
        "2/2 keys present, every rule holds (")
    assert check_line(text, "deployment-image").startswith(
        "- ✅ **Deployed image** (`deployment-image`): ghcr.io/rsolv-dev/rsolv-platform:staging "
        "(tag staging, digest sha256:ba90b579883e) on 2/2 pods (")
    assert "] ✓ PASS  Stripe secrets configuration [stripe-secrets]: " in process.stdout
    assert_no_stripe_key(process.stdout, process.stderr, text)


def test_live_stripe_key_in_staging_fails_the_secret_check_without_printing_it(
        tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--degrade", "live-stripe-key", "--report", str(report),
                       "--database-url", PG_ADMIN_DSN)

    assert process.returncode == 1, process.stdout + process.stderr
    assert " with live-stripe-key degraded" in process.stdout
    text = report.read_text(encoding="utf-8")
    assert check_line(text, "stripe-secrets").startswith(
        "- ❌ **Stripe secrets configuration** (`stripe-secrets`): secret staging-rsolv-secrets: "
        "key stripe-api-key fails rule prefix (expected sk_test\\_) (")
    # What the result may say about a key: its name, presence, length and the failed rule.
    assert "  stripe-api-key: present, 107 chars, fails prefix (expected sk_test_)\n" in text
    failed = {check_id for check_id in CHECKS if check_line(text, check_id).startswith("- ❌ ")}
    assert failed == {"stripe-secrets"}
    assert_no_stripe_key(process.stdout, process.stderr, text)


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
    assert (f"**Overall result**: ❌ **SMOKE TESTS FAILED: 1 of {len(CHECKS)} checks "
            f"failed**") in text
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
    for check_id in set(CHECKS) - DATABASE_CHECKS:  # the HTTP and k8s checks ran, and passed
        assert check_line(text, check_id).startswith("- ✅ "), check_id
    assert (f"**Overall result**: ❌ **SMOKE TESTS FAILED: 1 of {len(CHECKS)} checks failed "
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
        "(choose from 'anthropic', 'openai', 'openrouter', 'database', 'live-stripe-key')")
    assert "Traceback" not in process.stderr
    assert not report.exists()
