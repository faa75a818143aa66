#include "relay.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/clock.h"
#include "infra/db.h"
#include "infra/kafka.h"
#include "core/log.h"
#include "infra/notify.h"
#include "model/outbox.h"
#include "core/result.h"
#include "infra/service.h"
#include "relay_loop.h"

/* Lets the producer gather a round's messages into fewer requests. */
#define RELAY_LINGER_MS 5
#define RELAY_FLUSH_MS 1000

struct relay {
    struct relay_options opt;
    struct db db;
    rd_kafka_t *producer;
    pthread_t thread;
    unsigned long session; /* db.connects of the connection holding the lock */
    struct relay_loop loop;
};

/* Runs in the relay thread, from rd_kafka_poll(). */
static void relay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct relay *r = opaque;
    relay_loop_delivered(&r->loop, msg->_private, msg->err);
}

static rd_kafka_t *relay_new_producer(struct relay *r, struct error *err)
{
    struct kafka_producer_options po = {.brokers = r->opt.brokers,
                                        .message_timeout_ms = r->opt.message_timeout_ms,
                                        .linger_ms = RELAY_LINGER_MS,
                                        .on_delivery = relay_on_delivery,
                                        .opaque = r};
    return kafka_producer_new(&po, err);
}

/* ---- relay_loop's world: the outbox on a connection that holds the lock ---- */

/* db_exec reconnects on its own when a connection breaks outside a
 * transaction, and a new connection holds neither the lock nor the LISTEN. */
static bool relay_same_session(void *ctx)
{
    struct relay *r = ctx;
    return db_is_connected(&r->db) && r->db.connects == r->session;
}

static enum relay_lead relay_try_lead(void *ctx, struct error *err)
{
    struct relay *r = ctx;
    if (db_ensure(&r->db) != C_OK) {
        error_set(err, NULL, "%s", r->db.last_error);
        return RELAY_LEAD_DB_DOWN;
    }
    bool acquired = false;
    if (outbox_try_lock_relay(&r->db, &acquired) != C_OK)
        return RELAY_LEAD_FAILED;
    if (!acquired)
        return RELAY_LEAD_STANDBY;
    r->session = r->db.connects;
    /* LISTEN before the first read, so no row committed after it goes unheard. */
    if (notify_listen(&r->db, OUTBOX_CHANNEL) != C_OK || !relay_same_session(r)) {
        db_disconnect(&r->db);
        return RELAY_LEAD_FAILED;
    }
    return RELAY_LEAD_ACQUIRED;
}

static int relay_fetch(void *ctx, long limit, long max_bytes, struct outbox_row **rows,
                       size_t *count)
{
    struct relay *r = ctx;
    return outbox_fetch_pending(&r->db, limit, max_bytes, rows, count);
}

static int relay_mark(void *ctx, const struct outbox_row *rows, size_t count)
{
    struct relay *r = ctx;
    return outbox_mark_published(&r->db, rows, count);
}

static int relay_wait_rows(void *ctx, long timeout_ms, int *received)
{
    struct relay *r = ctx;
    return notify_wait(&r->db, timeout_ms, received);
}

static void relay_disconnect(void *ctx)
{
    struct relay *r = ctx;
    db_disconnect(&r->db);
}

/* ---- ...and the producer ------------------------------------------------------ */

static rd_kafka_resp_err_t relay_produce(void *ctx, const struct outbox_row *row,
                                         struct relay_delivery *d)
{
    struct relay *r = ctx;
    /* Borrowed: the round keeps its rows until every delivery report is
     * served (relay_loop_publish), so each event is held once, not twice. */
    return kafka_produce_borrowed(r->producer, KAFKA_TOPIC_EVENTS, row->subject_id, row->payload,
                                  row->payload_len, OUTBOX_CONTENT_TYPE, d);
}

static void relay_poll(void *ctx, int timeout_ms)
{
    struct relay *r = ctx;
    rd_kafka_poll(r->producer, timeout_ms);
}

static void relay_purge(void *ctx)
{
    struct relay *r = ctx;
    rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
}

/* A fatal producer error (the idempotent producer lost its guarantees) makes
 * the handle unusable: replace it. */
static void relay_check_producer(void *ctx)
{
    struct relay *r = ctx;
    char reason[512];
    if (rd_kafka_fatal_error(r->producer, reason, sizeof(reason)) == RD_KAFKA_RESP_ERR_NO_ERROR)
        return;
    struct error err = ERROR_INIT;
    rd_kafka_t *fresh = relay_new_producer(r, &err);
    if (fresh == NULL) {
        log_error("outbox relay: cannot replace the failed producer: %s", err.message);
        return;
    }
    log_error("outbox relay: producer failed (%s); replaced it", reason);
    kafka_producer_destroy(r->producer);
    r->producer = fresh;
}

static void relay_flush(void *ctx)
{
    struct relay *r = ctx;
    rd_kafka_flush(r->producer, RELAY_FLUSH_MS);
}

static const struct relay_loop_io relay_io = {
    .try_lead = relay_try_lead,
    .same_session = relay_same_session,
    .fetch = relay_fetch,
    .mark = relay_mark,
    .wait_rows = relay_wait_rows,
    .disconnect = relay_disconnect,
    .produce = relay_produce,
    .poll = relay_poll,
    .purge = relay_purge,
    .check_producer = relay_check_producer,
    .flush = relay_flush,
    .now_ms = clock_now_ms,
    .stopping = service_stopping,
};

/* ---- the thread ------------------------------------------------------------------ */

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    relay_loop_run(&r->loop);
    return NULL;
}

struct relay *relay_start(const struct relay_options *opt, struct error *err)
{
    struct relay *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        error_set(err, NULL, "out of memory");
        return NULL;
    }
    r->opt = *opt;
    struct relay_loop_io io = relay_io;
    io.ctx = r;
    struct relay_loop_options lo = {.batch = opt->batch,
                                    .batch_bytes = opt->batch_bytes,
                                    .poll_ms = opt->poll_ms,
                                    .shutdown_grace_ms = opt->shutdown_grace_ms};
    relay_loop_init(&r->loop, &io, &lo);
    if (db_init(&r->db, opt->database_url) != C_OK) {
        error_set(err, NULL, "out of memory");
        free(r);
        return NULL;
    }
    r->producer = relay_new_producer(r, err);
    if (r->producer == NULL) {
        db_close(&r->db);
        free(r);
        return NULL;
    }
    int e = pthread_create(&r->thread, NULL, relay_main, r);
    if (e != 0) {
        error_set(err, NULL, "cannot start the relay thread (error %d)", e);
        kafka_producer_destroy(r->producer);
        db_close(&r->db);
        free(r);
        return NULL;
    }
    return r;
}

void relay_join(struct relay *r)
{
    pthread_join(r->thread, NULL);
    kafka_producer_destroy(r->producer);
    db_close(&r->db);
    free(r);
}
