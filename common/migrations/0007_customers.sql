-- Customers (issue 13): the indexes their email lookup and their delete guard read, in a
-- shape that holds without planner statistics (a new database has none). No column is
-- missing from 0006; these two indexes are.
--
-- The email lookup (GET /customers?email=, and a completion's "the tenant's customer with
-- that email") compares one key, the tenant and the lower-cased email in one text, which
-- only this index can serve. With the tenant as columns of their own (0006's
-- customers_email), the planner without statistics takes the tenant's idempotency index
-- instead (EXPLAIN on a new database, 50,000 customers in the tenant: every row of the
-- tenant read, 18 to 100 ms a lookup). organization_id is 36 characters and environment
-- 4, so the key is unambiguous. Newest first, as lists are. No release before this one
-- reads customers, so replacing 0006's index takes nothing from one still running.
DROP INDEX customers_email;
CREATE INDEX customers_email ON customers
    ((organization_id::text || environment || lower(email)), created_at DESC, id DESC);

-- A customer is deleted only while no checkout session names it: the session worker looks
-- for one in the delete's transaction, by this index (subscriptions have theirs,
-- subscriptions_customer); without it, through every session of the tenant. Partial:
-- sessions without a customer stay out. Building it locks writes to checkout_sessions
-- while it runs (migrations run in a transaction, so not CONCURRENTLY): on a large table,
-- create it CONCURRENTLY by hand first, under this name and definition
-- (deploy/OPERATIONS.md, backwards-compatible migrations).
CREATE INDEX IF NOT EXISTS checkout_sessions_customer ON checkout_sessions (customer_id)
    WHERE customer_id IS NOT NULL;
