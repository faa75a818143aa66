/* The outbox relay's decisions, apart from PostgreSQL and the producer so a
 * unit test can drive them: who leads (the holder of the lock; the others
 * stand by and try again every poll_ms), a round (up to batch rows and
 * batch_bytes of payload, at least one row, in seq order, produced in that order, every delivery
 * report awaited before any row is marked, then the delivered prefix marked), a failed round
 * retried with backoff from its first undelivered row, and stepping down when the connection that
 * holds the lock is lost. relay.c gives it the outbox, the producer and the service's clock and
 * stop flag, and runs it on a thread. */
#ifndef SESSION_WORKER_RELAY_LOOP_H
#define SESSION_WORKER_RELAY_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <librdkafka/rdkafka.h>

#include "core/backoff.h"
#include "core/error.h"
#include "model/outbox.h"

#define RELAY_LOOP_RETRY_MIN_MS 100
#define RELAY_LOOP_RETRY_MAX_MS 5000
/* Idle waits are cut into slices this long so a stop request is seen quickly. */
#define RELAY_LOOP_WAIT_SLICE_MS 200
/* How often delivery reports are served while a round waits for them. */
#define RELAY_LOOP_AWAIT_POLL_MS 100

/* One attempt at taking the leadership. */
enum relay_lead {
    RELAY_LEAD_ACQUIRED, /* this connection holds the lock and LISTENs for new rows */
    RELAY_LEAD_STANDBY,  /* another replica holds it */
    RELAY_LEAD_DB_DOWN,  /* PostgreSQL is unreachable (err says why) */
    RELAY_LEAD_FAILED,   /* a statement failed (logged); try again later */
};

enum relay_round_result { RELAY_IDLE, RELAY_PUBLISHED, RELAY_FAILED };

/* One produced row's delivery report, filled by relay_loop_delivered. */
struct relay_delivery {
    bool done;
    rd_kafka_resp_err_t err;
};

struct relay_loop_io {
    void *ctx;
    /* Connects if needed, tries the lock, and LISTENs for new rows. */
    enum relay_lead (*try_lead)(void *ctx, struct error *err);
    /* Whether the connection that took the lock is still the one in use (a
     * reconnected one holds neither the lock nor the LISTEN). */
    bool (*same_session)(void *ctx);
    /* outbox_fetch_pending and outbox_mark_published. */
    int (*fetch)(void *ctx, long limit, long max_bytes, struct outbox_row **rows, size_t *count);
    int (*mark)(void *ctx, const struct outbox_row *rows, size_t count);
    /* notify_wait on the outbox channel: C_ERR when the connection broke. */
    int (*wait_rows)(void *ctx, long timeout_ms, int *received);
    /* Closes the connection, which releases the lock. */
    void (*disconnect)(void *ctx);
    /* Produces row; its delivery report comes through relay_loop_delivered(d)
     * from poll. An error: refused at once, no report will come. */
    rd_kafka_resp_err_t (*produce)(void *ctx, const struct outbox_row *row,
                                   struct relay_delivery *d);
    /* Serves delivery reports for up to timeout_ms. */
    void (*poll)(void *ctx, int timeout_ms);
    /* Gives up what is queued or in flight: reported as failed by poll. */
    void (*purge)(void *ctx);
    /* Replaces a producer that failed for good. */
    void (*check_producer)(void *ctx);
    /* At the end: what is left in the producer, briefly. */
    void (*flush)(void *ctx);
    int64_t (*now_ms)(void); /* monotonic */
    bool (*stopping)(void);
};

struct relay_loop_options {
    long batch;             /* rows per round */
    long batch_bytes;       /* and payload bytes per round: a round holds its rows' payloads
                             * once (the producer borrows them), so this bounds its memory */
    long poll_ms;           /* standby retry, and idle wait between rounds */
    long shutdown_grace_ms; /* after a stop request, in-flight deliveries are given up halfway */
};

struct relay_loop {
    struct relay_loop_io io;
    struct relay_loop_options opt;
    bool leader;
    bool standby_logged;
    bool db_down_logged;
    long pending; /* produced and not reported yet */
    int64_t stop_seen_ms;
    struct backoff retry;
};

void relay_loop_init(struct relay_loop *l, const struct relay_loop_io *io,
                     const struct relay_loop_options *opt);
/* One turn: a standby tries to lead (and waits poll_ms if it could not); the
 * leader runs a round, then waits for new rows when idle, or backs off when
 * the round failed. */
void relay_loop_step(struct relay_loop *l);
/* Fetches, publishes and marks one round (the leader's). */
enum relay_round_result relay_loop_round(struct relay_loop *l);
/* Steps until a stop is requested, then flushes and releases the leadership. */
void relay_loop_run(struct relay_loop *l);
/* A delivery report (err 0: delivered); called from io.poll. */
void relay_loop_delivered(struct relay_loop *l, struct relay_delivery *d, rd_kafka_resp_err_t err);

#endif
