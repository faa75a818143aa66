#include "ratelimit.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "core/clock.h"

#define RATELIMIT_WAYS 8    /* entries per set */
#define RATELIMIT_LOCKS 256 /* a power of two */
#define RATELIMIT_US_PER_S 1000000

/* A free entry's tat: older than any bucket, so it is the first one taken. */
#define RATELIMIT_FREE INT64_MIN

struct ratelimit_entry {
    int64_t tat; /* theoretical arrival time: the bucket is full from then on */
    uint32_t scope;
    unsigned char key[RATELIMIT_KEY_LEN];
};

/* A lock per cache line, so two threads on neighbouring locks do not share one. */
struct ratelimit_lock {
    _Alignas(64) pthread_mutex_t mutex;
};

struct ratelimit_table {
    struct ratelimit_lock locks[RATELIMIT_LOCKS];
    size_t set_mask; /* sets - 1, sets a power of two */
    uint64_t seed[2];
    struct ratelimit_entry *entries; /* sets * RATELIMIT_WAYS */
};

void ratelimit_policy_init(struct ratelimit_policy *p, long per_second, long burst, long replicas)
{
    assert(per_second >= 0 && burst >= 0 && replicas >= 1);
    if (per_second == 0) {
        p->interval_us = 0;
        p->burst = 0;
        return;
    }
    /* One replica's share: a request is worth replicas / per_second seconds. */
    p->interval_us = (int64_t)RATELIMIT_US_PER_S * replicas / per_second;
    if (p->interval_us < 1)
        p->interval_us = 1;
    p->burst = burst / replicas;
    if (p->burst < 1)
        p->burst = 1;
}

bool ratelimit_policy_limits(const struct ratelimit_policy *p)
{
    return p->interval_us > 0;
}

/* splitmix64's finalizer: every input bit moves every output bit. */
static uint64_t ratelimit_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Keyed by a secret seed, so a client cannot choose addresses that crowd one set. */
static uint64_t ratelimit_hash(const struct ratelimit_table *t, const struct ratelimit_key *k)
{
    uint64_t lo, hi;
    memcpy(&lo, k->bytes, 8);
    memcpy(&hi, k->bytes + 8, 8);
    uint64_t h = ratelimit_mix(lo ^ t->seed[0]);
    h = ratelimit_mix(h ^ hi ^ t->seed[1]);
    return ratelimit_mix(h ^ k->scope);
}

struct ratelimit_table *ratelimit_table_new(size_t capacity)
{
    size_t sets = 1;
    while (sets * RATELIMIT_WAYS < capacity)
        sets <<= 1;
    struct ratelimit_table *t = aligned_alloc(64, (sizeof(*t) + 63) / 64 * 64);
    if (t == NULL)
        return NULL;
    t->entries = malloc(sets * RATELIMIT_WAYS * sizeof(*t->entries));
    if (t->entries == NULL) {
        free(t);
        return NULL;
    }
    for (size_t i = 0; i < sets * RATELIMIT_WAYS; i++)
        t->entries[i].tat = RATELIMIT_FREE;
    for (size_t i = 0; i < RATELIMIT_LOCKS; i++)
        pthread_mutex_init(&t->locks[i].mutex, NULL);
    t->set_mask = sets - 1;
    /* Without the kernel's randomness the table still works, only predictably. */
    if (getrandom(t->seed, sizeof(t->seed), 0) != (ssize_t)sizeof(t->seed)) {
        t->seed[0] = (uint64_t)clock_now_us();
        t->seed[1] = (uint64_t)(uintptr_t)t;
    }
    return t;
}

void ratelimit_table_free(struct ratelimit_table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < RATELIMIT_LOCKS; i++)
        pthread_mutex_destroy(&t->locks[i].mutex);
    free(t->entries);
    free(t);
}

size_t ratelimit_table_capacity(const struct ratelimit_table *t)
{
    return (t->set_mask + 1) * RATELIMIT_WAYS;
}

static long ratelimit_ceil_seconds(int64_t us)
{
    return us <= 0 ? 0 : (long)((us + RATELIMIT_US_PER_S - 1) / RATELIMIT_US_PER_S);
}

