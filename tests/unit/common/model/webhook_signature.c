/* Standard Webhooks signatures: the specification's own test vector, secret
 * validation and generation. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "core/result.h"
#include "model/webhook_signature.h"
#include "../../leak_check.h"

/* From the Standard Webhooks reference library's "sign function works" test
 * (standard-webhooks/standard-webhooks, libraries/javascript/src/webhook.test.ts). */
#define VECTOR_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define VECTOR_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define VECTOR_TS 1614265330
#define VECTOR_BODY "{\"test\": 2432232314}"
#define VECTOR_SIGNATURE "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

TestSuite(webhook_signature, .fini = unit_leak_check);

Test(webhook_signature, official_vector)
{
    char sig[WEBHOOK_SIGNATURE_MAX];
    cr_assert_eq(
        webhook_sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, VECTOR_BODY, strlen(VECTOR_BODY), sig),
        C_OK);
    cr_assert_str_eq(sig, VECTOR_SIGNATURE);
}

Test(webhook_signature, any_change_changes_the_signature)
{
    char sig[WEBHOOK_SIGNATURE_MAX];
    const char *body = VECTOR_BODY;
    size_t n = strlen(body);
    cr_assert_eq(webhook_sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS + 1, body, n, sig), C_OK);
    cr_assert_str_neq(sig, VECTOR_SIGNATURE);
    cr_assert_eq(webhook_sign(VECTOR_SECRET, "msg_other", VECTOR_TS, body, n, sig), C_OK);
    cr_assert_str_neq(sig, VECTOR_SIGNATURE);
    /* The body is signed byte for byte: re-serialized JSON is another body. */
    cr_assert_eq(webhook_sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, "{\"test\":2432232314}",
                              strlen("{\"test\":2432232314}"), sig),
                 C_OK);
    cr_assert_str_neq(sig, VECTOR_SIGNATURE);
    /* body_len is honoured: a longer buffer signs only its first bytes. */
    char longer[64];
    snprintf(longer, sizeof(longer), "%sTRAILING", VECTOR_BODY);
    cr_assert_eq(webhook_sign(VECTOR_SECRET, VECTOR_ID, VECTOR_TS, longer, n, sig), C_OK);
    cr_assert_str_eq(sig, VECTOR_SIGNATURE);
}

Test(webhook_signature, signature_shape)
{
    char secret[WEBHOOK_SECRET_MAX], sig[WEBHOOK_SIGNATURE_MAX];
    cr_assert_eq(webhook_secret_generate(secret), C_OK);
    cr_assert_eq(webhook_sign(secret, "evt_1", 0, "", 0, sig), C_OK);
    cr_assert_eq(strncmp(sig, "v1,", 3), 0);
    cr_assert_eq(strlen(sig), 3 + 44);
    cr_assert_eq(sig[strlen(sig) - 1], '=');
    cr_assert_eq(webhook_sign(secret, "evt_1", -1, NULL, 0, sig), C_OK);
}

Test(webhook_signature, malformed_secret_is_refused)
{
    char sig[WEBHOOK_SIGNATURE_MAX] = "untouched";
    cr_assert_eq(
        webhook_sign("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", VECTOR_ID, VECTOR_TS, "x", 1, sig), C_ERR);
    cr_assert_eq(webhook_sign(NULL, VECTOR_ID, VECTOR_TS, "x", 1, sig), C_ERR);
    cr_assert_str_eq(sig, "untouched");
}

Test(webhook_signature, secret_validity)
{
    cr_assert(webhook_secret_is_valid(VECTOR_SECRET)); /* 24 bytes, the minimum */
    /* 64 bytes (88 characters), the maximum. */
    char max[WEBHOOK_SECRET_MAX] = WEBHOOK_SECRET_PREFIX;
    unsigned char raw[65];
    memset(raw, 0xa5, sizeof(raw));
    EVP_EncodeBlock((unsigned char *)max + 6, raw, 64);
    cr_assert_eq(strlen(max), 6 + 88);
    cr_assert(webhook_secret_is_valid(max));
    /* 65 bytes: too long. */
    char over[WEBHOOK_SECRET_MAX] = WEBHOOK_SECRET_PREFIX;
    EVP_EncodeBlock((unsigned char *)over + 6, raw, 65);
    cr_assert_not(webhook_secret_is_valid(over));
    /* 23 bytes: too short (one padding character). */
    char under[WEBHOOK_SECRET_MAX] = WEBHOOK_SECRET_PREFIX;
    EVP_EncodeBlock((unsigned char *)under + 6, raw, 23);
    cr_assert_not(webhook_secret_is_valid(under));
    /* 25 and 26 bytes: padding of two and one '=' is accounted for. */
    char pad2[WEBHOOK_SECRET_MAX] = WEBHOOK_SECRET_PREFIX;
    EVP_EncodeBlock((unsigned char *)pad2 + 6, raw, 25);
    cr_assert_eq(pad2[strlen(pad2) - 2], '=');
    cr_assert(webhook_secret_is_valid(pad2));
    char pad1[WEBHOOK_SECRET_MAX] = WEBHOOK_SECRET_PREFIX;
    EVP_EncodeBlock((unsigned char *)pad1 + 6, raw, 26);
    cr_assert(webhook_secret_is_valid(pad1));

    static const char *const bad[] = {
        NULL,
        "",
        "whsec_",
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",         /* no prefix */
        "WHSEC_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",   /* prefix is case-sensitive */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS",    /* not a multiple of 4 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa*w",   /* not base64 */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa-_",   /* base64url alphabet */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw ",  /* trailing space */
        " whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  /* leading space */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La=aSw",   /* '=' inside */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLa=w",   /* '=' before data */
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS===", /* three '=' */
        "v1,MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(webhook_secret_is_valid(bad[i]), "accepted %s", bad[i] ? bad[i] : "NULL");
}

Test(webhook_signature, generated_secrets_are_valid_32_bytes_and_unique)
{
    enum { N = 200 };
    static char secrets[N][WEBHOOK_SECRET_MAX];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(webhook_secret_generate(secrets[i]), C_OK);
        cr_assert_eq(strncmp(secrets[i], "whsec_", 6), 0);
        cr_assert_eq(strlen(secrets[i]), 6 + 44);
        cr_assert(webhook_secret_is_valid(secrets[i]));
        unsigned char raw[48];
        int n = EVP_DecodeBlock(raw, (const unsigned char *)secrets[i] + 6, 44);
        /* DecodeBlock counts the one '=' of 32 bytes' base64 as a zero byte. */
        cr_assert_eq(n, 33);
        cr_assert_eq(secrets[i][6 + 43], '=');
        for (int j = 0; j < i; j++)
            cr_assert_str_neq(secrets[i], secrets[j]);
    }
}
