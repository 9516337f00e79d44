-- Two more check statuses, both passes: `flaky` (it failed, then passed on a retry) and
-- `slow` (it passed, slower than its `warn_latency`). They do not fail a run.
--
-- A run counts them among its passed checks (passed_count, as before every pass) and on
-- their own (flaky_count, slow_count), for history. Runs recorded before this migration had
-- neither status: their new counts are 0, which is right.

ALTER TABLE check_results DROP CONSTRAINT check_results_status_check;

ALTER TABLE check_results ADD CONSTRAINT check_results_status_check
    CHECK (status IN ('pass', 'fail', 'error', 'skip', 'warn', 'flaky', 'slow'));

ALTER TABLE runs
    ADD COLUMN flaky_count integer NOT NULL DEFAULT 0 CHECK (flaky_count >= 0),
    ADD COLUMN slow_count  integer NOT NULL DEFAULT 0 CHECK (slow_count >= 0),
    ADD CONSTRAINT runs_remarked_are_passed CHECK (flaky_count + slow_count <= passed_count);
