"""`python -m demo`, run the way `make demo` runs it: a subprocess from the repository root,
against the machine's PostgreSQL and Redis, the demo's fake Kubernetes cluster and its Stripe
emulators, with its Markdown (and JSON) report in tmp_path.

Every demo run is in this file: they share the demo database's Oban table, which each run
fills afresh, so they must not run at once (pytest-xdist's loadfile keeps a file on one
worker)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, quote_plus

from typing import Any

import pytest
import redis
import yaml

from tests.support.asgi import free_port
from tests.support.services import PG_ADMIN_DSN, redis_url

REPO = Path(__file__).resolve().parents[2]
SUITE = yaml.safe_load((REPO / "demo" / "smoketest.yaml").read_text(encoding="utf-8"))
CHECKS = {check["id"]: check["name"] for category in SUITE["categories"]
          for check in category["checks"]}
DATABASE_CHECKS = {"db-connect", "billing-tables", "api-key-hash-column",
                   "customer-billing-columns", "customer-defaults", "migrations", "stuck-jobs"}
K8S_CHECKS = {"rollout", "pods", "stripe-secrets", "deployment-image"}
BILLING = next(c for c in SUITE["categories"] if c["name"] == "Billing (Stripe)")
BILLING_CHECKS = {check["id"] for check in BILLING["checks"]}
# The Billing checks whose events the target must record in its database.
RECORDING_CHECKS = {"stripe-webhook-delivery", "stripe-subscription-flow"}
# The demo's Stripe keys are random on each start, so a test cannot know them: it looks for
# their shapes instead. A key with its prefix, or its 99-character body or its base64 (a run
# of 90+ base64 characters; the longest legitimate run, an image digest, has 64).
STRIPE_KEY = re.compile(r"[sp]k_(?:test|live)_[A-Za-z0-9]")
LONG_TOKEN = re.compile(r"[A-Za-z0-9+/]{90,}")
WEBHOOK_SECRET = re.compile(r"whsec_[A-Za-z0-9]")
# The demo's own Stripe key and signing secret and the test API key of its rate-limited
# endpoint, planted (the demo makes fresh ones when none is): the run must not show them in any
# form. Split, so that they are no secrets to a scanner.
PLANTED = {"DEMO_STRIPE_KEY": "sk_" + "test_CANARYdemo51Hx9q2Lm8Zr4TwQab7Kd0",
           "DEMO_STRIPE_WEBHOOK_SECRET": "whsec_" + "CANARYdemoSigning0123456789abcd",
           "DEMO_API_KEY": "rsk_" + "test_CANARYdemoPing5f1e9a7b3c2d4e6f"}
# What the demo breaks itself, each failing one check of the categories the staging report
# left untested.
NEW_DEGRADED = {"migrations": "migrations", "stuck-jobs": "stuck-jobs",
                "webhook-queue": "webhook-queue", "rate-limit": "rate-limit",
                "expiring-certificate": "tls-certificate"}
REDIS_PREFIX = re.compile(r"^demo: webhook queue in Redis under (smokebot-demo:[0-9a-f]{8}:)",
                          re.MULTILINE)


def run_demo(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The demo, its webhook queue in the tests' Redis unless `--redis-url` says otherwise."""
    return subprocess.run([sys.executable, "-m", "demo", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120,
                          env={**os.environ, "DEMO_REDIS_URL": redis_url(), **(env or {})})


@dataclass(frozen=True)
class DemoRun:
    process: subprocess.CompletedProcess[str]
    report_path: Path
    json_path: Path

    @property
    def report(self) -> str:
        return self.report_path.read_text(encoding="utf-8")

    @property
    def results(self) -> dict[str, dict[str, Any]]:
        """The JSON report's checks, by id."""
        document = json.loads(self.json_path.read_text(encoding="utf-8"))
        return {check["id"]: check for category in document["categories"]
                for check in category["checks"]}

    @property
    def counts(self) -> dict[str, int]:
        return json.loads(self.json_path.read_text(encoding="utf-8"))["counts"]


def run_planted_demo(directory: Path, *args: str) -> DemoRun:
    """The demo with the planted secrets, its reports in `directory`."""
    report, json_report = directory / "demo-report.md", directory / "demo-report.json"
    process = run_demo("--report", str(report), "--json", str(json_report),
                       "--database-url", PG_ADMIN_DSN, *args, env=PLANTED)
    return DemoRun(process, report, json_report)


@pytest.fixture(scope="module")
def passing_demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`make demo`, once for the tests that read a passing run."""
    return run_planted_demo(tmp_path_factory.mktemp("demo"))


def planted_forms(value: str) -> list[str]:
    """A secret as a leak could show it: whole, URL-encoded, or its part after the prefix."""
    return [value, quote(value, safe=""), quote_plus(value), value.split("_", 2)[-1]]


def check_line(report: str, check_id: str) -> str:
    """The check's line in the report's Details section."""
    marker = f"**{CHECKS[check_id]}** (`{check_id}`): "
    (line,) = [line for line in report.splitlines() if marker in line]
    return line


def assert_no_stripe_key(*texts: str) -> None:
    for text in texts:
        assert STRIPE_KEY.findall(text) == []
        assert LONG_TOKEN.findall(text) == []
        assert WEBHOOK_SECRET.findall(text) == []


def assert_no_planted_secret(run: DemoRun) -> None:
    for name, text in {"stdout": run.process.stdout, "stderr": run.process.stderr,
                       "report": run.report,
                       "JSON report": run.json_path.read_text(encoding="utf-8")}.items():
        for variable, value in PLANTED.items():
            for form in planted_forms(value):
                assert text.count(form) == 0, f"{name} shows ${variable} as {form!r}"


def test_demo_passes_every_check_and_writes_the_report(passing_demo: DemoRun) -> None:
    process = passing_demo.process

    assert process.returncode == 0, process.stdout + process.stderr
    assert f"wrote {passing_demo.report_path}" in process.stdout
    text = passing_demo.report
    assert f"**Overall result**: ✅ **SMOKE TESTS PASSED: all {len(CHECKS)} checks passed**" in text
    for check_id in CHECKS:
        assert check_line(text, check_id).startswith("- ✅ "), check_id
    assert "Traceback" not in process.stderr
    # Plain passes: nothing slow (the health check's warn_latency), flaky or near expiry.
    assert passing_demo.counts == {"total": len(CHECKS), "pass": len(CHECKS), "fail": 0,
                                   "error": 0, "skip": 0, "warn": 0, "flaky": 0, "slow": 0}


def test_demo_runs_the_checks_the_staging_report_left_untested(passing_demo: DemoRun) -> None:
    process, results = passing_demo.process, passing_demo.results

    assert process.returncode == 0, process.stdout + process.stderr
    assert [c["name"] for c in SUITE["categories"]][-2:] == ["Background Jobs",
                                                            "Load & Rate Limiting"]
    assert {check_id: results[check_id]["status"] for check_id in (
        "migrations", "stuck-jobs", "webhook-queue", "platform-tests", "tls-certificate",
        "rate-limit", "health-load")} == dict.fromkeys((
            "migrations", "stuck-jobs", "webhook-queue", "platform-tests", "tls-certificate",
            "rate-limit", "health-load"), "pass")
    assert results["migrations"]["summary"] == (
        "Ecto: 10 migrations applied, latest 20251027093000; all 10 of the release's "
        "migrations applied")
    assert results["migrations"]["evidence"]["framework"] == "ecto"
    assert results["stuck-jobs"]["summary"] == "query returned 0 rows; 1 assertion held"
    assert re.fullmatch(r"PONG in [\d.]+ms from Redis [\d.]+ \(master\), [\d.]+ [KMG]iB used; "
                        r"depths: queue:webhooks 3", results["webhook-queue"]["summary"])
    # The coverage figure is coverage.py's, of the sample project's ledger.py.
    assert results["platform-tests"]["summary"] == (
        "7/8 passed (87.50%), 1 failed (1 known), coverage 86.4% (min 80%)")
    assert results["platform-tests"]["measurements"]["coverage_percent"] == 86.48
    assert (results["platform-tests"]["evidence"]["coverage"]["lines_covered"],
            results["platform-tests"]["evidence"]["coverage"]["lines_valid"]) == (32, 37)
    assert re.fullmatch(r"TLSv1\.3, certificate expires in 90 days \(\d{4}-\d\d-\d\d\), "
                        r"issued by smokebot demo", results["tls-certificate"]["summary"])
    assert results["rate-limit"]["summary"] == (
        "throttled at request 21 of limit 20 ±1; Retry-After 2s honoured, recovered")
    load = results["health-load"]["measurements"]
    assert (load["requests_sent"], load["dropped"], load["error_rate"]) == (100, 0, 0)
    assert load["p95_ms"] < 100
    assert results["health"]["measurements"]["response_ms"] < 300  # its warn_latency


def test_demo_deletes_its_redis_keys(passing_demo: DemoRun) -> None:
    match = REDIS_PREFIX.search(passing_demo.process.stdout)
    assert match, passing_demo.process.stdout
    client = redis.Redis.from_url(redis_url())
    try:
        left = list(client.scan_iter(match=f"{match.group(1)}*"))
    finally:
        client.close()

    assert passing_demo.results["webhook-queue"]["measurements"]["depth.queue:webhooks"] == 3
    assert left == []


def test_demo_passes_the_billing_checks_against_its_stripe_emulators(
        passing_demo: DemoRun) -> None:
    process, text = passing_demo.process, passing_demo.report

    assert process.returncode == 0, process.stdout + process.stderr
    assert re.search(r"^demo: Stripe API fake serving at http://127\.0\.0\.1:\d+, localstripe "
                     r"at http://127\.0\.0\.1:\d+; webhooks to "
                     r"http://127\.0\.0\.1:\d+/webhooks/stripe$", process.stdout, re.MULTILINE)
    assert BILLING_CHECKS == {"stripe-account", "stripe-pro-price", "stripe-webhook-endpoint",
                              "stripe-subscription-flow", "stripe-webhook-delivery",
                              "stripe-events-recorded"}
    assert "| Billing (Stripe) | 6 | 6 | 0 | 0 | ✅ PASS |" in text
    assert check_line(text, "stripe-account").startswith(
        "- ✅ **Stripe key works in test mode** (`stripe-account`): test-mode secret key "
        "sk_test\\_…(40 chars) works for account acct_1SmokeFake0000AB, livemode false (")
    assert check_line(text, "stripe-pro-price").startswith(
        "- ✅ **Pro price ($599/month, 60 credits)** (`stripe-pro-price`): price "
        "price_RsolvProMonthly (lookup_key pro_monthly): active, 59900 usd per month, product "
        "prod_RsolvPro (Pro) active (")
    assert re.match(r"- ✅ \*\*Stripe webhook endpoint registered\*\* "
                    r"\(`stripe-webhook-endpoint`\): webhook endpoint we_[0-9a-f]+ for "
                    r"http://127\.0\.0\.1:\d+/webhooks/stripe: enabled, test mode, subscribes "
                    r"to 5 expected events \(",
                    check_line(text, "stripe-webhook-endpoint"))
    assert re.match(r"- ✅ \*\*Test customer subscribes to Pro, then cancels\*\* "
                    r"\(`stripe-subscription-flow`\): subscribed to pro_monthly \(status active, "
                    r"invoice paid\), canceled and deleted in \d+ ms over \d+ Stripe calls; 1 "
                    r"event type acknowledged \(", check_line(text, "stripe-subscription-flow"))
    assert re.match(r"- ✅ \*\*Signed Stripe events acknowledged, forged ones refused\*\* "
                    r"\(`stripe-webhook-delivery`\): 5 events acknowledged \(slowest \d+ ms\); "
                    r"forged events refused \(400, 400\) \(",
                    check_line(text, "stripe-webhook-delivery"))
    assert check_line(text, "stripe-events-recorded").startswith(
        "- ✅ **App recorded this run's Stripe events** (`stripe-events-recorded`): query "
        "returned 5 rows; 3 assertions held (")
    assert "] ✓ PASS  Test customer subscribes to Pro, then cancels [stripe-subscription-flow]: " \
        in process.stdout


def test_demo_shows_no_secret_of_its_own(passing_demo: DemoRun) -> None:
    assert passing_demo.process.returncode == 0
    assert_no_planted_secret(passing_demo)
    assert_no_stripe_key(passing_demo.process.stdout, passing_demo.process.stderr,
                         passing_demo.report)


def test_demo_runs_the_kubernetes_checks_against_its_fake_cluster_without_printing_a_key(
        passing_demo: DemoRun) -> None:
    process, report = passing_demo.process, passing_demo.report_path

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
    # The suite's own key, made fresh for this run (none planted), shows as its fingerprint.
    assert "test-mode secret key sk_test\\_…(107 chars) works" in check_line(text, "stripe-account")
    assert_no_stripe_key(process.stdout, process.stderr, text)


def test_degraded_stripe_webhooks_fail_the_billing_category_naming_the_event(
        tmp_path: Path) -> None:
    run = run_planted_demo(tmp_path, "--degrade", "stripe-webhooks")

    process, text = run.process, run.report
    assert process.returncode == 1, process.stdout + process.stderr
    assert re.search(r"^demo: target serving at http://127\.0\.0\.1:\d+ with stripe-webhooks "
                     r"degraded$", process.stdout, re.MULTILINE)
    assert ("] ✗ FAIL  Signed Stripe events acknowledged, forged ones refused "
            "[stripe-webhook-delivery]: invoice.payment_failed: the app answered 500; "
            "expected 2xx (") in process.stdout
    assert check_line(text, "stripe-webhook-delivery").startswith(
        "- ❌ **Signed Stripe events acknowledged, forged ones refused** "
        "(`stripe-webhook-delivery`): invoice.payment_failed: the app answered 500; "
        "expected 2xx (")
    assert "handler for invoice.payment_failed crashed" in text  # what the app said
    assert check_line(text, "stripe-events-recorded").endswith(
        "skipped: depends on 'stripe-webhook-delivery', which failed")
    assert "| Billing (Stripe) | 6 | 4 | 1 | 1 | ❌ FAIL |" in text
    assert (f"**Overall result**: ❌ **SMOKE TESTS FAILED: 1 of {len(CHECKS)} checks "
            f"failed**") in text
    failed = {check_id for check_id in CHECKS if check_line(text, check_id).startswith("- ❌ ")}
    assert failed == {"stripe-webhook-delivery"}  # the health endpoint knows nothing of it
    assert_no_planted_secret(run)
    assert_no_stripe_key(process.stdout, process.stderr, text)


def test_degraded_release_queues_limit_and_certificate_each_fail_their_check(
        tmp_path: Path) -> None:
    degrade = [arg for component in NEW_DEGRADED for arg in ("--degrade", component)]

    run = run_planted_demo(tmp_path, *degrade)

    process, results = run.process, run.results
    assert process.returncode == 1, process.stdout + process.stderr
    assert "Traceback" not in process.stderr
    assert " with rate-limit degraded" in process.stdout
    assert ("demo: Oban jobs and Ecto migrations in database smokebot_demo, schema demo_billing "
            "with migrations, stuck-jobs degraded") in process.stdout
    failed = {check_id for check_id, result in results.items() if result["status"] != "pass"}
    assert failed == set(NEW_DEGRADED.values())
    assert {results[check_id]["status"] for check_id in failed} == {"fail"}
    assert results["migrations"]["summary"] == (
        "1 migration pending: 20251029080000_add_usage_counters_to_customers")
    assert results["stuck-jobs"]["summary"] == (
        '$: expected [], got [{"id": 6, "state": "executing", "queue": "webhooks", "worker": '
        '"Rsolv.Workers.StripeWebhookWorker", "node": "rsolv@10.42.7.12", "minutes": 42}, '
        '{"id": 7, "state": "available", "queue": "reports", "worker": '
        '"Rsolv.Workers.UsageReportWorker", "node": null, "minutes": 25}]')
    assert results["webhook-queue"]["summary"] == (
        "queue:webhooks: depth 140, expected at most 100")
    assert results["rate-limit"]["summary"] == "rate limit not enforced: 50 requests, no 429"
    assert re.fullmatch(r"certificate expires in 3 days \(\d{4}-\d\d-\d\d\), under "
                        r"min_days_left 7", results["tls-certificate"]["summary"])
    assert "| Load & Rate Limiting | 2 | 1 | 1 | 0 | ❌ FAIL |" in run.report
    assert "| Background Jobs | 2 | 0 | 2 | 0 | ❌ FAIL |" in run.report
    assert_no_planted_secret(run)


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


def test_unreachable_database_and_redis_are_reported_with_the_reason(tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"
    port, redis_port = free_port(), free_port()  # nothing listens there

    process = run_demo("--report", str(report),
                       "--database-url", f"postgresql://postgres@127.0.0.1:{port}/postgres",
                       "--redis-url", f"redis://127.0.0.1:{redis_port}/0")

    # The connect checks could not run: that fails the run, as the suite says it must.
    assert process.returncode == 1, process.stdout + process.stderr
    postgres_line, redis_line = process.stderr.splitlines()
    assert postgres_line.startswith("demo: PostgreSQL is not reachable (")
    assert postgres_line.endswith("the database checks will be skipped, and the target "
                                  "cannot record Stripe events")
    assert redis_line.startswith("demo: Redis is not reachable (")
    assert f"127.0.0.1:{redis_port}" in redis_line
    assert redis_line.endswith("the webhook queue check will report why")
    assert "Traceback" not in process.stderr
    text = report.read_text(encoding="utf-8")
    # The reason names the server that was asked for, not some stand-in address.
    assert check_line(text, "db-connect").startswith(
        f"- ⛔ **Database reachable** (`db-connect`): cannot connect to PostgreSQL at "
        f"127.0.0.1:{port}: connection refused")
    for check_id in ("billing-tables", "api-key-hash-column", "customer-billing-columns",
                     "migrations", "stuck-jobs"):
        assert check_line(text, check_id).endswith(
            "skipped: depends on 'db-connect', which could not run"), check_id
    assert check_line(text, "customer-defaults").endswith(
        "skipped: depends on 'billing-tables', which was skipped")
    assert check_line(text, "stripe-events-recorded").endswith(
        "skipped: depends on 'db-connect', which could not run")
    # An app that cannot record a Stripe event must not acknowledge it: Stripe then retries.
    assert check_line(text, "stripe-webhook-delivery").startswith(
        "- ❌ **Signed Stripe events acknowledged, forged ones refused** "
        "(`stripe-webhook-delivery`): customer.subscription.created: the app answered 503; "
        "expected 2xx; ")
    assert check_line(text, "stripe-subscription-flow").startswith(
        "- ❌ **Test customer subscribes to Pro, then cancels** (`stripe-subscription-flow`): "
        "step 'wait for events': customer.subscription.created: seen, but 1 webhook endpoint "
        "has not acknowledged it within 5s (")
    assert check_line(text, "webhook-queue").startswith(
        f"- ⛔ **Webhook queue depth** (`webhook-queue`): cannot connect to Redis at "
        f"127.0.0.1:{redis_port}: connection refused (")
    # The HTTP, k8s, traffic and other Stripe checks ran, and passed.
    for check_id in (set(CHECKS) - DATABASE_CHECKS - RECORDING_CHECKS
                     - {"stripe-events-recorded", "webhook-queue"}):
        assert check_line(text, check_id).startswith("- ✅ "), check_id
    assert (f"**Overall result**: ❌ **SMOKE TESTS FAILED: 4 of {len(CHECKS)} checks failed "
            "(2 could not run)**") in text


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
        "(choose from 'anthropic', 'openai', 'openrouter', 'database', 'stripe-webhooks', "
        "'rate-limit', 'live-stripe-key', 'migrations', 'stuck-jobs', 'webhook-queue', "
        "'expiring-certificate')")
    assert "Traceback" not in process.stderr
    assert not report.exists()


def test_a_planted_stripe_key_of_the_wrong_shape_is_a_usage_error_that_does_not_quote_it(
        tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"
    live = "sk_" + "live_CANARYdemo51Hx9q2Lm8Zr4TwQab7Kd0"

    process = run_demo("--report", str(report), env={"DEMO_STRIPE_KEY": live})

    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        "python -m demo: error: $DEMO_STRIPE_KEY must hold a test-mode secret key, sk_test_ "
        "and letters or digits; unset it to have one made")
    assert "CANARY" not in process.stdout + process.stderr
    assert not report.exists()


def test_redis_url_that_is_not_a_url_is_a_usage_error_that_does_not_quote_it(
        tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--report", str(report), "--redis-url", "127.0.0.1:6379 CANARYpass")

    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        "python -m demo: error: argument --redis-url: expected a URL such as "
        "redis://127.0.0.1:6379/0 (rediss:// for TLS)")
    assert "CANARY" not in process.stdout + process.stderr
    assert not report.exists()


def test_a_planted_api_key_of_the_wrong_shape_is_a_usage_error_that_does_not_quote_it(
        tmp_path: Path) -> None:
    report = tmp_path / "demo-report.md"

    process = run_demo("--report", str(report), env={"DEMO_API_KEY": "CANARY-not-a-key"})

    assert process.returncode == 2
    assert process.stderr.splitlines()[-1] == (
        "python -m demo: error: $DEMO_API_KEY must hold a test API key, rsk_test_ and letters "
        "or digits; unset it to have one made")
    assert "CANARY" not in process.stdout + process.stderr
    assert not report.exists()
