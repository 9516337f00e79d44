-- The history store: runs, their check results, the Slack messages that show them,
-- acknowledgements, the audit log, undelivered Slack calls and webhook deliveries.
--
-- Names are unqualified: the migration runner sets search_path to the store's schema, so one
-- database can hold several isolated stores (tests, staging and production bots).
-- Enumerations are text with CHECK constraints: adding a value is a one-line migration,
-- unlike ALTER TYPE ... ADD VALUE, which cannot run inside a transaction on older servers.
-- Nothing here may hold a secret: callers write redacted text (see bot/store.py).

CREATE TABLE runs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    environment     text NOT NULL CHECK (environment <> ''),
    suite           text,
    status          text NOT NULL DEFAULT 'queued' CHECK (status IN (
                        'queued', 'running', 'passed', 'failed', 'cancelled',
                        'interrupted', 'superseded', 'error')),
    status_reason   text,  -- why a run was interrupted, superseded, cancelled or errored
    trigger_kind    text NOT NULL CHECK (trigger_kind IN (
                        'slash', 'button', 'mention', 'webhook', 'cli')),
    trigger_detail  text NOT NULL DEFAULT '',
    requested_by    text,
    filters         text[] NOT NULL DEFAULT '{}',
    channel         text,
    -- Deploy facts, set when a deploy triggered the run; exposed to checks as ${deploy.x}.
    deploy_source   text,
    deploy_version  text,
    deploy_commit   text,
    deploy_ref      text,
    deployer        text,
    deploy_url      text,
    deploy_link     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    heartbeat_at    timestamptz,
    worker_id       text,
    passed_count    integer NOT NULL DEFAULT 0 CHECK (passed_count >= 0),
    failed_count    integer NOT NULL DEFAULT 0 CHECK (failed_count >= 0),
    error_count     integer NOT NULL DEFAULT 0 CHECK (error_count >= 0),
    skipped_count   integer NOT NULL DEFAULT 0 CHECK (skipped_count >= 0),
    warned_count    integer NOT NULL DEFAULT 0 CHECK (warned_count >= 0),
    verdict         text CHECK (verdict IN ('passed', 'failed', 'cancelled')),
    rerun_of        uuid REFERENCES runs (id) ON DELETE SET NULL,
    superseded_by   uuid REFERENCES runs (id) ON DELETE SET NULL,
    idempotency_key text UNIQUE,  -- NULLs do not collide: only keyed triggers are deduplicated

    CONSTRAINT runs_running_has_worker
        CHECK (status <> 'running'
               OR (started_at IS NOT NULL AND heartbeat_at IS NOT NULL AND worker_id IS NOT NULL)),
    CONSTRAINT runs_finished_when_terminal
        CHECK ((finished_at IS NOT NULL) = (status NOT IN ('queued', 'running'))),
    CONSTRAINT runs_verdict_is_status
        CHECK (verdict IS NULL OR verdict = status),
    CONSTRAINT runs_not_own_rerun CHECK (rerun_of IS DISTINCT FROM id),
    CONSTRAINT runs_not_own_successor CHECK (superseded_by IS DISTINCT FROM id)
);

CREATE INDEX runs_history_idx ON runs (environment, created_at DESC);
CREATE INDEX runs_recent_idx ON runs (created_at DESC);
CREATE INDEX runs_active_idx ON runs (environment, created_at)
    WHERE status IN ('queued', 'running');
CREATE INDEX runs_heartbeat_idx ON runs (heartbeat_at) WHERE status = 'running';
CREATE INDEX runs_rerun_of_idx ON runs (rerun_of) WHERE rerun_of IS NOT NULL;
CREATE INDEX runs_superseded_by_idx ON runs (superseded_by) WHERE superseded_by IS NOT NULL;

CREATE TABLE check_results (
    run_id       uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    check_id     text NOT NULL CHECK (check_id <> ''),
    name         text NOT NULL,
    category     text NOT NULL,
    kind         text NOT NULL,
    severity     text NOT NULL CHECK (severity IN ('critical', 'warning')),
    status       text NOT NULL CHECK (status IN ('pass', 'fail', 'error', 'skip', 'warn')),
    summary      text NOT NULL,
    details      text NOT NULL DEFAULT '',
    duration_s   double precision NOT NULL DEFAULT 0 CHECK (duration_s >= 0),
    attempts     integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    measurements jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(measurements) = 'object'),
    evidence     jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(evidence) = 'object'),
    tags         text[] NOT NULL DEFAULT '{}',
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (run_id, check_id)
);

