/* The pure half of tenants: API key generation, hashing, and the environment
 * a key names. (The store half needs PostgreSQL: integration tests.) */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "model/tenant.h"
#include "../../leak_check.h"

static const char base62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void expect_key_shape(const char *key, const char *prefix)
{
    cr_assert_eq(strlen(key), strlen(prefix) + TENANT_KEY_RANDOM_CHARS, "%s", key);
    cr_assert_eq(strncmp(key, prefix, strlen(prefix)), 0, "%s", key);
    const char *random = key + strlen(prefix);
    cr_assert_eq(strspn(random, base62), TENANT_KEY_RANDOM_CHARS, "%s has a non-base62 character",
                 key);
}

TestSuite(tenant, .fini = unit_leak_check);

Test(tenant, generated_test_key_is_prefix_and_40_base62_characters)
{
    char key[TENANT_KEY_MAX_LEN];
    cr_assert_eq(tenant_api_key_generate("test", key), C_OK);
    expect_key_shape(key, "sk_test_");
    cr_assert_eq(strlen(key), 48);
}

Test(tenant, generated_live_key_is_prefix_and_40_base62_characters)
{
    char key[TENANT_KEY_MAX_LEN];
    cr_assert_eq(tenant_api_key_generate("live", key), C_OK);
    expect_key_shape(key, "sk_live_");
}

Test(tenant, generate_rejects_other_environments_and_leaves_output_alone)
{
    char key[TENANT_KEY_MAX_LEN];
    memset(key, 'x', sizeof(key));
    cr_assert_eq(tenant_api_key_generate("prod", key), C_ERR);
    cr_assert_eq(tenant_api_key_generate("TEST", key), C_ERR);
    cr_assert_eq(tenant_api_key_generate("", key), C_ERR);
    for (size_t i = 0; i < sizeof(key); i++)
        cr_assert_eq(key[i], 'x');
}

static int compare_keys(const void *a, const void *b)
{
    return strcmp(a, b);
}

Test(tenant, generated_keys_are_unique)
{
    enum { COUNT = 2000 };
    char(*keys)[TENANT_KEY_MAX_LEN] = calloc(COUNT, TENANT_KEY_MAX_LEN);
    cr_assert_not_null(keys);
    for (int i = 0; i < COUNT; i++)
        cr_assert_eq(tenant_api_key_generate(i % 2 ? "live" : "test", keys[i]), C_OK);
    qsort(keys, COUNT, TENANT_KEY_MAX_LEN, compare_keys);
    for (int i = 1; i < COUNT; i++)
        cr_assert_str_neq(keys[i - 1], keys[i]);
    free(keys);
}

Test(tenant, generated_characters_are_uniform_over_base62)
{
    /* 80,000 characters: about 1290 of each. A modulo bias (256 % 62) would
     * give the first eight characters about 25% more; allow 15%. */
    enum { KEYS = 2000 };
    long counts[128] = {0};
    for (int i = 0; i < KEYS; i++) {
        char key[TENANT_KEY_MAX_LEN];
        cr_assert_eq(tenant_api_key_generate("test", key), C_OK);
        for (const char *p = key + 8; *p; p++)
            counts[(unsigned char)*p]++;
    }
    double expected = KEYS * TENANT_KEY_RANDOM_CHARS / 62.0;
    for (const char *c = base62; *c; c++) {
        long n = counts[(unsigned char)*c];
        cr_assert(n > expected * 0.85 && n < expected * 1.15,
                  "'%c' appeared %ld times, expected %.0f", *c, n, expected);
    }
}

Test(tenant, sha256_of_the_empty_string)
{
    char hex[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex("", hex);
    cr_assert_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(tenant, sha256_of_abc_is_the_fips_180_vector)
{
    char hex[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex("abc", hex);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(tenant, sha256_of_a_two_block_message)
{
    char hex[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", hex);
    cr_assert_str_eq(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(tenant, sha256_hex_is_64_lower_case_digits)
{
    char key[TENANT_KEY_MAX_LEN];
    cr_assert_eq(tenant_api_key_generate("live", key), C_OK);
    char hex[TENANT_SHA256_HEX_LEN];
    tenant_sha256_hex(key, hex);
    cr_assert_eq(strlen(hex), 64);
    cr_assert_eq(strspn(hex, "0123456789abcdef"), 64, "%s", hex);
}

Test(tenant, environment_comes_from_the_key_prefix)
{
    char key[TENANT_KEY_MAX_LEN];
    cr_assert_eq(tenant_api_key_generate("test", key), C_OK);
    cr_assert_str_eq(tenant_api_key_environment(key), "test");
    cr_assert_eq(tenant_api_key_generate("live", key), C_OK);
    cr_assert_str_eq(tenant_api_key_environment(key), "live");
}

/* prefix followed by n base62 characters. */
static void make_key(char *out, size_t outlen, const char *prefix, size_t n)
{
    size_t len = strlen(prefix);
    cr_assert_lt(len + n, outlen);
    memcpy(out, prefix, len);
    for (size_t i = 0; i < n; i++)
        out[len + i] = base62[(i * 7) % 62];
    out[len + n] = '\0';
}

Test(tenant, environment_accepts_32_to_55_base62_characters)
{
    char key[128];
    make_key(key, sizeof(key), "sk_test_", 32); /* api.md's minimum */
    cr_assert_str_eq(tenant_api_key_environment(key), "test");
    make_key(key, sizeof(key), "sk_live_", 55); /* the longest that fits TENANT_KEY_MAX_LEN */
    cr_assert_str_eq(tenant_api_key_environment(key), "live");
}

Test(tenant, environment_of_a_key_too_short_or_too_long_is_null)
{
    char key[128];
    make_key(key, sizeof(key), "sk_test_", 31);
    cr_assert_null(tenant_api_key_environment(key));
    make_key(key, sizeof(key), "sk_live_", 56);
    cr_assert_null(tenant_api_key_environment(key));
    make_key(key, sizeof(key), "sk_test_", 0);
    cr_assert_null(tenant_api_key_environment(key));
}

Test(tenant, environment_of_a_malformed_key_is_null)
{
    static const char *const bad[] = {
        "",
        "sk_test",
        "test",
        "sk_prod_0123456789abcdefghijABCDEFGHIJklmnop",
        "pk_test_0123456789abcdefghijABCDEFGHIJklmnop",
        "SK_TEST_0123456789abcdefghijABCDEFGHIJklmnop",
        "sk_test_0123456789abcdefghij-BCDEFGHIJklmnop",  /* not base62 */
        "sk_test_0123456789abcdefghij_BCDEFGHIJklmnop",  /* not base62 */
        "sk_test_0123456789abcdefghijABCDEFGHIJklmnop ", /* trailing blank */
        "sk_test_ 0123456789abcdefghijABCDEFGHIJklmnop", /* inner blank */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_null(tenant_api_key_environment(bad[i]), "accepted \"%s\"", bad[i]);
}
