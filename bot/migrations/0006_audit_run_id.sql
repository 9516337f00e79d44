-- The run an audit entry is about, as a column: `smokebot audit RUN` reads a run's trail by it.
--
-- No foreign key: audit entries are kept a year, runs 90 days (bot/store/retention.py), and an
-- entry must still name its run after the run's row is pruned. Entries written before this
-- migration carried the run only in `detail->>'run_id'` (join, cancel, open-acknowledge,
-- acknowledge); it is copied here. Entries keep it in detail too, for readers of the JSON.

ALTER TABLE audit_log ADD COLUMN run_id uuid;

UPDATE audit_log SET run_id = (detail->>'run_id')::uuid
WHERE detail->>'run_id' ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$';

CREATE INDEX audit_log_run_idx ON audit_log (run_id, at) WHERE run_id IS NOT NULL;
