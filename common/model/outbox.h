/* The transactional outbox: every state change inserts its event here in the
 * same transaction (session_store_insert_batch does it for creations); a
 * trigger queues each new row in outbox_pending, and one relay publishes the
 * queued rows to Kafka in seq order and takes them off the queue.
 *
 * Per-session order relies on writers inserting the outbox row after they
 * insert or lock the session row: a second change of the same session then
 * waits for the first to commit and gets a larger seq. */
#ifndef CAISSE_OUTBOX_H
#define CAISSE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "infra/db.h"
#include "core/uuid.h"

/* NOTIFY channel that wakes the relay when new rows are committed. */
#define OUTBOX_CHANNEL "caisse_outbox"
/* Kafka content-type header of every event (CloudEvents structured mode). */
#define OUTBOX_CONTENT_TYPE "application/cloudevents+json"

struct outbox_row {
    int64_t seq;
    char id[UUID_STR_LEN]; /* event id */
    char session_id[UUID_STR_LEN];
    char *payload; /* owned: the CloudEvent JSON text */
    size_t payload_len;
};

/* Inserts events in the caller's transaction, in array order (that is their
 * seq order). Each element: {"id", "session_id", "organization_id",
 * "environment", "type", "payload"} where payload is the CloudEvent text. */
int outbox_insert(struct db *db, const json_t *events);

/* Asks the relay to look now; call it inside the transaction that inserted
 * outbox rows, so it is delivered only if they commit. */
int outbox_wake(struct db *db);

/* Takes the relay leadership lock (a session-level advisory lock: it lasts as
 * long as this connection). *acquired false: another connection holds it. */
int outbox_try_lock_relay(struct db *db, bool *acquired);

/* Up to limit unpublished rows, oldest seq first. *rows is a new array of
 * *count rows (free with outbox_rows_free), NULL when count is 0. */
int outbox_fetch_pending(struct db *db, long limit, struct outbox_row **rows, size_t *count);
void outbox_rows_free(struct outbox_row *rows, size_t count);

/* Takes rows[0..count) off the queue: they are published. */
int outbox_mark_published(struct db *db, const struct outbox_row *rows, size_t count);

/* Deletes up to limit published events created more than days ago, oldest
 * first (events older than the retention are no longer served by the events
 * API). *deleted < limit: nothing older is left to delete for now. */
int outbox_purge_older_than(struct db *db, long days, long limit, long *deleted);

/* The events queued for the relay and the age in seconds of the oldest
 * (lowest seq; 0 when none), for its gauges: the queue is one narrow row per
 * unpublished event, so the cost follows the backlog, not the outbox. */
int outbox_measure_backlog(struct db *db, long long *rows, double *oldest_age_s);

#endif