-- "Did this check fail before?" reads only the problems.
CREATE INDEX check_results_problems_idx ON check_results (check_id, run_id)
    WHERE status IN ('fail', 'error');

CREATE TABLE slack_messages (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id      uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    kind        text NOT NULL CHECK (kind IN ('summary', 'failure_reply', 'notice')),
    channel     text NOT NULL CHECK (channel <> ''),
    ts          text NOT NULL CHECK (ts <> ''),
    thread_ts   text CHECK (thread_ts <> ''),  -- set when the message is itself a reply
    check_id    text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),

    CONSTRAINT slack_messages_reply_has_check
        CHECK (kind <> 'failure_reply' OR (check_id IS NOT NULL AND thread_ts IS NOT NULL)),
    CONSTRAINT slack_messages_summary_has_no_check
        CHECK (kind <> 'summary' OR check_id IS NULL)
);

CREATE UNIQUE INDEX slack_messages_one_summary_idx ON slack_messages (run_id)
    WHERE kind = 'summary';
CREATE UNIQUE INDEX slack_messages_one_reply_idx ON slack_messages (run_id, check_id)
    WHERE kind = 'failure_reply';
CREATE INDEX slack_messages_run_idx ON slack_messages (run_id);
CREATE INDEX slack_messages_message_idx ON slack_messages (channel, ts);
CREATE INDEX slack_messages_thread_idx ON slack_messages (channel, thread_ts)
    WHERE thread_ts IS NOT NULL;

CREATE TABLE acknowledgements (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    environment     text NOT NULL CHECK (environment <> ''),
    check_id        text NOT NULL CHECK (check_id <> ''),
    reason          text NOT NULL CHECK (btrim(reason) <> ''),
    acknowledged_by text NOT NULL CHECK (acknowledged_by <> ''),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,  -- NULL: until someone removes it
    run_id          uuid REFERENCES runs (id) ON DELETE SET NULL,

    CONSTRAINT acknowledgements_expire_later CHECK (expires_at IS NULL OR expires_at > created_at)
);

CREATE INDEX acknowledgements_lookup_idx ON acknowledgements (environment, check_id, created_at DESC);

CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL CHECK (action <> ''),
    environment text,
    allowed     boolean NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(detail) = 'object')
);

CREATE INDEX audit_log_at_idx ON audit_log (at DESC);
CREATE INDEX audit_log_environment_idx ON audit_log (environment, at DESC);

-- Slack API calls that could not be delivered yet. The token is never stored: the deliverer
-- adds it when it sends.
CREATE TABLE slack_outbox (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    run_id          uuid REFERENCES runs (id) ON DELETE CASCADE,
    method          text NOT NULL CHECK (method ~ '^[a-z]+(\.[A-Za-z]+)+$'),
    payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),
    coalesce_key    text,  -- a newer call with the same key replaces a pending one
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    gave_up_at      timestamptz,
    last_error      text,

    CONSTRAINT slack_outbox_one_ending CHECK (delivered_at IS NULL OR gave_up_at IS NULL)
);

CREATE INDEX slack_outbox_due_idx ON slack_outbox (next_attempt_at, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE UNIQUE INDEX slack_outbox_pending_key_idx ON slack_outbox (coalesce_key)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX slack_outbox_run_idx ON slack_outbox (run_id) WHERE run_id IS NOT NULL;

CREATE TABLE webhook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source           text NOT NULL CHECK (source IN ('github', 'argocd', 'deploy')),
    delivery_id      text CHECK (delivery_id <> ''),
    received_at      timestamptz NOT NULL DEFAULT now(),
    last_received_at timestamptz NOT NULL DEFAULT now(),
    redeliveries     integer NOT NULL DEFAULT 0 CHECK (redeliveries >= 0),
    outcome          text NOT NULL CHECK (outcome IN ('accepted', 'ignored', 'rejected')),
    reason           text NOT NULL DEFAULT '',
    environment      text,
    run_id           uuid REFERENCES runs (id) ON DELETE SET NULL,
    headers          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(headers) = 'object'),
    summary          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(summary) = 'object'),

    CONSTRAINT webhook_deliveries_run_only_if_accepted
        CHECK (run_id IS NULL OR outcome = 'accepted')
);

-- Only authenticated deliveries claim their id: a forged request carrying a genuine delivery
-- id must not make the genuine delivery look like a redelivery.
CREATE UNIQUE INDEX webhook_deliveries_identity_idx ON webhook_deliveries (source, delivery_id)
    WHERE outcome <> 'rejected';
CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at DESC);
