/* The transactional outbox: every state change inserts its event here in the
 * same transaction, through one writer (an outbox_batch of the transaction's
 * events, then outbox_insert); a trigger queues each new row in
 * outbox_pending, and one relay publishes the queued rows to Kafka in seq
 * order and takes them off the queue.
 *
 * An event's subject is the object it describes (a session, a product...):
 * the relay keys its Kafka record by it. (Its column keeps its first name,
 * session_id.) Per-object order relies on writers inserting the outbox row
 * after they insert or lock the object's row: a second change of the same
 * object then waits for the first to commit and gets a larger seq. */
#ifndef CAISSE_OUTBOX_H
#define CAISSE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "infra/db.h"
#include "core/uuid.h"

/* NOTIFY channel that wakes the relay when new rows are committed. */
#define OUTBOX_CHANNEL "caisse_outbox"
/* Kafka content-type header of every event (CloudEvents structured mode). */
#define OUTBOX_CONTENT_TYPE "application/cloudevents+json"

struct outbox_row {
    int64_t seq;
    char id[UUID_STR_LEN]; /* event id */
    char subject_id[UUID_STR_LEN];
    char *payload; /* owned: the CloudEvent JSON text */
    size_t payload_len;
};

/* One event on its way to the outbox: the columns of its row. */
struct outbox_event {
    const char *id;         /* the event id */
    const char *subject_id; /* the id of the object it describes: the Kafka key */
    const char *organization_id;
    const char *environment;
    const char *type;
    const char *payload; /* the CloudEvent text */
};

/* The events of a transaction, in the order they were added, which becomes
 * their seq order: the rows as COPY text, ready to send. */
struct outbox_batch {
    char *copy; /* owned; one line per event */
    size_t len;
    size_t cap;
    size_t count;
    /* How copy grows; NULL: realloc. Tests put a failing one here. */
    void *(*grow)(void *ptr, size_t size);
};

#define OUTBOX_BATCH_INIT                                                                          \
    {                                                                                              \
        NULL, 0, 0, 0, NULL                                                                        \
    }
#define OUTBOX_COPY_SQL                                                                            \
    "COPY outbox (id, session_id, organization_id, environment, type, payload) FROM STDIN"

/* Adds ev after the events already in b. C_ERR: out of memory, b as it was. */
int outbox_batch_add(struct outbox_batch *b, const struct outbox_event *ev);
/* Forgets the events, keeps the memory. */
void outbox_batch_clear(struct outbox_batch *b);
void outbox_batch_free(struct outbox_batch *b);

/* Inserts b's events in the caller's transaction, in the order they were
 * added, with one COPY (the payloads are not escaped into a second JSON
 * document and parsed back by the server). Nothing to do when b is empty. */
int outbox_insert(struct db *db, const struct outbox_batch *b);

/* Asks the relay to look now; call it inside the transaction that inserted
 * outbox rows, so it is delivered only if they commit. */
int outbox_wake(struct db *db);

/* Takes the relay leadership lock (a session-level advisory lock: it lasts as
 * long as this connection). *acquired false: another connection holds it. */
int outbox_try_lock_relay(struct db *db, bool *acquired);

/* Up to limit unpublished rows, oldest seq first, whose payloads add up to at
 * most max_bytes (always at least the first, however large: a round never
 * stalls on one event). The budget is applied in the query, so no more than
 * it is ever read. *rows is a new array of *count rows (free with
 * outbox_rows_free), NULL when count is 0. */
int outbox_fetch_pending(struct db *db, long limit, long max_bytes, struct outbox_row **rows,
                         size_t *count);
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
