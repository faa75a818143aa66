#include "webhook_signature.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/result.h"

/* The spec allows keys of 24 to 64 bytes; a shorter key would weaken the HMAC
 * and a longer one only tells us the text is not one of ours. */
#define WEBHOOK_KEY_MIN 24
#define WEBHOOK_KEY_MAX 64
#define WEBHOOK_HMAC_BYTES 32

static int webhook_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* Decodes standard, padded base64 into out (at most outcap bytes). EVP_DecodeBlock
 * alone is too lenient for us: it skips surrounding whitespace, and it always
 * returns 3 bytes per 4 characters, counting the '=' padding as zero bytes, so
 * the true length has to be worked out from the padding here. */
static int webhook_b64_decode(const char *text, size_t len, unsigned char *out, size_t outcap,
                              size_t *outlen)
{
    if (len == 0 || len % 4 != 0)
        return C_ERR;
    size_t pad = 0;
    if (text[len - 1] == '=')
        pad++;
    if (pad == 1 && text[len - 2] == '=')
        pad++;
    /* A '=' anywhere but the last two places fails here. */
    for (size_t i = 0; i < len - pad; i++)
        if (!webhook_b64_char((unsigned char)text[i]))
            return C_ERR;
    size_t n = len / 4 * 3 - pad;
    if (n > outcap)
        return C_ERR;
    unsigned char buf[WEBHOOK_SECRET_MAX];
    if (len / 4 * 3 > sizeof(buf))
        return C_ERR;
    int got = EVP_DecodeBlock(buf, (const unsigned char *)text, (int)len);
    if (got < 0 || (size_t)got != len / 4 * 3) {
        OPENSSL_cleanse(buf, sizeof(buf));
        return C_ERR;
    }
    memcpy(out, buf, n);
    OPENSSL_cleanse(buf, sizeof(buf));
    *outlen = n;
    return C_OK;
}

/* The secret's key bytes; C_ERR when the text is not a well-formed secret. */
static int webhook_secret_key(const char *secret, unsigned char key[WEBHOOK_KEY_MAX],
                              size_t *keylen)
{
    const size_t plen = sizeof(WEBHOOK_SECRET_PREFIX) - 1;
    if (secret == NULL || strncmp(secret, WEBHOOK_SECRET_PREFIX, plen) != 0)
        return C_ERR;
    const char *b64 = secret + plen;
    size_t len = strnlen(b64, WEBHOOK_SECRET_MAX);
    if (len >= WEBHOOK_SECRET_MAX)
        return C_ERR;
    if (webhook_b64_decode(b64, len, key, WEBHOOK_KEY_MAX, keylen) != C_OK)
        return C_ERR;
    if (*keylen < WEBHOOK_KEY_MIN) {
        OPENSSL_cleanse(key, WEBHOOK_KEY_MAX);
        return C_ERR;
    }
    return C_OK;
}

int webhook_secret_generate(char out[WEBHOOK_SECRET_MAX])
{
    unsigned char key[WEBHOOK_SECRET_BYTES];
    if (RAND_bytes(key, sizeof(key)) != 1)
        return C_ERR;
    const size_t plen = sizeof(WEBHOOK_SECRET_PREFIX) - 1;
    memcpy(out, WEBHOOK_SECRET_PREFIX, plen);
    /* EVP_EncodeBlock writes 4 characters per 3 bytes and a terminator:
     * 44 + 1 for 32 bytes, well inside WEBHOOK_SECRET_MAX. */
    EVP_EncodeBlock((unsigned char *)out + plen, key, (int)sizeof(key));
    OPENSSL_cleanse(key, sizeof(key));
    return C_OK;
}

int webhook_secret_is_valid(const char *secret)
{
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen;
    int ok = webhook_secret_key(secret, key, &keylen) == C_OK;
    OPENSSL_cleanse(key, sizeof(key));
    return ok;
}

/* HMAC-SHA256 of "<msg_id>.<timestamp>.<body>" fed piecewise, so the body (up
 * to the size of a session object) is never copied. */
static int webhook_hmac(const unsigned char *key, size_t keylen, const char *msg_id,
                        int64_t timestamp, const char *body, size_t body_len,
                        unsigned char mac[WEBHOOK_HMAC_BYTES])
{
    char ts[32];
    int tslen = snprintf(ts, sizeof(ts), ".%" PRId64 ".", timestamp);
    if (tslen < 0 || (size_t)tslen >= sizeof(ts))
        return C_ERR;
    int rc = C_ERR;
    EVP_MAC *impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = impl ? EVP_MAC_CTX_new(impl) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    size_t maclen = 0;
    if (ctx && EVP_MAC_init(ctx, key, keylen, params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)msg_id, strlen(msg_id)) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)ts, (size_t)tslen) == 1 &&
        (body_len == 0 || EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1) &&
        EVP_MAC_final(ctx, mac, &maclen, WEBHOOK_HMAC_BYTES) == 1 && maclen == WEBHOOK_HMAC_BYTES)
        rc = C_OK;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(impl);
    return rc;
}

int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                 size_t body_len, char out[WEBHOOK_SIGNATURE_MAX])
{
    unsigned char key[WEBHOOK_KEY_MAX];
    size_t keylen;
    if (msg_id == NULL || (body == NULL && body_len > 0))
        return C_ERR;
    if (webhook_secret_key(secret, key, &keylen) != C_OK)
        return C_ERR;
    unsigned char mac[WEBHOOK_HMAC_BYTES];
    int rc = webhook_hmac(key, keylen, msg_id, timestamp, body, body_len, mac);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc != C_OK)
        return C_ERR;
    /* "v1," + 44 characters + terminator = 48 <= WEBHOOK_SIGNATURE_MAX. */
    memcpy(out, "v1,", 3);
    EVP_EncodeBlock((unsigned char *)out + 3, mac, (int)sizeof(mac));
    return C_OK;
}
