#include "auth_cache.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

struct auth_cache_entry {
    char hash[TENANT_SHA256_HEX_LEN];
    bool valid;
    int64_t expires_ms;
    struct tenant_identity identity;
    struct auth_cache_entry *chain; /* the next entry of its hash bucket */
    struct auth_cache_entry *newer; /* its list, towards the most recently used */
    struct auth_cache_entry *older; /* its list, towards the least recently used */
};

struct auth_cache_list {
    struct auth_cache_entry *newest, *oldest;
    size_t count, max;
};

struct auth_cache {
    struct auth_cache_entry **buckets;
    size_t mask;                     /* buckets - 1, a power of two */
    struct auth_cache_list lists[2]; /* [0] invalid keys, [1] valid ones */
};

struct auth_cache *auth_cache_new(size_t valid_max, size_t invalid_max)
{
    assert(valid_max >= 1 && invalid_max >= 1);
    struct auth_cache *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    size_t n = 1;
    while (n < valid_max + invalid_max)
        n <<= 1;
    c->buckets = calloc(n, sizeof(*c->buckets));
    if (c->buckets == NULL) {
        free(c);
        return NULL;
    }
    c->mask = n - 1;
    c->lists[0].max = invalid_max;
    c->lists[1].max = valid_max;
    return c;
}

void auth_cache_free(struct auth_cache *c)
{
    if (c == NULL)
        return;
    for (size_t l = 0; l < 2; l++) {
        struct auth_cache_entry *e = c->lists[l].newest;
        while (e != NULL) {
            struct auth_cache_entry *older = e->older;
            free(e);
            e = older;
        }
    }
    free(c->buckets);
    free(c);
}

static unsigned auth_cache_hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return (unsigned)(ch - '0');
    if (ch >= 'a' && ch <= 'f')
        return (unsigned)(ch - 'a' + 10);
    return (unsigned)ch; /* not hex: still a deterministic bucket */
}

/* A SHA-256 is already uniform: its first eight hex digits choose the bucket. */
static struct auth_cache_entry **auth_cache_bucket(struct auth_cache *c, const char *hash)
{
    size_t h = 0;
    for (size_t i = 0; i < 8 && hash[i] != '\0'; i++)
        h = (h << 4) | auth_cache_hex_digit(hash[i]);
    return &c->buckets[h & c->mask];
}

static void auth_cache_list_unlink(struct auth_cache_list *l, struct auth_cache_entry *e)
{
    if (e->newer != NULL)
        e->newer->older = e->older;
    else
        l->newest = e->older;
    if (e->older != NULL)
        e->older->newer = e->newer;
    else
        l->oldest = e->newer;
    e->newer = e->older = NULL;
    l->count--;
}

static void auth_cache_list_push(struct auth_cache_list *l, struct auth_cache_entry *e)
{
    e->newer = NULL;
    e->older = l->newest;
    if (l->newest != NULL)
        l->newest->newer = e;
    l->newest = e;
    if (l->oldest == NULL)
        l->oldest = e;
    l->count++;
}

/* The entry of hash and the link that points at it, or NULL. */
static struct auth_cache_entry *auth_cache_find(struct auth_cache *c, const char *hash,
                                                struct auth_cache_entry ***link)
{
    struct auth_cache_entry **pp = auth_cache_bucket(c, hash);
    while (*pp != NULL && strcmp((*pp)->hash, hash) != 0)
        pp = &(*pp)->chain;
    *link = pp;
    return *pp;
}

static void auth_cache_remove(struct auth_cache *c, struct auth_cache_entry *e)
{
    struct auth_cache_entry **link;
    struct auth_cache_entry *found = auth_cache_find(c, e->hash, &link);
    assert(found == e);
    (void)found; /* only the assert reads it (make bench builds with NDEBUG) */
    *link = e->chain;
    auth_cache_list_unlink(&c->lists[e->valid], e);
    free(e);
}

bool auth_cache_get(struct auth_cache *c, const char hash[TENANT_SHA256_HEX_LEN], int64_t now_ms,
                    bool *valid, struct tenant_identity *identity)
{
    struct auth_cache_entry **link;
    struct auth_cache_entry *e = auth_cache_find(c, hash, &link);
    if (e == NULL)
        return false;
    if (e->expires_ms <= now_ms) {
        auth_cache_remove(c, e);
        return false;
    }
    struct auth_cache_list *l = &c->lists[e->valid];
    if (l->newest != e) {
        auth_cache_list_unlink(l, e);
        auth_cache_list_push(l, e);
    }
    *valid = e->valid;
    if (e->valid)
        *identity = e->identity;
    return true;
}

int auth_cache_put(struct auth_cache *c, const char hash[TENANT_SHA256_HEX_LEN], bool valid,
                   const struct tenant_identity *identity, int64_t expires_ms)
{
    struct auth_cache_entry **link;
    struct auth_cache_entry *e = auth_cache_find(c, hash, &link);
    if (e != NULL) {
        auth_cache_list_unlink(&c->lists[e->valid], e);
    } else {
        e = calloc(1, sizeof(*e));
        if (e == NULL)
            return C_ERR;
        memcpy(e->hash, hash, TENANT_SHA256_HEX_LEN);
        e->hash[TENANT_SHA256_HEX_LEN - 1] = '\0';
        e->chain = NULL;
        *link = e;
    }
    e->valid = valid;
    e->expires_ms = expires_ms;
    if (valid)
        e->identity = *identity;
    struct auth_cache_list *l = &c->lists[valid];
    auth_cache_list_push(l, e);
    /* A list only exceeds its max (at least 1) with two entries or more, so
     * the oldest is never the one just pushed. */
    while (l->count > l->max)
        auth_cache_remove(c, l->oldest);
    return C_OK;
}

size_t auth_cache_count(const struct auth_cache *c, bool valid)
{
    return c->lists[valid].count;
}
