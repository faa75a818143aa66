-- Dead letters (issue 16): a Kafka record a consumer gave up on, kept with everything needed
-- to look into it and to produce it again: a command whose MAC is missing or wrong, a record
-- that is not what its topic carries (malformed), or one that failed
-- CAISSE_DEAD_LETTER_AFTER times in a row with an error that retrying does not heal.
-- Consumption goes on past it (its offset is stored once its row is committed). Written by
-- the session worker (commands) and the webhook worker (events); read and replayed by
-- caisse-admin dead-letters. One row per record and consumer: a redelivery of a record
-- already parked updates its row (last_failed_at, error) instead of adding one.
CREATE TABLE dead_letters (
    id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    consumer        text NOT NULL,
    topic           text NOT NULL,
    "partition"     integer NOT NULL CHECK ("partition" >= 0),
    "offset"        bigint NOT NULL CHECK ("offset" >= 0),
    key             bytea,
    -- [{"name": ..., "value": text} or {"name": ..., "value_base64": ...} or
    --  {"name": ..., "value": null}], in the record's order.
    headers         jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(headers) = 'array'),
    value           bytea,
    reason          text NOT NULL CHECK (reason IN ('malformed', 'bad_mac', 'failed')),
    error           text NOT NULL,
    failure_count   integer NOT NULL CHECK (failure_count >= 1),
    first_failed_at timestamptz NOT NULL DEFAULT now(),
    last_failed_at  timestamptz NOT NULL DEFAULT now(),
    replayed_at     timestamptz,
    UNIQUE (consumer, topic, "partition", "offset")
);

-- The unreplayed rows: the gauge and caisse-admin dead-letters list.
CREATE INDEX dead_letters_unreplayed ON dead_letters (id) WHERE replayed_at IS NULL;
