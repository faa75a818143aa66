/* Webhook secrets and signatures (common/model/webhook_signature.c) on any
 * secret text, message id, timestamp and body, held against a base64 decoder
 * and an HMAC written out here with OpenSSL's one-shot HMAC(): a secret is
 * valid exactly when it is "whsec_" and padded standard base64 of 24 to 64
 * bytes; webhook_sign signs exactly the valid ones, with
 * "v1," base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>")).
 *
 * Input: the secret and the message id (each up to a NUL), 8 bytes of
 * timestamp, then the body. Dictionary: tests/fuzz/dict/webhook_signature.dict. */
#include <inttypes.h>
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "../../fuzz_input.h"
#include "core/result.h"
#include "model/webhook_signature.h"

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Padded standard base64 into key[0..*n); false when malformed or too long. */
static bool reference_decode(const char *s, unsigned char *key, size_t cap, size_t *n)
{
    size_t len = strlen(s);
    if (len == 0 || len % 4 != 0)
        return false;
    size_t pad = s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
    uint32_t acc = 0;
    size_t out = 0;
    for (size_t i = 0; i < len; i++) {
        int v = i >= len - pad ? 0 : b64_value(s[i]);
        if (v < 0)
            return false;
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            unsigned char three[3] = {(unsigned char)(acc >> 16), (unsigned char)(acc >> 8),
                                      (unsigned char)acc};
            size_t take = i == len - 1 ? 3 - pad : 3;
            if (out + take > cap)
                return false;
            memcpy(key + out, three, take);
            out += take;
            acc = 0;
        }
    }
    *n = out;
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    char *secret = fuzz_input_field(&in);
    char *msg_id = fuzz_input_field(&in);
    uint64_t raw = 0;
    for (int i = 0; i < 8; i++)
        raw = raw << 8 | fuzz_input_byte(&in);
    int64_t timestamp;
    memcpy(&timestamp, &raw, sizeof(timestamp));
    size_t body_len;
    const uint8_t *body = fuzz_input_rest(&in, &body_len);
    if (secret == NULL)
        secret = fuzz_input_strndup((const uint8_t *)"", 0);
    if (msg_id == NULL)
        msg_id = fuzz_input_strndup((const uint8_t *)"", 0);

    unsigned char key[128];
    size_t keylen = 0;
    bool valid = strncmp(secret, "whsec_", 6) == 0 &&
                 reference_decode(secret + 6, key, sizeof(key), &keylen) && keylen >= 24 &&
                 keylen <= 64;
    FUZZ_CHECK(webhook_secret_is_valid(secret) == valid, "\"%s\": valid %d, reference %d", secret,
               webhook_secret_is_valid(secret), valid);

    char sig[WEBHOOK_SIGNATURE_MAX];
    memset(sig, 'x', sizeof(sig));
    int rc = webhook_sign(secret, msg_id, timestamp, (const char *)body, body_len, sig);
    FUZZ_CHECK((rc == C_OK) == valid, "\"%s\": signed %d, valid %d", secret, rc, valid);
    if (valid) {
        char ts[32];
        int tl = snprintf(ts, sizeof(ts), ".%" PRId64 ".", timestamp);
        size_t idl = strlen(msg_id);
        unsigned char *msg = malloc(idl + (size_t)tl + body_len + 1);
        FUZZ_CHECK(msg != NULL, "out of memory");
        memcpy(msg, msg_id, idl);
        memcpy(msg + idl, ts, (size_t)tl);
        if (body_len > 0)
            memcpy(msg + idl + (size_t)tl, body, body_len);
        unsigned char mac[32];
        unsigned int maclen = 0;
        FUZZ_CHECK(HMAC(EVP_sha256(), key, (int)keylen, msg, idl + (size_t)tl + body_len, mac,
                        &maclen) != NULL &&
                       maclen == 32,
                   "HMAC");
        free(msg);
        char want[WEBHOOK_SIGNATURE_MAX] = "v1,";
        EVP_EncodeBlock((unsigned char *)want + 3, mac, 32);
        FUZZ_CHECK(strcmp(sig, want) == 0, "signature %s, reference %s", sig, want);
    }
    free(secret);
    free(msg_id);
    return 0;
}
