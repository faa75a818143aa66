-- The catalog (issue 13, CATALOG.md): products, prices, customers, coupons and
-- subscriptions, the session's columns that come from them, and the outcomes of the
-- commands that write them. Every column of the design is here, so the resources can be
-- built one by one without a migration each.
--
-- Each catalog table is scoped by tenant like checkout_sessions: (organization_id,
-- environment) from the API key, a list index in the lists' order (newest first), and
-- a unique Idempotency-Key per tenant (NULLs, no key, never collide). Lookups by id read
-- the primary key first and check the tenant on the row (common/model/resource_store.c),
-- so no index of the tenant is ever taken for them, statistics or not. Times are whole
-- seconds. Rows are written by the session worker only (commands), each with its event
-- in the outbox in the same transaction.

CREATE TABLE products (
    id               uuid PRIMARY KEY,
    organization_id  uuid NOT NULL,
    environment      text NOT NULL CHECK (environment IN ('test', 'live')),
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 250),
    description      text CHECK (length(description) <= 2000),
    active           boolean NOT NULL DEFAULT true,
    -- A price of this product (the prices' rule, checked by the gateway).
    default_price_id uuid,
    metadata         jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    idempotency_key  text,
    request_hash     text
);
CREATE INDEX products_list ON products (organization_id, environment, created_at DESC, id DESC);
CREATE UNIQUE INDEX products_idempotency ON products (organization_id, environment, idempotency_key);

-- Amounts, currency, type and recurrence never change once created (a new price replaces
-- an old one); unit_amount is NULL only for pay-what-you-want, whose range is
-- custom_minimum..custom_maximum.
CREATE TABLE prices (
    id                       uuid PRIMARY KEY,
    organization_id          uuid NOT NULL,
    environment              text NOT NULL CHECK (environment IN ('test', 'live')),
    product_id               uuid NOT NULL REFERENCES products (id),
    currency_code            text NOT NULL CHECK (currency_code ~ '^[A-Z]{3}$'),
    unit_amount              bigint CHECK (unit_amount > 0 AND unit_amount <= 1000000000000),
    type                     text NOT NULL CHECK (type IN ('one_time', 'recurring')),
    recurring_interval       text CHECK (recurring_interval IN ('day', 'week', 'month', 'year')),
    recurring_interval_count integer CHECK (recurring_interval_count BETWEEN 1 AND 365),
    custom_minimum           bigint CHECK (custom_minimum > 0 AND custom_minimum <= 1000000000000),
    custom_maximum           bigint CHECK (custom_maximum > 0 AND custom_maximum <= 1000000000000),
    active                   boolean NOT NULL DEFAULT true,
    nickname                 text CHECK (length(nickname) <= 250),
    metadata                 jsonb NOT NULL DEFAULT '{}',
    created_at               timestamptz NOT NULL,
    updated_at               timestamptz NOT NULL,
    idempotency_key          text,
    request_hash             text,
    CHECK ((type = 'recurring') = (recurring_interval IS NOT NULL)),
    CHECK ((recurring_interval IS NULL) = (recurring_interval_count IS NULL)),
    CHECK (unit_amount IS NULL OR (custom_minimum IS NULL AND custom_maximum IS NULL)),
    CHECK (custom_minimum IS NULL OR custom_maximum IS NULL OR custom_minimum <= custom_maximum)
);
CREATE INDEX prices_list ON prices (organization_id, environment, created_at DESC, id DESC);
CREATE UNIQUE INDEX prices_idempotency ON prices (organization_id, environment, idempotency_key);
CREATE INDEX prices_product ON prices (product_id);

ALTER TABLE products ADD CONSTRAINT products_default_price
    FOREIGN KEY (default_price_id) REFERENCES prices (id);

-- billing_address: {line1, line2, city, postal_code, state, country}, or NULL.
CREATE TABLE customers (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    environment     text NOT NULL CHECK (environment IN ('test', 'live')),
    email           text CHECK (length(email) <= 254),
    name            text CHECK (length(name) <= 250),
    phone           text CHECK (phone ~ '^\+[1-9][0-9]{7,14}$'),
    billing_address jsonb CHECK (billing_address IS NULL OR jsonb_typeof(billing_address) = 'object'),
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    idempotency_key text,
    request_hash    text
);
CREATE INDEX customers_list ON customers (organization_id, environment, created_at DESC, id DESC);
CREATE UNIQUE INDEX customers_idempotency ON customers (organization_id, environment, idempotency_key);
-- The list filter and a completion's "the tenant's customer with that email".
CREATE INDEX customers_email ON customers (organization_id, environment, lower(email));

