/* What an attempt's result means for its delivery, kept free of I/O so the
 * rules (only 2xx succeeds, 410 disables, Retry-After within bounds, the
 * schedule decides when to stop) are unit tested on their own. */
#ifndef WEBHOOK_WORKER_OUTCOME_H
#define WEBHOOK_WORKER_OUTCOME_H

#include <stddef.h>

#include "webhook_dispatch.h"
#include "webhook_schedule.h"

/* The longest wait a Retry-After can impose: beyond it the schedule's own
 * last step (24 h) applies. */
#define OUTCOME_RETRY_AFTER_MAX_MS (24L * 3600 * 1000)

struct outcome_input {
    long status_code;   /* 0: no HTTP answer (connect error, timeout, forbidden) */
    long retry_after_s; /* parsed Retry-After (seconds or HTTP date), 0 if none */
    int attempts_done;  /* including this one, >= 1 */
    double random01;    /* jitter draw in [0, 1) */
};

struct outcome {
    enum webhook_dispatch_verdict verdict;
    long retry_in_ms; /* WEBHOOK_DISPATCH_RETRY only */
};

void outcome_decide(const struct webhook_schedule *s, const struct outcome_input *in,
                    struct outcome *out);

/* Makes text storable as PostgreSQL text in place: each NUL byte or invalid
 * UTF-8 sequence becomes '?', and a character cut at the end by the size cap
 * is dropped. Returns the new length. */
size_t outcome_sanitize_utf8(char *text, size_t len);

#endif
