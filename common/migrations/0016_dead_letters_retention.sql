-- The expiry worker's retention purge deletes the dead letters replayed longer ago than
-- CAISSE_EVENT_RETENTION_DAYS (unreplayed ones stay until an operator deals with them), so
-- its role reads and deletes them; the index keeps the purge's scan to the replayed rows,
-- oldest first, whatever the statistics say.
GRANT SELECT, DELETE ON dead_letters TO caisse_expiry_worker;
CREATE INDEX dead_letters_replayed ON dead_letters (replayed_at) WHERE replayed_at IS NOT NULL;
