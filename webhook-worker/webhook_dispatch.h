/* The webhook worker's SQL: fan-out of events into webhook_deliveries, claiming
 * due deliveries under a lease, and recording each attempt's outcome. Every
 * statement that changes a claimed delivery is guarded by leased_by, so a worker
 * whose lease was taken over cannot overwrite its successor's work. */
#ifndef CAISSE_WEBHOOK_DISPATCH_H
#define CAISSE_WEBHOOK_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "infra/db.h"
#include "infra/secretbox.h"
#include "core/uuid.h"

/* Inserts one pending delivery per (event, subscribed endpoint) for the event
 * ids in event_ids (a JSON array of strings), due now. Endpoints: same
 * organization and environment as the event's outbox row, enabled, not
 * deleted, created before the event, subscribed to its type or "*". An
 * existing (event, endpoint) pair is left alone, so a replayed batch creates
 * nothing. *inserted: rows created; *unknown: ids without an outbox row. */
int webhook_dispatch_fanout(struct db *db, const json_t *event_ids, long *inserted, long *unknown);

/* One claimed delivery, with what sending it needs. */
struct webhook_dispatch_job {
    char delivery_id[UUID_STR_LEN];
    char event_id[UUID_STR_LEN];
    char endpoint_id[UUID_STR_LEN];
    char organization_id[UUID_STR_LEN]; /* the tenant, for its fair share of the slots */
    int attempt_count;                  /* attempts made before this one */
    char *url;
    char *secret;          /* NULL when its sealed form does not open (the attempt fails) */
    char *previous_secret; /* NULL unless it still signs (rotation window) */
    char *payload;         /* the CloudEvent JSON; NULL if the event is no longer stored */
    size_t payload_len;
    bool endpoint_disabled;
    bool endpoint_deleted;
};

void webhook_dispatch_job_clear(struct webhook_dispatch_job *job);

/* The key that opens the endpoints' sealed secrets (borrowed; set before the
 * first claim). */
void webhook_dispatch_set_keyring(const struct secretbox_keyring *kr);

struct webhook_dispatch_claim {
    long limit;                     /* most deliveries to claim */
    long lease_ms;                  /* lease_until = now() + lease_ms */
    const char *worker;             /* leased_by */
    long endpoint_cap;              /* most deliveries held and sending per endpoint */
    const json_t *in_flight;        /* {"<endpoint id>": count} of this worker's transfers */
    long tenant_cap;                /* most deliveries held and sending per organization */
    const json_t *tenant_in_flight; /* {"<organization id>": count}, the same per tenant */
};

/* Leases up to c->limit due, unleased deliveries, skipping rows other
 * workers are claiming: each endpoint's oldest due ones up to its free room,
 * never more per organization than its free room, and the organizations in
 * turn (each one's oldest first, then each one's second...), so that one
 * tenant's backlog, however large, neither fills a claim nor is read through
 * by it. *jobs: new array of *count (free with webhook_dispatch_jobs_free). */
int webhook_dispatch_claim(struct db *db, const struct webhook_dispatch_claim *c,
                           struct webhook_dispatch_job **jobs, size_t *count);
void webhook_dispatch_jobs_free(struct webhook_dispatch_job *jobs, size_t count);

enum webhook_dispatch_verdict {
    WEBHOOK_DISPATCH_SUCCEEDED, /* 2xx */
    WEBHOOK_DISPATCH_RETRY,     /* failed, tried again after retry_in_ms */
    WEBHOOK_DISPATCH_FAILED,    /* failed for good (schedule exhausted) */
    WEBHOOK_DISPATCH_GONE,      /* 410: the delivery fails and the endpoint is disabled */
};

struct webhook_dispatch_outcome {
    const char *delivery_id;
    const char *endpoint_id;
    const char *worker;
    long duration_ms;
    long status_code;  /* 0: no HTTP answer */
    const char *body;  /* valid UTF-8 without NUL, already cut; may be NULL */
    const char *error; /* NULL when the endpoint answered */
    enum webhook_dispatch_verdict verdict;
    long retry_in_ms;     /* WEBHOOK_DISPATCH_RETRY only */
    long disable_after_s; /* an endpoint failing longer than this is disabled */
};

/* Records the attempts o[0..n) in one transaction: their attempt rows, their
 * deliveries' new states (unless the lease was lost: lease_lost[i], the
 * attempt is still logged), and their endpoints' health (failing_since;
 * disabled on 410 or after failing too long). disabled_reason[i]: a new
 * string when that attempt disabled its endpoint (caller frees), else NULL.
 * One transaction and a few statements for the whole set, whatever n: a busy
 * worker records what finished since its last pass at once. On C_ERR nothing
 * was recorded and every disabled_reason[i] is NULL. */
int webhook_dispatch_record(struct db *db, const struct webhook_dispatch_outcome *o, size_t n,
                            bool *lease_lost, char **disabled_reason);

/* Fails a claimed delivery without sending it (endpoint disabled or deleted,
 * event gone), with reason as last_error. */
int webhook_dispatch_abandon(struct db *db, const char *delivery_id, const char *worker,
                             const char *reason);

/* Gives back leases (ids: JSON array of delivery ids) so another worker can
 * take the deliveries now rather than when the lease ends. */
int webhook_dispatch_release(struct db *db, const json_t *delivery_ids, const char *worker);

/* The encoding and decoding of the statements above, apart from any
 * connection so that they are unit tested. */

/* The claimed deliveries of a claim's result (its RETURNING columns):
 * *jobs, a new array of *count (webhook_dispatch_jobs_free). C_ERR: out of
 * memory, nothing returned. */
int webhook_dispatch_jobs_from_result(const PGresult *r, struct webhook_dispatch_job **jobs,
                                      size_t *count);
/* The rows the record statement reads (json_to_recordset): one per outcome,
 * with its index i in o, its delivery's new status ("succeeded", "pending"
 * for a retry, "failed") and JSON nulls for an absent status code, body or
 * error. New reference; NULL: out of memory. */
json_t *webhook_dispatch_outcome_rows(const struct webhook_dispatch_outcome *o, size_t n);
/* lease_lost[0..n) from the record statement's result, the indexes of the
 * deliveries it updated: every other one had lost its lease. */
void webhook_dispatch_lease_lost_from_result(const PGresult *r, size_t n, bool *lease_lost);
/* The endpoint ids of the successful outcomes of o, in order, repeats
 * included (an array, maybe empty; NULL: out of memory). */
json_t *webhook_dispatch_succeeded_endpoints(const struct webhook_dispatch_outcome *o, size_t n);

/* Deliveries waiting for a retry (pending after at least one failed
 * attempt), for the worker's gauge; served by the partial index of pending
 * deliveries. */
int webhook_dispatch_retry_queue_depth(struct db *db, long long *depth);

#endif
