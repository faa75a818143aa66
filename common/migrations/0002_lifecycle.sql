-- Completion: the payment that completed a session, so a repeated completion
-- with the same reference is recognised (idempotent) and another is refused.
ALTER TABLE checkout_sessions
    ADD COLUMN payment_reference text CHECK (length(payment_reference) BETWEEN 1 AND 255),
    ADD COLUMN completed_at timestamptz;
