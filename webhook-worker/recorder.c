#include "recorder.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/result.h"

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
