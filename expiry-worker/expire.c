#include "expire.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "core/clock.h"
#include "core/backoff.h"
#include "core/log.h"
#include "core/metrics.h"
#include "infra/ops_http.h"
#include "model/outbox.h"
#include "core/result.h"
#include "infra/service.h"
#include "model/session.h"
#include "model/subscription.h"
#include "retention.h"
#include "infra/startup.h"

/* A PostgreSQL blip is retried quickly; an outage is probed every few seconds
 * so expiry resumes soon after the database is back. */
#define EXPIRE_RETRY_MIN_MS 100
#define EXPIRE_RETRY_MAX_MS 5000

/* Rows per retention statement, and the longest a purge may hold the
 * housekeeping loop before it goes back to expiring (it resumes at once). */
#define EXPIRE_RETENTION_BATCH 1000
#define EXPIRE_RETENTION_BUDGET_MS 1000

struct expire_retention {
    int64_t next_ms;
    struct retention_totals totals; /* of the purge under way */
};

/* Runs the purge when it is due; a purge cut by its time budget stays due,
 * and its totals are logged once when it completes. */
static void expire_retention_step(struct db *db, const struct expire_options *o,
                                  struct expire_retention *ret)
{
    if (clock_now_ms() < ret->next_ms)
        return;
    bool finished = false;
    if (retention_purge(db, o->retention_days, EXPIRE_RETENTION_BATCH, EXPIRE_RETENTION_BUDGET_MS,
                        &ret->totals, &finished) != C_OK) {
        log_warn("retention purge failed, retrying later: %s", db->last_error);
        ret->next_ms = clock_now_ms() + o->retention_interval_ms;
        return;
    }
    if (!finished)
        return;
    if (ret->totals.events > 0 || ret->totals.deliveries > 0)
        log_fields(LOG_INFO,
                   json_pack("{sI sI sI}", "events", (json_int_t)ret->totals.events, "deliveries",
                             (json_int_t)ret->totals.deliveries, "retention_days",
                             (json_int_t)o->retention_days),
                   "retention: deleted events and webhook deliveries past the retention period");
    if (ret->totals.outcomes > 0)
        log_fields(LOG_INFO,
                   json_pack("{sI sI}", "outcomes", (json_int_t)ret->totals.outcomes,
                             "retention_days", (json_int_t)o->retention_days),
                   "retention: deleted catalog command outcomes past the retention period");
    if (ret->totals.dead_letters > 0)
        log_fields(LOG_INFO,
                   json_pack("{sI sI}", "dead_letters", (json_int_t)ret->totals.dead_letters,
                             "retention_days", (json_int_t)o->retention_days),
                   "retention: deleted dead letters replayed before the retention period");
    ret->totals = (struct retention_totals){0};
    ret->next_ms = clock_now_ms() + o->retention_interval_ms;
}

/* Consecutive sweeps that found a full batch, from the first full one to the
 * first that was not: summarized in one line when it ends. */
struct expire_burst {
    bool active;
    int64_t start_ms;
    long sweeps;
    long expired;
    int64_t longest_tx_ms;
};