/* The verdict for a bucket whose tat is tat, and whether this request fits:
 * it moves the tat one interval on, which must stay within burst intervals
 * of now. *next_tat: the tat after taking it. */
static void ratelimit_judge(const struct ratelimit_policy *p, int64_t tat, int64_t now_us,
                            int64_t *next_tat, struct ratelimit_verdict *out)
{
    int64_t base = tat > now_us ? tat : now_us;
    int64_t next = base + p->interval_us;
    int64_t window = p->burst * p->interval_us;
    out->limit = (long)p->burst;
    out->allowed = next - now_us <= window;
    if (out->allowed) {
        out->remaining = (long)((window - (next - now_us)) / p->interval_us);
        out->reset_s = ratelimit_ceil_seconds(next - now_us);
        out->retry_after_s = 0;
    } else {
        out->remaining = 0;
        out->reset_s = ratelimit_ceil_seconds(base - now_us);
        /* Allowed once next - now' <= window. */
        long wait = ratelimit_ceil_seconds(next - window - now_us);
        out->retry_after_s = wait < 1 ? 1 : wait;
    }
    *next_tat = next;
}

static void ratelimit_unlimited(struct ratelimit_verdict *out)
{
    out->allowed = true;
    out->limit = 0;
    out->remaining = 0;
    out->reset_s = 0;
    out->retry_after_s = 0;
}

/* The set's entry of key, or NULL. Called under the set's lock. */
static struct ratelimit_entry *ratelimit_find(struct ratelimit_entry *set,
                                              const struct ratelimit_key *key)
{
    for (size_t i = 0; i < RATELIMIT_WAYS; i++) {
        struct ratelimit_entry *e = &set[i];
        if (e->tat != RATELIMIT_FREE && e->scope == key->scope &&
            memcmp(e->key, key->bytes, RATELIMIT_KEY_LEN) == 0)
            return e;
    }
    return NULL;
}

/* The entry to forget for a new key: a free one, else the one closest to full. */
static struct ratelimit_entry *ratelimit_victim(struct ratelimit_entry *set)
{
    struct ratelimit_entry *victim = &set[0];
    for (size_t i = 1; i < RATELIMIT_WAYS; i++) {
        if (set[i].tat < victim->tat)
            victim = &set[i];
    }
    return victim;
}

static void ratelimit_visit(struct ratelimit_table *t, const struct ratelimit_key *key,
                            const struct ratelimit_policy *p, int64_t now_us, bool take,
                            struct ratelimit_verdict *out)
{
    if (!ratelimit_policy_limits(p)) {
        ratelimit_unlimited(out);
        return;
    }
    uint64_t h = ratelimit_hash(t, key);
    size_t set_index = (size_t)(h & t->set_mask);
    struct ratelimit_entry *set = &t->entries[set_index * RATELIMIT_WAYS];
    pthread_mutex_t *lock = &t->locks[set_index & (RATELIMIT_LOCKS - 1)].mutex;
    pthread_mutex_lock(lock);
    struct ratelimit_entry *e = ratelimit_find(set, key);
    int64_t tat = e != NULL ? e->tat : now_us; /* unknown: a full bucket */
    int64_t next;
    ratelimit_judge(p, tat, now_us, &next, out);
    if (take && out->allowed) {
        if (e == NULL) {
            e = ratelimit_victim(set);
            memcpy(e->key, key->bytes, RATELIMIT_KEY_LEN);
            e->scope = key->scope;
        }
        e->tat = next;
    }
    pthread_mutex_unlock(lock);
}

void ratelimit_take(struct ratelimit_table *t, const struct ratelimit_key *key,
                    const struct ratelimit_policy *p, int64_t now_us, struct ratelimit_verdict *out)
{
    ratelimit_visit(t, key, p, now_us, true, out);
}

void ratelimit_peek(struct ratelimit_table *t, const struct ratelimit_key *key,
                    const struct ratelimit_policy *p, int64_t now_us, struct ratelimit_verdict *out)
{
    ratelimit_visit(t, key, p, now_us, false, out);
}
