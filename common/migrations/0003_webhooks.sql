-- Webhooks: merchant endpoints, one durable delivery per (event, endpoint), and
-- the log of every attempt. Events themselves are the outbox rows (kept for
-- the events API and as the delivery body, retention by age).

CREATE TABLE webhook_endpoints (
    id                          uuid PRIMARY KEY,
    organization_id             uuid NOT NULL,
    environment                 text NOT NULL CHECK (environment IN ('test', 'live')),
    url                         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    description                 text,
    metadata                    jsonb NOT NULL DEFAULT '{}',
    enabled_events              text[] NOT NULL,
    disabled                    boolean NOT NULL DEFAULT false,
    disabled_reason             text,
    -- Signing secrets (whsec_ + base64). The previous one keeps signing until
    -- previous_secret_expires_at after a rotation.
    secret                      text NOT NULL,
    previous_secret             text,
    previous_secret_expires_at  timestamptz,
    -- Start of the current run of failures; reset by a success. An endpoint
    -- failing continuously for too long is disabled.
    failing_since               timestamptz,
    created_at                  timestamptz NOT NULL DEFAULT now(),
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    deleted_at                  timestamptz
);
CREATE INDEX webhook_endpoints_tenant
    ON webhook_endpoints (organization_id, environment, created_at DESC, id DESC)
    WHERE deleted_at IS NULL;

CREATE TABLE webhook_deliveries (
    id              uuid PRIMARY KEY,
    event_id        uuid NOT NULL,
    endpoint_id     uuid NOT NULL REFERENCES webhook_endpoints (id),
    organization_id uuid NOT NULL,
    environment     text NOT NULL,
    event_type      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempt_count   integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz,
    -- A worker owns a due delivery while lease_until is in the future; a
    -- crashed worker's deliveries are taken over when the lease ends.
    lease_until     timestamptz,
    leased_by       text,
    last_status_code integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_endpoint ON webhook_deliveries (endpoint_id, created_at DESC, id DESC);

CREATE TABLE webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   uuid NOT NULL REFERENCES webhook_deliveries (id),
    attempted_at  timestamptz NOT NULL DEFAULT now(),
    duration_ms   integer NOT NULL,
    status_code   integer,          -- NULL: no HTTP answer (refused, timeout, forbidden address)
    response_body text,             -- first 20,000 bytes
    error         text
);
CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id);

-- The events API lists a tenant's events by type, newest first.
CREATE INDEX outbox_tenant_events ON outbox (organization_id, environment, seq DESC);
