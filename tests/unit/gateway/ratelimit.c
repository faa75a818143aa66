/* The token buckets: a burst then the rate, the RateLimit-* figures of each
 * answer, keys and scopes apart, replicas sharing a rate, peeking, a bounded
 * table that forgets full buckets first, and exact counts under threads. */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "../../../gateway/ratelimit.h"
#include "../leak_check.h"

TestSuite(ratelimit, .fini = unit_leak_check);

#define SECOND 1000000LL
#define T0 (1000 * SECOND)

static struct ratelimit_key key_of(unsigned n, uint32_t scope)
{
    struct ratelimit_key k = {.scope = scope};
    memcpy(k.bytes, &n, sizeof(n));
    return k;
}

Test(ratelimit, a_full_bucket_allows_the_burst_then_refuses_with_the_wait)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 10, 5, 1); /* 10/s, bursts of 5 */
    struct ratelimit_key k = key_of(1, 0);
    struct ratelimit_verdict v;
    for (long i = 1; i <= 5; i++) {
        ratelimit_take(t, &k, &p, T0, &v);
        cr_assert(v.allowed, "request %ld of the burst", i);
        cr_assert_eq(v.limit, 5);
        cr_assert_eq(v.remaining, 5 - i);
        cr_assert_eq(v.reset_s, 1, "a bucket short of %ld refills within a second", i);
        cr_assert_eq(v.retry_after_s, 0);
    }
    ratelimit_take(t, &k, &p, T0, &v);
    cr_assert_not(v.allowed);
    cr_assert_eq(v.remaining, 0);
    cr_assert_eq(v.limit, 5);
    cr_assert_eq(v.retry_after_s, 1, "one request comes back after 0.1 s, said as 1 s");
    cr_assert_eq(v.reset_s, 1);
    ratelimit_table_free(t);
}

Test(ratelimit, the_bucket_refills_at_the_rate)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 2, 1, 1); /* one request every 0.5 s */
    struct ratelimit_key k = key_of(7, 0);
    struct ratelimit_verdict v;
    ratelimit_take(t, &k, &p, T0, &v);
    cr_assert(v.allowed);
    ratelimit_take(t, &k, &p, T0 + SECOND / 4, &v);
    cr_assert_not(v.allowed, "a quarter second is half a request");
    ratelimit_take(t, &k, &p, T0 + SECOND / 2, &v);
    cr_assert(v.allowed, "half a second is one request");
    /* Over 10 s at twice the rate, exactly the rate gets through. */
    long allowed = 0;
    for (int64_t now = T0 + SECOND / 2 + SECOND / 4; now <= T0 + 10 * SECOND + SECOND / 2;
         now += SECOND / 4) {
        ratelimit_take(t, &k, &p, now, &v);
        allowed += v.allowed;
    }
    cr_assert_eq(allowed, 20);
    ratelimit_table_free(t);
}

Test(ratelimit, a_slow_bucket_says_how_long_to_wait)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 1, 3, 1);
    struct ratelimit_key k = key_of(3, 0);
    struct ratelimit_verdict v;
    for (int i = 0; i < 3; i++)
        ratelimit_take(t, &k, &p, T0, &v);
    cr_assert(v.allowed);
    cr_assert_eq(v.reset_s, 3, "three requests at 1/s take three seconds to come back");
    ratelimit_take(t, &k, &p, T0, &v);
    cr_assert_not(v.allowed);
    cr_assert_eq(v.retry_after_s, 1);
    cr_assert_eq(v.reset_s, 3);
    ratelimit_take(t, &k, &p, T0 + SECOND / 2, &v);
    cr_assert_not(v.allowed);
    cr_assert_eq(v.retry_after_s, 1, "half a second left is said as 1 s");
    ratelimit_take(t, &k, &p, T0 + SECOND, &v);
    cr_assert(v.allowed);
    ratelimit_table_free(t);
}

Test(ratelimit, keys_and_scopes_have_buckets_of_their_own)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 1, 1, 1);
    struct ratelimit_verdict v;
    struct ratelimit_key a = key_of(1, 0), b = key_of(2, 0), a_other = key_of(1, 1);
    ratelimit_take(t, &a, &p, T0, &v);
    cr_assert(v.allowed);
    ratelimit_take(t, &a, &p, T0, &v);
    cr_assert_not(v.allowed);
    ratelimit_take(t, &b, &p, T0, &v);
    cr_assert(v.allowed, "another key is not limited by a's requests");
    ratelimit_take(t, &a_other, &p, T0, &v);
    cr_assert(v.allowed, "the same bytes in another scope are another bucket");
    ratelimit_table_free(t);
}

