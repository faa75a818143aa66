-- One PostgreSQL role per service, with only the privileges it needs, so a
-- leaked connection string of one service cannot read or change what it has
-- no business with (the gateway cannot delete events, the webhook worker
-- cannot see API keys, no service can change the schema).
--
-- These are NOLOGIN group roles; the operator makes a LOGIN user per service
-- that is a member of its role (deploy/pg.sh does so for the local stack,
-- deploy/OPERATIONS.md says how elsewhere). The owner of the schema (the role
-- that runs `caisse-admin migrate`) keeps every right and needs CREATEROLE
-- for this migration. Roles are cluster-wide: each is created only if it does
-- not exist yet, so a second database of the same cluster migrates too.
--
-- A table made by a later migration has no grant at all until that migration
-- adds its own: ARCHITECTURE.md's recipe "add a table: grant it". Note that
-- SELECT ... FOR UPDATE / FOR SHARE (claims, locks) needs UPDATE too.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['caisse_gateway', 'caisse_session_worker', 'caisse_expiry_worker',
                             'caisse_webhook_worker'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r);
        END IF;
        EXECUTE format('GRANT CONNECT ON DATABASE %I TO %I', current_database(), r);
    END LOOP;
END
$$;

-- Nobody but the owner creates objects (PostgreSQL 15's default, kept on older ones).
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO caisse_gateway, caisse_session_worker, caisse_expiry_worker,
    caisse_webhook_worker;

-- The gateway: authenticates API keys, reads what the API shows, hands every
-- other write to Kafka; writes only webhook endpoints (create, update, delete,
-- rotate), a delivery's manual retry, and the hosted page's settle claims.
GRANT SELECT ON organizations, api_keys, checkout_sessions, command_outcomes, products, prices,
    coupons, customers, subscriptions, payment_attempts, outbox, webhook_endpoints,
    webhook_deliveries, webhook_attempts TO caisse_gateway;
GRANT INSERT, UPDATE ON webhook_endpoints TO caisse_gateway;
GRANT UPDATE ON webhook_deliveries, payment_attempts TO caisse_gateway;

-- The session worker: applies commands (sessions, the catalog, payments and
-- their outcomes) with their events, and relays the outbox (outbox_pending:
-- the relay's queue, filled by the outbox trigger).
GRANT SELECT ON organizations TO caisse_session_worker;
GRANT SELECT, INSERT, UPDATE ON checkout_sessions, command_outcomes, payment_attempts
    TO caisse_session_worker;
GRANT SELECT, INSERT, UPDATE, DELETE ON products, prices, coupons, customers, subscriptions
    TO caisse_session_worker;
GRANT SELECT, INSERT ON outbox TO caisse_session_worker;
GRANT SELECT, INSERT, DELETE ON outbox_pending TO caisse_session_worker;

-- The expiry worker: expires due sessions and marks subscriptions past due
-- (with their events), and purges old events, outcomes and deliveries.
GRANT SELECT ON organizations, products, prices, customers, payment_attempts
    TO caisse_expiry_worker;
GRANT SELECT, UPDATE ON checkout_sessions, subscriptions, coupons TO caisse_expiry_worker;
GRANT SELECT, INSERT, DELETE ON outbox, outbox_pending TO caisse_expiry_worker;
GRANT SELECT, DELETE ON command_outcomes, webhook_deliveries, webhook_attempts
    TO caisse_expiry_worker;
-- The purge claims its deliveries FOR UPDATE SKIP LOCKED, which takes UPDATE.
GRANT UPDATE ON webhook_deliveries TO caisse_expiry_worker;

-- The webhook worker: fans events out to endpoints, claims and records
-- deliveries, disables failing endpoints; reads the events it sends.
GRANT SELECT ON outbox TO caisse_webhook_worker;
GRANT SELECT, UPDATE ON webhook_endpoints TO caisse_webhook_worker;
GRANT SELECT, INSERT, UPDATE ON webhook_deliveries TO caisse_webhook_worker;
GRANT SELECT, INSERT ON webhook_attempts TO caisse_webhook_worker;

-- The sequences behind the inserts above.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO caisse_session_worker, caisse_expiry_worker',
                   pg_get_serial_sequence('outbox', 'seq'));
    EXECUTE format('GRANT USAGE ON SEQUENCE %s TO caisse_webhook_worker',
                   pg_get_serial_sequence('webhook_attempts', 'id'));
END
$$;

-- dead_letters (migration 0010, made on a branch of its own at the same time as
-- this one): the two Kafka consumers park messages there and count their
-- failures; caisse-admin (the owner) lists and replays them. Granted only if
-- the table exists, so this migration runs with or without it; columns added
-- later need nothing.
DO $$
DECLARE
    col text;
BEGIN
    IF to_regclass('public.dead_letters') IS NOT NULL THEN
        GRANT SELECT, INSERT, UPDATE ON dead_letters TO caisse_session_worker, caisse_webhook_worker;
        FOR col IN SELECT attname FROM pg_attribute
                   WHERE attrelid = 'public.dead_letters'::regclass AND attnum > 0
                     AND NOT attisdropped LOOP
            IF pg_get_serial_sequence('public.dead_letters', col) IS NOT NULL THEN
                EXECUTE format('GRANT USAGE ON SEQUENCE %s TO caisse_session_worker, caisse_webhook_worker',
                               pg_get_serial_sequence('public.dead_letters', col));
            END IF;
        END LOOP;
    END IF;
END
$$;
