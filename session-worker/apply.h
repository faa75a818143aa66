/* Applying a batch of consumed create commands: decoding them into the records
 * session_store_insert_batch takes, then one PostgreSQL transaction that
 * inserts the sessions with their outbox events and notifies listeners. */
#ifndef SESSION_WORKER_APPLY_H
#define SESSION_WORKER_APPLY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "db.h"

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
    size_t malformed;             /* messages skipped while decoding (logged) */
};

struct apply_stats {
    long inserted; /* new sessions (each with its created event) */
    long existing; /* commands for sessions already present: replays */
    long rejected; /* records PostgreSQL refused as invalid data (logged, skipped) */
};

/* Decodes msgs[0..n) into b. A malformed message (not JSON, not a create
 * command, data that is not a session) is logged with its topic, partition
 * and offset and left out: it must not block its partition. Event ids are
 * made here, once, so every retry of the batch carries the same ones.
 * C_ERR only when out of memory (b untouched). */
int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url);
void apply_batch_free(struct apply_batch *b);

/* Applies b in one transaction: inserts, NOTIFY caisse_session_applied with
 * the ids of every record applied (inserted or already present), NOTIFY
 * caisse_outbox when events were written, COMMIT. A record refused by
 * PostgreSQL as invalid data (constraint, bad value) is logged and skipped
 * rather than blocking the batch. C_ERR: nothing was committed (PostgreSQL
 * unreachable or failing); the same batch can be retried as is. */
int apply_commit(struct db *db, const struct apply_batch *b, struct apply_stats *stats);

#endif
