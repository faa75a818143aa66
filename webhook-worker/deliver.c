#include "deliver.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <curl/curl.h>
#include <jansson.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "infra/db.h"
#include "infra/service.h"
#include "infra/startup.h"
#include "recorder.h"
#include "scheduler.h"
#include "transfer.h"
#include "webhook_dispatch.h"

/* While the recorder is backlogged, how soon the loop looks again. */
#define DELIVER_BACKLOG_TICK_MS 5
#define DELIVER_DB_RETRY_MIN_MS 200
#define DELIVER_DB_RETRY_MAX_MS 5000
/* Loop tick while draining: in-flight transfers are driven by curl_multi_poll
 * anyway, this only bounds how late the drain deadline is noticed. */
#define DELIVER_DRAIN_TICK_MS 50

struct deliver {
    struct deliver_options opt;
    struct transfer_options transfer; /* points into opt */
    pthread_t thread;
    CURLM *multi;
    atomic_bool wake;
    struct db db; /* the loop's: claims, give-backs, abandons */
    struct scheduler scheduler;
    struct recorder_queue unrecorded; /* finished, not yet handed to the recorder */
    int64_t db_retry_at;
    struct backoff db_backoff;
    struct metrics_family *outcomes; /* caisse_webhook_deliveries_total */
    struct recorder *recorder;
    struct recorder_attempts attempts; /* the recorder thread's */
};

/* ---- claiming, holding, giving back (the loop's connection) --------------- */

static void deliver_abandon(struct deliver *d, const struct webhook_dispatch_job *j,
                            const char *reason)
{
    /* A failure here leaves the lease to end; the next claim decides again. */
    if (webhook_dispatch_abandon(&d->db, j->delivery_id, d->opt.worker_id, reason) != C_OK)
        return;
    metrics_counter_add(metrics_series(d->outcomes, (const char *[]){"abandoned"}), 1);
    log_fields(LOG_INFO,
               json_pack("{ss ss ss ss}", "delivery_id", j->delivery_id, "endpoint_id",
                         j->endpoint_id, "event_id", j->event_id, "reason", reason),
               "webhook delivery failed without an attempt");
}

/* Holds the claimed job (taking ownership of it) until a slot of its
 * endpoint is free. */
static void deliver_hold(struct deliver *d, struct webhook_dispatch_job *job, int64_t claimed_ms)
{
    struct transfer *t = transfer_new(job, &d->transfer);
    if (t != NULL && scheduler_hold(&d->scheduler, &t->slot, t->job.endpoint_id,
                                    t->job.organization_id, claimed_ms) == C_OK)
        return;
    /* The lease ends and the delivery is retaken; nothing else to do. */
    log_error("out of memory holding delivery %s",
              t != NULL ? t->job.delivery_id : job->delivery_id);
    if (t != NULL)
        transfer_free(t);
    else
        webhook_dispatch_job_clear(job);
}

/* Gives back the leases of list (deliveries taken out of the scheduler, held
 * or sending) and frees their transfers, so that any worker may send them now
 * rather than after their lease. *n: how many. C_ERR: their leases end on
 * their own (d->db.last_error says why). */
static int deliver_give_back(struct deliver *d, struct scheduler_item *list, long *n)
{
    json_t *ids = json_array();
    *n = 0;
    while (list != NULL) {
        struct transfer *t = transfer_of_slot(list);
        list = list->next;
        if (ids != NULL)
            json_array_append_new(ids, json_string(t->job.delivery_id));
        transfer_free(t);
        (*n)++;
    }
    int rc = C_OK;
    if (*n > 0)
        rc = ids != NULL ? webhook_dispatch_release(&d->db, ids, d->opt.worker_id) : C_ERR;
    json_decref(ids);
    return rc;
}

static void deliver_give_back_held(struct deliver *d, struct scheduler_item *list, const char *why)
{
    long n = 0;
    if (deliver_give_back(d, list, &n) != C_OK)
        log_warn("could not give back %ld held deliveries (%s); their leases end on their own: %s",
                 n, why, d->db.last_error);
}

