#include "resolver.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/result.h"

struct resolver_job {
    char *host;
    void (*on_done)(void *arg);
    void *arg;
    int64_t deadline_us;
    enum resolver_outcome outcome; /* under resolver_lock until on_done */
    struct addrinfo *addrs;
    int refs; /* the submitter's and the lookup thread's */
    bool pending;
    struct resolver_job *next; /* in resolver_pending_list */
};

static struct resolver_config resolver_cfg;
static pthread_mutex_t resolver_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t resolver_wake; /* CLOCK_MONOTONIC: the deadline thread */
static pthread_cond_t resolver_idle; /* a lookup was answered or timed out */
static pthread_t resolver_deadline_thread;
static bool resolver_started, resolver_stopping;
static struct resolver_job *resolver_pending_list;
static long resolver_pending_count, resolver_running;

static int resolver_getaddrinfo(const char *host, struct addrinfo **out)
{
    /* Every family: a connection may later use any of the addresses. */
    struct addrinfo hints;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    return getaddrinfo(host, NULL, &hints, out);
}

static void resolver_free_addrs(struct addrinfo *res)
{
    if (res == NULL)
        return;
    if (resolver_cfg.lookup_free != NULL)
        resolver_cfg.lookup_free(res);
    else
        freeaddrinfo(res);
}

/* Drops one reference; the last frees the job. resolver_lock held. */
static void resolver_unref_locked(struct resolver_job *job)
{
    if (--job->refs > 0)
        return;
    resolver_free_addrs(job->addrs);
    free(job->host);
    free(job);
}

/* Takes job out of the pending list with its outcome. resolver_lock held;
 * the caller calls on_done after unlocking. */
static void resolver_finish_locked(struct resolver_job *job, enum resolver_outcome outcome)
{
    struct resolver_job **pp = &resolver_pending_list;
    while (*pp != NULL && *pp != job)
        pp = &(*pp)->next;
    if (*pp == job)
        *pp = job->next;
    job->next = NULL;
    job->pending = false;
    job->outcome = outcome;
    resolver_pending_count--;
    pthread_cond_broadcast(&resolver_idle);
}

static void *resolver_lookup_main(void *arg)
{
    struct resolver_job *job = arg;
    struct addrinfo *res = NULL;
    if (resolver_cfg.lookup(job->host, &res) != 0)
        res = NULL;
    pthread_mutex_lock(&resolver_lock);
    bool answer = job->pending;
    if (answer) {
        job->addrs = res;
        resolver_finish_locked(job, res != NULL ? RESOLVER_RESOLVED : RESOLVER_FAILED);
    } else {
        resolver_free_addrs(res); /* too late: the request was answered without it */
    }
    pthread_mutex_unlock(&resolver_lock);
    /* This thread's own reference keeps the job alive meanwhile. */
    if (answer)
        job->on_done(job->arg);
    pthread_mutex_lock(&resolver_lock);
    resolver_running--;
    pthread_cond_broadcast(&resolver_idle);
    resolver_unref_locked(job);
    pthread_mutex_unlock(&resolver_lock);
    return NULL;
}

/* Times out the lookups past their deadline, and sleeps until the next one. */
static void *resolver_deadline_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&resolver_lock);
    while (!resolver_stopping || resolver_pending_list != NULL) {
        int64_t now = clock_now_us();
        struct resolver_job *due = NULL;
        int64_t next = now + 1000000;
        for (struct resolver_job *j = resolver_pending_list; j != NULL; j = j->next) {
            if (j->deadline_us <= now) {
                due = j;
                break;
            }
            if (j->deadline_us < next)
                next = j->deadline_us;
        }
        if (due != NULL) {
            /* Keeps the job alive across on_done: the submitter may release
             * it as soon as it is called. */
            due->refs++;
            resolver_finish_locked(due, RESOLVER_TIMED_OUT);
            pthread_mutex_unlock(&resolver_lock);
            due->on_done(due->arg);
            pthread_mutex_lock(&resolver_lock);
            resolver_unref_locked(due);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait_us = next - now;
        ts.tv_sec += (time_t)(wait_us / 1000000);
        ts.tv_nsec += (long)(wait_us % 1000000) * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&resolver_wake, &resolver_lock, &ts);
    }
    pthread_mutex_unlock(&resolver_lock);
    return NULL;
}

/* Made once for the process: an abandoned lookup may signal them at any time. */
static pthread_once_t resolver_once = PTHREAD_ONCE_INIT;
static void resolver_init_conds(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&resolver_wake, &attr);
    pthread_cond_init(&resolver_idle, &attr);
    pthread_condattr_destroy(&attr);
}

