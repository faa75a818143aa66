/* The consume loop of every worker that turns Kafka records into PostgreSQL
 * writes: take a batch (wait for the first record, then what arrives within a
 * short window), apply it durably, and only then store its offsets, so a
 * crash redelivers rather than loses. Applying must be idempotent. The
 * loop's decisions are batch_loop.c's; this module gives it Kafka. */
#ifndef CAISSE_BATCH_CONSUMER_H
#define CAISSE_BATCH_CONSUMER_H

#include <stddef.h>

#include <librdkafka/rdkafka.h>

#include "infra/batch_loop.h"

struct batch_consumer_options {
    const char *brokers;
    const char *topic;
    const char *group_id;
    const char *instance_id; /* static membership; "" for dynamic */
    long batch_max;
    long batch_wait_ms;
    long session_timeout_ms; /* CAISSE_KAFKA_SESSION_TIMEOUT_MS */
};

/* Applies msgs[0..n). C_OK: durably applied, offsets get stored. C_ERR: not
 * applied because a stop was requested; nothing is stored and Kafka
 * redelivers the batch. It must itself retry failures that can heal
 * (batch_consumer_retry does that). */
typedef int (*batch_consumer_apply_fn)(void *ctx, rd_kafka_message_t *const *msgs, size_t n);

/* Runs until a stop is requested or the consumer fails fatally (C_ERR, and a
 * stop is requested for the whole service). A consumer fenced off its static
 * membership (after a Kafka outage longer than the session timeout) is not
 * fatal: it is closed and a new one takes over (batch_loop's renewal).
 * Marks the worker as taking work (ops_http_set_accepting) once its consumer
 * has joined the group, and as not taking any while it has none. Closes the
 * consumer, which commits the stored offsets. */
int batch_consumer_run(const struct batch_consumer_options *opt, batch_consumer_apply_fn apply,
                       void *ctx);

/* batch_loop_retry with the service's stop flag: calls attempt(ctx) until it
 * succeeds, backing off from 100 ms to 5 s and logging each failure with what
 * and db_error(ctx) (may be NULL); C_ERR as soon as a stop was requested after
 * a failure. */
int batch_consumer_retry(int (*attempt)(void *ctx), const char *(*db_error)(void *ctx), void *ctx,
                         const char *what, size_t messages);

/* batch_loop_apply_isolating with the service's stop flag and sleep. */
int batch_consumer_apply_isolating(const struct batch_loop_isolation *iso, void *ctx,
                                   rd_kafka_message_t *const *msgs, size_t n);

#endif
