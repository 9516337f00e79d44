"""Prometheus metrics of the bot's processes (docs/metrics.md lists each one).

    _registry.py      Metrics: every metric, defined once, in a registry per process; the
                      calls that move them (record_run_finished, observe_slack_call, ...)
    _query_gauges.py  queue depth, oldest wait and outbox size, read in the background
    _exposition.py    /metrics on the web app, and the worker's own small HTTP server

`Services` holds the process's `Metrics`; the web process serves it on `/metrics`, each
worker on its own port (SMOKEBOT_WORKER_METRICS_PORT).
"""

from __future__ import annotations

from bot.metrics._exposition import METRICS_PATH, metrics_routes, metrics_served
from bot.metrics._query_gauges import (
    OUTBOX_COUNT_CAP,
    QueryGauges,
    query_gauges_refreshed,
    refresh_query_gauges,
)
from bot.metrics._registry import FILE_UPLOAD, Metrics, SlackOutcome

__all__ = ["FILE_UPLOAD", "METRICS_PATH", "OUTBOX_COUNT_CAP", "Metrics", "QueryGauges", "SlackOutcome",
           "metrics_routes", "metrics_served", "query_gauges_refreshed", "refresh_query_gauges"]
