/* The recorder's batching: outcomes are recorded in the order they were
 * handed over, at most 1000 per transaction, a batch that failed is retried
 * before anything that came after it, claims pause from 2000 waiting (the
 * batch being recorded included), a stop records everything first and an
 * abort discards what waits. The queue is tested directly, the thread with a
 * record step of the test's own: no database. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/result.h"
#include "../../../webhook-worker/recorder.h"
#include "../leak_check.h"

/* The retries and the abort below log warnings by design. */
static void quiet_logs(void)
{
    log_init("unit", "error");
}

TestSuite(recorder, .init = quiet_logs, .fini = unit_leak_check);

struct outcome_item {
    struct recorder_item item;
    int number;
};

static struct outcome_item *outcome_of(struct recorder_item *item)
{
    return (struct outcome_item *)(void *)((char *)item - offsetof(struct outcome_item, item));
}

/* n items numbered from first, pushed in order onto q (freed by the tests). */
static struct outcome_item *push_numbered(struct recorder_queue *q, int first, int n)
{
    struct outcome_item *items = calloc((size_t)n, sizeof(*items));
    cr_assert_not_null(items);
    for (int i = 0; i < n; i++) {
        items[i].number = first + i;
        recorder_queue_push(q, &items[i].item);
    }
    return items;
}

/* The numbers of a batch are next, next + 1, ...; returns the one after. */
static int assert_numbered_from(struct recorder_item *batch, size_t n, int next)
{
    size_t seen = 0;
    for (struct recorder_item *i = batch; i != NULL; i = i->next, seen++) {
        cr_assert_eq(outcome_of(i)->number, next, "item %zu of the batch", seen);
        next++;
    }
    cr_assert_eq(seen, n);
    return next;
}

Test(recorder, batches_are_cut_at_1000_in_the_order_handed_over)
{
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, 2500);
    cr_assert_eq(recorder_queue_waiting(&q), 2500);
    size_t n = 0;
    int next = 0;
    struct recorder_item *b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    cr_assert_eq(n, 1000);
    next = assert_numbered_from(b, n, next);
    recorder_queue_done(&q, n);
    b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    cr_assert_eq(n, 1000);
    next = assert_numbered_from(b, n, next);
    recorder_queue_done(&q, n);
    b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    cr_assert_eq(n, 500);
    next = assert_numbered_from(b, n, next);
    recorder_queue_done(&q, n);
    cr_assert_eq(next, 2500);
    cr_assert_null(recorder_queue_take(&q, RECORDER_BATCH_MAX, &n));
    cr_assert_eq(n, 0);
    cr_assert_eq(recorder_queue_waiting(&q), 0);
    free(items);
}

Test(recorder, a_failed_batch_is_retried_before_what_came_after_it)
{
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *first = push_numbered(&q, 0, 3);
    size_t n = 0;
    struct recorder_item *b = recorder_queue_take(&q, 2, &n);
    cr_assert_eq(n, 2);
    /* Handed over while the batch was being recorded. */
    struct recorder_queue from_loop = RECORDER_QUEUE_INIT;
    struct outcome_item *later = push_numbered(&from_loop, 3, 2);
    recorder_queue_move(&q, &from_loop);
    cr_assert_null(from_loop.head);
    cr_assert_eq(recorder_queue_waiting(&from_loop), 0);
    cr_assert_eq(recorder_queue_waiting(&q), 5);
    recorder_queue_put_back(&q, b, n);
    cr_assert_eq(recorder_queue_waiting(&q), 5);
    b = recorder_queue_take(&q, 10, &n);
    cr_assert_eq(n, 5);
    assert_numbered_from(b, n, 0);
    recorder_queue_done(&q, n);
    cr_assert_eq(recorder_queue_waiting(&q), 0);
    free(first);
    free(later);
}

Test(recorder, a_failed_batch_put_back_into_an_empty_queue_is_the_whole_queue)
{
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, 2);
    size_t n = 0;
    struct recorder_item *b = recorder_queue_take(&q, 5, &n);
    cr_assert_null(q.head);
    cr_assert_null(q.tail);
    recorder_queue_put_back(&q, b, n);
    /* The tail is right: what is pushed next goes last. */
    struct outcome_item third = {.number = 2};
    recorder_queue_push(&q, &third.item);
    b = recorder_queue_take(&q, 5, &n);
    cr_assert_eq(n, 3);
    assert_numbered_from(b, n, 0);
    recorder_queue_done(&q, n);
    free(items);
}

Test(recorder, claims_pause_from_2000_waiting_including_the_batch_being_recorded)
{
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, 1999);
    cr_assert_not(recorder_queue_backlogged(&q));
    struct outcome_item one = {.number = 1999};
    recorder_queue_push(&q, &one.item);
    cr_assert(recorder_queue_backlogged(&q));
    /* Taking a batch does not make room: it is not recorded yet. */
    size_t n = 0;
    struct recorder_item *b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    cr_assert(recorder_queue_backlogged(&q));
    recorder_queue_put_back(&q, b, n);
    cr_assert(recorder_queue_backlogged(&q));
    b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    recorder_queue_done(&q, n);
    cr_assert_not(recorder_queue_backlogged(&q));
    cr_assert_eq(recorder_queue_waiting(&q), 1000);
    b = recorder_queue_take(&q, RECORDER_BATCH_MAX, &n);
    recorder_queue_done(&q, n);
    free(items);
}

/* ---- the thread, with a record step of the test's --------------------------- */

struct fake {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int fail_next;    /* calls that fail before one succeeds */
    bool gate_closed; /* the record step waits while closed */
    int calls;
    size_t sizes[16];
    int recorded[3000]; /* numbers, in record order */
    int nrecorded;
    int discarded;
};

