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
