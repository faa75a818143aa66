#include "deadline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"

#define DEADLINE_SWEEP_MS 200
#define DEADLINE_LOG_EVERY_US (10 * 1000000LL) /* a summary, not a line per socket */

struct deadline_table;

struct deadline_slot {
    struct deadline_table *table;
    const struct deadline_listener *listener;
    int fd;
    _Atomic int64_t due_us; /* 0: no deadline */
    struct deadline_slot *prev, *next;
};

/* One server thread's connections. Slots are added and removed by that
 * thread, and read by the reaper, under lock; due_us is written by the owner
 * alone. A slot is removed before libmicrohttpd closes its socket, so the
 * reaper, under the lock, never shuts down a descriptor already reused. */
struct deadline_table {
    pthread_mutex_t lock;
    struct deadline_slot *head;
    struct deadline_table *next; /* in the registry */
};

static struct {
    pthread_mutex_t lock; /* the registry of tables, and start/stop */
    struct deadline_table *tables;
    pthread_t reaper;
    bool configured; /* by the first deadline_start */
    bool running;    /* the reaper */
    atomic_bool stop;
    /* Set before the first daemon starts, read by its threads. */
    _Atomic int64_t request_us, idle_us; /* request_us 0: no deadlines */
} deadline = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Thread_local struct deadline_table *deadline_own_table;

void deadline_listener_init(struct deadline_listener *l, const char *listener)
{
    static const char *const labels[] = {"listener", NULL};
    struct metrics_registry *r = metrics_default();
    const char *value[] = {listener};
    l->open = metrics_series(metrics_gauge(r, "caisse_http_open_connections",
                                           "HTTP connections open, by listener", labels),
                             value);
    l->timed_out = metrics_series(
        metrics_counter(r, "caisse_http_request_timeouts_total",
                        "Connections closed because a whole request did not arrive in time"
                        " (CAISSE_HTTP_REQUEST_TIMEOUT), by listener",
                        labels),
        value);
}

static int64_t deadline_next_request_due(void)
{
    return deadline.request_us > 0 ? clock_now_us() + deadline.idle_us + deadline.request_us : 0;
}

static struct deadline_table *deadline_thread_table(void)
{
    if (deadline_own_table != NULL)
        return deadline_own_table;
    struct deadline_table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    pthread_mutex_init(&t->lock, NULL);
    pthread_mutex_lock(&deadline.lock);
    t->next = deadline.tables;
    deadline.tables = t;
    pthread_mutex_unlock(&deadline.lock);
    deadline_own_table = t;
    return t;
}

static void deadline_connection_started(const struct deadline_listener *l,
                                        struct MHD_Connection *conn, void **socket_context)
{
    metrics_gauge_add(l->open, 1);
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct deadline_table *t = deadline_thread_table();
    struct deadline_slot *s = ci != NULL && t != NULL ? calloc(1, sizeof(*s)) : NULL;
    if (s == NULL)
        return; /* out of memory: this connection has only the idle timeout */
    s->table = t;
    s->listener = l;
    s->fd = ci->connect_fd;
    atomic_store_explicit(&s->due_us, deadline_next_request_due(), memory_order_relaxed);
    pthread_mutex_lock(&t->lock);
    s->next = t->head;
    if (t->head != NULL)
        t->head->prev = s;
    t->head = s;
    pthread_mutex_unlock(&t->lock);
    *socket_context = s;
}

static void deadline_connection_closed(const struct deadline_listener *l, void **socket_context)
{
    metrics_gauge_add(l->open, -1);
    struct deadline_slot *s = *socket_context;
    if (s == NULL)
        return;
    struct deadline_table *t = s->table;
    pthread_mutex_lock(&t->lock);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        t->head = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    pthread_mutex_unlock(&t->lock);
    free(s);
    *socket_context = NULL;
}

void deadline_notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    const struct deadline_listener *l = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        deadline_connection_started(l, conn, socket_context);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        deadline_connection_closed(l, socket_context);
}

static struct deadline_slot *deadline_slot_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci != NULL ? ci->socket_context : NULL;
}

