#include "recorder.h"

#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/backoff.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"
#include "outcome.h"
#include "transfer.h"
#include "webhook_dispatch.h"

void recorder_queue_push(struct recorder_queue *q, struct recorder_item *item)
{
    item->next = NULL;
    if (q->tail != NULL)
        q->tail->next = item;
    else
        q->head = item;
    q->tail = item;
    q->queued++;
}

void recorder_queue_move(struct recorder_queue *q, struct recorder_queue *from)
{
    assert(from->taken == 0);
    if (from->head == NULL)
        return;
    if (q->tail != NULL)
        q->tail->next = from->head;
    else
        q->head = from->head;
    q->tail = from->tail;
    q->queued += from->queued;
    from->head = NULL;
    from->tail = NULL;
    from->queued = 0;
}

struct recorder_item *recorder_queue_take(struct recorder_queue *q, size_t max, size_t *n)
{
    *n = 0;
    if (q->head == NULL || max == 0)
        return NULL;
    struct recorder_item *batch = q->head, *last = batch;
    size_t count = 1;
    while (last->next != NULL && count < max) {
        last = last->next;
        count++;
    }
    q->head = last->next;
    if (q->head == NULL)
        q->tail = NULL;
    last->next = NULL;
    q->queued -= count;
    q->taken += count;
    *n = count;
    return batch;
}

void recorder_queue_done(struct recorder_queue *q, size_t n)
{
    assert(n <= q->taken);
    q->taken -= n;
}

void recorder_queue_put_back(struct recorder_queue *q, struct recorder_item *batch, size_t n)
{
    assert(n <= q->taken);
    if (batch == NULL)
        return;
    struct recorder_item *last = batch;
    while (last->next != NULL)
        last = last->next;
    last->next = q->head;
    q->head = batch;
    if (q->tail == NULL)
        q->tail = last;
    q->taken -= n;
    q->queued += n;
}

size_t recorder_queue_waiting(const struct recorder_queue *q)
{
    return q->queued + q->taken;
}

bool recorder_queue_backlogged(const struct recorder_queue *q)
{
    return recorder_queue_waiting(q) >= RECORDER_BACKLOG_MAX;
}

struct recorder {
    struct recorder_options opt;
    pthread_t thread;
    /* Guards everything below. */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct recorder_queue queue;
    bool stop;  /* stop once everything is recorded */
    bool abort; /* stop now, discarding what is queued */
};

