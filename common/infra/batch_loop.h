/* The decisions of batch_consumer's loop, apart from Kafka and the process so
 * a unit test can drive them: take a batch (wait for the first record, then
 * take what arrives within the window, up to batch_max), apply it, store its
 * offsets only once it is applied, retry a failing apply with backoff, renew a
 * source that was fenced, and end on a stop request or a fatal source error.
 * batch_consumer.c gives it a Kafka consumer and the service's clock and stop
 * flag. */
#ifndef CAISSE_BATCH_LOOP_H
#define CAISSE_BATCH_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

/* How long the first record of a batch is waited for: short enough to see a
 * stop request quickly, long enough not to spin. */
#define BATCH_LOOP_FIRST_WAIT_MS 500
#define BATCH_LOOP_RETRY_MIN_MS 100
#define BATCH_LOOP_RETRY_MAX_MS 5000
/* A fenced source is renewed after a pause that doubles from _MIN_MS to
 * _MAX_MS while fences keep coming (two replicas sharing one identity fence
 * each other in turn: this caps their ping-pong), and starts from _MIN_MS
 * again once the last renewal is _QUIET_MS old. */
#define BATCH_LOOP_RENEW_MIN_MS 1000
#define BATCH_LOOP_RENEW_MAX_MS 60000
#define BATCH_LOOP_RENEW_QUIET_MS 600000

/* What one take from the source gave. */
enum batch_loop_take {
    BATCH_LOOP_RECORD,  /* a record: *out, the loop's until it releases it */
    BATCH_LOOP_NONE,    /* nothing within the timeout */
    BATCH_LOOP_SKIPPED, /* an error event, logged and dropped by the source */
    BATCH_LOOP_FENCED,  /* the source is unusable, but a new one would work: a
                         * Kafka static member whose group.instance.id another
                         * member took over (logged by the source) */
    BATCH_LOOP_FATAL,   /* the source is unusable (logged by the source) */
};

/* The records and the world around the loop. */
struct batch_loop_io {
    void *source;
    /* The next record within timeout_ms (0: only one already fetched). */
    enum batch_loop_take (*take)(void *source, int timeout_ms, rd_kafka_message_t **out);
    void (*release)(void *source, rd_kafka_message_t *m);
    /* The batch msgs[0..n) is durably applied: its offsets may be committed. */
    void (*store)(void *source, rd_kafka_message_t *const *msgs, size_t n);
    /* Whether the source takes work yet; asked after each batch, empty or not,
     * until it does. */
    bool (*joined)(void *source);
    /* After BATCH_LOOP_FENCED: replaces what source holds by a new one (same
     * pointer, not joined yet). C_ERR (logged): the loop ends as on
     * BATCH_LOOP_FATAL. NULL: a fenced source is fatal. */
    int (*renew)(void *source);
    int64_t (*now_ms)(void); /* monotonic */
    bool (*stopping)(void);
    void (*request_stop)(void);
    void (*sleep_ms)(long ms); /* returns early on a stop request */
};

struct batch_loop_limits {
    long batch_max;
    long batch_wait_ms; /* after the first record of a batch */
};

/* Applies msgs[0..n); see batch_consumer_apply_fn. */
typedef int (*batch_loop_apply_fn)(void *ctx, rd_kafka_message_t *const *msgs, size_t n);

/* Fills msgs (room for batch_max) with one batch and returns its size; 0
 * after BATCH_LOOP_FIRST_WAIT_MS without a record. A stop request ends the
 * filling, not the batch in hand. *failure (BATCH_LOOP_NONE on entry) becomes
 * BATCH_LOOP_FATAL or BATCH_LOOP_FENCED when the source fails: the filling
 * ends and the records taken before are still returned. */
size_t batch_loop_fill(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                       rd_kafka_message_t **msgs, enum batch_loop_take *failure);

/* Takes, applies and stores batches until a stop is requested (C_OK) or the
 * source fails for good (C_ERR, and a stop is requested). A fenced source
 * has its batch in hand applied and stored like any, then is renewed
 * (io->renew, after the BATCH_LOOP_RENEW_* pause) and the loop goes on. An
 * apply that returns C_ERR stores nothing and requests a stop, so the source
 * redelivers the batch to the next consumer. msgs has room for batch_max. */
int batch_loop_run(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                   rd_kafka_message_t **msgs, batch_loop_apply_fn apply, void *ctx);

/* Calls attempt(ctx) until it succeeds, backing off from
 * BATCH_LOOP_RETRY_MIN_MS to _MAX_MS and logging each failure with what and
 * db_error(ctx) (may be NULL); C_ERR as soon as a stop was requested after a
 * failure. */
int batch_loop_retry(const struct batch_loop_io *io, int (*attempt)(void *ctx),
                     const char *(*db_error)(void *ctx), void *ctx, const char *what,
                     size_t messages);

/* ---- isolating a record that cannot be applied --------------------------- */

/* What one attempt at applying records gave. */
enum batch_loop_result {
    BATCH_LOOP_APPLIED,    /* durably applied */
    BATCH_LOOP_TRANSIENT,  /* may heal (database down, connection lost, serialization
                            * failure): try the same again after a pause */
    BATCH_LOOP_PERSISTENT, /* the records' own fault (the data, a constraint): trying
                            * again gives the same answer */
};

/* How a consumer applies records one attempt at a time and parks the one it
 * gives up on. */
struct batch_loop_isolation {
    /* Applies msgs[0..n) once, in one transaction (all or nothing). */
    enum batch_loop_result (*attempt)(void *ctx, rd_kafka_message_t *const *msgs, size_t n);
    /* Parks m (a dead letter) after failures persistent failures; error is the
     * last one's. C_OK once the park is committed; C_ERR: retried. */
    int (*park)(void *ctx, const rd_kafka_message_t *m, const char *error, int failures);
    /* The last failure's text, for logs and the dead letter. */
    const char *(*error)(void *ctx);
    /* Persistent failures of one record before it is parked (>= 1). */
    long dead_letter_after;
    const char *what; /* "apply commands": the logs' "could not %s" */
};

/* Applies msgs[0..n) so that one record that cannot be applied does not
 * hold the others: the whole batch first, in one attempt, retried after a
 * pause as long as the failure is transient; on a persistent failure, each
 * record alone, in order (so per-key order holds), each retried like the
 * batch, and a record that fails persistently dead_letter_after times is
 * parked and passed over. Transient failures are never counted and never
 * park anything: they are waited out. C_OK: every record applied or parked,
 * the offsets may be stored. C_ERR: a stop was requested before the end;
 * nothing after the records already applied is done, and the batch is
 * redelivered (applying is idempotent). */
int batch_loop_apply_isolating(const struct batch_loop_io *io,
                               const struct batch_loop_isolation *iso, void *ctx,
                               rd_kafka_message_t *const *msgs, size_t n);

#endif
