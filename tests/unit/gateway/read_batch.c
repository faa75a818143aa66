/* The coalescer without libmicrohttpd or PostgreSQL: what a batch takes (in
 * order, up to its size, nothing twice), that a closed intake refuses, and
 * with real threads that every item submitted is answered exactly once, the
 * ones still queued at shutdown included. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>

#include "core/result.h"
#include "../../../gateway/read_batch.h"

struct fake {
    struct read_batch_item item;
    int number;
    atomic_int answered;
};

static struct fake *fake_of(struct read_batch_item *it)
{
    return (struct fake *)(void *)((char *)it - offsetof(struct fake, item));
}

Test(read_batch, takes_the_oldest_items_first_up_to_the_batch_size)
{
    struct read_batch rb;
    read_batch_init_queue(&rb, 4);
    struct fake f[6] = {0};
    for (int i = 0; i < 6; i++) {
        f[i].number = i;
        cr_assert_eq(read_batch_submit(&rb, &f[i].item), C_OK);
    }
    struct read_batch_item *out[8];
    size_t n = read_batch_take(&rb, out, 4);
    cr_assert_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(fake_of(out[i])->number, (int)i);
    n = read_batch_take(&rb, out, 4);
    cr_assert_eq(n, 2);
    cr_assert_eq(fake_of(out[0])->number, 4);
    cr_assert_eq(fake_of(out[1])->number, 5);
    cr_assert_eq(read_batch_take(&rb, out, 4), 0);
    read_batch_shutdown(&rb);
}

Test(read_batch, an_item_submitted_after_a_take_waits_for_the_next_batch)
{
    struct read_batch rb;
    read_batch_init_queue(&rb, 8);
    struct fake a = {.number = 1}, b = {.number = 2};
    read_batch_submit(&rb, &a.item);
    struct read_batch_item *out[8];
    cr_assert_eq(read_batch_take(&rb, out, 8), 1);
    /* The first batch is gone (its statement started): b is not in it. */
    read_batch_submit(&rb, &b.item);
    cr_assert_eq(read_batch_take(&rb, out, 8), 1);
    cr_assert_eq(fake_of(out[0])->number, 2);
    read_batch_shutdown(&rb);
}

Test(read_batch, a_closed_intake_refuses_and_leaves_the_item_to_its_caller)
{
    struct read_batch rb;
    read_batch_init_queue(&rb, 8);
    read_batch_shutdown(&rb);
    struct fake a = {0};
    cr_assert_eq(read_batch_submit(&rb, &a.item), C_ERR);
    struct read_batch_item *out[1];
    cr_assert_eq(read_batch_take(&rb, out, 1), 0);
}

/* ---- with threads ------------------------------------------------------------ */

#define THREADED_ITEMS 2000
#define THREADED_MAX 16

struct counters {
    atomic_int started, stopped, batches, items;
    atomic_int too_big;
    atomic_int conns_seen_wrong;
    pthread_mutex_t gate; /* held by a test to keep batches from ending */
};

static int conn_marker;

static void *fake_thread_start(void *cls)
{
    struct counters *c = cls;
    atomic_fetch_add(&c->started, 1);
    return &conn_marker;
}

static void fake_thread_stop(void *cls, void *conn)
{
    struct counters *c = cls;
    if (conn != &conn_marker)
        atomic_fetch_add(&c->conns_seen_wrong, 1);
    atomic_fetch_add(&c->stopped, 1);
}

static void fake_run(void *cls, void *conn, struct read_batch_item **items, size_t n)
{
    struct counters *c = cls;
    pthread_mutex_lock(&c->gate);
    pthread_mutex_unlock(&c->gate);
    if (conn != &conn_marker)
        atomic_fetch_add(&c->conns_seen_wrong, 1);
    if (n == 0 || n > THREADED_MAX)
        atomic_fetch_add(&c->too_big, 1);
    atomic_fetch_add(&c->batches, 1);
    atomic_fetch_add(&c->items, (int)n);
    for (size_t i = 0; i < n; i++)
        atomic_fetch_add(&fake_of(items[i])->answered, 1);
}

static struct fake threaded[THREADED_ITEMS];

