-- Webhook fairness (deliveries claimed per endpoint, tenants in turn): the claim walks
-- the endpoints that have pending deliveries and takes each one's oldest due ones, so
-- that a tenant's backlog of millions never lies in the way of another's (a scan of
-- webhook_deliveries_due in due order would read through it). Partial: finished
-- deliveries stay out. Building it locks writes to webhook_deliveries while it runs
-- (migrations run in a transaction, so not CONCURRENTLY): on a large table, create it
-- CONCURRENTLY by hand first, under this name and definition (deploy/OPERATIONS.md,
-- backwards-compatible migrations).
CREATE INDEX IF NOT EXISTS webhook_deliveries_endpoint_due
    ON webhook_deliveries (endpoint_id, next_attempt_at) WHERE status = 'pending';
