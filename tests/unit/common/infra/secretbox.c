/* Secrets at rest: AES-256-GCM seal and open, the key format, which key
 * opens what, and that any change to the sealed bytes, the additional data
 * or the key makes open fail without writing anything. */
#include <criterion/criterion.h>

#include <string.h>

#include "core/result.h"
#include "infra/secretbox.h"
#include "../../leak_check.h"

TestSuite(secretbox, .fini = unit_leak_check);

/* base64 of 32 bytes 0x00..0x1f and of 32 bytes 0xff. */
#define KEY_A "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
#define KEY_B "b2:" B64_FF
#define B64_FF "//////////////////////////////////////////8="

static const char aad[] = "caisse/webhook_endpoints.secret/0190a0a0-0000-7000-8000-000000000003";
static const char plain[] = "whsec_c2VjcmV0IGJ5dGVzIGZvciB0aGUgdGVzdCBvZiB0aGUgYm94";

static void ring(struct secretbox_keyring *kr, const char *current, const char *previous)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_keyring_init(kr, current, previous, &err), C_OK, "%s", err.message);
}

/* Seals plain under kr: out gets the sealed bytes (returns their length). */
static size_t seal(const struct secretbox_keyring *kr, unsigned char *out)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_seal(kr, aad, strlen(aad), plain, strlen(plain), out, &err), C_OK, "%s",
                 err.message);
    return strlen(plain) + SECRETBOX_OVERHEAD;
}

/* Whether sealed opens under key_id with the test's aad (and yields plain). */
static bool opens(const struct secretbox_keyring *kr, const char *key_id, const char *with_aad,
                  const unsigned char *sealed, size_t len)
{
    unsigned char out[256];
    memset(out, 0x5a, sizeof(out));
    size_t n = 0;
    struct error err = ERROR_INIT;
    if (secretbox_open(kr, key_id, with_aad, strlen(with_aad), sealed, len, out, &n, &err) !=
        C_OK) {
        cr_assert_neq(err.message[0], '\0', "a failure says why");
        for (size_t i = 0; i < sizeof(out); i++)
            cr_assert_eq(out[i], 0x5a, "nothing is written on failure");
        return false;
    }
    cr_assert_eq(n, strlen(plain));
    cr_assert_eq(memcmp(out, plain, n), 0);
    return true;
}

Test(secretbox, what_is_sealed_opens_with_the_same_key_and_additional_data)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    cr_assert(memmem(sealed, len, "whsec_", 6) == NULL, "no plain text in the sealed bytes");
    cr_assert(opens(&kr, "a1", aad, sealed, len));
    secretbox_keyring_clear(&kr);
}

Test(secretbox, every_value_gets_its_own_nonce)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char a[256], b[256];
    size_t len = seal(&kr, a);
    seal(&kr, b);
    cr_assert_neq(memcmp(a, b, SECRETBOX_NONCE_BYTES), 0);
    cr_assert_neq(memcmp(a, b, len), 0, "the same secret sealed twice differs");
}

Test(secretbox, another_key_under_the_same_id_does_not_open_it)
{
    struct secretbox_keyring kr, other;
    ring(&kr, KEY_A, NULL);
    ring(&other, "a1:" B64_FF, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    cr_assert_not(opens(&other, "a1", aad, sealed, len));
}

Test(secretbox, a_key_id_the_keyring_does_not_hold_does_not_open)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    cr_assert_not(opens(&kr, "b2", aad, sealed, len));
    cr_assert_not(opens(&kr, "", aad, sealed, len));
}

Test(secretbox, the_previous_key_opens_what_it_sealed_and_the_current_one_seals)
{
    struct secretbox_keyring old, both;
    ring(&old, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&old, sealed);
    ring(&both, KEY_B, KEY_A);
    cr_assert(opens(&both, "a1", aad, sealed, len), "the previous key still opens");
    cr_assert_not(opens(&both, "b2", aad, sealed, len), "the key id selects the key");
    cr_assert(secretbox_keyring_is_current(&both, "b2"));
    cr_assert_not(secretbox_keyring_is_current(&both, "a1"));
    cr_assert_not(secretbox_keyring_is_current(&both, NULL));
    unsigned char fresh[256];
    size_t flen = seal(&both, fresh);
    cr_assert(opens(&both, "b2", aad, fresh, flen), "new values are sealed under the current key");
    cr_assert_not(opens(&old, "a1", aad, fresh, flen));
}

Test(secretbox, any_altered_byte_of_nonce_ciphertext_or_tag_fails_to_open)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    for (size_t i = 0; i < len; i++) {
        sealed[i] ^= 0x01;
        cr_assert_not(opens(&kr, "a1", aad, sealed, len), "byte %zu altered", i);
        sealed[i] ^= 0x01;
    }
    cr_assert(opens(&kr, "a1", aad, sealed, len));
}

