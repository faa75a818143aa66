/* The expiry loop: sweeps that each claim a batch of due open sessions, expire
 * them and write their checkout.session.expired outbox rows in one short
 * transaction (session_store_expire_due), then likewise a batch of active
 * subscriptions whose period ended, made past_due with their
 * subscription.past_due events (subscription_store_mark_past_due). A full batch means more may be
 * due, so the next sweep starts at once: a backlog drains as a run of short transactions instead of
 * one long one. Replicas need no coordination: the claim skips rows another replica holds, and the
 * status guard makes a repeat a no-op. */
#ifndef CAISSE_EXPIRY_EXPIRE_H
#define CAISSE_EXPIRY_EXPIRE_H

#include <stdbool.h>

#include "infra/db.h"

struct expire_options {
    const char *database_url;    /* each sweeper connects on its own */
    const char *public_base_url; /* for the url field of the event data */
    long batch;                  /* most sessions per transaction */
    long concurrency;            /* sweepers, each with its own connection */
    long interval_ms;            /* pause after a sweep that was not full */
    long lag_log_ms;             /* how often the lag is logged */
    long lag_warn_s;             /* lag above which it is logged as a warning */
    long retention_days;         /* events and deliveries older are deleted */
    long retention_interval_ms;  /* how often the retention purge runs */
};

/* One sweep in its own transaction: BEGIN, expire up to batch due sessions
 * with their events, wake the outbox relay if any, COMMIT. On C_ERR the
 * transaction was rolled back (nothing expired); retrying is always safe. */
int expire_sweep(struct db *db, long batch, const char *public_base_url, long *expired);
/* The same for subscriptions: up to batch active subscriptions whose period
 * ended without a renewal become past_due, each with its
 * subscription.past_due event (subscription_store_mark_past_due), counted in
 * caisse_subscriptions_past_due_total. */
int expire_sweep_subscriptions(struct db *db, long batch, long *moved);

/* Sweeps until a stop is requested, retrying PostgreSQL failures with
 * backoff; returns only between transactions. housekeeping: this loop also
 * logs the expiry lag and runs the retention purge (one loop per process
 * does). */
void expire_run(struct db *db, const struct expire_options *o, bool housekeeping);

/* Runs o->concurrency sweep loops, each on its own connection and thread
 * (they claim disjoint batches like replicas do), until a stop is requested
 * and every loop has finished its transaction. C_ERR: a sweeper could not be
 * started (out of memory, no thread); the ones started were stopped. */
int expire_run_sweepers(const struct expire_options *o);

#endif
