#include "batch_loop.h"

#include <stdio.h>

#include "core/backoff.h"
#include "core/log.h"
#include "core/result.h"

size_t batch_loop_fill(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                       rd_kafka_message_t **msgs, enum batch_loop_take *failure)
{
    size_t n = 0;
    int64_t deadline = 0;
    while (n < (size_t)limits->batch_max && *failure == BATCH_LOOP_NONE) {
        int timeout = BATCH_LOOP_FIRST_WAIT_MS;
        if (n > 0) {
            /* A stop request ends the filling, not the batch in hand. */
            if (io->stopping())
                break;
            /* Past the wait, still take what is already fetched: records that
             * arrived while the last batch was being applied join this one
             * (group commit), without waiting for more. */
            int64_t left = deadline - io->now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        rd_kafka_message_t *m = NULL;
        enum batch_loop_take took = io->take(io->source, timeout, &m);
        switch (took) {
        case BATCH_LOOP_RECORD:
            if (n == 0)
                deadline = io->now_ms() + limits->batch_wait_ms;
            msgs[n++] = m;
            break;
        case BATCH_LOOP_NONE:
            if (n == 0 || timeout == 0)
                return n;
            break;
        case BATCH_LOOP_SKIPPED:
            break;
        case BATCH_LOOP_FENCED:
        case BATCH_LOOP_FATAL:
            *failure = took;
            break;
        }
    }
    return n;
}

/* The renewal state of one batch_loop_run. */
struct batch_loop_renewals {
    struct backoff pause;
    int count;
    int64_t last_ms; /* when the last renewal was done */
};

/* Waits the renewal pause, then renews the fenced source. C_OK with the
 * source renewed, or untouched if a stop was requested meanwhile; C_ERR if it
 * cannot be renewed. */
static int batch_loop_renew(const struct batch_loop_io *io, struct batch_loop_renewals *r)
{
    if (io->renew == NULL)
        return C_ERR;
    if (r->count > 0 && io->now_ms() - r->last_ms >= BATCH_LOOP_RENEW_QUIET_MS)
        backoff_reset(&r->pause);
    long delay = backoff_next(&r->pause);
    log_fields(LOG_WARN, json_pack("{si si}", "renewals", r->count, "renew_in_ms", (int)delay),
               "the consumer was fenced; a new one takes over in %ld ms", delay);
    io->sleep_ms(delay);
    if (io->stopping())
        return C_OK;
    if (io->renew(io->source) != C_OK)
        return C_ERR;
    r->count++;
    r->last_ms = io->now_ms();
    return C_OK;
}

int batch_loop_run(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                   rd_kafka_message_t **msgs, batch_loop_apply_fn apply, void *ctx)
{
    enum batch_loop_take failure = BATCH_LOOP_NONE;
    bool joined = false;
    struct batch_loop_renewals renewals = {.count = 0, .last_ms = 0};
    backoff_init(&renewals.pause, BATCH_LOOP_RENEW_MIN_MS, BATCH_LOOP_RENEW_MAX_MS);
    while (!io->stopping() && failure == BATCH_LOOP_NONE) {
        size_t n = batch_loop_fill(io, limits, msgs, &failure);
        if (!joined)
            joined = io->joined(io->source);
        if (n > 0) {
            if (apply(ctx, msgs, n) == C_OK) {
                io->store(io->source, msgs, n);
            } else {
                log_fields(LOG_WARN, json_pack("{si}", "messages", (int)n),
                           "stopping with a batch not applied; kafka will redeliver it");
                /* Going on would store later offsets past this batch: stop, so
                 * a fresh consumer gets it again. */
                io->request_stop();
            }
        }
        for (size_t i = 0; i < n; i++)
            io->release(io->source, msgs[i]);
        /* A fenced source's partitions went to its successor: what it took
         * and did not store is redelivered to the new one, and applying is
         * idempotent. */
        if (failure == BATCH_LOOP_FENCED && !io->stopping()) {
            if (batch_loop_renew(io, &renewals) != C_OK)
                failure = BATCH_LOOP_FATAL;
            else {
                failure = BATCH_LOOP_NONE;
                joined = false;
            }
        }
    }
    bool fatal = failure == BATCH_LOOP_FATAL;
    if (fatal)
        io->request_stop();
    return fatal ? C_ERR : C_OK;
}

int batch_loop_retry(const struct batch_loop_io *io, int (*attempt)(void *ctx),
                     const char *(*db_error)(void *ctx), void *ctx, const char *what,
                     size_t messages)
{
    struct backoff b;
    backoff_init(&b, BATCH_LOOP_RETRY_MIN_MS, BATCH_LOOP_RETRY_MAX_MS);
    for (int tries = 1;; tries++) {
        if (attempt(ctx) == C_OK)
            return C_OK;
        if (io->stopping())
            return C_ERR;
        long delay = backoff_next(&b);
        log_fields(LOG_ERROR,
                   json_pack("{si si si}", "messages", (int)messages, "attempt", tries,
                             "retry_in_ms", (int)delay),
                   "could not %s, retrying it: %s", what,
                   db_error != NULL ? db_error(ctx) : "see the previous log lines");
        io->sleep_ms(delay);
    }
}

/* Pauses after a failure of what; C_ERR when a stop was requested. */
static int batch_loop_pause(const struct batch_loop_io *io, struct backoff *b,
                            const struct batch_loop_isolation *iso, void *ctx, size_t messages,
                            int tries, const char *kind)
{
    if (io->stopping())
        return C_ERR;
    long delay = backoff_next(b);
    log_fields(LOG_ERROR,
               json_pack("{si si si ss}", "messages", (int)messages, "attempt", tries,
                         "retry_in_ms", (int)delay, "failure", kind),
               "could not %s, retrying it: %s", iso->what,
               iso->error != NULL ? iso->error(ctx) : "see the previous log lines");
    io->sleep_ms(delay);
    return io->stopping() ? C_ERR : C_OK;
}

/* One record alone: retried while it fails transiently, parked after
 * dead_letter_after persistent failures. */
static int batch_loop_apply_one(const struct batch_loop_io *io,
                                const struct batch_loop_isolation *iso, void *ctx,
                                rd_kafka_message_t *const *m)
{
    struct backoff b;
    backoff_init(&b, BATCH_LOOP_RETRY_MIN_MS, BATCH_LOOP_RETRY_MAX_MS);
    long failures = 0;
    for (int tries = 1;; tries++) {
        enum batch_loop_result r = iso->attempt(ctx, m, 1);
        if (r == BATCH_LOOP_APPLIED)
            return C_OK;
        if (r == BATCH_LOOP_PERSISTENT && ++failures >= iso->dead_letter_after)
            break;
        if (batch_loop_pause(io, &b, iso, ctx, 1, tries,
                             r == BATCH_LOOP_PERSISTENT ? "persistent" : "transient") != C_OK)
            return C_ERR;
    }
    char error[512];
    snprintf(error, sizeof(error), "%s", iso->error != NULL ? iso->error(ctx) : "");
    log_fields(LOG_ERROR,
               json_pack("{ss si sI sI ss}", "topic",
                         (*m)->rkt != NULL ? rd_kafka_topic_name((*m)->rkt) : "", "partition",
                         (int)(*m)->partition, "offset", (json_int_t)(*m)->offset, "failures",
                         (json_int_t)failures, "error", error),
               "giving up on a record that cannot be applied: parking it as a dead letter");
    backoff_init(&b, BATCH_LOOP_RETRY_MIN_MS, BATCH_LOOP_RETRY_MAX_MS);
    for (int tries = 1;; tries++) {
        if (iso->park(ctx, *m, error, (int)failures) == C_OK)
            return C_OK;
        if (batch_loop_pause(io, &b, iso, ctx, 1, tries, "park") != C_OK)
            return C_ERR;
    }
}

int batch_loop_apply_isolating(const struct batch_loop_io *io,
                               const struct batch_loop_isolation *iso, void *ctx,
                               rd_kafka_message_t *const *msgs, size_t n)
{
    if (n == 0)
        return C_OK;
    if (n == 1)
        return batch_loop_apply_one(io, iso, ctx, msgs);
    struct backoff b;
    backoff_init(&b, BATCH_LOOP_RETRY_MIN_MS, BATCH_LOOP_RETRY_MAX_MS);
    for (int tries = 1;; tries++) {
        enum batch_loop_result r = iso->attempt(ctx, msgs, n);
        if (r == BATCH_LOOP_APPLIED)
            return C_OK;
        if (r == BATCH_LOOP_PERSISTENT)
            break;
        if (batch_loop_pause(io, &b, iso, ctx, n, tries, "transient") != C_OK)
            return C_ERR;
    }
    log_fields(LOG_WARN, json_pack("{si ss}", "messages", (int)n, "error", iso->error(ctx)),
               "a batch failed with an error retrying cannot heal; applying its records one by "
               "one");
    for (size_t i = 0; i < n; i++) {
        if (batch_loop_apply_one(io, iso, ctx, &msgs[i]) != C_OK)
            return C_ERR;
    }
    return C_OK;
}