Test(ratelimit, replicas_each_enforce_their_share)
{
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 100, 200, 4);
    cr_assert_eq(p.burst, 50);
    cr_assert_eq(p.interval_us, 40000, "25 requests a second each");
    ratelimit_policy_init(&p, 1, 3, 10);
    cr_assert_eq(p.burst, 1, "a share is never below one request");
    cr_assert_eq(p.interval_us, 10 * SECOND);
    ratelimit_policy_init(&p, 0, 10, 1);
    cr_assert_not(ratelimit_policy_limits(&p), "0 a second is no limit");
    struct ratelimit_table *t = ratelimit_table_new(8);
    struct ratelimit_key k = key_of(1, 0);
    struct ratelimit_verdict v;
    for (int i = 0; i < 1000; i++) {
        ratelimit_take(t, &k, &p, T0, &v);
        cr_assert(v.allowed);
    }
    ratelimit_table_free(t);
}

Test(ratelimit, peeking_takes_nothing)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 1, 2, 1);
    struct ratelimit_key k = key_of(9, 0);
    struct ratelimit_verdict v;
    for (int i = 0; i < 10; i++) {
        ratelimit_peek(t, &k, &p, T0, &v);
        cr_assert(v.allowed);
        cr_assert_eq(v.remaining, 1, "a peek reports what a take would leave");
    }
    ratelimit_take(t, &k, &p, T0, &v);
    ratelimit_take(t, &k, &p, T0, &v);
    cr_assert(v.allowed);
    ratelimit_peek(t, &k, &p, T0, &v);
    cr_assert_not(v.allowed);
    cr_assert_eq(v.retry_after_s, 1);
    ratelimit_table_free(t);
}

Test(ratelimit, a_crowd_of_new_keys_does_not_free_a_throttled_one)
{
    /* One set: every key competes for the same eight entries. */
    struct ratelimit_table *t = ratelimit_table_new(8);
    cr_assert_eq(ratelimit_table_capacity(t), 8);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 1, 5, 1);
    struct ratelimit_key throttled = key_of(1, 0);
    struct ratelimit_verdict v;
    for (int i = 0; i < 6; i++)
        ratelimit_take(t, &throttled, &p, T0, &v);
    cr_assert_not(v.allowed);
    for (unsigned n = 100; n < 10100; n++) {
        struct ratelimit_key k = key_of(n, 0);
        ratelimit_take(t, &k, &p, T0, &v);
        cr_assert(v.allowed, "a new key starts full");
    }
    ratelimit_take(t, &throttled, &p, T0, &v);
    cr_assert_not(v.allowed, "the emptiest bucket is the last one forgotten");
    ratelimit_table_free(t);
}

Test(ratelimit, a_table_keeps_its_size_whatever_the_number_of_keys)
{
    struct ratelimit_table *t = ratelimit_table_new(1000);
    cr_assert_eq(ratelimit_table_capacity(t), 1024);
    struct ratelimit_policy p;
    ratelimit_policy_init(&p, 1, 1, 1);
    struct ratelimit_verdict v;
    for (unsigned n = 0; n < 200000; n++) {
        struct ratelimit_key k = key_of(n, n % 3);
        ratelimit_take(t, &k, &p, T0 + n, &v);
        cr_assert(v.allowed);
    }
    cr_assert_eq(ratelimit_table_capacity(t), 1024);
    ratelimit_table_free(t);
}

struct hammer {
    struct ratelimit_table *t;
    struct ratelimit_policy p;
    long allowed;
};

static void *hammer_one_key(void *arg)
{
    struct hammer *h = arg;
    struct ratelimit_key k = key_of(42, 0);
    struct ratelimit_verdict v;
    for (int i = 0; i < 20000; i++) {
        ratelimit_take(h->t, &k, &h->p, T0, &v);
        h->allowed += v.allowed;
    }
    return NULL;
}

Test(ratelimit, threads_on_one_key_share_exactly_its_burst)
{
    struct ratelimit_table *t = ratelimit_table_new(64);
    struct hammer h[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        h[i] = (struct hammer){.t = t, .allowed = 0};
        ratelimit_policy_init(&h[i].p, 1, 1000, 1);
        cr_assert_eq(pthread_create(&threads[i], NULL, hammer_one_key, &h[i]), 0);
    }
    long allowed = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        allowed += h[i].allowed;
    }
    cr_assert_eq(allowed, 1000, "80000 requests at one instant: exactly the burst passes");
    ratelimit_table_free(t);
}
