/* Applying a batch of consumed commands: decoding them (creates into the
 * records session_store_insert_batch takes, complete/expire into transitions),
 * then one PostgreSQL transaction that inserts the new sessions, applies the
 * transitions in message order, writes their outbox events and notifies
 * listeners. */
#ifndef SESSION_WORKER_APPLY_H
#define SESSION_WORKER_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "infra/db.h"
#include "transition.h"

/* Where a record came from, for error logs. topic points into the message. */
struct apply_origin {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

struct apply_batch {
    json_t *records; /* array: REST object + idempotency_key, request_hash, event_id, event */
    struct apply_origin *origins; /* parallel to records */
    size_t count;                 /* records (valid create commands) */
    /* Valid complete/expire commands in message order, which within a
     * partition is offset order and so, with key = session id, per-session
     * order. Event ids already set. */
    struct transition *transitions;
    struct apply_origin *transition_origins; /* parallel to transitions */
    size_t transition_count;
    size_t malformed;            /* messages skipped while decoding (logged) */
    const char *public_base_url; /* borrowed from apply_prepare's caller */
};

struct apply_stats {
    long inserted;  /* new sessions (each with its created event) */
    long existing;  /* create commands for sessions already present: replays */
    long completed; /* sessions completed (each with its completed event) */
    long expired;   /* sessions expired (each with its expired event) */
    long ignored;   /* transitions whose guard did not hold: replays, no longer open */
    long rejected;  /* commands PostgreSQL refused as invalid data (logged, skipped) */
};

/* Decodes msgs[0..n) into b. A malformed message (not JSON, unknown command
 * type, data that is not a session or not a valid transition) is logged with
 * its topic, partition and offset and left out: it must not block its
 * partition. Event ids are made here, once, so every retry of the batch
 * carries the same ones. C_ERR only when out of memory (b untouched). */
int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url);
void apply_batch_free(struct apply_batch *b);

/* Applies b in one transaction: first every create (one insert), then each
 * transition in order, NOTIFY caisse_session_applied with the ids of every
 * create applied (inserted or already present) and of every transition
 * (applied or not: the listener reads the row to learn the outcome), NOTIFY
 * caisse_outbox when events were written, COMMIT. A command refused by
 * PostgreSQL as invalid data (constraint, bad value) is logged and skipped
 * rather than blocking the batch. C_ERR: nothing was committed (PostgreSQL
 * unreachable or failing); the same batch can be retried as is. */
int apply_commit(struct db *db, const struct apply_batch *b, struct apply_stats *stats);

#endif
