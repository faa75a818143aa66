#include "auth.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/result.h"

#define AUTH_CACHE_MAX 10000
#define AUTH_NEGATIVE_TTL 5 /* seconds: bounds Postgres load from bad keys */

struct auth_entry {
    char hash[TENANT_SHA256_HEX_LEN];
    bool valid;
    struct tenant_identity identity;
    time_t expires;
    struct auth_entry *next;
};

#define AUTH_BUCKETS 1024
static struct auth_entry *auth_buckets[AUTH_BUCKETS];
static size_t auth_count;
static long auth_ttl;
static const char *auth_service_token = "";
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;

int auth_init(long ttl_seconds, const char *service_token)
{
    auth_ttl = ttl_seconds;
    auth_service_token = service_token;
    if (service_token[0] == '\0')
        log_warn("CAISSE_INTERNAL_TOKEN is not set: completion calls will be refused");
    return C_OK;
}

bool auth_service_token_valid(const char *authorization)
{
    size_t n = strlen(auth_service_token);
    if (n == 0 || authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *given = authorization + 7;
    /* Constant time, so the token cannot be guessed a byte at a time. */
    return strlen(given) == n && CRYPTO_memcmp(given, auth_service_token, n) == 0;
}

static void auth_clear_locked(void)
{
    for (size_t i = 0; i < AUTH_BUCKETS; i++) {
        struct auth_entry *e = auth_buckets[i];
        while (e != NULL) {
            struct auth_entry *next = e->next;
            free(e);
            e = next;
        }
        auth_buckets[i] = NULL;
    }
    auth_count = 0;
}

void auth_shutdown(void)
{
    pthread_mutex_lock(&auth_lock);
    auth_clear_locked();
    pthread_mutex_unlock(&auth_lock);
}

static size_t auth_bucket(const char *hash)
{
    /* The hash is already uniformly distributed hex. */
    return strtoul(
               (char[9]){hash[0], hash[1], hash[2], hash[3], hash[4], hash[5], hash[6], hash[7], 0},
               NULL, 16) %
           AUTH_BUCKETS;
}

/* Returns 1 on a fresh hit (filling out/valid), 0 on miss. */
static int auth_cache_get(const char *hash, bool *valid, struct tenant_identity *out)
{
    time_t now = time(NULL);
    int hit = 0;
    pthread_mutex_lock(&auth_lock);
    for (struct auth_entry *e = auth_buckets[auth_bucket(hash)]; e != NULL; e = e->next) {
        if (strcmp(e->hash, hash) == 0 && e->expires > now) {
            *valid = e->valid;
            if (e->valid)
                *out = e->identity;
            hit = 1;
            break;
        }
    }
    pthread_mutex_unlock(&auth_lock);
    return hit;
}

static void auth_cache_put(const char *hash, bool valid, const struct tenant_identity *id)
{
    struct auth_entry *fresh = calloc(1, sizeof(*fresh));
    if (fresh == NULL)
        return; /* caching is an optimization */
    memcpy(fresh->hash, hash, TENANT_SHA256_HEX_LEN);
    fresh->valid = valid;
    if (valid)
        fresh->identity = *id;
    fresh->expires = time(NULL) + (valid ? auth_ttl : AUTH_NEGATIVE_TTL);
    size_t b = auth_bucket(hash);
    pthread_mutex_lock(&auth_lock);
    /* Bounded memory: a full cache starts over rather than tracking LRU order. */
    if (auth_count >= AUTH_CACHE_MAX)
        auth_clear_locked();
    struct auth_entry **pp = &auth_buckets[b];
    while (*pp != NULL) {
        if (strcmp((*pp)->hash, hash) == 0) {
            struct auth_entry *old = *pp;
            *pp = old->next;
            free(old);
            auth_count--;
            break;
        }
        pp = &(*pp)->next;
    }
    fresh->next = auth_buckets[b];
    auth_buckets[b] = fresh;
    auth_count++;
    pthread_mutex_unlock(&auth_lock);
}

enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out)
{
    if (key == NULL || key[0] == '\0')
        return AUTH_MISSING;
    /* Malformed keys never reach Postgres. */
    if (tenant_api_key_environment(key) == NULL || strlen(key) >= TENANT_KEY_MAX_LEN)
        return AUTH_INVALID;
    char hash[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex(key, hash);
    bool valid = false;
    if (auth_cache_get(hash, &valid, out))
        return valid ? AUTH_OK : AUTH_INVALID;
    struct tenant_identity id;
    bool found = false;
    if (tenant_store_lookup_api_key(db, key, &id, &found) != C_OK)
        return AUTH_UNAVAILABLE;
    auth_cache_put(hash, found, &id);
    if (!found)
        return AUTH_INVALID;
    *out = id;
    return AUTH_OK;
}
