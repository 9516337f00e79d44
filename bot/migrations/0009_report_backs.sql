-- Reports back: the verdict a deploy's run owes the deploy's source (a GitHub deployment
-- status, the generic webhook's signed callback), one row per run and target.
--
-- A row is written in the transaction that records the deploy's run, so a run that exists
-- always has its report owed; it becomes due when the run ends (the deliverer joins `runs`
-- and takes only ended runs), so every way a run ends (finished, errored, reaped, cancelled,
-- superseded) makes it due in the same commit that ends the run. The deliverer holds a row's
-- lease while it sends it; a lease that ran out (its deliverer died) is taken over. `in_doubt`
-- is set before each attempt and cleared only when an answer proved nothing was taken; a
-- row still in doubt is looked for at the source (GitHub's list of the deployment's
-- statuses) before it is sent again.
--
-- `target` holds what the deploy said (repository, deployment id, callback URL), never a
-- token: the deliverer reads those from its settings when it sends.

CREATE TABLE report_backs (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id           uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind             text NOT NULL CHECK (kind ~ '^[a-z0-9][a-z0-9_-]*$'),
    source           text NOT NULL CHECK (source ~ '^[a-z0-9][a-z0-9_-]*$'),
    target           jsonb NOT NULL CHECK (jsonb_typeof(target) = 'object'),
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    in_doubt         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_holder     text,
    lease_expires_at timestamptz,
    finished_at      timestamptz,
    reported         text,  -- what was said: "success", "failure", the run's status
    remote_id        text,  -- what the source answered: the deployment status's id
    last_status      integer,  -- the HTTP status of the last answer
    last_error       text,

    CONSTRAINT report_backs_one_per_run_and_kind UNIQUE (run_id, kind),
    CONSTRAINT report_backs_finished_when_final
        CHECK ((state = 'pending') = (finished_at IS NULL))
);

CREATE INDEX report_backs_pending_idx ON report_backs (next_attempt_at) WHERE state = 'pending';
CREATE INDEX report_backs_recent_idx ON report_backs (created_at DESC, id DESC);
