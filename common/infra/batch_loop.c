#include "batch_loop.h"

#include "core/backoff.h"
#include "core/log.h"
#include "core/result.h"

size_t batch_loop_fill(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                       rd_kafka_message_t **msgs, bool *fatal)
{
    size_t n = 0;
    int64_t deadline = 0;
    while (n < (size_t)limits->batch_max && !*fatal) {
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
        switch (io->take(io->source, timeout, &m)) {
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
        case BATCH_LOOP_FATAL:
            *fatal = true;
            break;
        }
    }
    return n;
}

int batch_loop_run(const struct batch_loop_io *io, const struct batch_loop_limits *limits,
                   rd_kafka_message_t **msgs, batch_loop_apply_fn apply, void *ctx)
{
    bool fatal = false, joined = false;
    while (!io->stopping() && !fatal) {
        size_t n = batch_loop_fill(io, limits, msgs, &fatal);
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
    }
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
