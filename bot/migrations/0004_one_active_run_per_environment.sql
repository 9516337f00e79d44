-- At most one active (queued or running) run per environment.
--
-- The store decides join-or-start under a transaction-scoped advisory lock per environment
-- (bot/store/runs.py: start_or_join, start_superseding); this index is the backstop that
-- makes a second active run impossible whatever path writes one.
--
-- The Redis claim this replaces let several runs of one environment start at once, so a
-- database may hold such runs already: all but one of each environment's active runs are
-- ended as superseded by the one kept (a running run before a queued one, then the newest).
-- A worker running an ended run learns it from its next heartbeat and stops it.

UPDATE runs r
SET status = 'superseded', superseded_by = kept.id, finished_at = now(),
    status_reason = 'ended when the store began to allow one active run per environment; '
                    || 'run ' || kept.id || ' was kept'
FROM (SELECT DISTINCT ON (environment) environment, id
      FROM runs WHERE status IN ('queued', 'running')
      ORDER BY environment, status = 'running' DESC, created_at DESC, id) kept
WHERE r.environment = kept.environment AND r.status IN ('queued', 'running')
  AND r.id <> kept.id;

CREATE UNIQUE INDEX runs_one_active_per_environment_idx ON runs (environment)
    WHERE status IN ('queued', 'running');

-- A deploy's run supersedes the active runs before its own row exists (the index above
-- admits it only then): the reference to it is checked when the transaction commits.
ALTER TABLE runs ALTER CONSTRAINT runs_superseded_by_fkey DEFERRABLE INITIALLY IMMEDIATE;
