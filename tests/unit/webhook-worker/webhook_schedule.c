/* The webhook retry schedule: parsing and jittered delays. */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "../../../webhook-worker/webhook_schedule.h"
#include "../leak_check.h"

TestSuite(webhook_schedule, .fini = unit_leak_check);

/* The largest double below 1: the top of random01's range. */
#define ALMOST_ONE 0.99999999999999989

Test(webhook_schedule, default_has_the_standard_webhooks_delays)
{
    static const long expected[] = {0,        5000,     300000,   1800000,  7200000,
                                    18000000, 36000000, 50400000, 72000000, 86400000};
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(WEBHOOK_SCHEDULE_DEFAULT, 0.2, &s), C_OK);
    cr_assert_eq(s.count, 10);
    cr_assert_eq(s.jitter, 0.2);
    for (size_t i = 0; i < 10; i++)
        cr_assert_eq(s.delays_ms[i], expected[i], "delay %zu: %ld", i, s.delays_ms[i]);
}

Test(webhook_schedule, after_the_immediate_attempt_comes_5_s)
{
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(WEBHOOK_SCHEDULE_DEFAULT, 0.2, &s), C_OK);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 1, 0.5), 5000);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 2, 0.5), 300000);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 9, 0.5), 86400000);
    /* Without jitter the random draw does not matter. */
    cr_assert_eq(webhook_schedule_parse(WEBHOOK_SCHEDULE_DEFAULT, 0, &s), C_OK);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 1, 0), 5000);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 1, ALMOST_ONE), 5000);
}

Test(webhook_schedule, jitter_stays_within_20_percent)
{
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(WEBHOOK_SCHEDULE_DEFAULT, 0.2, &s), C_OK);
    for (int done = 1; done < 10; done++) {
        long base = s.delays_ms[done];
        long lo = webhook_schedule_next_delay_ms(&s, done, 0.0);
        long hi = webhook_schedule_next_delay_ms(&s, done, ALMOST_ONE);
        cr_assert_eq(lo, lround(base * 0.8), "attempt %d low end %ld", done, lo);
        cr_assert(hi <= lround(base * 1.2) && hi >= lround(base * 1.2) - 1,
                  "attempt %d high end %ld", done, hi);
        for (int k = 0; k <= 1000; k++) {
            double r = k / 1001.0;
            long d = webhook_schedule_next_delay_ms(&s, done, r);
            cr_assert(d >= lround(base * 0.8) && d <= lround(base * 1.2),
                      "attempt %d r=%f delay %ld", done, r, d);
        }
    }
    /* Out-of-contract draws are clamped, not trusted. */
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 1, -5), 4000);
    cr_assert_leq(webhook_schedule_next_delay_ms(&s, 1, 7), 6000);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 1, NAN), 4000);
}

Test(webhook_schedule, exhausted_is_minus_one)
{
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(WEBHOOK_SCHEDULE_DEFAULT, 0.2, &s), C_OK);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 10, 0.5), -1);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 11, 0.5), -1);
    cr_assert_eq(webhook_schedule_parse("0,1,2", 0, &s), C_OK);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 2, 0.5), 2000);
    cr_assert_eq(webhook_schedule_next_delay_ms(&s, 3, 0.5), -1);
}

Test(webhook_schedule, fractions_and_spaces)
{
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse("0, 0.5 ,1.25,.1,2.", 0.1, &s), C_OK);
    cr_assert_eq(s.count, 5);
    cr_assert_eq(s.delays_ms[0], 0);
    cr_assert_eq(s.delays_ms[1], 500);
    cr_assert_eq(s.delays_ms[2], 1250);
    cr_assert_eq(s.delays_ms[3], 100);
    cr_assert_eq(s.delays_ms[4], 2000);
    cr_assert_eq(webhook_schedule_parse("7", 0, &s), C_OK);
    cr_assert_eq(s.count, 1);
    cr_assert_eq(s.delays_ms[0], 7000);
}

Test(webhook_schedule, junk_is_refused_and_leaves_the_schedule_alone)
{
    static const char *const bad[] = {
        "",     " ",     ",",   "0,",  ",0",  "0,,5",    "-1",
        "0,-5", "+5",    "abc", "5s",  "1e3", "0x10",    "inf",
        "nan",  "1.2.3", ".",   "0;5", "5 5", "2592001", "99999999999999999999",
    };
    struct webhook_schedule s, before;
    cr_assert_eq(webhook_schedule_parse("0,1,2", 0.2, &s), C_OK);
    before = s;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cr_assert_eq(webhook_schedule_parse(bad[i], 0.2, &s), C_ERR, "accepted \"%s\"", bad[i]);
        cr_assert_eq(memcmp(&s, &before, sizeof(s)), 0);
    }
    cr_assert_eq(webhook_schedule_parse(NULL, 0.2, &s), C_ERR);
    /* Jitter must leave every delay positive. */
    cr_assert_eq(webhook_schedule_parse("0,1", -0.1, &s), C_ERR);
    cr_assert_eq(webhook_schedule_parse("0,1", 1.0, &s), C_ERR);
    cr_assert_eq(webhook_schedule_parse("0,1", NAN, &s), C_ERR);
}

Test(webhook_schedule, at_most_32_attempts)
{
    char spec[256] = "0";
    size_t len = 1;
    for (int i = 1; i < WEBHOOK_SCHEDULE_MAX; i++)
        len += (size_t)snprintf(spec + len, sizeof(spec) - len, ",1");
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(spec, 0, &s), C_OK);
    cr_assert_eq(s.count, WEBHOOK_SCHEDULE_MAX);
    snprintf(spec + len, sizeof(spec) - len, ",1");
    cr_assert_eq(webhook_schedule_parse(spec, 0, &s), C_ERR);
}
