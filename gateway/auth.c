#include "auth.h"

#include <pthread.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>

#include "auth_cache.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/result.h"

/* Per server thread. Valid keys are what merchants use; invalid ones are
 * remembered apart so that guessing cannot push the valid ones out. */
#define AUTH_CACHE_VALID_MAX 10000
#define AUTH_CACHE_INVALID_MAX 4096
#define AUTH_NEGATIVE_TTL_MS 5000 /* bounds Postgres load from bad keys */

static long auth_ttl_ms;
static const char *auth_service_token = "";
/* Each thread's cache, freed when the thread exits. */
static pthread_key_t auth_cache_key;
static pthread_once_t auth_cache_key_once = PTHREAD_ONCE_INIT;
static bool auth_cache_key_ready;

static void auth_cache_destroy(void *cache)
{
    auth_cache_free(cache);
}

static void auth_cache_key_create(void)
{
    auth_cache_key_ready = pthread_key_create(&auth_cache_key, auth_cache_destroy) == 0;
}

int auth_init(long ttl_seconds, const char *service_token)
{
    pthread_once(&auth_cache_key_once, auth_cache_key_create);
    if (!auth_cache_key_ready)
        return C_ERR;
    auth_ttl_ms = ttl_seconds * 1000;
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

void auth_shutdown(void)
{
    if (!auth_cache_key_ready)
        return;
    auth_cache_free(pthread_getspecific(auth_cache_key));
    pthread_setspecific(auth_cache_key, NULL);
}

/* The calling thread's cache, made on first use; NULL (no caching) without memory. */
static struct auth_cache *auth_thread_cache(void)
{
    if (!auth_cache_key_ready)
        return NULL;
    struct auth_cache *c = pthread_getspecific(auth_cache_key);
    if (c == NULL) {
        c = auth_cache_new(AUTH_CACHE_VALID_MAX, AUTH_CACHE_INVALID_MAX);
        if (c != NULL && pthread_setspecific(auth_cache_key, c) != 0) {
            auth_cache_free(c);
            c = NULL;
        }
    }
    return c;
}

/* AUTH_OK, AUTH_INVALID or AUTH_NOT_CACHED for a present key; hash is filled
 * for a well-formed one. */
static enum auth_result auth_from_cache(const char *key, char hash[TENANT_SHA256_HEX_LEN],
                                        struct tenant_identity *out)
{
    /* Malformed keys never reach Postgres. */
    if (tenant_api_key_environment(key) == NULL || strlen(key) >= TENANT_KEY_MAX_LEN)
        return AUTH_INVALID;
    tenant_sha256_hex(key, hash);
    struct auth_cache *c = auth_thread_cache();
    bool valid = false;
    if (c == NULL || !auth_cache_get(c, hash, clock_now_ms(), &valid, out))
        return AUTH_NOT_CACHED;
    return valid ? AUTH_OK : AUTH_INVALID;
}

enum auth_result auth_authenticate_cached(const char *key, struct tenant_identity *out)
{
    if (key == NULL || key[0] == '\0')
        return AUTH_MISSING;
    char hash[TENANT_SHA256_HEX_LEN];
    return auth_from_cache(key, hash, out);
}

enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out)
{
    if (key == NULL || key[0] == '\0')
        return AUTH_MISSING;
    char hash[TENANT_SHA256_HEX_LEN];
    enum auth_result cached = auth_from_cache(key, hash, out);
    if (cached != AUTH_NOT_CACHED)
        return cached;
    struct tenant_identity id;
    bool found = false;
    if (tenant_store_lookup_api_key(db, key, &id, &found) != C_OK)
        return AUTH_UNAVAILABLE;
    struct auth_cache *c = auth_thread_cache();
    /* Caching is an optimization: without memory the next request asks again. */
    if (c != NULL)
        auth_cache_put(c, hash, found, &id,
                       clock_now_ms() + (found ? auth_ttl_ms : AUTH_NEGATIVE_TTL_MS));
    if (!found)
        return AUTH_INVALID;
    *out = id;
    return AUTH_OK;
}