/* The scheduler's start step. A job that cannot even be sent finishes at once
 * as a failed attempt, so the schedule still applies. */
static int deliver_start_transfer(void *arg, struct scheduler_item *item)
{
    struct deliver *d = arg;
    struct transfer *t = transfer_of_slot(item);
    if (transfer_start(t, d->multi) == C_OK)
        return C_OK;
    recorder_queue_push(&d->unrecorded, &t->record);
    return C_ERR;
}

/* Starts held jobs wherever their endpoint has a free slot. *refill: claim
 * again now. */
static void deliver_start_held(struct deliver *d, bool *refill)
{
    struct scheduler_item *stale = NULL;
    scheduler_start_held(&d->scheduler, clock_now_ms(), deliver_start_transfer, d, &stale, refill);
    if (stale != NULL)
        deliver_give_back_held(d, stale, "held past their lease");
}

/* Claims what is due, up to each endpoint's allowance of held deliveries,
 * and holds it. *more: the claim was full, more may be due. */
static int deliver_claim(struct deliver *d, bool *more)
{
    *more = false;
    long limit = scheduler_claim_limit(&d->scheduler);
    if (limit <= 0)
        return C_OK;
    json_t *held = scheduler_held_by_endpoint(&d->scheduler);
    json_t *tenants = scheduler_held_by_tenant(&d->scheduler);
    if (held == NULL || tenants == NULL) {
        json_decref(held);
        json_decref(tenants);
        return C_ERR;
    }
    struct webhook_dispatch_claim c = {.limit = limit,
                                       .lease_ms = d->opt.lease_ms,
                                       .worker = d->opt.worker_id,
                                       .endpoint_cap = scheduler_endpoint_allowance(&d->scheduler),
                                       .in_flight = held,
                                       .tenant_cap = scheduler_tenant_allowance(&d->scheduler),
                                       .tenant_in_flight = tenants};
    struct webhook_dispatch_job *jobs = NULL;
    size_t n = 0;
    int64_t claimed_ms = clock_now_ms();
    int rc = webhook_dispatch_claim(&d->db, &c, &jobs, &n);
    json_decref(held);
    json_decref(tenants);
    if (rc != C_OK)
        return C_ERR;
    for (size_t i = 0; i < n; i++) {
        struct webhook_dispatch_job *j = &jobs[i];
        if (j->endpoint_deleted)
            deliver_abandon(d, j, "endpoint deleted");
        else if (j->endpoint_disabled)
            deliver_abandon(d, j, "endpoint disabled");
        else if (j->payload == NULL)
            deliver_abandon(d, j, "event no longer stored");
        else
            deliver_hold(d, j, claimed_ms);
    }
    webhook_dispatch_jobs_free(jobs, n);
    scheduler_claim_done(&d->scheduler);
    *more = (long)n >= limit;
    return C_OK;
}

/* Moves finished transfers from sending to unrecorded; their slots are free
 * at once, recording needs none. *finished: how many. */
static void deliver_collect(struct deliver *d, long *finished)
{
    *finished = 0;
    struct transfer *t;
    while ((t = transfer_next_done(d->multi)) != NULL) {
        scheduler_finished(&d->scheduler, &t->slot);
        recorder_queue_push(&d->unrecorded, &t->record);
        (*finished)++;
    }
}

/* ---- the loop and its drain ----------------------------------------------- */

/* The drain deadline passed: aborts what is still sending and gives its
 * leases back so another worker sends it now rather than after the lease. */
static void deliver_abort_all(struct deliver *d)
{
    long n = 0;
    if (deliver_give_back(d, scheduler_take_sending(&d->scheduler), &n) != C_OK)
        log_warn("could not release leases; they end on their own: %s", d->db.last_error);
    if (n > 0)
        log_fields(LOG_WARN, json_pack("{sI}", "aborted", (json_int_t)n),
                   "drain deadline passed: aborted requests are sent again after their lease");
    recorder_discard_transfers(NULL, d->unrecorded.head);
    d->unrecorded = (struct recorder_queue)RECORDER_QUEUE_INIT;
}

