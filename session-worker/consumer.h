/* The command consumer: reads checkout.session.commands in batches, applies
 * each batch in one PostgreSQL transaction and stores its offsets only after
 * that transaction committed (librdkafka then commits them in the background). */
#ifndef SESSION_WORKER_CONSUMER_H
#define SESSION_WORKER_CONSUMER_H

#include "infra/db.h"

struct consumer_options {
    const char *brokers;
    const char *group_id;
    const char *instance_id; /* "" for dynamic membership */
    const char *public_base_url;
    long batch_max;
    long batch_wait_ms;
};

/* Runs until service_stopping(): finishes the batch in hand (or leaves it to
 * be redelivered if PostgreSQL is down), then closes the consumer, which
 * commits the stored offsets. C_ERR: the consumer could not be created or hit
 * a fatal Kafka error (the process should exit non-zero). */
int consumer_run(struct db *db, const struct consumer_options *opt);

#endif
