/* Host name lookups for request handlers, off the server threads and with a
 * deadline. getaddrinfo blocks for as long as the name's DNS servers take
 * (seconds, times retries); on a server thread that would hold one of the
 * gateway's few threads, and every request queued behind it. Each lookup runs
 * on a thread of its own instead while the request's connection is suspended;
 * the answer, or the deadline, resumes it. A lookup still running at its
 * deadline is abandoned (getaddrinfo cannot be cancelled): its thread ends when
 * getaddrinfo returns, and counts against RESOLVER_MAX_RUNNING until then.
 *
 * A job is shared by its submitter and its lookup thread, each releasing its
 * own reference; on_done is called exactly once, on another thread. */
#ifndef GATEWAY_RESOLVER_H
#define GATEWAY_RESOLVER_H

#include <stdint.h>

#include <netdb.h>

/* Lookup threads at once, abandoned ones included: past it a submit fails
 * (the request answers 503) rather than piling up threads on a slow name
 * server. */
#define RESOLVER_MAX_RUNNING 64

enum resolver_outcome {
    RESOLVER_PENDING,   /* on_done not called yet */
    RESOLVER_RESOLVED,  /* addresses found */
    RESOLVER_FAILED,    /* the name does not resolve (or the lookup failed) */
    RESOLVER_TIMED_OUT, /* no answer within the timeout */
};

struct resolver_config {
    long timeout_ms;
    /* The lookup, getaddrinfo(host, NULL, every family, stream) when NULL;
     * the unit tests put a slow or failing fake here. 0 and *out on success. */
    int (*lookup)(const char *host, struct addrinfo **out);
    /* How *out of a successful lookup is freed: freeaddrinfo when NULL. */
    void (*lookup_free)(struct addrinfo *res);
};

/* Starts the deadline thread. C_ERR: it could not be started. */
int resolver_init(const struct resolver_config *cfg);
/* Refuses new lookups, waits (until deadline_us, monotonic) for the pending
 * ones to be answered or to time out, and stops. Threads of abandoned lookups
 * are not waited for beyond deadline_us. */
void resolver_shutdown(int64_t deadline_us);

struct resolver_job;
/* Starts resolving host; on_done(arg) follows once, from another thread,
 * when the answer is in or the timeout has passed. NULL: shutting down, too
 * many lookups running, or out of memory (on_done is then never called). */
struct resolver_job *resolver_submit(const char *host, void (*on_done)(void *arg), void *arg);
/* The outcome; after on_done it is final. For RESOLVER_RESOLVED *addrs (may be
 * NULL) are the addresses, the job's, valid until it is released. */
enum resolver_outcome resolver_job_outcome(const struct resolver_job *job,
                                           const struct addrinfo **addrs);
/* The submitter's release, once on_done was called (or never will be). */
void resolver_job_release(struct resolver_job *job);

/* Lookups started and not yet answered or timed out (for tests). */
long resolver_pending(void);

#endif
