/* Coalesced reads: requests that wait at the same time become one query.
 *
 * A server thread submits an item (its connection suspended) and goes back to
 * its other connections; a batch thread takes every item waiting, up to
 * max_batch, and hands them to the run hook, which reads them all with one
 * statement on the thread's own connection and answers each. Nothing waits
 * on a timer: an item alone is taken at once by an idle thread, and the items
 * that arrive while every thread is in a query make the next batch. An item
 * is taken only after it was submitted, so the statement that reads it starts
 * after its request arrived: it sees every write committed before that.
 *
 * The queue, its threads and the drain are this module's; what an item is and
 * how a batch is read and answered are the hooks'. */
#ifndef GATEWAY_READ_BATCH_H
#define GATEWAY_READ_BATCH_H

#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stddef.h>

/* Embedded in the caller's own structure (the hooks find it back with
 * offsetof); owned by the caller, linked here while it waits. */
struct read_batch_item {
    struct read_batch_item *next;
};

struct read_batch_hooks {
    /* Once per batch thread, on that thread, before its first batch: its
     * connection (NULL: none, run is called with NULL). */
    void *(*thread_start)(void *cls);
    void (*thread_stop)(void *cls, void *conn);
    /* Reads and answers items[0..n) (oldest first); each item must be
     * answered exactly once, by this call. Called with no lock held. */
    void (*run)(void *cls, void *conn, struct read_batch_item **items, size_t n);
    void *cls;
};

struct read_batch {
    struct read_batch_hooks hooks;
    size_t max_batch;
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct read_batch_item *head, *tail; /* FIFO, under lock */
    size_t queued;                       /* under lock */
    /* Reads not answered yet: queued, in a batch, or alone (read_batch_try_alone). */
    atomic_long in_flight;
    bool closed; /* under lock: submit refuses */
    pthread_t *threads;
    size_t nthreads;
};

/* Starts nthreads batch threads (≥ 1) taking up to max_batch items (≥ 1)
 * each. C_ERR (nothing started, nothing to shut down): out of memory or a
 * thread could not start. */
int read_batch_start(struct read_batch *rb, const struct read_batch_hooks *hooks, size_t nthreads,
                     size_t max_batch);

/* Queues item for the next batch. C_ERR: the intake is closed (shutting
 * down); the item was not taken and is still the caller's to answer. */
int read_batch_submit(struct read_batch *rb, struct read_batch_item *item);

/* Whether a read may skip the queue and run at once on its caller's own
 * connection: true when nothing else is being read (nothing queued, no batch
 * running, no other read alone), and then the caller reads and calls
 * read_batch_alone_done. A GET alone pays no hand-off between threads; as
 * soon as reads overlap they are queued and coalesced. */
bool read_batch_try_alone(struct read_batch *rb);
void read_batch_alone_done(struct read_batch *rb);

/* Closes the intake, lets the threads answer every item already queued, joins
 * them and frees what start allocated. */
void read_batch_shutdown(struct read_batch *rb);

/* Moves up to max oldest items of the queue into out (the batch threads'
 * step, exposed for the tests, which answer them at once: they no longer
 * count as in flight); returns how many. Caller holds no lock. */
size_t read_batch_take(struct read_batch *rb, struct read_batch_item **out, size_t max);

/* Initializes rb's queue without threads (tests drive it with
 * read_batch_take); read_batch_shutdown then only closes it. */
void read_batch_init_queue(struct read_batch *rb, size_t max_batch);

#endif
