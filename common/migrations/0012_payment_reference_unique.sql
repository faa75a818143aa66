-- One payment completes one session (issue 16): payment_reference is unique per tenant
-- (organization and environment). A database that already holds the same reference on
-- several sessions of a tenant (the completion did not check it before) cannot fail this
-- migration: the first session completed with it keeps it in the index, the later ones keep
-- their reference too (nothing a merchant saw changes) but are flagged
-- payment_reference_duplicate and left outside the index. deploy/OPERATIONS.md has the query
-- that lists them. The column has a constant default: adding it rewrites no row.
ALTER TABLE checkout_sessions
    ADD COLUMN payment_reference_duplicate boolean NOT NULL DEFAULT false;

UPDATE checkout_sessions s SET payment_reference_duplicate = true
  FROM (SELECT id, row_number() OVER (PARTITION BY organization_id, environment, payment_reference
                                      ORDER BY completed_at NULLS LAST, id) AS n
          FROM checkout_sessions WHERE payment_reference IS NOT NULL) d
 WHERE d.id = s.id AND d.n > 1;

CREATE UNIQUE INDEX checkout_sessions_payment_reference
    ON checkout_sessions (organization_id, environment, payment_reference)
    WHERE payment_reference IS NOT NULL AND NOT payment_reference_duplicate;
