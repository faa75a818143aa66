-- The relay's work queue: one row per event not yet published to Kafka.
-- Stamping outbox.published_at rewrote every event row (about 1.5 KB) and
-- three of its index entries a second time; deleting a row of this narrow
-- table costs a fraction of that, and the outbox rows are now written once.
CREATE TABLE outbox_pending (
    seq bigint PRIMARY KEY
);

-- Filled by the database, so no writer of events can forget it. One
-- statement-level trigger per INSERT or COPY, not one call per row.
CREATE FUNCTION outbox_enqueue() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_pending (seq) SELECT seq FROM new_rows;
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_enqueue AFTER INSERT ON outbox
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_enqueue();

INSERT INTO outbox_pending (seq) SELECT seq FROM outbox WHERE published_at IS NULL;

-- A relay of an older release still running during a rollout fails on the
-- missing column instead of publishing every event again.
DROP INDEX outbox_unpublished;
ALTER TABLE outbox DROP COLUMN published_at;

-- Retention: finished deliveries are purged oldest first.
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