/* Starts rb's nthreads threads on the fake hooks counting into c; held: with
 * c's gate locked, so the first batch stays in its run until the test opens it. */
static void start_fake_threads(struct read_batch *rb, struct counters *c, size_t nthreads,
                               bool held)
{
    *c = (struct counters){.gate = PTHREAD_MUTEX_INITIALIZER};
    if (held)
        pthread_mutex_lock(&c->gate);
    struct read_batch_hooks hooks = {fake_thread_start, fake_thread_stop, fake_run, c};
    cr_assert_eq(read_batch_start(rb, &hooks, nthreads, THREADED_MAX), C_OK);
}

/* Until a thread has taken everything queued (it blocks in run on the gate). */
static void wait_taken(struct read_batch *rb)
{
    for (;;) {
        pthread_mutex_lock(&rb->lock);
        bool taken = rb->head == NULL;
        pthread_mutex_unlock(&rb->lock);
        if (taken)
            return;
        sched_yield();
    }
}

Test(read_batch, every_item_is_answered_exactly_once_by_its_threads)
{
    struct counters c;
    struct read_batch rb;
    start_fake_threads(&rb, &c, 3, false);
    for (int i = 0; i < THREADED_ITEMS; i++) {
        threaded[i] = (struct fake){.number = i};
        cr_assert_eq(read_batch_submit(&rb, &threaded[i].item), C_OK);
    }
    read_batch_shutdown(&rb);
    for (int i = 0; i < THREADED_ITEMS; i++)
        cr_assert_eq(atomic_load(&threaded[i].answered), 1, "item %d answered %d times", i,
                     atomic_load(&threaded[i].answered));
    cr_assert_eq(atomic_load(&c.items), THREADED_ITEMS);
    cr_assert_eq(atomic_load(&c.too_big), 0);
    cr_assert_eq(atomic_load(&c.started), 3);
    cr_assert_eq(atomic_load(&c.stopped), 3);
    cr_assert_eq(atomic_load(&c.conns_seen_wrong), 0);
}

Test(read_batch, items_queued_while_every_thread_is_busy_make_one_batch)
{
    struct counters c;
    struct read_batch rb;
    /* The one thread's first batch is held in its run while ten more items
     * queue: they are answered together by the next batch, not one by one. */
    start_fake_threads(&rb, &c, 1, true);
    struct fake first = {0}, more[10] = {0};
    read_batch_submit(&rb, &first.item);
    wait_taken(&rb);
    for (int i = 0; i < 10; i++)
        read_batch_submit(&rb, &more[i].item);
    pthread_mutex_unlock(&c.gate);
    read_batch_shutdown(&rb);
    cr_assert_eq(atomic_load(&c.batches), 2);
    cr_assert_eq(atomic_load(&c.items), 11);
    for (int i = 0; i < 10; i++)
        cr_assert_eq(atomic_load(&more[i].answered), 1);
}

Test(read_batch, a_read_runs_alone_only_while_nothing_else_is_read)
{
    struct read_batch rb;
    read_batch_init_queue(&rb, 8);
    cr_assert(read_batch_try_alone(&rb));
    /* Another read meanwhile is queued, not alone. */
    cr_assert_not(read_batch_try_alone(&rb));
    read_batch_alone_done(&rb);
    struct fake a = {0};
    read_batch_submit(&rb, &a.item);
    cr_assert_not(read_batch_try_alone(&rb), "an item waits in the queue");
    struct read_batch_item *out[1];
    cr_assert_eq(read_batch_take(&rb, out, 1), 1);
    cr_assert(read_batch_try_alone(&rb), "everything was answered");
    read_batch_alone_done(&rb);
    read_batch_shutdown(&rb);
}

Test(read_batch, a_batch_being_read_keeps_others_from_running_alone)
{
    struct counters c;
    struct read_batch rb;
    start_fake_threads(&rb, &c, 1, true);
    struct fake a = {0};
    read_batch_submit(&rb, &a.item);
    wait_taken(&rb);
    cr_assert_not(read_batch_try_alone(&rb), "a batch is being read");
    pthread_mutex_unlock(&c.gate);
    read_batch_shutdown(&rb);
    cr_assert(read_batch_try_alone(&rb));
}
