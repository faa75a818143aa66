/* Applying a batch of consumed commands: decoding them by their type through
 * one command table (apply.c: session creates into sessions, each with its
 * created event written once; complete/expire into transitions; the catalog's
 * creates and updates into stored-resource commands), then one PostgreSQL
 * transaction that inserts the new sessions, applies the transitions and then
 * the catalog commands in message order, writes the events of everything that
 * changed to the outbox (one outbox_insert, after the rows they describe),
 * records the catalog commands' outcomes and notifies listeners.
 *
 * The transaction goes through a struct apply_store: PostgreSQL in the
 * worker (apply_store_postgres), a fake in the unit tests. */
#ifndef SESSION_WORKER_APPLY_H
#define SESSION_WORKER_APPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <librdkafka/rdkafka.h>

#include "core/json_writer.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/command_outcome.h"
#include "model/outbox.h"
#include "model/resource_store.h"
#include "model/session.h"
#include "transition_command.h"

#define APPLY_MALFORMED_REASON_MAX 400

/* Where a command came from, for error logs. topic points into the message. */
struct apply_origin {
    const char *topic;
    int32_t partition;
    int64_t offset;
};

/* A create command, decoded. */
struct apply_create {
    struct session session; /* owned; idempotency_key and request_hash from the command */
    struct uuid key;        /* session.id parsed: the same session whatever the case */
    struct apply_origin origin;
    /* The index of the first create of the same session in the batch: this
     * one's own, or the one it replays (then it is not applied again and
     * shares that one's outcome). */
    size_t first;
    char event_id[UUID_STR_LEN]; /* of its created event (first ones only) */
    /* The command's id ("" if it had none fit): the notification names the
     * command that inserted a session whose id retries share (a keyed create). */
    char command_id[UUID_STR_LEN];
    size_t event; /* offset of that event's text in the batch's events */
};

/* A command of a catalog resource (model/resource_store.h), decoded. */
struct apply_stored {
    struct resource_store_command command; /* owned */
    struct apply_origin origin;
    char event_id[UUID_STR_LEN]; /* of the event it writes if it changes something */
    /* The same command (same command id) came earlier in the batch: a replay,
     * applied once. */
    bool replay;
};

struct apply_batch {
    struct apply_create *creates; /* in message order */
    size_t create_count;
    /* Valid complete/expire commands in message order, which within a
     * partition is offset order and so, with key = session id, per-session
     * order. Event ids already set. */
    struct transition_command *transitions;
    struct apply_origin *transition_origins; /* parallel to transitions */
    size_t transition_count;
    /* Catalog commands in message order (per object, with key = object id,
     * per-object order). Event ids already set. */
    struct apply_stored *stored;
    size_t stored_count;
    size_t capacity;  /* messages the batch can take */
    size_t malformed; /* messages left out while decoding (logged) */
    /* Why the last one was (apply_batch_add), for its dead letter. */
    char malformed_reason[APPLY_MALFORMED_REASON_MAX];
    /* apply_prepare: the index in msgs of each malformed message, and why
     * (malformed of them); NULL when there is none. */
    size_t *malformed_index;
    char (*malformed_reasons)[APPLY_MALFORMED_REASON_MAX];
    const char *public_base_url; /* borrowed */
    /* The created events' texts, each NUL-terminated, made here once so
     * every retry of the batch writes the same bytes and ids. */
    struct json_writer events;
    size_t *index; /* open addressing over creates by key (first ones), 0 = empty */
    size_t index_mask;
};

struct apply_stats {
    long inserted;  /* new sessions (each with its created event) */
    long existing;  /* create commands for sessions already present: replays */
    long completed; /* sessions completed (each with its completed event) */
    long expired;   /* sessions expired (each with its expired event) */
    long payments;  /* payment attempts stored or settled (model/payment_attempt.h) */
    long ignored;   /* transitions whose guard did not hold: replays, no longer open */
    long rejected;  /* commands PostgreSQL refused as invalid data (logged, skipped) */
    long stored;    /* catalog commands applied (created or updated, each with its event) */
    long refused;   /* catalog commands refused (their outcome says why) */
};

