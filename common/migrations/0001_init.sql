-- Organizations, API keys, checkout sessions and the transactional outbox.

CREATE TABLE organizations (
    id               uuid PRIMARY KEY,
    name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    default_currency text NOT NULL CHECK (default_currency ~ '^[A-Z]{3}$'),
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Only the SHA-256 of a key is kept; prefix and last four characters let an
-- operator recognise a key in a listing without being able to use it.
CREATE TABLE api_keys (
    id              uuid PRIMARY KEY,
    organization_id uuid NOT NULL REFERENCES organizations (id),
    environment     text NOT NULL CHECK (environment IN ('test', 'live')),
    key_sha256      text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    prefix          text NOT NULL,
    last4           text NOT NULL,
    description     text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz
);
CREATE INDEX api_keys_organization ON api_keys (organization_id);

CREATE TABLE checkout_sessions (
    id                      uuid PRIMARY KEY,
    organization_id         uuid NOT NULL,
    environment             text NOT NULL CHECK (environment IN ('test', 'live')),
    amount                  bigint NOT NULL CHECK (amount > 0 AND amount <= 1000000000000),
    currency_code           text NOT NULL,
    status                  text NOT NULL CHECK (status IN ('open', 'complete', 'expired')),
    title                   text,
    description             text,
    customer_id             uuid,
    customer_email          text,
    customer_name           text,
    customer_phone          text,
    product_id              uuid,
    price_id                uuid,
    subscription_id         uuid,
    allow_quantity          boolean NOT NULL DEFAULT false,
    quantity                integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    success_url             text,
    cancel_url              text,
    allow_coupon_code       boolean NOT NULL DEFAULT false,
    require_billing_address boolean NOT NULL DEFAULT false,
    payment_link_id         uuid,
    is_spi                  boolean NOT NULL DEFAULT false,
    is_pos                  boolean NOT NULL DEFAULT false,
    expires_at              timestamptz NOT NULL,
    metadata                jsonb NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL,
    created_by              uuid NOT NULL,
    updated_at              timestamptz NOT NULL,
    idempotency_key         text,
    request_hash            text,
    CHECK (customer_id IS NOT NULL OR customer_email IS NOT NULL)
);
-- Lists: newest first per tenant, also the cursor for starting_after.
CREATE INDEX checkout_sessions_list
    ON checkout_sessions (organization_id, environment, created_at DESC, id DESC);
-- Expiry: only open sessions are ever due.
CREATE INDEX checkout_sessions_due ON checkout_sessions (expires_at) WHERE status = 'open';
-- Idempotency keys are per tenant; NULLs (no key) never collide.
CREATE UNIQUE INDEX checkout_sessions_idempotency
    ON checkout_sessions (organization_id, environment, idempotency_key);

-- Every state change writes its event here in the same transaction; the relay
-- publishes rows in seq order and stamps published_at. payload is the exact
-- CloudEvent text, so a re-publication is byte-identical with the same id.
CREATE TABLE outbox (
    seq             bigserial PRIMARY KEY,
    id              uuid NOT NULL UNIQUE,
    session_id      uuid NOT NULL,
    organization_id uuid NOT NULL,
    environment     text NOT NULL,
    type            text NOT NULL,
    payload         text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    published_at    timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
