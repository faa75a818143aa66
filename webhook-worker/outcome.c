#include "outcome.h"

#include <stdbool.h>

#include "core/utf8.h"

void outcome_decide(const struct webhook_schedule *s, const struct outcome_input *in,
                    struct outcome *out)
{
    out->retry_in_ms = 0;
    if (in->status_code >= 200 && in->status_code <= 299) {
        out->verdict = WEBHOOK_DISPATCH_SUCCEEDED;
        return;
    }
    /* The receiver says the endpoint is gone for good: retrying is pointless. */
    if (in->status_code == 410) {
        out->verdict = WEBHOOK_DISPATCH_GONE;
        return;
    }
    long delay = webhook_schedule_next_delay_ms(s, in->attempts_done, in->random01);
    if (delay < 0) {
        out->verdict = WEBHOOK_DISPATCH_FAILED;
        return;
    }
    /* Retry-After may only slow us down (a receiver asking for 0 s does not
     * get a tighter loop than the schedule) and never beyond a day. */
    if ((in->status_code == 429 || in->status_code == 503) && in->retry_after_s > 0) {
        long ra = in->retry_after_s > OUTCOME_RETRY_AFTER_MAX_MS / 1000 ? OUTCOME_RETRY_AFTER_MAX_MS
                                                                        : in->retry_after_s * 1000;
        if (ra > delay)
            delay = ra;
        if (delay > OUTCOME_RETRY_AFTER_MAX_MS)
            delay = OUTCOME_RETRY_AFTER_MAX_MS;
    }
    out->verdict = WEBHOOK_DISPATCH_RETRY;
    out->retry_in_ms = delay;
}

size_t outcome_sanitize_utf8(char *text, size_t len)
{
    size_t i = 0;
    while (i < len) {
        int n = utf8_sequence_length(text + i, len - i);
        if (n < 0) {
            len = i;
            break;
        }
        if (n == 0) {
            text[i++] = '?';
            continue;
        }
        i += (size_t)n;
    }
    text[len] = '\0';
    return len;
}
