"""`make demo`: start the bundled demo target (over HTTP, and HTTPS with a certificate made at
start-up), its database schema with its Oban jobs and Ecto migrations, its webhook queue in
the local Redis, a fake Kubernetes API server holding the staging cluster and two Stripe
emulators (demo/billing.py), run the example suite against them with the terminal and
Markdown reports, then stop what was started and delete the Redis keys.

    python -m demo [--degrade COMPONENT ...] [--report PATH] [--json PATH]
                   [--database-url DSN] [--redis-url URL]

The suite reads the demo's secrets from the environment, as a deployment's would:
$DEMO_DATABASE_URL, $DEMO_REDIS_URL, $DEMO_STRIPE_KEY, $DEMO_STRIPE_WEBHOOK_SECRET and
$DEMO_API_KEY (the Stripe ones and the test API key are made fresh on every run unless
already set) and $KUBECONFIG.

When PostgreSQL or Redis is not reachable the demo still runs: the checks that need it report
why they could not look (and those depending on them are skipped), so the run fails, exit 1.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from checks.secrets import Secret
from demo.billing import (
    KEY_VARIABLE, WEBHOOK_SECRET_VARIABLE, StripeSecrets, serving_stripe, stripe_secrets,
)
from demo.cluster import CLUSTER_DEGRADABLE, create_cluster, serving_cluster
from demo.database import ADMIN_DSN, DEMO_DATABASE, DatabaseBusy, demo_dsn, prepared_database
from demo.oban import STUCK_JOBS
from demo.rate_limit import API_KEY_VARIABLE, api_key_secret, key_hash
from demo.redis_queue import WEBHOOK_QUEUE, demo_prefix, seeded_webhook_queue
from demo.release import PENDING_MIGRATIONS, release_migrations
from demo.target import DEGRADABLE, create_app
from demo.tls import EXPIRING_CERTIFICATE, make_certificate, serving_https
from demo.webhooks import PATH, StripeWebhooks
from tests.support.asgi import serve_asgi

HERE = Path(__file__).resolve().parent
REDIS_URL = "redis://127.0.0.1:6379/0"
DATABASE_VARIABLE = "DEMO_DATABASE_URL"
REDIS_VARIABLE = "DEMO_REDIS_URL"
# Broken by the demo itself, not by the target or the cluster.
DEMO_DEGRADABLE = (PENDING_MIGRATIONS, STUCK_JOBS, WEBHOOK_QUEUE, EXPIRING_CERTIFICATE)


def redis_url(url: str) -> str:
    """`url` if it is a Redis URL; ValueError otherwise (without the URL: it may hold a
    password)."""
    if urlsplit(url.strip()).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"expected a URL such as {REDIS_URL} (rediss:// for TLS)")
    return url.strip()


def _degraded_note(components: frozenset[str]) -> str:
    return f" with {', '.join(sorted(components))} degraded" if components else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    degradable = (*DEGRADABLE, *CLUSTER_DEGRADABLE, *DEMO_DEGRADABLE)
    parser.add_argument("--degrade", action="append", default=[], choices=degradable,
                        metavar="COMPONENT",
                        help=f"break this component ({', '.join(degradable)})")
    parser.add_argument("--report", default="demo-report.md", help="Markdown report path")
    parser.add_argument("--json", help="JSON report path (none by default)")
    parser.add_argument("--database-url", default=os.environ.get("DEMO_ADMIN_DATABASE_URL",
                                                                 ADMIN_DSN))
    parser.add_argument("--redis-url", default=os.environ.get(REDIS_VARIABLE, REDIS_URL),
                        help=f"the Redis of the webhook queue (default {REDIS_URL})")
    args = parser.parse_args(argv)
    try:
        dsn = demo_dsn(args.database_url)
    except ValueError as exc:
        parser.error(f"argument --database-url: {exc}")
    try:
        queue_url = redis_url(args.redis_url)
    except ValueError as exc:
        parser.error(f"argument --redis-url: {exc}")
    try:
        billing_secrets = stripe_secrets()
        api_key = api_key_secret()
    except ValueError as exc:
        parser.error(str(exc))

    degraded = frozenset(args.degrade)
    try:
        return _run(args, degraded, dsn, queue_url, billing_secrets, api_key)
    except DatabaseBusy as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace, degraded: frozenset[str], dsn: str, queue_url: str,
         billing_secrets: StripeSecrets, api_key: Secret) -> int:
    """Starts everything, runs the suite, stops everything: the run's exit code."""
    from bot.cli import cli  # not needed for a usage error

    target_degraded = degraded & frozenset(DEGRADABLE)
    cluster_degraded = degraded & frozenset(CLUSTER_DEGRADABLE)
    app = create_app(degraded=target_degraded, ping_key_hash=key_hash(api_key.reveal()),
                     stripe_webhooks=StripeWebhooks(billing_secrets.webhook_secret, dsn))
    cluster = create_cluster(cluster_degraded)
    with ExitStack() as started:
        database_ready = started.enter_context(prepared_database(
            args.database_url, stuck_jobs=STUCK_JOBS in degraded))
        # Reachable or not, the suite gets the real server's address: when PostgreSQL is
        # down, the connect check then reports why (refused, timed out, refused login) for
        # that server, and its dependents are skipped. Redis likewise.
        os.environ[DATABASE_VARIABLE] = dsn
        os.environ[REDIS_VARIABLE] = queue_url
        directory = Path(started.enter_context(
            tempfile.TemporaryDirectory(prefix="smokebot-demo-")))
        certificate = make_certificate(directory, expiring=EXPIRING_CERTIFICATE in degraded)
        migrations = release_migrations(directory, pending=PENDING_MIGRATIONS in degraded)
        base_url = started.enter_context(serve_asgi(app))
        https_url = started.enter_context(serving_https(app, certificate))
        cluster_url, kubeconfig = started.enter_context(serving_cluster(cluster, directory))
        try:
            stripe_api = started.enter_context(serving_stripe(f"{base_url}{PATH}",
                                                              billing_secrets))
        except RuntimeError as exc:
            print(f"demo: the Stripe emulators did not start ({exc})", file=sys.stderr)
            return 1
        prefix = demo_prefix()
        redis_problem = started.enter_context(seeded_webhook_queue(
            queue_url, prefix, backlog=WEBHOOK_QUEUE in degraded))
        # The suite's `kubernetes:` block names no file: like kubectl, it reads $KUBECONFIG.
        os.environ["KUBECONFIG"] = str(kubeconfig)
        _export_secret(KEY_VARIABLE, billing_secrets.key)
        _export_secret(WEBHOOK_SECRET_VARIABLE, billing_secrets.webhook_secret)
        _export_secret(API_KEY_VARIABLE, api_key)
        print(f"demo: target serving at {base_url}{_degraded_note(target_degraded)}")
        print(f"demo: target serving HTTPS at {https_url}, its certificate signed by a CA made "
              f"now ({certificate.ca_file.name})"
              f"{_degraded_note(degraded & {EXPIRING_CERTIFICATE})}")
        print(f"demo: fake Kubernetes API serving at {cluster_url}, KUBECONFIG={kubeconfig}"
              f"{_degraded_note(cluster_degraded)}")
        print(f"demo: Stripe API fake serving at {stripe_api.api_base}, localstripe at "
              f"{stripe_api.flow_api_base}; webhooks to {base_url}{PATH}")
        if database_ready:
            print(f"demo: Oban jobs and Ecto migrations in database {DEMO_DATABASE}, schema "
                  f"demo_billing{_degraded_note(degraded & {STUCK_JOBS, PENDING_MIGRATIONS})}")
        if redis_problem is None:
            print(f"demo: webhook queue in Redis under {prefix}"
                  f"{_degraded_note(degraded & {WEBHOOK_QUEUE})}")
        else:
            print(f"demo: Redis is not reachable ({redis_problem}); the webhook queue check "
                  "will report why", file=sys.stderr)
        reports = [] if args.json is None else ["--json", args.json]
        try:
            cli.main(["run", "staging", "--config", str(HERE / "smoketest.yaml"),
                      "--var", f"base_url={base_url}", "--var", f"python={sys.executable}",
                      "--var", f"https_base_url={https_url}",
                      "--var", f"tls_ca_file={certificate.ca_file}",
                      "--var", f"migrations_dir={migrations}",
                      "--var", f"redis_prefix={prefix}",
                      "--var", f"reports_dir={directory}",
                      "--var", f"stripe_api_base={stripe_api.api_base}",
                      "--var", f"stripe_flow_api_base={stripe_api.flow_api_base}",
                      "--markdown", args.report, *reports],
                     prog_name="smokebot", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def _export_secret(variable: str, secret: Secret) -> None:
    """Where the suite's `secrets:` read it; the value goes nowhere else."""
    os.environ[variable] = secret.reveal()


if __name__ == "__main__":
    sys.exit(main())
