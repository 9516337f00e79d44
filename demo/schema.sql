-- The billing schema of the bundled demo, shaped like the tables the Week 2 migrations create
-- (../shared/reference/staging-smoke-report.md, "Database Schema" and "Customer Provisioning").
-- Idempotent: loading it twice changes nothing. The tests of checks/kinds/postgres.py load it too,
-- so there is one copy of the shape the demo suite checks.

CREATE SCHEMA IF NOT EXISTS demo_billing;

CREATE TABLE IF NOT EXISTS demo_billing.customers (
    id                       bigserial PRIMARY KEY,
    name                     character varying(255) NOT NULL,
    email                    character varying(255) NOT NULL UNIQUE,
    active                   boolean NOT NULL DEFAULT true,
    metadata                 jsonb NOT NULL DEFAULT '{}'::jsonb,
    monthly_limit            integer NOT NULL DEFAULT 100,
    current_usage            integer NOT NULL DEFAULT 0,
    credit_balance           integer NOT NULL DEFAULT 0 CHECK (credit_balance >= 0),
    subscription_type        character varying(255) NOT NULL DEFAULT 'trial'
                             CHECK (subscription_type IN ('trial', 'pay_as_you_go', 'pro')),
    subscription_state       character varying(255),
    trial_fixes_used         integer NOT NULL DEFAULT 0,
    trial_fixes_limit        integer NOT NULL DEFAULT 5,
    fix_mode                 character varying(255) NOT NULL DEFAULT 'auto',
    stripe_customer_id       character varying(255),
    stripe_payment_method_id character varying(255),
    stripe_subscription_id   character varying(255),
    billing_consent_given    boolean NOT NULL DEFAULT false,
    billing_consent_at       timestamp(0) without time zone,
    has_payment_method       boolean NOT NULL DEFAULT false,
    payment_method_added_at  timestamp(0) without time zone,
    inserted_at              timestamp(0) without time zone NOT NULL DEFAULT now(),
    updated_at               timestamp(0) without time zone NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS demo_billing.api_keys (
    id           bigserial PRIMARY KEY,
    customer_id  bigint NOT NULL REFERENCES demo_billing.customers (id) ON DELETE CASCADE,
    name         character varying(255) NOT NULL DEFAULT 'default',
    key_hash     character varying(255) NOT NULL UNIQUE,  -- SHA-256 of the key, hex
    active       boolean NOT NULL DEFAULT true,
    last_used_at timestamp(0) without time zone,
    inserted_at  timestamp(0) without time zone NOT NULL DEFAULT now(),
    updated_at   timestamp(0) without time zone NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS demo_billing.credit_transactions (
    id            bigserial PRIMARY KEY,
    customer_id   bigint NOT NULL REFERENCES demo_billing.customers (id) ON DELETE CASCADE,
    amount        integer NOT NULL,
    balance_after integer NOT NULL,
    source        character varying(255) NOT NULL,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    inserted_at   timestamp(0) without time zone NOT NULL DEFAULT now(),
    updated_at    timestamp(0) without time zone NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS demo_billing.subscriptions (
    id                     bigserial PRIMARY KEY,
    customer_id            bigint NOT NULL REFERENCES demo_billing.customers (id) ON DELETE CASCADE,
    stripe_subscription_id character varying(255) NOT NULL UNIQUE,
    plan                   character varying(255) NOT NULL,
    status                 character varying(255) NOT NULL,
    price                  numeric(10, 2),
    current_period_start   timestamp(0) without time zone,
    current_period_end     timestamp(0) without time zone,
    cancel_at_period_end   boolean NOT NULL DEFAULT false,
    inserted_at            timestamp(0) without time zone NOT NULL DEFAULT now(),
    updated_at             timestamp(0) without time zone NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS demo_billing.billing_events (
    id              bigserial PRIMARY KEY,
    customer_id     bigint REFERENCES demo_billing.customers (id) ON DELETE SET NULL,
    stripe_event_id character varying(255) NOT NULL UNIQUE,
    event_type      character varying(255) NOT NULL,
    amount_cents    integer,
    metadata        jsonb NOT NULL DEFAULT '{}'::jsonb,
    inserted_at     timestamp(0) without time zone NOT NULL DEFAULT now(),
    updated_at      timestamp(0) without time zone NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS demo_billing.customer_onboarding_events (
    id          bigserial PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES demo_billing.customers (id) ON DELETE CASCADE,
    event_type  character varying(255) NOT NULL,
    status      character varying(255) NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}'::jsonb,
    inserted_at timestamp(0) without time zone NOT NULL DEFAULT now()
);

-- The Stripe events the demo target's webhook endpoint verified (demo/webhooks.py), the first
-- copy of each: a redelivery of an id already here is acknowledged and changes nothing.
CREATE TABLE IF NOT EXISTS demo_billing.stripe_events (
    id           text PRIMARY KEY,  -- Stripe's event id, evt_...
    type         text NOT NULL,
    object_id    text,              -- data.object.id: the subscription, invoice, customer ...
    smokebot_run text,              -- data.object.metadata.smokebot_run, on smokebot's objects
    livemode     boolean NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX IF NOT EXISTS api_keys_customer_id_index
    ON demo_billing.api_keys (customer_id);
CREATE INDEX IF NOT EXISTS credit_transactions_customer_id_index
    ON demo_billing.credit_transactions (customer_id);
CREATE INDEX IF NOT EXISTS subscriptions_customer_id_index
    ON demo_billing.subscriptions (customer_id);
CREATE INDEX IF NOT EXISTS billing_events_customer_id_index
    ON demo_billing.billing_events (customer_id);
CREATE INDEX IF NOT EXISTS customer_onboarding_events_customer_id_index
    ON demo_billing.customer_onboarding_events (customer_id);

-- Ecto's migration bookkeeping (`mix ecto.migrate`): one row per applied version. The
-- release's migration files are demo/migrations/; the suite's postgres.migrations check
-- compares the two. Seeded here as a migrated staging database would hold it.
CREATE TABLE IF NOT EXISTS demo_billing.schema_migrations (
    version     bigint PRIMARY KEY,
    inserted_at timestamp(0) without time zone
);

INSERT INTO demo_billing.schema_migrations (version, inserted_at) VALUES
    (20250902090000, '2025-09-02 09:14:07'),  -- create_customers
    (20250902090100, '2025-09-02 09:14:07'),  -- create_api_keys
    (20251014100000, '2025-10-14 10:02:51'),  -- add_oban_jobs_table
    (20251020120000, '2025-10-28 21:29:40'),  -- create_credit_transactions
    (20251020120100, '2025-10-28 21:29:40'),  -- create_subscriptions
    (20251020120200, '2025-10-28 21:29:41'),  -- create_billing_events
    (20251021093000, '2025-10-28 21:29:41'),  -- create_customer_onboarding_events
    (20251022150000, '2025-10-28 21:29:41'),  -- add_key_hash_to_api_keys
    (20251023110000, '2025-10-28 21:29:42'),  -- add_billing_fields_to_customers
    (20251027093000, '2025-10-28 21:29:42')   -- create_stripe_events
ON CONFLICT (version) DO NOTHING;

-- Oban's job table (Oban 2.x, in the app's own schema as Oban's `prefix` puts it). The demo
-- fills it afresh on every start (demo/oban.py): its timestamps are relative to now.
DO $$ BEGIN
    CREATE TYPE demo_billing.oban_job_state AS ENUM
        ('available', 'scheduled', 'executing', 'retryable', 'completed', 'discarded',
         'cancelled');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;

CREATE TABLE IF NOT EXISTS demo_billing.oban_jobs (
    id           bigserial PRIMARY KEY,
    state        demo_billing.oban_job_state NOT NULL DEFAULT 'available',
    queue        text NOT NULL DEFAULT 'default',
    worker       text NOT NULL,
    args         jsonb NOT NULL DEFAULT '{}'::jsonb,
    errors       jsonb[] NOT NULL DEFAULT ARRAY[]::jsonb[],
    attempt      integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 20,
    priority     integer NOT NULL DEFAULT 0,
    tags         text[] NOT NULL DEFAULT ARRAY[]::text[],
    meta         jsonb NOT NULL DEFAULT '{}'::jsonb,
    attempted_by text[],
    -- Oban keeps UTC in columns without a time zone (utc_datetime_usec).
    inserted_at  timestamp without time zone NOT NULL DEFAULT timezone('UTC', now()),
    scheduled_at timestamp without time zone NOT NULL DEFAULT timezone('UTC', now()),
    attempted_at timestamp without time zone,
    completed_at timestamp without time zone,
    discarded_at timestamp without time zone,
    cancelled_at timestamp without time zone,
    CONSTRAINT attempt_range CHECK (attempt >= 0 AND attempt <= max_attempts),
    CONSTRAINT positive_max_attempts CHECK (max_attempts > 0)
);

CREATE INDEX IF NOT EXISTS oban_jobs_state_queue_priority_scheduled_at_id_index
    ON demo_billing.oban_jobs (state, queue, priority, scheduled_at, id);
