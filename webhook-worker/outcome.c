#include "outcome.h"

#include <stdbool.h>

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

/* Length of the valid UTF-8 sequence at p (1..4), 0 if invalid, -1 if it
 * is valid so far but cut by the end of the buffer. */
static int outcome_utf8_seq(const unsigned char *p, size_t left)
{
    unsigned char c = p[0];
    int n;
    unsigned int min;
    if (c < 0x80)
        return c == 0 ? 0 : 1;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    unsigned int cp = c & (0x7F >> n);
    for (int i = 1; i < n; i++) {
        if ((size_t)i >= left)
            return -1;
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    /* Overlong forms, surrogates and beyond U+10FFFF are what PostgreSQL rejects. */
    if (cp < min || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
        return 0;
    return n;
}

size_t outcome_sanitize_utf8(char *text, size_t len)
{
    unsigned char *p = (unsigned char *)text;
    size_t i = 0;
    while (i < len) {
        int n = outcome_utf8_seq(p + i, len - i);
        if (n < 0) {
            len = i;
            break;
        }
        if (n == 0) {
            p[i++] = '?';
            continue;
        }
        i += (size_t)n;
    }
    text[len] = '\0';
    return len;
}