static void *deliver_main(void *arg)
{
    struct deliver *d = arg;
    if (startup_wait_postgres(&d->db) != C_OK) {
        recorder_stop(d->recorder, true);
        d->recorder = NULL;
        return NULL;
    }
    log_info("delivery loop started");
    int64_t next_claim = 0;
    int64_t drain_deadline = -1;
    for (;;) {
        int64_t now = clock_now_ms();
        bool stopping = service_stopping();
        if (stopping && drain_deadline < 0) {
            drain_deadline = now + d->opt.drain_ms;
            log_fields(LOG_INFO,
                       json_pack("{sI sI}", "in_flight", (json_int_t)d->scheduler.sending, "held",
                                 (json_int_t)d->scheduler.held),
                       "delivery loop draining: no new claims, held deliveries given back");
            deliver_give_back_held(d, scheduler_take_held(&d->scheduler), "stopping");
        }
        bool woken = atomic_exchange(&d->wake, false);
        if (!stopping && recorder_backlogged(d->recorder)) {
            /* Look again shortly, once the recorder has caught up. */
            next_claim = now + DELIVER_BACKLOG_TICK_MS;
        } else if (!stopping && (woken || now >= next_claim) && now >= d->db_retry_at) {
            bool more = false;
            if (deliver_claim(d, &more) != C_OK) {
                long delay = backoff_next(&d->db_backoff);
                d->db_retry_at = now + delay;
                log_fields(LOG_WARN, json_pack("{sI}", "retry_in_ms", (json_int_t)delay),
                           "could not claim webhook deliveries, retrying: %s", d->db.last_error);
            } else {
                backoff_reset(&d->db_backoff);
                next_claim = more ? now : now + d->opt.poll_ms;
            }
        }
        bool refill = false;
        /* Freed slots take their endpoint's next held job at once, before the
         * outcomes are recorded, so recording never holds a slot. A fast
         * receiver's answer can arrive within one perform: collect again
         * until nothing finishes, or the poll below would sleep on requests
         * that are already over. */
        for (;;) {
            if (!stopping)
                deliver_start_held(d, &refill);
            int running = 0;
            curl_multi_perform(d->multi, &running);
            long finished = 0;
            deliver_collect(d, &finished);
            if (finished == 0)
                break;
        }
        if (refill)
            next_claim = now;
        recorder_hand_over(d->recorder, &d->unrecorded);
        if (stopping) {
            if (d->scheduler.sending == 0 && recorder_waiting(d->recorder) == 0)
                break;
            if (clock_now_ms() >= drain_deadline) {
                deliver_abort_all(d);
                recorder_stop(d->recorder, true);
                d->recorder = NULL;
                log_info("delivery loop stopped");
                return NULL;
            }
        }
        long timeout = stopping ? DELIVER_DRAIN_TICK_MS : (long)(next_claim - clock_now_ms());
        if (timeout < 0)
            timeout = 0;
        if (timeout > d->opt.poll_ms)
            timeout = d->opt.poll_ms;
        curl_multi_poll(d->multi, NULL, 0, (int)timeout, NULL);
    }
    recorder_stop(d->recorder, false);
    d->recorder = NULL;
    log_info("delivery loop stopped");
    return NULL;
}

static void deliver_free_slots(struct scheduler_item *list)
{
    while (list != NULL) {
        struct transfer *t = transfer_of_slot(list);
        list = list->next;
        transfer_free(t);
    }
}

/* Frees what deliver_start made; its threads have ended. */
static void deliver_free(struct deliver *d)
{
    deliver_free_slots(scheduler_take_sending(&d->scheduler));
    deliver_free_slots(scheduler_take_held(&d->scheduler));
    recorder_discard_transfers(NULL, d->unrecorded.head);
    scheduler_destroy(&d->scheduler);
    if (d->multi != NULL)
        curl_multi_cleanup(d->multi);
    db_close(&d->attempts.db);
    db_close(&d->db);
    free(d);
}