static void deadline_set(struct MHD_Connection *conn, int64_t due_us)
{
    struct deadline_slot *s = deadline_slot_of(conn);
    if (s != NULL)
        atomic_store_explicit(&s->due_us, due_us, memory_order_relaxed);
}

void *deadline_request_started(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)uri;
    if (deadline.request_us > 0)
        deadline_set(conn, clock_now_us() + deadline.request_us);
    return NULL;
}

void deadline_request_received(struct MHD_Connection *conn)
{
    if (deadline.request_us > 0)
        deadline_set(conn, 0);
}

void deadline_request_done(struct MHD_Connection *conn)
{
    if (deadline.request_us > 0)
        deadline_set(conn, deadline_next_request_due());
}

/* Shuts down every socket past its deadline; how many. */
static long deadline_sweep(int64_t now_us)
{
    long closed = 0;
    pthread_mutex_lock(&deadline.lock);
    for (struct deadline_table *t = deadline.tables; t != NULL; t = t->next) {
        pthread_mutex_lock(&t->lock);
        for (struct deadline_slot *s = t->head; s != NULL; s = s->next) {
            int64_t due = atomic_load_explicit(&s->due_us, memory_order_relaxed);
            if (due == 0 || due > now_us)
                continue;
            /* The server thread sees end of file and closes it as a client that left. */
            shutdown(s->fd, SHUT_RDWR);
            atomic_store_explicit(&s->due_us, 0, memory_order_relaxed);
            metrics_counter_add(s->listener->timed_out, 1);
            closed++;
        }
        pthread_mutex_unlock(&t->lock);
    }
    pthread_mutex_unlock(&deadline.lock);
    return closed;
}

static void *deadline_reap(void *arg)
{
    (void)arg;
    long unreported = 0;
    int64_t last_log = 0;
    while (!atomic_load(&deadline.stop)) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = DEADLINE_SWEEP_MS * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        int64_t now = clock_now_us();
        unreported += deadline_sweep(now);
        if (unreported > 0 && now - last_log >= DEADLINE_LOG_EVERY_US) {
            log_fields(LOG_WARN,
                       json_pack("{sI sI}", "connections", (json_int_t)unreported,
                                 "request_timeout_s", (json_int_t)(deadline.request_us / 1000000)),
                       "closed connections that did not send a whole request in time");
            unreported = 0;
            last_log = now;
        }
    }
    return NULL;
}

int deadline_start(long request_timeout_s, long idle_timeout_s)
{
    pthread_mutex_lock(&deadline.lock);
    int rc = C_OK;
    if (!deadline.configured) {
        deadline.request_us = (int64_t)request_timeout_s * 1000000;
        deadline.idle_us = (int64_t)idle_timeout_s * 1000000;
        atomic_store(&deadline.stop, false);
        if (deadline.request_us > 0 &&
            pthread_create(&deadline.reaper, NULL, deadline_reap, NULL) != 0) {
            deadline.request_us = 0;
            rc = C_ERR;
        } else {
            deadline.running = deadline.request_us > 0;
            deadline.configured = true;
        }
    }
    pthread_mutex_unlock(&deadline.lock);
    return rc;
}

void deadline_stop(void)
{
    pthread_mutex_lock(&deadline.lock);
    bool running = deadline.running;
    deadline.running = false;
    deadline.configured = false;
    pthread_mutex_unlock(&deadline.lock);
    if (running) {
        atomic_store(&deadline.stop, true);
        pthread_join(deadline.reaper, NULL);
    }
    pthread_mutex_lock(&deadline.lock);
    struct deadline_table *t = deadline.tables;
    deadline.tables = NULL;
    deadline.request_us = 0;
    pthread_mutex_unlock(&deadline.lock);
    while (t != NULL) {
        struct deadline_table *next = t->next;
        for (struct deadline_slot *s = t->head; s != NULL;) {
            struct deadline_slot *after = s->next;
            free(s);
            s = after;
        }
        pthread_mutex_destroy(&t->lock);
        free(t);
        t = next;
    }
}
