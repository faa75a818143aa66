#include "read_batch.h"

#include <stdlib.h>
#include <string.h>

#include "core/result.h"

void read_batch_init_queue(struct read_batch *rb, size_t max_batch)
{
    memset(rb, 0, sizeof(*rb));
    rb->max_batch = max_batch > 0 ? max_batch : 1;
    atomic_init(&rb->in_flight, 0);
    pthread_mutex_init(&rb->lock, NULL);
    pthread_cond_init(&rb->ready, NULL);
}

int read_batch_submit(struct read_batch *rb, struct read_batch_item *item)
{
    item->next = NULL;
    pthread_mutex_lock(&rb->lock);
    if (rb->closed) {
        pthread_mutex_unlock(&rb->lock);
        return C_ERR;
    }
    atomic_fetch_add(&rb->in_flight, 1);
    if (rb->tail != NULL)
        rb->tail->next = item;
    else
        rb->head = item;
    rb->tail = item;
    rb->queued++;
    /* One waiting thread is enough: it takes everything queued. */
    pthread_cond_signal(&rb->ready);
    pthread_mutex_unlock(&rb->lock);
    return C_OK;
}

/* Under rb->lock. */
static size_t read_batch_take_locked(struct read_batch *rb, struct read_batch_item **out,
                                     size_t max)
{
    size_t n = 0;
    while (n < max && rb->head != NULL) {
        struct read_batch_item *it = rb->head;
        rb->head = it->next;
        it->next = NULL;
        out[n++] = it;
    }
    if (rb->head == NULL)
        rb->tail = NULL;
    rb->queued -= n;
    return n;
}

size_t read_batch_take(struct read_batch *rb, struct read_batch_item **out, size_t max)
{
    pthread_mutex_lock(&rb->lock);
    size_t n = read_batch_take_locked(rb, out, max);
    pthread_mutex_unlock(&rb->lock);
    /* The tests answer what they take at once. */
    atomic_fetch_sub(&rb->in_flight, (long)n);
    return n;
}

bool read_batch_try_alone(struct read_batch *rb)
{
    long none = 0;
    return atomic_compare_exchange_strong(&rb->in_flight, &none, 1);
}

void read_batch_alone_done(struct read_batch *rb)
{
    atomic_fetch_sub(&rb->in_flight, 1);
}

static void *read_batch_main(void *arg)
{
    struct read_batch *rb = arg;
    struct read_batch_item **items = calloc(rb->max_batch, sizeof(*items));
    void *conn = rb->hooks.thread_start != NULL ? rb->hooks.thread_start(rb->hooks.cls) : NULL;
    pthread_mutex_lock(&rb->lock);
    for (;;) {
        while (rb->head == NULL && !rb->closed)
            pthread_cond_wait(&rb->ready, &rb->lock);
        if (rb->head == NULL)
            break; /* closed and drained */
        /* Without its array (out of memory at start) a thread still answers,
         * one item at a time. */
        struct read_batch_item *one;
        struct read_batch_item **out = items != NULL ? items : &one;
        size_t n = read_batch_take_locked(rb, out, items != NULL ? rb->max_batch : 1);
        /* More left than this batch takes: another idle thread may start on
         * them now rather than after this query. */
        if (rb->head != NULL)
            pthread_cond_signal(&rb->ready);
        pthread_mutex_unlock(&rb->lock);
        rb->hooks.run(rb->hooks.cls, conn, out, n);
        atomic_fetch_sub(&rb->in_flight, (long)n);
        pthread_mutex_lock(&rb->lock);
    }
    pthread_mutex_unlock(&rb->lock);
    if (rb->hooks.thread_stop != NULL)
        rb->hooks.thread_stop(rb->hooks.cls, conn);
    free(items);
    return NULL;
}

int read_batch_start(struct read_batch *rb, const struct read_batch_hooks *hooks, size_t nthreads,
                     size_t max_batch)
{
    if (nthreads == 0 || hooks->run == NULL)
        return C_ERR;
    read_batch_init_queue(rb, max_batch);
    rb->hooks = *hooks;
    rb->threads = calloc(nthreads, sizeof(*rb->threads));
    if (rb->threads == NULL)
        return C_ERR;
    for (size_t i = 0; i < nthreads; i++) {
        if (pthread_create(&rb->threads[i], NULL, read_batch_main, rb) != 0) {
            /* Nothing was submitted yet: the started threads exit at once. */
            read_batch_shutdown(rb);
            return C_ERR;
        }
        rb->nthreads++;
    }
    return C_OK;
}

void read_batch_shutdown(struct read_batch *rb)
{
    pthread_mutex_lock(&rb->lock);
    rb->closed = true;
    pthread_cond_broadcast(&rb->ready);
    pthread_mutex_unlock(&rb->lock);
    for (size_t i = 0; i < rb->nthreads; i++)
        pthread_join(rb->threads[i], NULL);
    free(rb->threads);
    rb->threads = NULL;
    rb->nthreads = 0;
}
