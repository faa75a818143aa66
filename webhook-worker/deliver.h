/* The delivery loop: claims due deliveries under a lease and holds them
 * (scheduler.h), sends them with libcurl multi (transfer.h) and hands what
 * finished to the recorder (recorder.h); on a stop it gives back what it
 * holds, lets what is sending finish until the drain deadline, then aborts the
 * rest and gives it back too. Runs in its own thread with its own
 * connection. */
#ifndef WEBHOOK_WORKER_DELIVER_H
#define WEBHOOK_WORKER_DELIVER_H

#include "core/error.h"
#include "infra/netguard.h"
#include "webhook_schedule.h"

struct deliver_options {
    const char *database_url;
    const char *worker_id; /* leased_by: unique per process */
    struct webhook_schedule schedule;
    struct netguard_allowlist allowlist;
    long timeout_ms;
    long connect_timeout_ms;
    long lease_ms;
    long endpoint_concurrency;
    long max_in_flight;
    long tenant_share_percent; /* of max_in_flight, for one organization */
    long response_max_bytes;   /* response body bytes read, at most */
    long poll_ms;
    long disable_after_s;
    /* After a stop request, in-flight requests get this long to finish; the
     * rest are aborted and their leases given back. */
    long drain_ms;
};

struct deliver;

/* Starts the loop's thread and the recorder's. NULL with err set on failure. */
struct deliver *deliver_start(const struct deliver_options *opt, struct error *err);
/* Wakes the loop to claim now (new deliveries were committed). Any thread. */
void deliver_wake(void *d);
/* Waits for the thread to end (it ends once service_stopping() and drained). */
void deliver_join(struct deliver *d);

#endif