int expire_sweep(struct db *db, long batch, const char *public_base_url, long *expired)
{
    long n = 0;
    if (db_begin(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    /* The wake is a NOTIFY in this transaction: the relay hears it only once
     * the rows it announces are committed. A COMMIT that fails on a lost
     * connection may still have committed; the retry then finds nothing due
     * for those rows, since the status guard never expires a session twice. */
    if (session_store_expire_due(db, batch, public_base_url, &n) != C_OK ||
        (n > 0 && outbox_wake(db) != C_OK) || db_commit(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    *expired = n;
    return C_OK;
}

/* caisse_subscriptions_past_due_total, registered before the first sweep so
 * that it shows from 0. */
static struct metrics_series *expire_past_due_counter(void)
{
    return metrics_series(
        metrics_counter(metrics_default(), "caisse_subscriptions_past_due_total",
                        "Active subscriptions the expiry worker made past_due: their period "
                        "ended without a renewal",
                        NULL),
        NULL);
}

int expire_sweep_subscriptions(struct db *db, long batch, long *moved)
{
    long n = 0;
    if (db_begin(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    /* As expire_sweep: the wake is heard once the rows are committed, and a
     * retry after a COMMIT of unknown fate finds nothing due for those rows. */
    if (subscription_store_mark_past_due(db, batch, &n) != C_OK ||
        (n > 0 && outbox_wake(db) != C_OK) || db_commit(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    *moved = n;
    metrics_counter_add(expire_past_due_counter(), (uint64_t)n);
    return C_OK;
}

static void expire_log_lag(struct db *db, long lag_warn_s)
{
    double lag = 0;
    /* While PostgreSQL is down the failing sweeps already say so; a failure
     * here is logged by db_exec. */
    if (!db_is_connected(db) || session_store_expiry_lag(db, &lag) != C_OK)
        return;
    bool late = lag > (double)lag_warn_s;
    /* Whole seconds, the resolution of every time of the model (a float
     * would print as 1.2e6 for a large backlog). */
    log_fields(late ? LOG_WARN : LOG_INFO,
               json_pack("{sI sI}", "lag_s", (json_int_t)lag, "lag_warn_s", (json_int_t)lag_warn_s),
               late ? "expiry lag above CAISSE_EXPIRY_LAG_WARN_S" : "expiry lag");
}

static void expire_burst_add(struct expire_burst *b, long expired, int64_t start_ms,
                             int64_t took_ms)
{
    if (!b->active) {
        b->active = true;
        b->start_ms = start_ms;
        b->sweeps = 0;
        b->expired = 0;
        b->longest_tx_ms = 0;
    }
    b->sweeps++;
    b->expired += expired;
    if (took_ms > b->longest_tx_ms)
        b->longest_tx_ms = took_ms;
}

static void expire_burst_end(struct expire_burst *b, bool drained)
{
    if (!b->active)
        return;
    int64_t duration_ms = clock_now_ms() - b->start_ms;
    double rate = duration_ms > 0 ? (double)b->expired * 1000.0 / (double)duration_ms : 0.0;
    log_fields(LOG_INFO,
               json_pack("{sI sI sI sf sI sb}", "expired", (json_int_t)b->expired, "sweeps",
                         (json_int_t)b->sweeps, "duration_ms", (json_int_t)duration_ms,
                         "rate_per_s", rate, "longest_tx_ms", (json_int_t)b->longest_tx_ms,
                         "drained", drained),
               drained ? "expiry burst drained" : "expiry burst interrupted by shutdown");
    b->active = false;
}

/* Sleeps until until_ms, logging the lag on its schedule meanwhile (so a long
 * CAISSE_EXPIRY_INTERVAL_MS does not thin out the lag lines); next_lag_ms
 * NULL: this loop does not log the lag. */
static void expire_wait(struct db *db, const struct expire_options *o, int64_t until_ms,
                        int64_t *next_lag_ms)
{
    for (;;) {
        int64_t now = clock_now_ms();
        if (service_stopping() || now >= until_ms)
            return;
        if (next_lag_ms != NULL && now >= *next_lag_ms) {
            expire_log_lag(db, o->lag_warn_s);
            *next_lag_ms = now + o->lag_log_ms;
            continue;
        }
        int64_t wake = next_lag_ms == NULL || until_ms < *next_lag_ms ? until_ms : *next_lag_ms;
        service_sleep_ms((long)(wake - now));
    }
}

void expire_run(struct db *db, const struct expire_options *o, bool housekeeping)
{
    struct backoff retry;
    backoff_init(&retry, EXPIRE_RETRY_MIN_MS, EXPIRE_RETRY_MAX_MS);
    struct expire_burst burst = {0};
    struct expire_retention retention = {0};
    int64_t next_lag_ms = clock_now_ms();
    while (!service_stopping()) {
        int64_t start = clock_now_ms();
        /* Also between the sweeps of a burst: that is when the lag matters. */
        if (housekeeping && start >= next_lag_ms) {
            expire_log_lag(db, o->lag_warn_s);
            next_lag_ms = clock_now_ms() + o->lag_log_ms;
            start = clock_now_ms();
        }
        long expired = 0, moved = 0;
        if (expire_sweep(db, o->batch, o->public_base_url, &expired) != C_OK ||
            expire_sweep_subscriptions(db, o->batch, &moved) != C_OK) {
            long delay = backoff_next(&retry);
            log_fields(LOG_WARN, json_pack("{sI}", "retry_in_ms", (json_int_t)delay),
                       "expiry sweep failed, retrying: %s", db->last_error);
            expire_wait(db, o, clock_now_ms() + delay, housekeeping ? &next_lag_ms : NULL);
            continue;
        }
        backoff_reset(&retry);
        int64_t took = clock_now_ms() - start;
        log_fields(LOG_DEBUG,
                   json_pack("{sI sI sI}", "expired", (json_int_t)expired, "past_due",
                             (json_int_t)moved, "ms", (json_int_t)took),
                   "expiry sweep");
        if (moved > 0)
            log_fields(LOG_INFO, json_pack("{sI}", "past_due", (json_int_t)moved),
                       "subscriptions past due: their period ended without a renewal");
        /* Either full batch means more may be due: sweep again at once. */
        bool full = expired >= o->batch || moved >= o->batch;
        if (full || burst.active)
            expire_burst_add(&burst, expired, start, took);
        if (full)
            continue;
        expire_burst_end(&burst, true);
        /* Between bursts only: expiring what is due comes first. */
        if (housekeeping)
            expire_retention_step(db, o, &retention);
        expire_wait(db, o, clock_now_ms() + o->interval_ms, housekeeping ? &next_lag_ms : NULL);
    }
    expire_burst_end(&burst, false);
}

struct expire_sweeper {
    struct db db;
    const struct expire_options *o;
    bool housekeeping;
    pthread_t thread;
};

static void *expire_sweeper_main(void *arg)
{
    struct expire_sweeper *sw = arg;
    /* A stop requested while waiting is an orderly shutdown like any other. */
    if (startup_wait_postgres(&sw->db) == C_OK) {
        ops_http_set_accepting(true);
        expire_run(&sw->db, sw->o, sw->housekeeping);
    }
    db_close(&sw->db);
    return NULL;
}

int expire_run_sweepers(const struct expire_options *o)
{
    expire_past_due_counter();
    size_t n = (size_t)o->concurrency;
    struct expire_sweeper *sw = calloc(n, sizeof(*sw));
    if (sw == NULL) {
        log_error("out of memory");
        return C_ERR;
    }
    size_t started = 0;
    int rc = C_OK;
    for (; started < n; started++) {
        sw[started].o = o;
        sw[started].housekeeping = started == 0;
        if (db_init(&sw[started].db, o->database_url) != C_OK) {
            log_error("out of memory");
            rc = C_ERR;
            break;
        }
        if (pthread_create(&sw[started].thread, NULL, expire_sweeper_main, &sw[started]) != 0) {
            log_error("cannot start an expiry sweeper thread");
            db_close(&sw[started].db);
            rc = C_ERR;
            break;
        }
    }
    if (rc != C_OK)
        service_request_stop();
    for (size_t i = 0; i < started; i++)
        pthread_join(sw[i].thread, NULL);
    free(sw);
    return rc;
}
