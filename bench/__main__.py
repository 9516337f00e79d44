"""`make bench`: every benchmark, one after another, each printing its figures."""

from __future__ import annotations

import subprocess
import sys

BENCHES = ["bench.engine", "bench.bot", "bench.deploys", "bench.stripe_subscription_flow",
           "bench.stripe_webhook_delivery", "bench.suite_loading", "bench.startup",
           "bench.load_generator", "bench.http_checks", "bench.pages_and_metrics"]


def main() -> int:
    status = 0
    for module in BENCHES + sys.argv[1:]:
        print(f"== {module}", flush=True)
        status |= subprocess.call([sys.executable, "-m", module])
    return status


if __name__ == "__main__":
    sys.exit(main())
