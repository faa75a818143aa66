#include "relay_loop.h"

#include <stdlib.h>

#include "core/log.h"
#include "core/result.h"

void relay_loop_init(struct relay_loop *l, const struct relay_loop_io *io,
                     const struct relay_loop_options *opt)
{
    *l = (struct relay_loop){.io = *io, .opt = *opt};
    backoff_init(&l->retry, RELAY_LOOP_RETRY_MIN_MS, RELAY_LOOP_RETRY_MAX_MS);
}

void relay_loop_delivered(struct relay_loop *l, struct relay_delivery *d, rd_kafka_resp_err_t err)
{
    d->done = true;
    d->err = err;
    l->pending--;
}

/* Gives up the leadership: closing the connection releases the lock, so a
 * standby can take over. */
static void relay_loop_lose(struct relay_loop *l, const char *why)
{
    if (l->leader)
        log_warn("outbox relay: no longer the leader: %s", why);
    l->leader = false;
    l->standby_logged = false;
    l->io.disconnect(l->io.ctx);
}

/* Checked after every statement: a statement that ran on another connection
 * than the one holding the lock is not acted upon. */
static bool relay_loop_same_session(struct relay_loop *l)
{
    return l->io.same_session(l->io.ctx);
}

/* Sleeps ms, serving the producer's callbacks meanwhile. */
static void relay_loop_sleep(struct relay_loop *l, long ms)
{
    int64_t deadline = l->io.now_ms() + ms;
    while (!l->io.stopping()) {
        int64_t left = deadline - l->io.now_ms();
        if (left <= 0)
            break;
        l->io.poll(l->io.ctx,
                   (int)(left < RELAY_LOOP_WAIT_SLICE_MS ? left : RELAY_LOOP_WAIT_SLICE_MS));
    }
}

static void relay_loop_try_lead(struct relay_loop *l)
{
    struct error err = ERROR_INIT;
    enum relay_lead lead = l->io.try_lead(l->io.ctx, &err);
    if (lead == RELAY_LEAD_DB_DOWN) {
        if (!l->db_down_logged)
            log_warn("outbox relay: postgres unreachable, retrying: %s", err.message);
        l->db_down_logged = true;
        return;
    }
    l->db_down_logged = false;
    if (lead == RELAY_LEAD_FAILED)
        return;
    if (lead == RELAY_LEAD_STANDBY) {
        if (!l->standby_logged)
            log_info("outbox relay: another replica is the leader; standing by");
        l->standby_logged = true;
        return;
    }
    l->leader = true;
    backoff_reset(&l->retry);
    log_info("outbox relay: this replica is the leader");
}

/* Serves delivery reports until every message of the round has one. Every
 * message gets one within message.timeout.ms; on shutdown, what is still in
 * flight halfway through the grace period is purged (reported as failed, so
 * not marked: the next leader publishes it again). */
static void relay_loop_await_deliveries(struct relay_loop *l)
{
    bool purged = false;
    while (l->pending > 0) {
        l->io.poll(l->io.ctx, RELAY_LOOP_AWAIT_POLL_MS);
        if (!l->io.stopping() || purged)
            continue;
        if (l->stop_seen_ms == 0)
            l->stop_seen_ms = l->io.now_ms();
        if (l->io.now_ms() - l->stop_seen_ms >= l->opt.shutdown_grace_ms / 2) {
            log_warn("outbox relay: shutting down with %ld deliveries outstanding; they will be "
                     "published again",
                     l->pending);
            l->io.purge(l->io.ctx);
            purged = true;
        }
    }
}

static void relay_loop_log_failure(const struct outbox_row *row, rd_kafka_resp_err_t err)
{
    log_fields(LOG_WARN,
               json_pack("{sI ss ss ss}", "seq", (json_int_t)row->seq, "event_id", row->id,
                         "subject_id", row->subject_id, "error", rd_kafka_err2name(err)),
               "outbox relay: event not delivered, retrying from it: %s", rd_kafka_err2str(err));
}

/* Publishes the rows in order and marks the prefix that was delivered: rows
 * after the first failure are published again next round (a duplicate with
 * the same id at worst), never skipped, so order holds. */
