/* The fan-out: reads checkout.session.events in batches and turns each batch
 * into webhook_deliveries rows in one transaction, storing the offsets only
 * after it committed. Replays are harmless: a delivery is unique per (event,
 * endpoint). */
#ifndef WEBHOOK_WORKER_FANOUT_H
#define WEBHOOK_WORKER_FANOUT_H

#include "infra/db.h"

struct fanout_options {
    const char *brokers;
    const char *group_id;
    const char *instance_id; /* "" for dynamic membership */
    long batch_max;
    long batch_wait_ms;
    /* Called after a commit that created deliveries (may be NULL): lets the
     * delivery loop start them now instead of at its next poll. */
    void (*on_new_deliveries)(void *arg);
    void *arg;
};

/* Runs until service_stopping(), then closes the consumer (committing the
 * stored offsets). C_ERR: the consumer could not be created or hit a fatal
 * Kafka error. */
int fanout_run(struct db *db, const struct fanout_options *opt);

#endif
