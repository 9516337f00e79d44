-- Whether a person confirmed the run with the production confirmation button: a traffic probe
-- (load, ratelimit) started from Slack runs in an environment marked production only then.
--
-- A column rather than the queue job's payload: a job can be queued again without its
-- starter (the reaper re-queues a stranded run), and the run's row is what every worker reads.
-- Runs started before this migration were confirmed when their start's audit entry says so.

ALTER TABLE runs ADD COLUMN confirmed boolean NOT NULL DEFAULT false;

UPDATE runs SET confirmed = true
WHERE id IN (SELECT run_id FROM audit_log
             WHERE action IN ('run', 'rerun') AND run_id IS NOT NULL
               AND detail->>'confirmed' = 'true');