static enum relay_round_result relay_loop_publish(struct relay_loop *l, struct outbox_row *rows,
                                                  size_t count)
{
    struct relay_delivery *deliveries = calloc(count, sizeof(*deliveries));
    if (deliveries == NULL)
        return RELAY_FAILED;
    for (size_t i = 0; i < count; i++) {
        rd_kafka_resp_err_t e = l->io.produce(l->io.ctx, &rows[i], &deliveries[i]);
        if (e != RD_KAFKA_RESP_ERR_NO_ERROR) {
            /* Nothing after it is produced this round: it would overtake it. */
            deliveries[i].done = true;
            deliveries[i].err = e;
            break;
        }
        l->pending++;
    }
    relay_loop_await_deliveries(l);
    size_t delivered = 0;
    while (delivered < count && deliveries[delivered].done &&
           deliveries[delivered].err == RD_KAFKA_RESP_ERR_NO_ERROR)
        delivered++;
    if (delivered < count)
        relay_loop_log_failure(&rows[delivered], deliveries[delivered].err);
    free(deliveries);
    l->io.check_producer(l->io.ctx);
    if (delivered > 0) {
        /* A connection that broke took the lock with it: another leader may
         * publish these rows too, which only duplicates them. Marking them on
         * a new connection would be true, but this replica steps down anyway. */
        if (!relay_loop_same_session(l)) {
            relay_loop_lose(l, "postgres connection lost");
            return RELAY_FAILED;
        }
        int marked = l->io.mark(l->io.ctx, rows, delivered);
        if (!relay_loop_same_session(l)) {
            relay_loop_lose(l, "postgres connection lost");
            return RELAY_FAILED;
        }
        if (marked != C_OK)
            return RELAY_FAILED;
        log_fields(LOG_DEBUG, json_pack("{si}", "events", (int)delivered),
                   "outbox relay: published");
    }
    return delivered == count ? RELAY_PUBLISHED : RELAY_FAILED;
}

enum relay_round_result relay_loop_round(struct relay_loop *l)
{
    struct outbox_row *rows = NULL;
    size_t count = 0;
    int fetched = relay_loop_same_session(l)
                      ? l->io.fetch(l->io.ctx, l->opt.batch, l->opt.batch_bytes, &rows, &count)
                      : C_ERR;
    /* Rows read without the lock are not ours to publish. */
    if (!relay_loop_same_session(l)) {
        if (fetched == C_OK)
            outbox_rows_free(rows, count);
        relay_loop_lose(l, "postgres connection lost");
        return RELAY_FAILED;
    }
    if (fetched != C_OK)
        return RELAY_FAILED;
    if (count == 0)
        return RELAY_IDLE;
    enum relay_round_result result = relay_loop_publish(l, rows, count);
    outbox_rows_free(rows, count);
    return result;
}

/* Waits for a notification of new rows, or poll_ms as a fallback. */
static void relay_loop_wait_for_rows(struct relay_loop *l)
{
    int64_t deadline = l->io.now_ms() + l->opt.poll_ms;
    while (!l->io.stopping()) {
        int64_t left = deadline - l->io.now_ms();
        if (left <= 0)
            return;
        int received = 0;
        if (l->io.wait_rows(l->io.ctx,
                            left < RELAY_LOOP_WAIT_SLICE_MS ? left : RELAY_LOOP_WAIT_SLICE_MS,
                            &received) != C_OK) {
            relay_loop_lose(l, "postgres connection lost");
            return;
        }
        l->io.poll(l->io.ctx, 0);
        if (received > 0)
            return;
    }
}

void relay_loop_step(struct relay_loop *l)
{
    if (!l->leader) {
        relay_loop_try_lead(l);
        if (!l->leader)
            relay_loop_sleep(l, l->opt.poll_ms);
        return;
    }
    switch (relay_loop_round(l)) {
    case RELAY_IDLE:
        backoff_reset(&l->retry);
        relay_loop_wait_for_rows(l);
        break;
    case RELAY_PUBLISHED:
        backoff_reset(&l->retry);
        break;
    case RELAY_FAILED:
        if (l->leader)
            relay_loop_sleep(l, backoff_next(&l->retry));
        break;
    }
}

void relay_loop_run(struct relay_loop *l)
{
    while (!l->io.stopping())
        relay_loop_step(l);
    /* Rounds wait for their deliveries, so this only drains stray events. */
    l->io.flush(l->io.ctx);
    /* Closing the connection releases the lock for the next leader. */
    l->io.disconnect(l->io.ctx);
    log_info("outbox relay stopped");
}
