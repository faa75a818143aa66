#include "relay.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/backoff.h"
#include "infra/db.h"
#include "infra/kafka.h"
#include "core/log.h"
#include "infra/notify.h"
#include "model/outbox.h"
#include "core/result.h"
#include "infra/service.h"

#define RELAY_RETRY_MIN_MS 100
#define RELAY_RETRY_MAX_MS 5000
/* Idle waits are cut into slices this long so a stop request is seen quickly. */
#define RELAY_WAIT_SLICE_MS 200
/* Lets the producer gather a round's messages into fewer requests. */
#define RELAY_LINGER_MS 5

struct relay_delivery {
    bool done;
    rd_kafka_resp_err_t err;
};

struct relay {
    struct relay_options opt;
    struct db db;
    rd_kafka_t *producer;
    pthread_t thread;
    bool leader;
    unsigned long session; /* db.connects of the connection holding the lock */
    bool standby_logged;
    bool db_down_logged;
    long pending; /* messages produced and not yet reported; relay thread only */
    int64_t stop_seen_ms;
    struct backoff retry;
};

enum relay_round_result { RELAY_IDLE, RELAY_PUBLISHED, RELAY_FAILED };

/* Runs in the relay thread, from rd_kafka_poll(). */
static void relay_on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct relay *r = opaque;
    struct relay_delivery *d = msg->_private;
    d->done = true;
    d->err = msg->err;
    r->pending--;
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

/* Gives up the leadership: closing the connection releases the advisory lock,
 * so a standby can take over. */
static void relay_lose(struct relay *r, const char *why)
{
    if (r->leader)
        log_warn("outbox relay: no longer the leader: %s", why);
    r->leader = false;
    r->standby_logged = false;
    db_disconnect(&r->db);
}

/* Whether the connection that took the lock is still the one in use: db_exec
 * reconnects on its own when a connection breaks outside a transaction, and
 * a new connection holds neither the lock nor the LISTEN. Checked after every
 * statement; a statement that ran elsewhere is not acted upon. */
static bool relay_same_session(const struct relay *r)
{
    return db_is_connected(&r->db) && r->db.connects == r->session;
}

/* Sleeps ms, serving the producer's callbacks meanwhile. */
static void relay_sleep(struct relay *r, long ms)
{
    int64_t deadline = clock_now_ms() + ms;
    while (!service_stopping()) {
        int64_t left = deadline - clock_now_ms();
        if (left <= 0)
            break;
        rd_kafka_poll(r->producer, (int)(left < RELAY_WAIT_SLICE_MS ? left : RELAY_WAIT_SLICE_MS));
    }
}

/* One attempt at becoming the leader. */
static void relay_try_lead(struct relay *r)
{
    if (db_ensure(&r->db) != C_OK) {
        if (!r->db_down_logged)
            log_warn("outbox relay: postgres unreachable, retrying: %s", r->db.last_error);
        r->db_down_logged = true;
        return;
    }
    r->db_down_logged = false;
    bool acquired = false;
    if (outbox_try_lock_relay(&r->db, &acquired) != C_OK)
        return;
    if (!acquired) {
        if (!r->standby_logged)
            log_info("outbox relay: another replica is the leader; standing by");
        r->standby_logged = true;
        return;
    }
    r->session = r->db.connects;
    /* LISTEN before the first read, so no row committed after it goes unheard. */
    if (notify_listen(&r->db, OUTBOX_CHANNEL) != C_OK || !relay_same_session(r)) {
        db_disconnect(&r->db);
        return;
    }
    r->leader = true;
    backoff_reset(&r->retry);
    log_info("outbox relay: this replica is the leader");
}

/* Serves delivery reports until every message of the round has one. Every
 * message gets one within message.timeout.ms; on shutdown, what is still in
 * flight halfway through the grace period is purged (reported as failed, so
 * not marked: the next leader publishes it again). */
