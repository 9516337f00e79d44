"""`make demo`: start the bundled demo target, its database schema, a fake Kubernetes API
server holding the staging cluster and two Stripe emulators (demo/billing.py), run the example
suite against them with the terminal and Markdown reports, then stop what was started.

    python -m demo [--degrade COMPONENT ...] [--report PATH] [--database-url DSN]

The suite reads the demo's secrets from the environment, as a deployment's would:
$DEMO_DATABASE_URL, $DEMO_STRIPE_KEY and $DEMO_STRIPE_WEBHOOK_SECRET (the Stripe ones are
made fresh on every run unless already set) and $KUBECONFIG.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path

import psycopg
from psycopg import sql

from checks.secrets import Secret
from demo.billing import KEY_VARIABLE, WEBHOOK_SECRET_VARIABLE, serving_stripe, stripe_secrets
from demo.cluster import CLUSTER_DEGRADABLE, create_cluster, serving_cluster
from demo.target import DEGRADABLE, create_app
from demo.webhooks import PATH, StripeWebhooks
from tests.support.asgi import serve_asgi

HERE = Path(__file__).resolve().parent
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
DEMO_DATABASE = "smokebot_demo"


def demo_dsn(admin_dsn: str) -> str:
    """The demo database on the server of `admin_dsn`; ValueError if that is not a DSN."""
    try:
        return psycopg.conninfo.make_conninfo(admin_dsn, dbname=DEMO_DATABASE)
    except psycopg.ProgrammingError as exc:
        raise ValueError(f"{str(exc).strip()}; expected a URL such as {ADMIN_DSN}") from None


def prepare_database(admin_dsn: str) -> bool:
    """Creates the demo database and schema; False if PostgreSQL is unreachable (the suite
    then reports the connect check's error and the other database checks as skipped, and
    the Stripe checks whose events the target must record fail)."""
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=3) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s",
                                   [DEMO_DATABASE]).fetchone()
            if not exists:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DEMO_DATABASE)))
        with psycopg.connect(demo_dsn(admin_dsn), autocommit=True, connect_timeout=3) as conn:
            conn.execute((HERE / "schema.sql").read_text(encoding="utf-8"))
        return True
    except psycopg.OperationalError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"demo: PostgreSQL is not reachable ({first_line}); the database checks will be "
              "skipped, and the target cannot record Stripe events", file=sys.stderr)
        return False


def _degraded_note(components: frozenset[str]) -> str:
    return f" with {', '.join(sorted(components))} degraded" if components else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    degradable = (*DEGRADABLE, *CLUSTER_DEGRADABLE)
    parser.add_argument("--degrade", action="append", default=[], choices=degradable,
                        metavar="COMPONENT",
                        help=f"break this component ({', '.join(degradable)})")
    parser.add_argument("--report", default="demo-report.md", help="Markdown report path")
    parser.add_argument("--database-url", default=os.environ.get("DEMO_ADMIN_DATABASE_URL",
                                                                 ADMIN_DSN))
    args = parser.parse_args(argv)
    try:
        dsn = demo_dsn(args.database_url)
    except ValueError as exc:
        parser.error(f"argument --database-url: {exc}")
    try:
        billing_secrets = stripe_secrets()
    except ValueError as exc:
        parser.error(str(exc))

    prepare_database(args.database_url)
    # Reachable or not, the suite gets the real server's address: when PostgreSQL is down,
    # the connect check then reports why (refused, timed out, refused login) for that server,
    # and its dependents are skipped.
    os.environ["DEMO_DATABASE_URL"] = dsn

    from bot.cli import cli

    target_degraded = frozenset(args.degrade) & frozenset(DEGRADABLE)
    cluster_degraded = frozenset(args.degrade) - target_degraded
    app = create_app(degraded=target_degraded, stripe_webhooks=StripeWebhooks(
        billing_secrets.webhook_secret, dsn))
    cluster = create_cluster(cluster_degraded)
    with ExitStack() as started:
        directory = started.enter_context(tempfile.TemporaryDirectory(prefix="smokebot-demo-"))
        base_url = started.enter_context(serve_asgi(app))
        cluster_url, kubeconfig = started.enter_context(serving_cluster(cluster, Path(directory)))
        try:
            stripe_api = started.enter_context(serving_stripe(f"{base_url}{PATH}",
                                                              billing_secrets))
        except RuntimeError as exc:
            print(f"demo: the Stripe emulators did not start ({exc})", file=sys.stderr)
            return 1
        # The suite's `kubernetes:` block names no file: like kubectl, it reads $KUBECONFIG.
        os.environ["KUBECONFIG"] = str(kubeconfig)
        _export_secret(KEY_VARIABLE, billing_secrets.key)
        _export_secret(WEBHOOK_SECRET_VARIABLE, billing_secrets.webhook_secret)
        print(f"demo: target serving at {base_url}{_degraded_note(target_degraded)}")
        print(f"demo: fake Kubernetes API serving at {cluster_url}, KUBECONFIG={kubeconfig}"
              f"{_degraded_note(cluster_degraded)}")
        print(f"demo: Stripe API fake serving at {stripe_api.api_base}, localstripe at "
              f"{stripe_api.flow_api_base}; webhooks to {base_url}{PATH}")
        try:
            cli.main(["run", "staging", "--config", str(HERE / "smoketest.yaml"),
                      "--var", f"base_url={base_url}", "--var", f"python={sys.executable}",
                      "--var", f"demo_dir={HERE}",
                      "--var", f"stripe_api_base={stripe_api.api_base}",
                      "--var", f"stripe_flow_api_base={stripe_api.flow_api_base}",
                      "--markdown", args.report],
                     prog_name="smokebot", standalone_mode=False)
        except SystemExit as exc:
            return int(exc.code or 0)
    return 0


def _export_secret(variable: str, secret: Secret) -> None:
    """Where the suite's `secrets:` read it; the value goes nowhere else."""
    os.environ[variable] = secret.reveal()


if __name__ == "__main__":
    sys.exit(main())
