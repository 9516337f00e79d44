"""The history store: runs, their check results, the Slack messages that show them,
acknowledgements, the audit log, Slack messages waiting for delivery, webhook deliveries and the
verdicts deploys' runs owe their sources, kept in PostgreSQL through psycopg 3 (async) and a
psycopg_pool connection pool.

One module per table family (`runs`, `messages`, `outbox`, `acknowledgements`, `audit`,
`deliveries`, `report_backs`; `history`, a check's results over time), each a slice of `Store`
over the shared pool and error translation of `_base`; `retention` deletes what is older than
the store keeps (`prune_history`, run by the workers).

Every table lives in one schema (default "smokebot"), so several stores can share a database.
`Store.open()` does not wait for PostgreSQL: the bot starts while the database is down, each call
then raises StoreUnavailable (a clear message for the user), and the pool reconnects by itself
when PostgreSQL is back. Connections are checked when taken from the pool, so one that the server
dropped (a restart, pg_terminate_backend) is replaced instead of failing the call.

Secrets: the store writes what it is given and redacts nothing. Callers hand it text that is
already redacted: `save_result` and `finish_run` take the CheckResults the runner produced, which
the runner passed through the run's Redactor; outbox payloads are Slack API arguments without the
token (the deliverer adds it when it sends), and so are report targets; audit details, webhook
summaries and status reasons carry facts, never credentials. As a last line of defence, webhook
headers whose names suggest a credential (Authorization, *signature*, *secret*, *token*,
Cookie) are dropped before writing.

Times: every datetime passed in must be timezone-aware; timestamps the store sets itself come from
the database's clock (`now()`), so stale-run detection does not depend on the workers' clocks.
"""

from __future__ import annotations

from bot.records import (
    Acknowledgement,
    AuditEntry,
    DeployFacts,
    FlakyHistory,
    OutboxEntry,
    PastResult,
    PreviousFailure,
    Run,
    RunCounts,
    RunRequest,
    RunStatus,
    SlackMessage,
    SlackMessageKind,
    TriggerKind,
    WebhookDelivery,
    WebhookOutcome,
)
from bot.store._base import DEFAULT_SCHEMA
from bot.store.acknowledgements import AcknowledgementsTable
from bot.store.audit import AuditTable
from bot.store.deliveries import WebhookDeliveriesTable
from bot.store.history import FLAKY_HISTORY_RUNS, CheckHistoryTable
from bot.store.messages import SlackMessagesTable
from bot.store.outbox import OutboxTable
from bot.store.report_backs import ReportBacksTable
from bot.store.retention import (
    PruneReport,
    PruneTarget,
    RetentionPolicy,
    RetentionPruning,
    prune_history,
)
from bot.store.runs import RunsTable

__all__ = [
    "DEFAULT_SCHEMA",
    "FLAKY_HISTORY_RUNS",
    "Acknowledgement",
    "AuditEntry",
    "DeployFacts",
    "FlakyHistory",
    "OutboxEntry",
    "PastResult",
    "PreviousFailure",
    "PruneReport",
    "PruneTarget",
    "RetentionPolicy",
    "Run",
    "RunCounts",
    "RunRequest",
    "RunStatus",
    "SlackMessage",
    "SlackMessageKind",
    "Store",
    "TriggerKind",
    "WebhookDelivery",
    "WebhookOutcome",
    "prune_history",
]


class Store(RunsTable, SlackMessagesTable, OutboxTable, AcknowledgementsTable, AuditTable,
            RetentionPruning, WebhookDeliveriesTable, CheckHistoryTable, ReportBacksTable):
    """The history store. Create with `await Store.open(dsn)` or `async with Store.open(dsn)`."""
