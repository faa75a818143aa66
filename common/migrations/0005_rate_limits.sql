-- An organization's own rate limit: requests a second each of its API keys may make
-- (caisse-admin set-rate-limit). NULL: the gateways' CAISSE_RATE_LIMIT_KEY_PER_S; 0: none.
-- A nullable column: gateways of the previous release ignore it.
ALTER TABLE organizations
    ADD COLUMN api_rate_limit_per_s integer
        CHECK (api_rate_limit_per_s BETWEEN 0 AND 1000000);
