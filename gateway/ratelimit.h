/* Token buckets for rate limits, kept as GCRA (the generic cell rate
 * algorithm): a bucket is one number, the time at which it will be full again,
 * which is exactly a token bucket without a refill step.
 *
 * A table holds the buckets of many keys (API keys, client addresses) in a
 * fixed number of entries allocated once: sets of a few entries, each set
 * under one of a few hundred striped locks, so server threads only meet when
 * they touch the same set, and a call allocates nothing. When a set is full
 * the bucket closest to full is forgotten first (forgetting a full bucket
 * loses nothing), so a burst of new keys cannot free a key that is being
 * throttled. */
#ifndef GATEWAY_RATELIMIT_H
#define GATEWAY_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RATELIMIT_KEY_LEN 16

/* How fast a bucket refills and how much it holds. */
struct ratelimit_policy {
    int64_t interval_us; /* the time one request is worth (1 s / rate); 0: no limit */
    int64_t burst;       /* the bucket's size: requests allowed at once */
};

/* A bucket's key: 16 bytes (an API key's id, an IPv6 or IPv4-mapped address)
 * and the scope they are counted in, so one table serves several limits. */
struct ratelimit_key {
    unsigned char bytes[RATELIMIT_KEY_LEN];
    uint32_t scope;
};

/* What a request learns from its bucket, as the RateLimit-* headers say it. */
struct ratelimit_verdict {
    bool allowed;
    long limit;         /* the bucket's size */
    long remaining;     /* requests still allowed right now, after this one */
    long reset_s;       /* seconds until the bucket is full again */
    long retry_after_s; /* refused: seconds until one request is allowed (at least 1) */
};

/* per_second requests a second with bursts of burst (at least 1), shared by
 * replicas processes that each enforce their share: the rate and the burst
 * divided by replicas, the burst never below 1. per_second 0: no limit. */
void ratelimit_policy_init(struct ratelimit_policy *p, long per_second, long burst, long replicas);
bool ratelimit_policy_limits(const struct ratelimit_policy *p);

struct ratelimit_table;

/* A table for about capacity buckets (rounded up to whole sets). NULL: out of
 * memory. Freed with ratelimit_table_free. */
struct ratelimit_table *ratelimit_table_new(size_t capacity);
void ratelimit_table_free(struct ratelimit_table *t);
/* How many buckets the table can hold. */
size_t ratelimit_table_capacity(const struct ratelimit_table *t);

/* Takes one request from key's bucket at now_us (core/clock.h's monotonic
 * microseconds); a key not in the table starts with a full bucket. Without a
 * limit (ratelimit_policy_limits false) every request is allowed. */
void ratelimit_take(struct ratelimit_table *t, const struct ratelimit_key *key,
                    const struct ratelimit_policy *p, int64_t now_us,
                    struct ratelimit_verdict *out);
/* What ratelimit_take would answer, without taking anything. */
void ratelimit_peek(struct ratelimit_table *t, const struct ratelimit_key *key,
                    const struct ratelimit_policy *p, int64_t now_us,
                    struct ratelimit_verdict *out);

#endif
