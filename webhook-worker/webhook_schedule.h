/* When to try a webhook delivery again. The default is the Standard Webhooks
 * schedule: immediately, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h
 * and 24 h after the previous attempt, each delay with +/-20 % jitter so a
 * recovering endpoint is not hit by a synchronized wave. */
#ifndef CAISSE_WEBHOOK_SCHEDULE_H
#define CAISSE_WEBHOOK_SCHEDULE_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SCHEDULE_MAX 32
#define WEBHOOK_SCHEDULE_DEFAULT "0,5,300,1800,7200,18000,36000,50400,72000,86400"

struct webhook_schedule {
    long delays_ms[WEBHOOK_SCHEDULE_MAX]; /* delay before attempt i+1 */
    size_t count;                         /* attempts in all */
    double jitter;                        /* 0.2 = +/-20 % */
};

/* spec: comma-separated delays in seconds, the first usually 0 (tests
 * compress it: "0,1,2"). A fractional part is allowed ("0.5"). */
int webhook_schedule_parse(const char *spec, double jitter, struct webhook_schedule *out);
/* Delay in ms before the next attempt, after attempts_done attempts (>= 1),
 * with jitter drawn from random01 in [0, 1); -1 when the schedule is
 * exhausted (the delivery has failed for good). */
long webhook_schedule_next_delay_ms(const struct webhook_schedule *s, int attempts_done,
                                    double random01);

#endif
