/* Which claimed delivery is sent when: per-endpoint slots under the
 * endpoint's concurrency cap, the tenant's share and the worker's in-flight
 * cap, and the deliveries claimed ahead of their slot (held) in claim order,
 * each given back unsent once its lease could no longer cover a whole request
 * (whether or not a slot is free).
 *
 * A tenant (an organization) never has more requests in flight than its
 * share of max_in_flight, nor more deliveries held and sending than
 * SCHEDULER_QUEUE_FACTOR times that: a tenant whose endpoints never answer
 * (a tarpit) holds its share of the slots at most, and the rest go to the
 * others.
 *
 * Claiming ahead lets a freed slot start the next request without a round
 * trip to PostgreSQL, so one claim serves many requests instead of one.
 *
 * A state machine over plain structs, without I/O or a clock of its own: the
 * caller passes the time and the function that really starts a request, so
 * every decision is unit tested. The items are embedded in the caller's
 * objects (struct transfer); the scheduler never allocates or frees them. */
#ifndef WEBHOOK_WORKER_SCHEDULER_H
#define WEBHOOK_WORKER_SCHEDULER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"

/* Deliveries of one endpoint held at once (sending plus claimed ahead), as a
 * multiple of its concurrency cap. */
#define SCHEDULER_PREFETCH_FACTOR 8
/* Most deliveries claimed ahead in all, as a multiple of max_in_flight. */
#define SCHEDULER_QUEUE_FACTOR 2
/* Most deliveries claimed by one statement. */
#define SCHEDULER_CLAIM_BATCH 100
/* A held delivery starts only if its lease still covers a whole request plus
 * this; otherwise it is given back rather than risk being sent by two
 * workers. */
#define SCHEDULER_START_MARGIN_MS 2000
#define SCHEDULER_BUCKETS 256

struct scheduler_limits {
    long endpoint_concurrency; /* most requests in flight to one endpoint */
    long max_in_flight;        /* most requests in flight in all */
    long tenant_max_in_flight; /* most requests in flight for one tenant (scheduler_tenant_cap) */
    long lease_ms;             /* a claim's lease, from the claim's start */
    long request_ms;           /* the longest a request may take (its timeout) */
};

enum scheduler_state {
    SCHEDULER_OUT = 0, /* not the scheduler's: new, given back, or finished */
    SCHEDULER_HELD,    /* claimed, waiting for a slot of its endpoint */
    SCHEDULER_SENDING, /* holding a slot */
};

struct scheduler_endpoint;

/* The most requests in flight one tenant may have: share_percent of
 * max_in_flight, rounded up, at least 1 and at most max_in_flight. */
long scheduler_tenant_cap(long max_in_flight, long share_percent);

/* One delivery as the scheduler sees it. Lists the scheduler hands out
 * (given back, taken) are chained through next. */
struct scheduler_item {
    struct scheduler_item *next, *prev;
    struct scheduler_endpoint *endpoint; /* while held or sending */
    int64_t claimed_ms; /* before the claim's statement: its lease runs from no earlier */
    enum scheduler_state state;
};

/* What the worker holds of one tenant, over its endpoints. Created on the
 * first hold, freed once nothing of the tenant is held or sending. */
struct scheduler_tenant {
    struct scheduler_tenant *next; /* hash chain */
    char id[UUID_STR_LEN];
    long sending;
    long held;
    /* The last claim filled this tenant's allowance: claim again once half
     * of its held deliveries are sent. */
    bool backlog;
};

/* What the worker holds of one endpoint. Created on the first hold, freed
 * once nothing of the endpoint is held or sending. */
struct scheduler_endpoint {
    struct scheduler_endpoint *next; /* hash chain */
    struct scheduler_tenant *tenant; /* its organization's */
    char id[UUID_STR_LEN];
    long sending;
    long held;
    struct scheduler_item *queue, *queue_tail; /* held, in claim order */
    /* The last claim filled this endpoint's allowance: more may be due, so
     * claim again once half of it is sent. */
    bool backlog;
};

struct scheduler {
    struct scheduler_limits limits;
    struct scheduler_endpoint *buckets[SCHEDULER_BUCKETS];
    struct scheduler_tenant *tenants[SCHEDULER_BUCKETS];
    struct scheduler_item *sending_list;
    long sending; /* over all endpoints */
    long held;    /* over all endpoints */
};

void scheduler_init(struct scheduler *s, const struct scheduler_limits *limits);
/* Frees the endpoints' entries; nothing may be held or sending any more
 * (take it first). */
void scheduler_destroy(struct scheduler *s);

/* Most deliveries of one endpoint held at once, sending included: what a
 * claim may fill an endpoint up to. */
long scheduler_endpoint_allowance(const struct scheduler *s);
/* Most deliveries of one tenant held at once, sending included: what a
 * claim may fill a tenant up to. */
long scheduler_tenant_allowance(const struct scheduler *s);
/* How many deliveries a claim may take now; 0: the held queues are full. */
long scheduler_claim_limit(const struct scheduler *s);
/* {"<endpoint id>": deliveries held or sending} for every endpoint the
 * worker holds anything of (new reference; NULL: out of memory). */
json_t *scheduler_held_by_endpoint(const struct scheduler *s);
/* {"<tenant id>": deliveries held or sending}, the same for tenants. */
json_t *scheduler_held_by_tenant(const struct scheduler *s);

/* Holds item, claimed at claimed_ms for endpoint_id of tenant_id, behind
 * the endpoint's earlier claims. C_ERR (out of memory): item stays out. */
int scheduler_hold(struct scheduler *s, struct scheduler_item *item, const char *endpoint_id,
                   const char *tenant_id, int64_t claimed_ms);
/* After a claim's deliveries are held: an endpoint given its whole allowance
 * may have more due (see scheduler_start_held's refill). */
void scheduler_claim_done(struct scheduler *s);

/* Whether a delivery claimed at claimed_ms may still start at now_ms: its
 * lease covers a whole request plus SCHEDULER_START_MARGIN_MS. */
bool scheduler_lease_covers(const struct scheduler_limits *limits, int64_t claimed_ms,
                            int64_t now_ms);

/* Starts the request of item. C_OK: it is sending and holds its slot until
 * scheduler_finished. C_ERR: it ended at once (it could not even be sent)
 * and is no longer the scheduler's. */
typedef int (*scheduler_start_fn)(void *arg, struct scheduler_item *item);

/* Starts held deliveries, each endpoint's in claim order, wherever the
 * endpoint has a free slot, its tenant is under its share and the worker
 * under max_in_flight; endpoints are visited in the same (hash) order every
 * time. A held delivery whose lease no longer covers a request is not
 * started, slot or not: it is added to *give_back (out of the scheduler) for
 * the caller to return unsent, so nothing stays held past its lease. *refill
 * is set when a claim should run now: something was given back, or an
 * endpoint or tenant that may have more due has sent half of what it held. */
void scheduler_start_held(struct scheduler *s, int64_t now_ms, scheduler_start_fn start, void *arg,
                          struct scheduler_item **give_back, bool *refill);
/* The request of item is over: its slot is free, item is out. */
void scheduler_finished(struct scheduler *s, struct scheduler_item *item);
/* Takes every held delivery out (a list; NULL if none), e.g. to give them
 * back on shutdown. */
struct scheduler_item *scheduler_take_held(struct scheduler *s);
/* Takes every sending delivery out (a list; NULL if none), freeing their
 * slots, e.g. when their requests are aborted. */
struct scheduler_item *scheduler_take_sending(struct scheduler *s);

#endif