-- A discount: percent_off_bp (basis points, 1 to 10000 = 0.01 % to 100 %) or amount_off in
-- currency_code. times_redeemed never passes max_redemptions, whatever the concurrency:
-- the completion that would pass it fails this CHECK, in its own transaction.
CREATE TABLE coupons (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL,
    environment     text NOT NULL CHECK (environment IN ('test', 'live')),
    code            text NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,64}$'),
    percent_off_bp  integer CHECK (percent_off_bp BETWEEN 1 AND 10000),
    amount_off      bigint CHECK (amount_off > 0 AND amount_off <= 1000000000000),
    currency_code   text CHECK (currency_code ~ '^[A-Z]{3}$'),
    valid_from      timestamptz,
    valid_until     timestamptz,
    max_redemptions integer CHECK (max_redemptions >= 1),
    times_redeemed  integer NOT NULL DEFAULT 0 CHECK (times_redeemed >= 0),
    -- {"product_ids": [...]}: the products it applies to; empty, all of them.
    applies_to      jsonb NOT NULL DEFAULT '{"product_ids": []}'
                    CHECK (jsonb_typeof(applies_to) = 'object'),
    active          boolean NOT NULL DEFAULT true,
    metadata        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    idempotency_key text,
    request_hash    text,
    CHECK ((percent_off_bp IS NULL) <> (amount_off IS NULL)),
    CHECK ((amount_off IS NULL) = (currency_code IS NULL)),
    CHECK (max_redemptions IS NULL OR times_redeemed <= max_redemptions),
    CHECK (valid_from IS NULL OR valid_until IS NULL OR valid_from < valid_until)
);
CREATE INDEX coupons_list ON coupons (organization_id, environment, created_at DESC, id DESC);
CREATE UNIQUE INDEX coupons_idempotency ON coupons (organization_id, environment, idempotency_key);
-- Codes are unique per tenant whatever their case, and found by lower(code).
CREATE UNIQUE INDEX coupons_code ON coupons (organization_id, environment, lower(code));

-- Created by the completion of a session whose price is recurring; a renewal is another
-- session, whose completion advances the period.
CREATE TABLE subscriptions (
    id                         uuid PRIMARY KEY,
    organization_id            uuid NOT NULL,
    environment                text NOT NULL CHECK (environment IN ('test', 'live')),
    customer_id                uuid NOT NULL REFERENCES customers (id),
    price_id                   uuid NOT NULL REFERENCES prices (id),
    product_id                 uuid NOT NULL REFERENCES products (id),
    status                     text NOT NULL CHECK (status IN ('active', 'past_due', 'canceled')),
    current_period_start       timestamptz NOT NULL,
    current_period_end         timestamptz NOT NULL,
    latest_checkout_session_id uuid NOT NULL,
    canceled_at                timestamptz,
    metadata                   jsonb NOT NULL DEFAULT '{}',
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL,
    idempotency_key            text,
    request_hash               text,
    CHECK (current_period_start < current_period_end),
    CHECK ((status = 'canceled') = (canceled_at IS NOT NULL))
);
CREATE INDEX subscriptions_list ON subscriptions (organization_id, environment, created_at DESC, id DESC);
CREATE UNIQUE INDEX subscriptions_idempotency ON subscriptions (organization_id, environment, idempotency_key);
CREATE INDEX subscriptions_customer ON subscriptions (customer_id);
-- Active subscriptions whose period ended without renewal become past_due.
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status = 'active';

-- Sessions made from the catalog. NULL in rows written before this migration: they read
-- as amount, 0 and amount. Nullable columns without a default: adding them rewrites no row.
ALTER TABLE checkout_sessions
    ADD COLUMN amount_subtotal bigint CHECK (amount_subtotal > 0 AND amount_subtotal <= 1000000000000),
    ADD COLUMN amount_discount bigint CHECK (amount_discount >= 0),
    ADD COLUMN amount_total    bigint CHECK (amount_total >= 0),
    ADD COLUMN coupon_id       uuid,
    ADD COLUMN coupon_code     text,
    ADD CONSTRAINT checkout_sessions_discount
        CHECK (amount_discount IS NULL OR amount_subtotal IS NULL OR amount_discount <= amount_subtotal),
    ADD CONSTRAINT checkout_sessions_coupon CHECK ((coupon_id IS NULL) = (coupon_code IS NULL));

-- What the session worker made of a command the gateway waits on (a catalog write):
-- applied, or refused with the error the gateway answers. Written in the transaction of
-- the command's effect, so "no row" means "not applied yet"; a redelivered command whose
-- row exists is not applied again. Purged by the expiry worker's retention like the outbox.
CREATE TABLE command_outcomes (
    command_id uuid PRIMARY KEY,
    object_id  uuid NOT NULL,
    outcome    text NOT NULL CHECK (outcome IN ('applied', 'refused')),
    code       text,
    message    text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((outcome = 'refused') = (code IS NOT NULL AND message IS NOT NULL))
);
CREATE INDEX command_outcomes_created ON command_outcomes (created_at);

-- The outbox keeps its column's name (what reads it by name keeps working, an older
-- relay during a rollout too), but the column now holds any event's subject: a session,
-- product, price, customer, coupon or subscription id. The relay keys Kafka records by it.
COMMENT ON COLUMN outbox.session_id IS
    'The event''s subject (CloudEvents subject): the id of the object it describes; the Kafka key';
