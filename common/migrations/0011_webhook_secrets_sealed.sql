-- Webhook signing secrets at rest: sealed with AES-256-GCM under the
-- operator's key (CAISSE_SECRETS_KEY, never in the database), the key's id
-- beside each ciphertext so keys can be rotated. SQL cannot seal with a key
-- it does not have: `caisse-admin migrate` (when CAISSE_SECRETS_KEY is set)
-- and `caisse-admin secrets reencrypt` seal the plain text of older rows and
-- clear it; until then the services still read it.
ALTER TABLE webhook_endpoints
    ADD COLUMN secret_ciphertext bytea,
    ADD COLUMN secret_key_id text,
    ADD COLUMN previous_secret_ciphertext bytea,
    ADD COLUMN previous_secret_key_id text,
    ALTER COLUMN secret DROP NOT NULL;

ALTER TABLE webhook_endpoints
    ADD CONSTRAINT webhook_endpoints_secret_present
        CHECK (secret IS NOT NULL OR (secret_ciphertext IS NOT NULL AND secret_key_id IS NOT NULL)),
    ADD CONSTRAINT webhook_endpoints_previous_secret_sealed
        CHECK ((previous_secret_ciphertext IS NULL) = (previous_secret_key_id IS NULL));