static void fake_init(struct fake *f)
{
    memset(f, 0, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    pthread_cond_init(&f->cond, NULL);
}

static void fake_destroy(struct fake *f)
{
    pthread_cond_destroy(&f->cond);
    pthread_mutex_destroy(&f->lock);
}

static int fake_record(void *arg, struct recorder_item *batch, size_t n, struct error *err)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    if (f->calls < 16)
        f->sizes[f->calls] = n;
    f->calls++;
    pthread_cond_broadcast(&f->cond);
    while (f->gate_closed)
        pthread_cond_wait(&f->cond, &f->lock);
    if (f->fail_next > 0) {
        f->fail_next--;
        pthread_mutex_unlock(&f->lock);
        return error_set(err, NULL, "the database is away");
    }
    for (struct recorder_item *i = batch; i != NULL; i = i->next)
        f->recorded[f->nrecorded++] = outcome_of(i)->number;
    pthread_mutex_unlock(&f->lock);
    return C_OK;
}

static void fake_discard(void *arg, struct recorder_item *list)
{
    struct fake *f = arg;
    pthread_mutex_lock(&f->lock);
    for (; list != NULL; list = list->next)
        f->discarded++;
    pthread_mutex_unlock(&f->lock);
}

static struct recorder *start(struct fake *f, long retry_ms)
{
    struct recorder_options o = {.record = fake_record,
                                 .discard = fake_discard,
                                 .arg = f,
                                 .retry_min_ms = retry_ms,
                                 .retry_max_ms = retry_ms};
    struct error err = ERROR_INIT;
    struct recorder *r = recorder_start(&o, &err);
    cr_assert_not_null(r, "%s", err.message);
    return r;
}

static void wait_for_calls(struct fake *f, int calls)
{
    pthread_mutex_lock(&f->lock);
    while (f->calls < calls)
        pthread_cond_wait(&f->cond, &f->lock);
    pthread_mutex_unlock(&f->lock);
}

static void open_gate(struct fake *f)
{
    pthread_mutex_lock(&f->lock);
    f->gate_closed = false;
    pthread_cond_broadcast(&f->cond);
    pthread_mutex_unlock(&f->lock);
}

Test(recorder, the_thread_records_everything_in_order_1000_at_a_time_before_it_stops)
{
    struct fake f;
    fake_init(&f);
    struct recorder *r = start(&f, 1);
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, 2500);
    recorder_hand_over(r, &q);
    recorder_stop(r, false);
    cr_assert_eq(f.calls, 3);
    cr_assert_eq(f.sizes[0], 1000);
    cr_assert_eq(f.sizes[1], 1000);
    cr_assert_eq(f.sizes[2], 500);
    cr_assert_eq(f.nrecorded, 2500);
    for (int i = 0; i < 2500; i++)
        cr_assert_eq(f.recorded[i], i);
    cr_assert_eq(f.discarded, 0);
    free(items);
    fake_destroy(&f);
}

Test(recorder, the_thread_retries_a_failed_batch_first_and_loses_nothing)
{
    struct fake f;
    fake_init(&f);
    f.fail_next = 2;
    f.gate_closed = true;
    struct recorder *r = start(&f, 1);
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *first = push_numbered(&q, 0, 10);
    recorder_hand_over(r, &q);
    wait_for_calls(&f, 1);
    /* Handed over while the first batch fails. */
    struct outcome_item *later = push_numbered(&q, 10, 5);
    recorder_hand_over(r, &q);
    cr_assert_eq(recorder_waiting(r), 15);
    open_gate(&f);
    recorder_stop(r, false);
    cr_assert_eq(f.calls, 3, "two failures, then the whole backlog at once");
    cr_assert_eq(f.sizes[0], 10);
    cr_assert_eq(f.sizes[1], 15);
    cr_assert_eq(f.nrecorded, 15);
    for (int i = 0; i < 15; i++)
        cr_assert_eq(f.recorded[i], i);
    free(first);
    free(later);
    fake_destroy(&f);
}

Test(recorder, the_loop_sees_the_backlog_until_the_batch_being_recorded_is_done)
{
    struct fake f;
    fake_init(&f);
    f.gate_closed = true;
    struct recorder *r = start(&f, 1);
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, RECORDER_BACKLOG_MAX);
    cr_assert_not(recorder_backlogged(r));
    recorder_hand_over(r, &q);
    wait_for_calls(&f, 1);
    /* 1000 being recorded, 1000 queued: still 2000 waiting. */
    cr_assert(recorder_backlogged(r));
    cr_assert_eq(recorder_waiting(r), RECORDER_BACKLOG_MAX);
    open_gate(&f);
    recorder_stop(r, false);
    cr_assert_eq(f.nrecorded, RECORDER_BACKLOG_MAX);
    free(items);
    fake_destroy(&f);
}

Test(recorder, an_abort_discards_what_waits_without_waiting_for_the_retry)
{
    struct fake f;
    fake_init(&f);
    f.fail_next = 1000;
    struct recorder *r = start(&f, 60000);
    struct recorder_queue q = RECORDER_QUEUE_INIT;
    struct outcome_item *items = push_numbered(&q, 0, 7);
    recorder_hand_over(r, &q);
    wait_for_calls(&f, 1);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    recorder_stop(r, true);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double waited = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    cr_assert_lt(waited, 10.0, "the abort waited %.1f s for the retry", waited);
    cr_assert_eq(f.nrecorded, 0);
    cr_assert_eq(f.discarded, 7);
    free(items);
    fake_destroy(&f);
}