Test(secretbox, a_truncated_or_extended_value_fails_to_open)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    cr_assert_not(opens(&kr, "a1", aad, sealed, len - 1));
    cr_assert_not(opens(&kr, "a1", aad, sealed, SECRETBOX_OVERHEAD - 1));
    cr_assert_not(opens(&kr, "a1", aad, sealed, 0));
    sealed[len] = 0;
    cr_assert_not(opens(&kr, "a1", aad, sealed, len + 1));
}

Test(secretbox, a_value_moved_to_another_row_or_column_fails_to_open)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[256];
    size_t len = seal(&kr, sealed);
    cr_assert_not(opens(&kr, "a1",
                        "caisse/webhook_endpoints.previous_secret/0190a0a0-0000-7000-"
                        "8000-000000000003",
                        sealed, len));
    cr_assert_not(opens(&kr, "a1",
                        "caisse/webhook_endpoints.secret/0190a0a0-0000-7000-8000-000000000004",
                        sealed, len));
    cr_assert_not(opens(&kr, "a1", "", sealed, len));
}

Test(secretbox, an_empty_value_seals_and_opens)
{
    struct secretbox_keyring kr;
    ring(&kr, KEY_A, NULL);
    unsigned char sealed[SECRETBOX_OVERHEAD], out[1];
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_seal(&kr, aad, strlen(aad), "", 0, sealed, &err), C_OK);
    size_t n = 99;
    cr_assert_eq(secretbox_open(&kr, "a1", aad, strlen(aad), sealed, sizeof(sealed), out, &n, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(n, 0);
}

Test(secretbox, a_key_is_an_id_a_colon_and_the_base64_of_32_bytes)
{
    struct secretbox_key k;
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_key_parse(KEY_A, "CAISSE_SECRETS_KEY", &k, &err), C_OK, "%s",
                 err.message);
    cr_assert_str_eq(k.id, "a1");
    for (int i = 0; i < 32; i++)
        cr_assert_eq(k.bytes[i], i);
    cr_assert_eq(secretbox_key_parse("k.2026-12_x:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                                     "CAISSE_SECRETS_KEY", &k, &err),
                 C_OK, "padding is optional: %s", err.message);
    cr_assert_str_eq(k.id, "k.2026-12_x");
}

Test(secretbox, malformed_keys_are_refused_without_showing_the_key)
{
    static const char *const bad[] = {
        "",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", /* no id */
        ":AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "a b:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "abcdefghijklmnopqrstuvwxyz0123456:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",     /* 31 bytes */
        "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", /* 34 bytes */
        "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh*=",     /* not base64 */
        "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",   /* trailing junk */
        "a1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8==",    /* wrong padding */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct secretbox_key k;
        memset(&k, 0x77, sizeof(k));
        struct error err = ERROR_INIT;
        cr_assert_eq(secretbox_key_parse(bad[i], "CAISSE_SECRETS_KEY", &k, &err), C_ERR,
                     "accepted \"%s\"", bad[i]);
        cr_assert_neq(err.message[0], '\0');
        cr_assert_null(strstr(err.message, "AAEC"), "the message shows no key: %s", err.message);
        cr_assert_eq(k.id[0], 0x77, "the caller's key is unchanged");
    }
    struct secretbox_key k;
    cr_assert_eq(secretbox_key_parse(NULL, "CAISSE_SECRETS_KEY", &k, NULL), C_ERR);
}

Test(secretbox, a_keyring_needs_a_current_key_and_distinct_ids)
{
    struct secretbox_keyring kr;
    struct error err = ERROR_INIT;
    cr_assert_eq(secretbox_keyring_init(&kr, "", NULL, &err), C_ERR);
    cr_assert_not_null(strstr(err.message, "CAISSE_SECRETS_KEY"), "%s", err.message);
    cr_assert_eq(secretbox_keyring_init(&kr, KEY_A, "a1:" B64_FF, &err), C_ERR,
                 "two keys under one id");
    cr_assert_eq(secretbox_keyring_init(&kr, KEY_A, "junk", &err), C_ERR);
    cr_assert_not_null(strstr(err.message, "CAISSE_SECRETS_KEY_PREVIOUS"), "%s", err.message);
    cr_assert_eq(secretbox_keyring_init(&kr, KEY_A, "", &err), C_OK, "%s", err.message);
    cr_assert_not(kr.has_previous);
    cr_assert_eq(secretbox_keyring_init(&kr, KEY_A, KEY_B, &err), C_OK, "%s", err.message);
    cr_assert(kr.has_previous);
    cr_assert_str_eq(kr.previous.id, "b2");
    secretbox_keyring_clear(&kr);
    cr_assert_eq(kr.current.bytes[5], 0);
}
