#include "idempotency.h"

#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "core/log.h"
#include "core/result.h"
#include "core/hex.h"

#define IDEMPOTENCY_SECRET_MAX 1024
#define IDEMPOTENCY_KEY_MAX 255

static unsigned char idempotency_secret[IDEMPOTENCY_SECRET_MAX];
static size_t idempotency_secret_len;

int idempotency_init(const char *secret)
{
    size_t len = strlen(secret);
    if (len > 0 && len < IDEMPOTENCY_SECRET_MIN) {
        log_error("CAISSE_IDEMPOTENCY_SECRET must be at least %d bytes (it has %zu)",
                  IDEMPOTENCY_SECRET_MIN, len);
        return C_ERR;
    }
    if (len > IDEMPOTENCY_SECRET_MAX) {
        log_error("CAISSE_IDEMPOTENCY_SECRET must be at most %d bytes", IDEMPOTENCY_SECRET_MAX);
        return C_ERR;
    }
    OPENSSL_cleanse(idempotency_secret, sizeof(idempotency_secret));
    memcpy(idempotency_secret, secret, len);
    idempotency_secret_len = len;
    if (len == 0)
        log_warn("CAISSE_IDEMPOTENCY_SECRET is not set: the session ids of keyed creates can be"
                 " computed by anyone who knows the organization id and the key");
    return C_OK;
}

/* HMAC-SHA256 under the secret of the parts, each followed by a NUL (none
 * contains one), so that no two different tuples hash the same text. */
static void idempotency_mac(const char *const *parts, size_t n, unsigned char mac[32])
{
    /* Room for every part whole: a label, a kind, the organization, the
     * environment and a key of 255 characters of up to 4 bytes each. */
    unsigned char text[64 + 32 + UUID_STR_LEN + 16 + 4 * IDEMPOTENCY_KEY_MAX + 8];
    size_t used = 0;
    for (size_t i = 0; i < n; i++) {
        size_t len = strnlen(parts[i], sizeof(text) - used - 1);
        memcpy(text + used, parts[i], len);
        used += len;
        text[used++] = '\0';
    }
    unsigned int maclen = 0;
    /* An empty secret is an empty HMAC key: deterministic, just not secret. */
    static const unsigned char no_key[1];
    HMAC(EVP_sha256(), idempotency_secret_len > 0 ? idempotency_secret : no_key,
         (int)idempotency_secret_len, text, used, mac, &maclen);
}

/* The UUIDv8 of the MAC of parts. */
static void idempotency_id(const char *const *parts, size_t n, char out[UUID_STR_LEN])
{
    unsigned char mac[32];
    idempotency_mac(parts, n, mac);
    struct uuid u;
    memcpy(u.bytes, mac, sizeof(u.bytes));
    u.bytes[6] = (uint8_t)(0x80 | (u.bytes[6] & 0x0f)); /* version 8 */
    u.bytes[8] = (uint8_t)(0x80 | (u.bytes[8] & 0x3f)); /* variant 10 */
    uuid_format(&u, out);
}

void idempotency_session_id(const char *organization_id, const char *environment, const char *key,
                            char out[UUID_STR_LEN])
{
    const char *parts[] = {"caisse/checkout-session-id/v1", organization_id, environment, key};
    idempotency_id(parts, sizeof(parts) / sizeof(parts[0]), out);
}

void idempotency_object_id(const char *kind, const char *organization_id, const char *environment,
                           const char *key, char out[UUID_STR_LEN])
{
    const char *parts[] = {"caisse/catalog-object-id/v1", kind, organization_id, environment, key};
    idempotency_id(parts, sizeof(parts) / sizeof(parts[0]), out);
}

void idempotency_payment_attempt_id(const char *session_id, const char *attempt_key,
                                    char out[UUID_STR_LEN])
{
    const char *parts[] = {"caisse/payment-attempt-id/v1", session_id, attempt_key};
    idempotency_id(parts, sizeof(parts) / sizeof(parts[0]), out);
}

void idempotency_fingerprint(char out[IDEMPOTENCY_FINGERPRINT_LEN])
{
    const char *parts[] = {"caisse/idempotency-secret-fingerprint/v1"};
    unsigned char mac[32];
    idempotency_mac(parts, 1, mac);
    hex_encode(mac, 6, out);
}