int resolver_init(const struct resolver_config *cfg)
{
    pthread_once(&resolver_once, resolver_init_conds);
    pthread_mutex_lock(&resolver_lock);
    /* Lookups abandoned before an earlier shutdown may still be running:
     * they read the configuration when they end. */
    bool busy = resolver_started || resolver_running > 0;
    pthread_mutex_unlock(&resolver_lock);
    if (busy)
        return C_ERR;
    resolver_cfg = *cfg;
    if (resolver_cfg.lookup == NULL) {
        resolver_cfg.lookup = resolver_getaddrinfo;
        resolver_cfg.lookup_free = NULL;
    }
    resolver_stopping = false;
    resolver_pending_list = NULL;
    resolver_pending_count = 0;
    if (pthread_create(&resolver_deadline_thread, NULL, resolver_deadline_main, NULL) != 0)
        return C_ERR;
    pthread_mutex_lock(&resolver_lock);
    resolver_started = true;
    pthread_mutex_unlock(&resolver_lock);
    return C_OK;
}

static void resolver_wait_locked(int64_t deadline_us, const long *count)
{
    while (*count > 0) {
        int64_t now = clock_now_us();
        if (now >= deadline_us)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        int64_t wait_us = deadline_us - now < 100000 ? deadline_us - now : 100000;
        ts.tv_nsec += (long)wait_us * 1000;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&resolver_idle, &resolver_lock, &ts);
    }
}

void resolver_shutdown(int64_t deadline_us)
{
    pthread_mutex_lock(&resolver_lock);
    if (!resolver_started) {
        pthread_mutex_unlock(&resolver_lock);
        return;
    }
    resolver_stopping = true;
    /* Pending lookups end by their own deadline: every request suspended on
     * one is resumed before the server stops. */
    pthread_cond_broadcast(&resolver_wake);
    pthread_mutex_unlock(&resolver_lock);
    pthread_join(resolver_deadline_thread, NULL);
    pthread_mutex_lock(&resolver_lock);
    resolver_wait_locked(deadline_us, &resolver_running);
    resolver_started = false;
    pthread_mutex_unlock(&resolver_lock);
}

struct resolver_job *resolver_submit(const char *host, void (*on_done)(void *arg), void *arg)
{
    struct resolver_job *job = calloc(1, sizeof(*job));
    char *copy = strdup(host);
    if (job == NULL || copy == NULL) {
        free(job);
        free(copy);
        return NULL;
    }
    job->host = copy;
    job->on_done = on_done;
    job->arg = arg;
    job->outcome = RESOLVER_PENDING;
    job->refs = 2;
    job->pending = true;
    job->deadline_us = clock_now_us() + resolver_cfg.timeout_ms * 1000;
    pthread_mutex_lock(&resolver_lock);
    if (!resolver_started || resolver_stopping || resolver_running >= RESOLVER_MAX_RUNNING) {
        pthread_mutex_unlock(&resolver_lock);
        free(job->host);
        free(job);
        return NULL;
    }
    /* Detached: an abandoned lookup is never joined, it ends by itself. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t thread;
    job->next = resolver_pending_list;
    resolver_pending_list = job;
    resolver_pending_count++;
    resolver_running++;
    if (pthread_create(&thread, &attr, resolver_lookup_main, job) != 0) {
        resolver_pending_list = job->next;
        resolver_pending_count--;
        resolver_running--;
        pthread_mutex_unlock(&resolver_lock);
        pthread_attr_destroy(&attr);
        free(job->host);
        free(job);
        return NULL;
    }
    pthread_attr_destroy(&attr);
    pthread_cond_signal(&resolver_wake);
    pthread_mutex_unlock(&resolver_lock);
    return job;
}

enum resolver_outcome resolver_job_outcome(const struct resolver_job *job,
                                           const struct addrinfo **addrs)
{
    pthread_mutex_lock(&resolver_lock);
    enum resolver_outcome outcome = job->outcome;
    if (addrs != NULL)
        *addrs = outcome == RESOLVER_RESOLVED ? job->addrs : NULL;
    pthread_mutex_unlock(&resolver_lock);
    return outcome;
}

void resolver_job_release(struct resolver_job *job)
{
    if (job == NULL)
        return;
    pthread_mutex_lock(&resolver_lock);
    resolver_unref_locked(job);
    pthread_mutex_unlock(&resolver_lock);
}

long resolver_pending(void)
{
    pthread_mutex_lock(&resolver_lock);
    long n = resolver_pending_count;
    pthread_mutex_unlock(&resolver_lock);
    return n;
}
