#include "webhook_schedule.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

/* A delay longer than 30 days is a typo in the configuration, not a retry
 * policy; the bound also keeps every delay well inside a long in ms. */
#define WEBHOOK_SCHEDULE_MAX_DELAY_S 2592000.0
/* Room for the longest delay we accept with milliseconds ("2592000.123")
 * and a few more digits of precision; longer tokens are junk. */
#define WEBHOOK_SCHEDULE_TOKEN_MAX 32

static int webhook_schedule_is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* One delay token, [start, end): digits with at most one '.' and digits on at
 * least one side of it. strtod alone would also take "inf", "nan", "0x10",
 * "1e3" and a sign, none of which belongs in a schedule. */
static int webhook_schedule_token(const char *start, const char *end, long *ms)
{
    while (start < end && webhook_schedule_is_space(*start))
        start++;
    while (end > start && webhook_schedule_is_space(end[-1]))
        end--;
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= WEBHOOK_SCHEDULE_TOKEN_MAX)
        return C_ERR;
    size_t digits = 0, dots = 0;
    for (const char *p = start; p < end; p++) {
        if (*p >= '0' && *p <= '9')
            digits++;
        else if (*p == '.')
            dots++;
        else
            return C_ERR;
    }
    if (digits == 0 || dots > 1)
        return C_ERR;
    char buf[WEBHOOK_SCHEDULE_TOKEN_MAX];
    memcpy(buf, start, len);
    buf[len] = '\0';
    char *stop;
    errno = 0;
    double s = strtod(buf, &stop);
    if (errno != 0 || *stop != '\0' || !isfinite(s) || s < 0 || s > WEBHOOK_SCHEDULE_MAX_DELAY_S)
        return C_ERR;
    *ms = lround(s * 1000.0);
    return C_OK;
}

int webhook_schedule_parse(const char *spec, double jitter, struct webhook_schedule *out)
{
    /* jitter >= 1 could make a delay zero or negative. */
    if (spec == NULL || !isfinite(jitter) || jitter < 0 || jitter >= 1)
        return C_ERR;
    struct webhook_schedule s = {.count = 0, .jitter = jitter};
    const char *p = spec;
    for (;;) {
        const char *comma = strchr(p, ',');
        const char *end = comma ? comma : p + strlen(p);
        if (s.count == WEBHOOK_SCHEDULE_MAX)
            return C_ERR;
        if (webhook_schedule_token(p, end, &s.delays_ms[s.count]) != C_OK)
            return C_ERR;
        s.count++;
        if (comma == NULL)
            break;
        p = comma + 1;
    }
    *out = s;
    return C_OK;
}

long webhook_schedule_next_delay_ms(const struct webhook_schedule *s, int attempts_done,
                                    double random01)
{
    /* Nothing attempted yet: the next attempt is the first one. */
    if (attempts_done < 0)
        attempts_done = 0;
    if ((size_t)attempts_done >= s->count)
        return -1;
    double base = (double)s->delays_ms[attempts_done];
    /* A random source out of contract must not push a delay outside the
     * jitter bounds, so it is clamped rather than trusted. */
    if (!(random01 >= 0))
        random01 = 0;
    if (random01 >= 1)
        random01 = nextafter(1.0, 0.0);
    double factor = 1.0 + s->jitter * (2.0 * random01 - 1.0);
    long ms = lround(base * factor);
    return ms < 0 ? 0 : ms;
}
