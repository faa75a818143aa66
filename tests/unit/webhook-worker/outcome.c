/* What an attempt's result does to its delivery: only 2xx succeeds, 410 is
 * final, Retry-After only slows retries down and never past a day, and the
 * schedule's end fails the delivery; response bodies are made storable. */
#include <criterion/criterion.h>

#include <string.h>

#include "core/result.h"
#include "../../../webhook-worker/webhook_schedule.h"
#include "../../../webhook-worker/outcome.h"
#include "../leak_check.h"

TestSuite(outcome, .fini = unit_leak_check);

static struct outcome decide(const char *spec, long code, long retry_after_s, int attempts)
{
    struct webhook_schedule s;
    cr_assert_eq(webhook_schedule_parse(spec, 0.0, &s), C_OK);
    struct outcome_input in = {.status_code = code,
                               .retry_after_s = retry_after_s,
                               .attempts_done = attempts,
                               .random01 = 0.5};
    struct outcome out;
    outcome_decide(&s, &in, &out);
    return out;
}

Test(outcome, only_2xx_succeeds)
{
    cr_assert_eq(decide("0,5,300", 200, 0, 1).verdict, WEBHOOK_DISPATCH_SUCCEEDED);
    cr_assert_eq(decide("0,5,300", 204, 0, 1).verdict, WEBHOOK_DISPATCH_SUCCEEDED);
    struct outcome o = decide("0,5,300", 302, 0, 1);
    cr_assert_eq(o.verdict, WEBHOOK_DISPATCH_RETRY);
    cr_assert_eq(o.retry_in_ms, 5000);
    cr_assert_eq(decide("0,5,300", 0, 0, 1).verdict, WEBHOOK_DISPATCH_RETRY);
    cr_assert_eq(decide("0,5,300", 500, 0, 2).retry_in_ms, 300000);
}

Test(outcome, gone_is_final)
{
    cr_assert_eq(decide("0,5,300", 410, 0, 1).verdict, WEBHOOK_DISPATCH_GONE);
}

Test(outcome, exhausted_schedule_fails)
{
    cr_assert_eq(decide("0,5,300", 500, 0, 3).verdict, WEBHOOK_DISPATCH_FAILED);
    cr_assert_eq(decide("0,5,300", 429, 60, 3).verdict, WEBHOOK_DISPATCH_FAILED);
}

Test(outcome, retry_after_within_bounds)
{
    /* Longer than the schedule: honoured. */
    cr_assert_eq(decide("0,5,300", 429, 60, 1).retry_in_ms, 60000);
    cr_assert_eq(decide("0,5,300", 503, 60, 1).retry_in_ms, 60000);
    /* Shorter: the schedule wins. */
    cr_assert_eq(decide("0,5,300", 429, 1, 1).retry_in_ms, 5000);
    /* Absurd: a day at most. */
    cr_assert_eq(decide("0,5,300", 503, 86400L * 30, 1).retry_in_ms, OUTCOME_RETRY_AFTER_MAX_MS);
    /* Only 429 and 503 carry it. */
    cr_assert_eq(decide("0,5,300", 500, 60, 1).retry_in_ms, 5000);
}

Test(outcome, sanitize_utf8)
{
    char a[] = "caf\xc3\xa9 ok";
    cr_assert_eq(outcome_sanitize_utf8(a, strlen(a)), strlen("caf\xc3\xa9 ok"));
    cr_assert_str_eq(a, "caf\xc3\xa9 ok");
    char b[] = "a\xff"
               "b\xc0\xaf"
               "c";
    size_t n = outcome_sanitize_utf8(b, sizeof(b) - 1);
    cr_assert_str_eq(b, "a?b??c");
    cr_assert_eq(n, 6);
    /* A NUL inside the body (the length says it is there). */
    char c[] = {'x', '\0', 'y', '\0'};
    cr_assert_eq(outcome_sanitize_utf8(c, 3), 3);
    cr_assert_str_eq(c, "x?y");
    /* A character cut by the size cap is dropped. */
    char d[] = "ab\xe2\x82";
    cr_assert_eq(outcome_sanitize_utf8(d, 4), 2);
    cr_assert_str_eq(d, "ab");
    /* Surrogates are not storable. */
    char e[] = "\xed\xa0\x80z";
    outcome_sanitize_utf8(e, 4);
    cr_assert_str_eq(e, "???z");
}