struct deliver *deliver_start(const struct deliver_options *opt, struct error *err)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        error_set(err, NULL, "curl_global_init failed");
        return NULL;
    }
    struct deliver *d = calloc(1, sizeof(*d));
    if (d == NULL) {
        error_set(err, NULL, "out of memory");
        curl_global_cleanup();
        return NULL;
    }
    d->opt = *opt;
    d->transfer = (struct transfer_options){.allowlist = &d->opt.allowlist,
                                            .timeout_ms = opt->timeout_ms,
                                            .connect_timeout_ms = opt->connect_timeout_ms,
                                            .body_read_max = (size_t)opt->response_max_bytes};
    scheduler_init(&d->scheduler,
                   &(struct scheduler_limits){.endpoint_concurrency = opt->endpoint_concurrency,
                                              .max_in_flight = opt->max_in_flight,
                                              .tenant_max_in_flight = scheduler_tenant_cap(
                                                  opt->max_in_flight, opt->tenant_share_percent),
                                              .lease_ms = opt->lease_ms,
                                              .request_ms = opt->timeout_ms});
    static const char *const labels[] = {"outcome", NULL};
    d->outcomes = metrics_counter(
        metrics_default(), "caisse_webhook_deliveries_total",
        "Webhook attempts recorded, by what they meant for their delivery: success, retry "
        "(failed, tried again later), failed (no attempt left), gone (410: endpoint disabled); "
        "abandoned: a delivery failed without an attempt (endpoint disabled or deleted, event "
        "purged)",
        labels);
    /* Every outcome shows from the start, so a rate over them never lacks a series. */
    static const char *const outcomes[] = {"success", "retry", "failed", "gone", "abandoned"};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
        metrics_series(d->outcomes, (const char *[]){outcomes[i]});
    atomic_init(&d->wake, false);
    backoff_init(&d->db_backoff, DELIVER_DB_RETRY_MIN_MS, DELIVER_DB_RETRY_MAX_MS);
    d->multi = curl_multi_init();
    if (d->multi == NULL || db_init(&d->db, opt->database_url) != C_OK ||
        db_init(&d->attempts.db, opt->database_url) != C_OK) {
        error_set(err, NULL, "out of memory");
        deliver_free(d);
        curl_global_cleanup();
        return NULL;
    }
    d->attempts.schedule = &d->opt.schedule;
    d->attempts.worker_id = d->opt.worker_id;
    d->attempts.disable_after_s = d->opt.disable_after_s;
    d->attempts.outcomes = d->outcomes;
    struct recorder_options ro = {.record = recorder_record_attempts,
                                  .discard = recorder_discard_transfers,
                                  .arg = &d->attempts,
                                  .retry_min_ms = DELIVER_DB_RETRY_MIN_MS,
                                  .retry_max_ms = DELIVER_DB_RETRY_MAX_MS};
    d->recorder = recorder_start(&ro, err);
    if (d->recorder == NULL) {
        deliver_free(d);
        curl_global_cleanup();
        return NULL;
    }
    if (pthread_create(&d->thread, NULL, deliver_main, d) != 0) {
        error_set(err, NULL, "cannot start the delivery thread");
        recorder_stop(d->recorder, true);
        deliver_free(d);
        curl_global_cleanup();
        return NULL;
    }
    return d;
}

void deliver_wake(void *arg)
{
    struct deliver *d = arg;
    atomic_store(&d->wake, true);
    curl_multi_wakeup(d->multi);
}

void deliver_join(struct deliver *d)
{
    if (d == NULL)
        return;
    /* The loop also ends on its own once service_stopping() and drained. */
    curl_multi_wakeup(d->multi);
    pthread_join(d->thread, NULL);
    assert(d->recorder == NULL);
    deliver_free(d);
    curl_global_cleanup();
}
