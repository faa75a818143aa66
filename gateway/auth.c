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
static const char *auth_previous_token = "";
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

int auth_check_tokens(const char *service_token, const char *previous_token, struct error *err)
{
    size_t n = strlen(service_token), p = strlen(previous_token);
    if (n > 0 && n < AUTH_SERVICE_TOKEN_MIN)
        return error_set(err, "CAISSE_INTERNAL_TOKEN",
                         "CAISSE_INTERNAL_TOKEN is %zu characters long: it must have at least %d"
                         " (e.g. openssl rand -hex 32)",
                         n, AUTH_SERVICE_TOKEN_MIN);
    if (p > 0 && p < AUTH_SERVICE_TOKEN_MIN)
        return error_set(err, "CAISSE_INTERNAL_TOKEN_PREVIOUS",
                         "CAISSE_INTERNAL_TOKEN_PREVIOUS is %zu characters long: it must have at"
                         " least %d",
                         p, AUTH_SERVICE_TOKEN_MIN);
    if (p > 0 && n == 0)
        return error_set(err, "CAISSE_INTERNAL_TOKEN_PREVIOUS",
                         "CAISSE_INTERNAL_TOKEN_PREVIOUS is set without CAISSE_INTERNAL_TOKEN:"
                         " the previous token is accepted beside the current one only");
    if (p > 0 && strcmp(service_token, previous_token) == 0)
        return error_set(err, "CAISSE_INTERNAL_TOKEN_PREVIOUS",
                         "CAISSE_INTERNAL_TOKEN_PREVIOUS is the current token: set it to the"
                         " token being replaced, or leave it empty");
    return C_OK;
}

int auth_init(long ttl_seconds, const char *service_token, const char *previous_token,
              struct error *err)
{
    if (auth_check_tokens(service_token, previous_token, err) != C_OK)
        return C_ERR;
    size_t n = strlen(service_token), p = strlen(previous_token);
    pthread_once(&auth_cache_key_once, auth_cache_key_create);
    if (!auth_cache_key_ready)
        return error_set(err, NULL, "out of memory");
    auth_ttl_ms = ttl_seconds * 1000;
    auth_service_token = service_token;
    auth_previous_token = previous_token;
    if (n == 0)
        log_warn("CAISSE_INTERNAL_TOKEN is not set: completion calls will be refused");
    if (p > 0)
        log_info("CAISSE_INTERNAL_TOKEN_PREVIOUS is set: the previous service token is accepted"
                 " too until it is removed");
    return C_OK;
}

/* Constant time in the token's bytes, so it cannot be guessed a byte at a
 * time (its length is not a secret: it is at least AUTH_SERVICE_TOKEN_MIN). */
static bool auth_token_equal(const char *given, size_t given_len, const char *token)
{
    size_t n = strlen(token);
    return n > 0 && given_len == n && CRYPTO_memcmp(given, token, n) == 0;
}

bool auth_service_token_valid(const char *authorization)
{
    if (auth_service_token[0] == '\0' || authorization == NULL ||
        strncasecmp(authorization, "Bearer ", 7) != 0)
        return false;
    const char *given = authorization + 7;
    size_t len = strlen(given);
    /* Both compared, whichever matches, so the time does not say which. */
    bool current = auth_token_equal(given, len, auth_service_token);
    bool previous = auth_token_equal(given, len, auth_previous_token);
    return current | previous;
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
