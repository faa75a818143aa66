/* The command consumer: reads checkout.session.commands in batches, applies
 * each batch in one PostgreSQL transaction and stores its offsets only after
 * that transaction committed (librdkafka then commits them in the background).
 *
 * Before anything is decoded, each command's MAC (model/command_mac.h) is
 * verified: a command without a valid one is applied in no way and parked as
 * a dead letter (model/dead_letter.h, reason bad_mac), as is a command that
 * cannot be decoded (malformed). A batch that fails with an error retrying
 * cannot heal is applied command by command, and a command that fails
 * dead_letter_after times is parked (failed); transient errors (PostgreSQL
 * down) are waited out and park nothing (infra/batch_loop.h). */
#ifndef SESSION_WORKER_CONSUMER_H
#define SESSION_WORKER_CONSUMER_H

#include "infra/db.h"
#include "model/command_mac.h"

/* The dead letters' consumer column and metric label. */
#define CONSUMER_NAME "session-worker"

struct consumer_options {
    const char *brokers;
    const char *group_id;
    const char *instance_id; /* "" for dynamic membership */
    const char *public_base_url;
    long batch_max;
    long batch_wait_ms;
    long session_timeout_ms;
    const struct command_mac_keys *mac_keys;
    long dead_letter_after;
};

/* Runs until service_stopping(): finishes the batch in hand (or leaves it to
 * be redelivered if PostgreSQL is down), then closes the consumer, which
 * commits the stored offsets. C_ERR: the consumer could not be created or hit
 * a fatal Kafka error (the process should exit non-zero). */
int consumer_run(struct db *db, const struct consumer_options *opt);

#endif
