/* Command MACs: HMAC-SHA256 against RFC 4231's vectors, the framing of key
 * and value, the key settings' checks, and every way a header can be wrong
 * (missing, truncated, another key, another key id, other bytes). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "core/result.h"
#include "model/command_mac.h"
#include "../../leak_check.h"

TestSuite(command_mac, .fini = unit_leak_check);

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void check_vector(const unsigned char *key, size_t key_len, const void *data,
                         size_t data_len, const char *expected)
{
    unsigned char mac[COMMAND_MAC_BYTES];
    char text[2 * COMMAND_MAC_BYTES + 1];
    cr_assert_eq(command_mac_hmac_sha256(key, key_len, data, data_len, mac), C_OK);
    hex(mac, sizeof(mac), text);
    cr_assert_str_eq(text, expected);
}

/* RFC 4231, 4.2: test case 1. */
Test(command_mac, rfc4231_test_case_1)
{
    unsigned char key[20];
    memset(key, 0x0b, sizeof(key));
    check_vector(key, sizeof(key), "Hi There", 8,
                 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
}

/* RFC 4231, 4.3: a key shorter than the output. */
Test(command_mac, rfc4231_test_case_2)
{
    check_vector((const unsigned char *)"Jefe", 4, "what do ya want for nothing?", 28,
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

/* RFC 4231, 4.4: combined length of key and data larger than 64 bytes. */
Test(command_mac, rfc4231_test_case_3)
{
    unsigned char key[20], data[50];
    memset(key, 0xaa, sizeof(key));
    memset(data, 0xdd, sizeof(data));
    check_vector(key, sizeof(key), data, sizeof(data),
                 "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
}

/* RFC 4231, 4.7: a key larger than the block size. */
Test(command_mac, rfc4231_test_case_6)
{
    unsigned char key[131];
    memset(key, 0xaa, sizeof(key));
    const char *data = "Test Using Larger Than Block-Size Key - Hash Key First";
    check_vector(key, sizeof(key), data, strlen(data),
                 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

#define SECRET_A "k1:0123456789abcdef0123456789abcdef-A"
#define SECRET_B "k0:fedcba9876543210fedcba9876543210-B"
#define KEY "0190b1d2-0000-7000-8000-000000000001"
#define VALUE "{\"type\":\"checkout.session.complete\",\"data\":{}}"

static struct command_mac_keys keys(const char *current, const char *previous)
{
    struct command_mac_keys k;
    struct error err = ERROR_INIT;
    cr_assert_eq(command_mac_keys_load(current, previous, &k, &err), C_OK, "%s", err.message);
    return k;
}

static enum command_mac_verdict verify(const struct command_mac_keys *k, const char *header,
                                       const char *key, const char *value)
{
    return command_mac_verify(k, header, header != NULL ? strlen(header) : 0, key, strlen(key),
                              value, strlen(value));
}

Test(command_mac, a_signed_command_verifies)
{
    struct command_mac_keys k = keys(SECRET_A, NULL);
    char h[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&k, KEY, strlen(KEY), VALUE, strlen(VALUE), h), C_OK);
    cr_assert_eq(strncmp(h, "k1:", 3), 0);
    cr_assert_eq(strlen(h), 3 + 43);
    cr_assert_eq(verify(&k, h, KEY, VALUE), COMMAND_MAC_VALID);
}

/* The MAC is the framing's: domain, NUL, the key's length, key, value. */
Test(command_mac, the_mac_covers_the_framed_key_and_value)
{
    struct command_mac_keys k = keys(SECRET_A, NULL);
    unsigned char framed[256], direct[COMMAND_MAC_BYTES], expected[COMMAND_MAC_BYTES];
    size_t n = 0;
    memcpy(framed, "caisse-command-mac-v1", 22); /* with its NUL */
    n += 22;
    size_t kl = strlen(KEY);
    framed[n++] = 0;
    framed[n++] = 0;
    framed[n++] = 0;
    framed[n++] = (unsigned char)kl;
    memcpy(framed + n, KEY, kl);
    n += kl;
    memcpy(framed + n, VALUE, strlen(VALUE));
    n += strlen(VALUE);
    cr_assert_eq(
        command_mac_hmac_sha256(k.current.secret, k.current.secret_len, framed, n, expected), C_OK);
    cr_assert_eq(command_mac_compute(&k.current, KEY, kl, VALUE, strlen(VALUE), direct), C_OK);
    cr_assert_eq(memcmp(direct, expected, sizeof(direct)), 0);
}

Test(command_mac, another_value_or_key_is_refused)
{
    struct command_mac_keys k = keys(SECRET_A, NULL);
    char h[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&k, KEY, strlen(KEY), VALUE, strlen(VALUE), h), C_OK);
    cr_assert_eq(verify(&k, h, KEY, "{\"type\":\"checkout.session.complete\",\"data\":{ }}"),
                 COMMAND_MAC_MISMATCH);
    cr_assert_eq(verify(&k, h, "0190b1d2-0000-7000-8000-000000000002", VALUE),
                 COMMAND_MAC_MISMATCH);
    /* The same bytes split differently between key and value. */
    cr_assert_eq(verify(&k, h, "0190b1d2-0000-7000-8000-00000000000", "1" VALUE),
                 COMMAND_MAC_MISMATCH);
}

Test(command_mac, a_wrong_key_under_the_same_id_is_refused)
{
    struct command_mac_keys signer = keys("k1:an-attacker-guess-of-thirty-two-bytes!", NULL);
    struct command_mac_keys k = keys(SECRET_A, NULL);
    char h[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&signer, KEY, strlen(KEY), VALUE, strlen(VALUE), h), C_OK);
    cr_assert_eq(verify(&k, h, KEY, VALUE), COMMAND_MAC_MISMATCH);
}

Test(command_mac, missing_truncated_and_malformed_headers_are_refused)
{
    struct command_mac_keys k = keys(SECRET_A, NULL);
    char h[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&k, KEY, strlen(KEY), VALUE, strlen(VALUE), h), C_OK);
    cr_assert_eq(verify(&k, NULL, KEY, VALUE), COMMAND_MAC_MISSING);
    cr_assert_eq(verify(&k, "", KEY, VALUE), COMMAND_MAC_MALFORMED);
    cr_assert_eq(verify(&k, "k1:", KEY, VALUE), COMMAND_MAC_MALFORMED);
    char truncated[COMMAND_MAC_HEADER_MAX];
    snprintf(truncated, sizeof(truncated), "%.*s", (int)strlen(h) - 1, h);
    cr_assert_eq(verify(&k, truncated, KEY, VALUE), COMMAND_MAC_MALFORMED);
    /* Only the length given counts: a header cut short in the record. */
    cr_assert_eq(command_mac_verify(&k, h, strlen(h) - 5, KEY, strlen(KEY), VALUE, strlen(VALUE)),
                 COMMAND_MAC_MALFORMED);
    char padded[COMMAND_MAC_HEADER_MAX + 1];
    snprintf(padded, sizeof(padded), "%s=", h);
    cr_assert_eq(verify(&k, padded, KEY, VALUE), COMMAND_MAC_MALFORMED);
    cr_assert_eq(verify(&k, h + 3, KEY, VALUE), COMMAND_MAC_MALFORMED); /* no key id */
    char standard[COMMAND_MAC_HEADER_MAX];
    snprintf(standard, sizeof(standard), "%s", h);
    for (char *p = standard; *p; p++)
        if (*p == '-' || *p == '_')
            *p = '+';
    if (strcmp(standard, h) != 0)
        cr_assert_eq(verify(&k, standard, KEY, VALUE), COMMAND_MAC_MALFORMED);
}

Test(command_mac, the_previous_key_verifies_but_does_not_sign)
{
    struct command_mac_keys old = keys(SECRET_B, NULL);
    struct command_mac_keys rotating = keys(SECRET_A, SECRET_B);
    struct command_mac_keys after = keys(SECRET_A, NULL);
    char h[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&old, KEY, strlen(KEY), VALUE, strlen(VALUE), h), C_OK);
    cr_assert_eq(verify(&rotating, h, KEY, VALUE), COMMAND_MAC_VALID);
    cr_assert_eq(verify(&after, h, KEY, VALUE), COMMAND_MAC_UNKNOWN_KEY);
    char n[COMMAND_MAC_HEADER_MAX];
    cr_assert_eq(command_mac_sign(&rotating, KEY, strlen(KEY), VALUE, strlen(VALUE), n), C_OK);
    cr_assert_eq(strncmp(n, "k1:", 3), 0);
    cr_assert_eq(verify(&old, n, KEY, VALUE), COMMAND_MAC_UNKNOWN_KEY);
}

Test(command_mac, key_settings_are_checked)
{
    struct command_mac_keys k;
    memset(&k, 0x5a, sizeof(k));
    struct command_mac_keys before = k;
    struct error err = ERROR_INIT;
    cr_assert_eq(command_mac_keys_load("k1:too-short", NULL, &k, &err), C_ERR);
    cr_assert(strstr(err.message, "too-short") == NULL, "the secret is never in a message");
    cr_assert_eq(memcmp(&k, &before, sizeof(k)), 0);
    cr_assert_eq(command_mac_keys_load("0123456789abcdef0123456789abcdef-A", NULL, &k, &err),
                 C_ERR);
    cr_assert_eq(command_mac_keys_load(":0123456789abcdef0123456789abcdef-A", NULL, &k, &err),
                 C_ERR);
    cr_assert_eq(command_mac_keys_load("k 1:0123456789abcdef0123456789abcdef-A", NULL, &k, &err),
                 C_ERR);
    cr_assert_eq(command_mac_keys_load(NULL, NULL, &k, &err), C_ERR);
    cr_assert_eq(command_mac_keys_load("", NULL, &k, &err), C_ERR);
    cr_assert_eq(
        command_mac_keys_load(SECRET_A, "k1:ffffffffffffffffffffffffffffffffffff", &k, &err), C_ERR,
        "two keys under one id");
    cr_assert_eq(command_mac_keys_load(SECRET_A, "k0:short", &k, &err), C_ERR);
    cr_assert_eq(memcmp(&k, &before, sizeof(k)), 0);
    cr_assert_eq(command_mac_keys_load(SECRET_A, "", &k, &err), C_OK);
    cr_assert(!k.has_previous);
    command_mac_keys_clear(&k);
}