static void relay_await_deliveries(struct relay *r)
{
    bool purged = false;
    while (r->pending > 0) {
        rd_kafka_poll(r->producer, 100);
        if (!service_stopping() || purged)
            continue;
        if (r->stop_seen_ms == 0)
            r->stop_seen_ms = clock_now_ms();
        if (clock_now_ms() - r->stop_seen_ms >= r->opt.shutdown_grace_ms / 2) {
            log_warn("outbox relay: shutting down with %ld deliveries outstanding; they will be "
                     "published again",
                     r->pending);
            rd_kafka_purge(r->producer, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
            purged = true;
        }
    }
}

/* A fatal producer error (the idempotent producer lost its guarantees) makes
 * the handle unusable: replace it. */
static void relay_check_producer(struct relay *r)
{
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

static void relay_log_failure(const struct outbox_row *row, rd_kafka_resp_err_t err)
{
    log_fields(LOG_WARN,
               json_pack("{sI ss ss ss}", "seq", (json_int_t)row->seq, "event_id", row->id,
                         "session_id", row->session_id, "error", rd_kafka_err2name(err)),
               "outbox relay: event not delivered, retrying from it: %s", rd_kafka_err2str(err));
}

/* Publishes the rows in order and marks the prefix that was delivered: rows
 * after the first failure are published again next round (a duplicate with
 * the same id at worst), never skipped, so order holds. */
static enum relay_round_result relay_publish(struct relay *r, struct outbox_row *rows, size_t count)
{
    struct relay_delivery *deliveries = calloc(count, sizeof(*deliveries));
    if (deliveries == NULL)
        return RELAY_FAILED;
    for (size_t i = 0; i < count; i++) {
        rd_kafka_resp_err_t e =
            kafka_produce(r->producer, KAFKA_TOPIC_EVENTS, rows[i].session_id, rows[i].payload,
                          rows[i].payload_len, OUTBOX_CONTENT_TYPE, &deliveries[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Nothing after it is produced this round: it would overtake it. */
            deliveries[i].done = true;
            deliveries[i].err = e;
            break;
        }
        r->pending++;
    }
    relay_await_deliveries(r);
    size_t delivered = 0;
    while (delivered < count && deliveries[delivered].done &&
           deliveries[delivered].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        delivered++;
    if (delivered < count)
        relay_log_failure(&rows[delivered], deliveries[delivered].err);
    free(deliveries);
    relay_check_producer(r);
    if (delivered > 0) {
        /* A connection that broke took the lock with it: another leader may
         * publish these rows too, which only duplicates them. Marking them on
         * a new connection would be true, but this replica steps down anyway. */
        if (!relay_same_session(r)) {
            relay_lose(r, "postgres connection lost");
            return RELAY_FAILED;
        }
        int marked = outbox_mark_published(&r->db, rows, delivered);
        if (!relay_same_session(r)) {
            relay_lose(r, "postgres connection lost");
            return RELAY_FAILED;
        }
        if (marked != C_OK)
            return RELAY_FAILED;
        log_fields(LOG_DEBUG, json_pack("{si}", "events", (int)delivered),
                   "outbox relay: published");
    }
    return delivered == count ? RELAY_PUBLISHED : RELAY_FAILED;
}

static enum relay_round_result relay_round(struct relay *r)
{
    struct outbox_row *rows = NULL;
    size_t count = 0;
    int fetched =
        relay_same_session(r) ? outbox_fetch_pending(&r->db, r->opt.batch, &rows, &count) : C_ERR;
    /* Rows read without the lock are not ours to publish. */
    if (!relay_same_session(r)) {
        if (fetched == C_OK)
            outbox_rows_free(rows, count);
        relay_lose(r, "postgres connection lost");
        return RELAY_FAILED;
    }
    if (fetched != C_OK)
        return RELAY_FAILED;
    if (count == 0)
        return RELAY_IDLE;
    enum relay_round_result result = relay_publish(r, rows, count);
    outbox_rows_free(rows, count);
    return result;
}

/* Waits for a NOTIFY on the outbox channel, or poll_ms as a fallback. */
static void relay_wait_for_rows(struct relay *r)
{
    int64_t deadline = clock_now_ms() + r->opt.poll_ms;
    while (!service_stopping()) {
        int64_t left = deadline - clock_now_ms();
        if (left <= 0)
            return;
        int received = 0;
        if (notify_wait(&r->db, left < RELAY_WAIT_SLICE_MS ? left : RELAY_WAIT_SLICE_MS,
                        &received) != C_OK) {
            relay_lose(r, "postgres connection lost");
            return;
        }
        rd_kafka_poll(r->producer, 0);
        if (received > 0)
            return;
    }
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    while (!service_stopping()) {
        if (!r->leader) {
            relay_try_lead(r);
            if (!r->leader)
                relay_sleep(r, r->opt.poll_ms);
            continue;
        }
        switch (relay_round(r)) {
        case RELAY_IDLE:
            backoff_reset(&r->retry);
            relay_wait_for_rows(r);
            break;
        case RELAY_PUBLISHED:
            backoff_reset(&r->retry);
            break;
        case RELAY_FAILED:
            if (r->leader)
                relay_sleep(r, backoff_next(&r->retry));
            break;
        }
    }
    /* Rounds wait for their deliveries, so this only drains stray events. */
    rd_kafka_flush(r->producer, 1000);
    /* Closing the connection releases the lock for the next leader. */
    db_disconnect(&r->db);
    log_info("outbox relay stopped");
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
    backoff_init(&r->retry, RELAY_RETRY_MIN_MS, RELAY_RETRY_MAX_MS);
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
