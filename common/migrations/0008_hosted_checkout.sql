-- The hosted checkout page (issue 14): the secret of a session's page, what the customer
-- gave on it, the payment that completed it, and every payment attempt.
--
-- Nullable columns without a default: adding them rewrites no row, and the gateways and
-- workers of the previous release ignore them. Sessions made before this migration have no
-- page_secret: their url stays <base>/checkout/<id>, whose page is not found.
ALTER TABLE checkout_sessions
    -- base64url of 24 random bytes, made by the gateway at create.
    ADD COLUMN page_secret      text CHECK (page_secret ~ '^[A-Za-z0-9_-]{32}$'),
    -- {line1, city, postal_code, country}: set by the completion, when required.
    ADD COLUMN billing_address  jsonb CHECK (jsonb_typeof(billing_address) = 'object'),
    -- {email, name, phone}: what the customer gave on the page.
    ADD COLUMN customer_details jsonb CHECK (jsonb_typeof(customer_details) = 'object'),
    -- {provider, method, reference, status, amount, currency_code, completed_at}.
    ADD COLUMN payment          jsonb CHECK (jsonb_typeof(payment) = 'object');

-- Every payment a customer started on a session's page: pending ones (the customer
-- approves on the phone), failed ones, succeeded ones (one completed the session; one that
-- could not, because the session expired or was completed by another, is flagged for
-- refund). Written only by the session worker (the checkout.session.payment command).
-- The id is derived from the session and the page's attempt key, so a double submit of
-- one page is one attempt. Phone and card numbers are kept as their last 4 digits only.
CREATE TABLE payment_attempts (
    id               uuid PRIMARY KEY,
    session_id       uuid NOT NULL,
    organization_id  uuid NOT NULL,
    environment      text NOT NULL CHECK (environment IN ('test', 'live')),
    provider         text NOT NULL,
    method           text NOT NULL CHECK (method IN ('mobile_money', 'card')),
    account_last4    text NOT NULL CHECK (account_last4 ~ '^[0-9]{0,4}$'),
    reference        text,
    status           text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    failure_code     text,
    failure_message  text,
    amount           bigint NOT NULL CHECK (amount >= 0 AND amount <= 1000000000000),
    currency_code    text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 10000),
    amount_subtotal  bigint NOT NULL CHECK (amount_subtotal > 0 AND amount_subtotal <= 1000000000000),
    amount_discount  bigint NOT NULL CHECK (amount_discount >= 0),
    coupon_id        uuid,
    coupon_code      text,
    customer_details jsonb,
    billing_address  jsonb,
    -- A payment taken that completed nothing: the merchant must give it back.
    refund_required  boolean NOT NULL DEFAULT false,
    refund_reason    text,
    started_at       timestamptz NOT NULL,
    settled_at       timestamptz,
    -- When the gateways' background settle next asks the provider (pending ones only).
    next_poll_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'pending') = (settled_at IS NULL)),
    CHECK (amount = amount_subtotal - amount_discount)
);
-- A session's attempts, oldest first (GET of the session, the page's latest).
CREATE INDEX payment_attempts_session ON payment_attempts (session_id, started_at, id);
-- The background settle: pending attempts whose next poll is due.
CREATE INDEX payment_attempts_due ON payment_attempts (next_poll_at) WHERE status = 'pending';
