/* The fan-out: reads checkout.session.events in batches and turns each batch
 * into webhook_deliveries rows in one transaction, storing the offsets only
 * after it committed. Replays are harmless: a delivery is unique per (event,
 * endpoint). A record without an event id, or an event that keeps failing
 * with an error retrying cannot heal, is parked as a dead letter
 * (model/dead_letter.h) and the fan-out goes on. */
#ifndef WEBHOOK_WORKER_FANOUT_H
#define WEBHOOK_WORKER_FANOUT_H

#include "infra/db.h"

struct fanout_options {
    const char *brokers;
    const char *group_id;
    const char *instance_id; /* "" for dynamic membership */
    long batch_max;
    long batch_wait_ms;
    long session_timeout_ms;
    /* Called after a commit that created deliveries (may be NULL): lets the
     * delivery loop start them now instead of at its next poll. */
    void (*on_new_deliveries)(void *arg);
    void *arg;
    /* Persistent failures of one event before it is parked as a dead letter. */
    long dead_letter_after;
};

/* The dead letters' consumer column and metric label. */
#define FANOUT_CONSUMER_NAME "webhook-worker"

/* Runs until service_stopping(), then closes the consumer (committing the
 * stored offsets). C_ERR: the consumer could not be created or hit a fatal
 * Kafka error. */
int fanout_run(struct db *db, const struct fanout_options *opt);

#endif