/* An empty batch for up to capacity messages. C_ERR: out of memory (b holds
 * nothing to free). */
int apply_batch_init(struct apply_batch *b, size_t capacity, const char *public_base_url);
/* Decodes one message (payload of len bytes) into b. A malformed one (not
 * JSON, unknown command type, data that is not a session or not a valid
 * transition, extension attributes of the wrong type) is logged with its
 * origin, counted and left out: it must not block its partition. A create of
 * a session already created earlier in the batch (a replayed command) is
 * kept as a replay of that one. Event ids are made here, once, so every retry
 * of the batch carries the same ones. C_ERR only when out of memory (b as it
 * was); b must have room for one more message. */
int apply_batch_add(struct apply_batch *b, const void *payload, size_t len,
                    const struct apply_origin *origin);
void apply_batch_free(struct apply_batch *b);

/* apply_batch_init and apply_batch_add for each of msgs[0..n), noting which
 * were malformed and why (malformed_index, malformed_reasons). C_ERR only
 * when out of memory (b untouched). */
int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url);

enum apply_step { APPLY_BEGIN, APPLY_COMMIT, APPLY_ROLLBACK, APPLY_SAVEPOINT, APPLY_ROLLBACK_TO };

/* What apply_commit needs of the database. Every function returns C_OK or
 * C_ERR (then sqlstate and error tell why). */
struct apply_store {
    void *ctx;
    /* BEGIN, COMMIT, ROLLBACK (best effort), SAVEPOINT, ROLLBACK TO SAVEPOINT */
    int (*step)(void *ctx, enum apply_step step);
    /* session_store_insert_batch */
    int (*insert)(void *ctx, const struct session *const *sessions, size_t n, bool *inserted);
    /* transition_command_apply: its event, if applied, goes into events */
    int (*transition)(void *ctx, const struct transition_command *t, const char *public_base_url,
                      struct outbox_batch *events, bool *applied);
    /* outbox_insert */
    int (*write_events)(void *ctx, const struct outbox_batch *events);
    /* NOTIFY caisse_session_applied with ids (a JSON array of strings, see
     * infra/notify.h), then, when wake_relay, NOTIFY caisse_outbox */
    int (*notify)(void *ctx, const json_t *ids, bool wake_relay);
    /* SQLSTATE of the last failure ("" if none) and its message */
    const char *(*sqlstate)(void *ctx);
    const char *(*error)(void *ctx);
    /* command_outcome_find_recorded: the catalog commands applied before */
    int (*recorded)(void *ctx, const char *const *command_ids, size_t n, bool *recorded);
    /* resource_store_command_apply: its event, if any, goes into events */
    int (*stored)(void *ctx, const struct resource_store_command *c, const char *event_id,
                  struct outbox_batch *events, struct command_outcome *outcome, bool *inserted);
    /* command_outcome_insert */
    int (*write_outcomes)(void *ctx, const struct command_outcome *outcomes, size_t n);
};

/* The worker's store: PostgreSQL through db. */
struct apply_store apply_store_postgres(struct db *db);

/* Applies b in one transaction: first every create (one insert; replays
 * within the batch left out), then each transition in order, then each
 * catalog command in order (those whose outcome is recorded already, and
 * replays within the batch, left out), then the events of what changed, in
 * that order (created, then each transition's, then the catalog's), then the
 * catalog commands' outcomes; NOTIFY caisse_session_applied with the ids of
 * every create applied (inserted or already present), of every transition
 * (applied or not: the listener reads the row to learn the outcome) and of
 * the object of every catalog command (the listener reads its outcome),
 * NOTIFY caisse_outbox when events were written, COMMIT. A batch without
 * catalog commands makes no statement for them. A command refused by PostgreSQL as invalid data
 * (constraint, bad value) is logged and skipped rather than blocking the
 * batch: the batch is then applied again command by command, each under a
 * savepoint; a catalog command so skipped is recorded as refused. C_ERR: nothing was committed
 * (PostgreSQL unreachable or failing); the same batch can be retried as is. */
int apply_commit(const struct apply_store *store, const struct apply_batch *b,
                 struct apply_stats *stats);

#endif
