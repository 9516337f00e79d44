"""The demo target's background jobs, as Oban keeps them in `demo_billing.oban_jobs`
(demo/schema.sql): what a busy but healthy queue holds a moment after a deploy.

The suite's "Jobs stuck in the queue" check (a `postgres.query`) looks for executing jobs
attempted more than 15 minutes ago (their node died: Oban's Lifeline plugin would rescue
them) and available jobs scheduled more than 15 minutes ago (no node runs their queue).
Timestamps are relative to now, so the table is filled afresh on every start; degrading
"stuck-jobs" adds one of each.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg

__all__ = ["STUCK_JOBS", "seed_jobs"]

STUCK_JOBS = "stuck-jobs"  # the component `--degrade` breaks
NODE = "rsolv@10.42.5.243"
PEER_NODE = "rsolv@10.42.8.103"


@dataclass(frozen=True)
class _Job:
    state: str
    queue: str
    worker: str
    args: str  # JSON
    scheduled: str  # PostgreSQL intervals from now: "-3 minutes" ago, "14 days" ahead
    attempted: str | None = None
    completed: str | None = None
    node: str | None = None  # the attempting node

    @property
    def attempt(self) -> int:
        return 0 if self.attempted is None else 1


_HEALTHY = (
    _Job("completed", "webhooks", "Rsolv.Workers.StripeWebhookWorker",
         '{"event_id": "evt_1SmokeDemoCompleted"}', "-3 minutes", "-3 minutes", "-3 minutes",
         NODE),
    _Job("completed", "billing", "Rsolv.Workers.CreditAllocationWorker",
         '{"customer_id": 31, "credits": 60}', "-2 minutes", "-2 minutes", "-2 minutes",
         PEER_NODE),
    _Job("executing", "webhooks", "Rsolv.Workers.StripeWebhookWorker",
         '{"event_id": "evt_1SmokeDemoExecuting"}', "-20 seconds", "-20 seconds", node=NODE),
    _Job("available", "mailers", "Rsolv.Workers.OnboardingEmailWorker", '{"customer_id": 32}',
         "-5 seconds"),
    _Job("scheduled", "billing", "Rsolv.Workers.TrialExpiryWorker", '{"customer_id": 32}',
         "14 days"),
)
_STUCK = (
    # Its node, a pod replaced in the rollout, died mid-job.
    _Job("executing", "webhooks", "Rsolv.Workers.StripeWebhookWorker",
         '{"event_id": "evt_1SmokeDemoOrphaned"}', "-42 minutes", "-42 minutes",
         node="rsolv@10.42.7.12"),
    # A queue that no node runs: the release's Oban config left it out.
    _Job("available", "reports", "Rsolv.Workers.UsageReportWorker", '{"month": "2025-10"}',
         "-25 minutes"),
)

_INSERT = """
INSERT INTO demo_billing.oban_jobs
    (state, queue, worker, args, attempt, inserted_at, scheduled_at, attempted_at, completed_at,
     attempted_by)
SELECT %(state)s, %(queue)s, %(worker)s, %(args)s::jsonb, %(attempt)s,
       LEAST(at.scheduled, at.now), at.scheduled, at.now + %(attempted)s::interval,
       at.now + %(completed)s::interval,
       CASE WHEN %(node)s::text IS NOT NULL THEN ARRAY[%(node)s::text, 'rsolv-platform'] END
FROM (SELECT timezone('UTC', now()) AS now,
             timezone('UTC', now()) + %(scheduled)s::interval AS scheduled) AS at
"""


def seed_jobs(conn: psycopg.Connection, *, stuck: bool = False) -> None:
    """Empties the job table and fills it with a healthy queue, plus two stuck jobs with
    `stuck`, in one transaction."""
    jobs = _HEALTHY + (_STUCK if stuck else ())
    with conn.transaction():
        conn.execute("TRUNCATE demo_billing.oban_jobs RESTART IDENTITY")
        with conn.cursor() as cursor:
            cursor.executemany(_INSERT, [{**asdict(job), "attempt": job.attempt}
                                         for job in jobs])