/* Waits delay_ms on r's condition unless an abort comes first; r->lock held. */
static void recorder_wait_retry(struct recorder *r, long delay_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += delay_ms / 1000;
    until.tv_nsec += (delay_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    while (!r->abort && pthread_cond_timedwait(&r->cond, &r->lock, &until) == 0)
        ;
}

/* Records what is handed over, batch by batch; on an error it retries the
 * batch (with what came meanwhile behind it) after a backoff. The deliveries
 * stay leased meanwhile; if this takes longer than their lease, the record
 * step finds the lease lost and says so. */
static void *recorder_main(void *arg)
{
    struct recorder *r = arg;
    struct backoff retry;
    backoff_init(&retry, r->opt.retry_min_ms, r->opt.retry_max_ms);
    pthread_mutex_lock(&r->lock);
    for (;;) {
        while (r->queue.head == NULL && !r->stop && !r->abort)
            pthread_cond_wait(&r->cond, &r->lock);
        if (r->abort || r->queue.head == NULL)
            break;
        size_t n = 0;
        struct recorder_item *batch = recorder_queue_take(&r->queue, RECORDER_BATCH_MAX, &n);
        pthread_mutex_unlock(&r->lock);
        struct error err = ERROR_INIT;
        int rc = r->opt.record(r->opt.arg, batch, n, &err);
        long delay = 0;
        if (rc == C_OK) {
            backoff_reset(&retry);
        } else {
            delay = backoff_next(&retry);
            log_fields(
                LOG_WARN,
                json_pack("{sI sI}", "attempts", (json_int_t)n, "retry_in_ms", (json_int_t)delay),
                "could not record webhook attempts, retrying: %s", err.message);
        }
        pthread_mutex_lock(&r->lock);
        if (rc == C_OK) {
            recorder_queue_done(&r->queue, n);
        } else {
            recorder_queue_put_back(&r->queue, batch, n);
            recorder_wait_retry(r, delay);
        }
        pthread_cond_broadcast(&r->cond);
    }
    size_t dropped = r->queue.queued;
    struct recorder_item *left = r->queue.head;
    r->queue = (struct recorder_queue)RECORDER_QUEUE_INIT;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    if (left != NULL)
        r->opt.discard(r->opt.arg, left);
    if (dropped > 0)
        log_fields(LOG_WARN, json_pack("{sI}", "unrecorded", (json_int_t)dropped),
                   "stopped with attempts unrecorded: those deliveries are sent again after "
                   "their lease");
    return NULL;
}

struct recorder *recorder_start(const struct recorder_options *o, struct error *err)
{
    assert(o->record != NULL && o->discard != NULL);
    struct recorder *r = calloc(1, sizeof(*r));
    if (r == NULL) {
        error_set(err, NULL, "out of memory");
        return NULL;
    }
    r->opt = *o;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    if (pthread_create(&r->thread, NULL, recorder_main, r) != 0) {
        error_set(err, NULL, "cannot start the recorder thread");
        pthread_cond_destroy(&r->cond);
        pthread_mutex_destroy(&r->lock);
        free(r);
        return NULL;
    }
    return r;
}

void recorder_hand_over(struct recorder *r, struct recorder_queue *q)
{
    if (q->head == NULL)
        return;
    pthread_mutex_lock(&r->lock);
    recorder_queue_move(&r->queue, q);
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

size_t recorder_waiting(struct recorder *r)
{
    pthread_mutex_lock(&r->lock);
    size_t n = recorder_queue_waiting(&r->queue);
    pthread_mutex_unlock(&r->lock);
    return n;
}

bool recorder_backlogged(struct recorder *r)
{
    pthread_mutex_lock(&r->lock);
    bool full = recorder_queue_backlogged(&r->queue);
    pthread_mutex_unlock(&r->lock);
    return full;
}

void recorder_stop(struct recorder *r, bool abort)
{
    pthread_mutex_lock(&r->lock);
    r->stop = true;
    r->abort = r->abort || abort;
    pthread_cond_broadcast(&r->cond);
    pthread_mutex_unlock(&r->lock);
    pthread_join(r->thread, NULL);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

/* ---- the webhook worker's record step --------------------------------------- */

/* Jitter only needs to spread retries, but getrandom costs nothing and needs
 * no seeding or locking. */
static double recorder_random01(void)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
        r = (uint64_t)clock_now_ms() * 2654435761u;
    return (double)(r >> 11) / (double)(UINT64_C(1) << 53);
}

/* Counts an attempt once recorded. A success is "success" in the metric, the
 * value the deployed alerts (deploy/OPERATIONS.md) were written against; the
 * log says "succeeded". */
static void recorder_count(struct recorder_attempts *a, const char *outcome)
{
    const char *values[] = {strcmp(outcome, "succeeded") == 0 ? "success" : outcome};
    metrics_counter_add(metrics_series(a->outcomes, values), 1);
}

static const char *recorder_verdict_name(enum webhook_dispatch_verdict v)
{
    switch (v) {
    case WEBHOOK_DISPATCH_SUCCEEDED:
        return "succeeded";
    case WEBHOOK_DISPATCH_RETRY:
        return "retry";
    case WEBHOOK_DISPATCH_FAILED:
        return "failed";
    case WEBHOOK_DISPATCH_GONE:
        return "gone";
    }
    return "failed";
}

/* Logs what recording transfer t with outcome out did. */
static void recorder_log_attempt(const struct transfer *t, const struct outcome *out, long attempt,
                                 bool lease_lost, const char *disabled)
{
    json_t *f = json_pack("{ss ss ss si sI ss}", "delivery_id", t->job.delivery_id, "endpoint_id",
                          t->job.endpoint_id, "event_id", t->job.event_id, "attempt", (int)attempt,
                          "duration_ms", (json_int_t)t->duration_ms, "outcome",
                          recorder_verdict_name(out->verdict));
    if (f != NULL) {
        json_object_set_new(f, "status_code",
                            t->status_code > 0 ? json_integer(t->status_code) : json_null());
        if (t->has_error)
            json_object_set_new(f, "error", json_string(t->error));
        if (out->verdict == WEBHOOK_DISPATCH_RETRY)
            json_object_set_new(f, "retry_in_ms", json_integer(out->retry_in_ms));
        if (lease_lost)
            json_object_set_new(f, "lease_lost", json_true());
    }
    log_fields(lease_lost ? LOG_WARN : LOG_INFO, f, "webhook attempt");
    if (disabled != NULL)
        log_fields(LOG_WARN,
                   json_pack("{ss ss}", "endpoint_id", t->job.endpoint_id, "reason", disabled),
                   "webhook endpoint disabled");
}

void recorder_discard_transfers(void *arg, struct recorder_item *list)
{
    (void)arg;
    while (list != NULL) {
        struct transfer *t = transfer_of_record(list);
        list = list->next;
        transfer_free(t);
    }
}

int recorder_record_attempts(void *arg, struct recorder_item *batch, size_t n, struct error *err)
{
    struct recorder_attempts *a = arg;
    struct webhook_dispatch_outcome *o = calloc(n, sizeof(*o));
    struct outcome *out = calloc(n, sizeof(*out));
    bool *lease_lost = calloc(n, sizeof(*lease_lost));
    char **disabled = calloc(n, sizeof(*disabled));
    int rc = o != NULL && out != NULL && lease_lost != NULL && disabled != NULL
                 ? C_OK
                 : error_set(err, NULL, "out of memory");
    size_t i = 0;
    for (struct recorder_item *it = batch; rc == C_OK && it != NULL; it = it->next, i++) {
        const struct transfer *t = transfer_of_record(it);
        struct outcome_input in = {.status_code = t->verdict_code,
                                   .retry_after_s = t->retry_after_s,
                                   .attempts_done = t->job.attempt_count + 1,
                                   .random01 = recorder_random01()};
        outcome_decide(a->schedule, &in, &out[i]);
        o[i] = (struct webhook_dispatch_outcome){.delivery_id = t->job.delivery_id,
                                                 .endpoint_id = t->job.endpoint_id,
                                                 .worker = a->worker_id,
                                                 .duration_ms = t->duration_ms,
                                                 .status_code = t->status_code,
                                                 .body = t->body_len > 0 ? t->body : NULL,
                                                 .error = t->has_error ? t->error : NULL,
                                                 .verdict = out[i].verdict,
                                                 .retry_in_ms = out[i].retry_in_ms,
                                                 .disable_after_s = a->disable_after_s};
    }
    assert(rc != C_OK || i == n);
    if (rc == C_OK && webhook_dispatch_record(&a->db, o, n, lease_lost, disabled) != C_OK)
        rc = error_set(err, NULL, "%s", a->db.last_error);
    if (rc == C_OK) {
        i = 0;
        for (struct recorder_item *it = batch; it != NULL; it = it->next, i++) {
            const struct transfer *t = transfer_of_record(it);
            recorder_log_attempt(t, &out[i], t->job.attempt_count + 1, lease_lost[i], disabled[i]);
            recorder_count(a, recorder_verdict_name(out[i].verdict));
            free(disabled[i]);
        }
        recorder_discard_transfers(a, batch);
    }
    free(o);
    free(out);
    free(lease_lost);
    free(disabled);
    return rc;
}
