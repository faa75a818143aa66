/* The API key cache: hits and expiry, least-recently-used eviction within a
 * list, and valid keys that a flood of invalid ones never pushes out. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "../../../gateway/auth_cache.h"
#include "../leak_check.h"

TestSuite(auth_cache, .fini = unit_leak_check);

/* A SHA-256-looking hex string numbered n. */
static void hash_of(unsigned n, char out[TENANT_SHA256_HEX_LEN])
{
    char seed[32];
    snprintf(seed, sizeof(seed), "key-%u", n);
    tenant_sha256_hex(seed, out);
}

static struct tenant_identity identity_of(unsigned n)
{
    struct tenant_identity id;
    memset(&id, 0, sizeof(id));
    snprintf(id.key_id, sizeof(id.key_id), "00000000-0000-7000-8000-%012u", n);
    snprintf(id.organization_id, sizeof(id.organization_id), "%s", id.key_id);
    snprintf(id.environment, sizeof(id.environment), "test");
    snprintf(id.default_currency, sizeof(id.default_currency), "XOF");
    id.rate_limit_per_s = (long)n;
    return id;
}

static bool lookup(struct auth_cache *c, unsigned n, int64_t now, bool *valid,
                   struct tenant_identity *id)
{
    char h[TENANT_SHA256_HEX_LEN];
    hash_of(n, h);
    return auth_cache_get(c, h, now, valid, id);
}

static void remember(struct auth_cache *c, unsigned n, bool valid, int64_t expires)
{
    char h[TENANT_SHA256_HEX_LEN];
    hash_of(n, h);
    struct tenant_identity id = identity_of(n);
    cr_assert_eq(auth_cache_put(c, h, valid, &id, expires), 0);
}

Test(auth_cache, a_remembered_key_is_found_until_it_expires)
{
    struct auth_cache *c = auth_cache_new(10, 10);
    bool valid = false;
    struct tenant_identity id;
    cr_assert_not(lookup(c, 1, 0, &valid, &id));
    remember(c, 1, true, 1000);
    remember(c, 2, false, 1000);
    cr_assert(lookup(c, 1, 999, &valid, &id));
    cr_assert(valid);
    cr_assert_str_eq(id.key_id, "00000000-0000-7000-8000-000000000001");
    cr_assert_eq(id.rate_limit_per_s, 1);
    cr_assert(lookup(c, 2, 999, &valid, &id));
    cr_assert_not(valid);
    cr_assert_not(lookup(c, 1, 1000, &valid, &id), "expired at its time");
    cr_assert_eq(auth_cache_count(c, true), 0, "an expired entry is dropped when seen");
    auth_cache_free(c);
}

Test(auth_cache, a_full_list_drops_its_least_recently_used_entry)
{
    struct auth_cache *c = auth_cache_new(3, 3);
    bool valid;
    struct tenant_identity id;
    remember(c, 1, true, 1000);
    remember(c, 2, true, 1000);
    remember(c, 3, true, 1000);
    cr_assert(lookup(c, 1, 0, &valid, &id), "1 becomes the most recently used");
    remember(c, 4, true, 1000);
    cr_assert_eq(auth_cache_count(c, true), 3);
    cr_assert_not(lookup(c, 2, 0, &valid, &id), "2 was the least recently used");
    cr_assert(lookup(c, 1, 0, &valid, &id));
    cr_assert(lookup(c, 3, 0, &valid, &id));
    cr_assert(lookup(c, 4, 0, &valid, &id));
    auth_cache_free(c);
}

Test(auth_cache, a_flood_of_invalid_keys_never_evicts_a_valid_one)
{
    struct auth_cache *c = auth_cache_new(100, 50);
    for (unsigned n = 0; n < 100; n++)
        remember(c, n, true, 1000);
    for (unsigned n = 1000; n < 21000; n++)
        remember(c, n, false, 1000);
    cr_assert_eq(auth_cache_count(c, true), 100);
    cr_assert_eq(auth_cache_count(c, false), 50);
    bool valid;
    struct tenant_identity id;
    for (unsigned n = 0; n < 100; n++) {
        cr_assert(lookup(c, n, 0, &valid, &id), "valid key %u was evicted", n);
        cr_assert(valid);
    }
    cr_assert(lookup(c, 20999, 0, &valid, &id), "the newest invalid keys are kept");
    cr_assert_not(valid);
    cr_assert_not(lookup(c, 1000, 0, &valid, &id), "the oldest invalid keys made room");
    auth_cache_free(c);
}

Test(auth_cache, a_key_remembered_again_moves_to_its_new_list)
{
    struct auth_cache *c = auth_cache_new(2, 2);
    bool valid;
    struct tenant_identity id;
    remember(c, 1, false, 1000);
    remember(c, 1, true, 2000);
    cr_assert_eq(auth_cache_count(c, false), 0);
    cr_assert_eq(auth_cache_count(c, true), 1);
    cr_assert(lookup(c, 1, 1500, &valid, &id));
    cr_assert(valid, "the later answer wins");
    remember(c, 1, false, 3000);
    cr_assert(lookup(c, 1, 2500, &valid, &id));
    cr_assert_not(valid, "a revoked key stops being valid");
    cr_assert_eq(auth_cache_count(c, true), 0);
    auth_cache_free(c);
}
