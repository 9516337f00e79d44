-- One delivery path for every message a run owes Slack (bot/slack/delivery.py).
--
-- A run's final messages (summary, failure replies, mention, report, notices) are written
-- here in the transaction that ends the run, one row per message in the order they must be
-- posted. Rows of one stream (a run) are delivered in order by whichever deliverer holds the
-- stream's lease; each row is marked delivered with the ts Slack gave it before the next is
-- sent. `in_doubt` is set before a call and cleared when Slack's answer says nothing was
-- posted: a row still in doubt when its deliverer died is looked up in Slack (by the key in
-- its message metadata) before being sent again, so nothing is posted twice.
--
-- The old outbox (one entry per failed call, replies folded into the summary's entry) is
-- dropped: entries still pending when this migration runs are not delivered.

DROP TABLE slack_outbox;

CREATE TABLE outbox_messages (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream          text NOT NULL CHECK (stream <> ''),  -- "run:<id>": sent in id order
    run_id          uuid REFERENCES runs (id) ON DELETE CASCADE,
    kind            text NOT NULL
                    CHECK (kind IN ('summary', 'failure_reply', 'mention', 'report', 'notice')),
    check_id        text,
    channel         text NOT NULL,
    payload         jsonb NOT NULL CHECK (jsonb_typeof(payload) = 'object'),  -- never a token
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    in_doubt        boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    ts              text,  -- what Slack answered: the message's ts
    gave_up_at      timestamptz,
    last_error      text,

    CONSTRAINT outbox_messages_one_ending CHECK (delivered_at IS NULL OR gave_up_at IS NULL),
    CONSTRAINT outbox_messages_reply_has_check
        CHECK (kind <> 'failure_reply' OR check_id IS NOT NULL)
);

CREATE INDEX outbox_messages_pending_idx ON outbox_messages (stream, id)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_messages_due_idx ON outbox_messages (next_attempt_at)
    WHERE delivered_at IS NULL AND gave_up_at IS NULL;
CREATE INDEX outbox_messages_run_idx ON outbox_messages (run_id) WHERE run_id IS NOT NULL;

-- Who delivers a stream now; a lease that ran out (its deliverer died) can be taken over.
CREATE TABLE outbox_leases (
    stream      text PRIMARY KEY,
    holder      text NOT NULL,
    expires_at  timestamptz NOT NULL
);

ALTER TABLE slack_messages DROP CONSTRAINT slack_messages_kind_check;
ALTER TABLE slack_messages ADD CONSTRAINT slack_messages_kind_check
    CHECK (kind IN ('summary', 'failure_reply', 'mention', 'report', 'notice'));
