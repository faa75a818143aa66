#include "command_mac.h"

#include <stdint.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "core/key_setting.h"
#include "core/result.h"

/* What the MAC covers before the key: a version, so a later framing cannot
 * be confused with this one. */
static const char command_mac_domain[] = "caisse-command-mac-v1";

static const char command_mac_b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int command_mac_key_parse(const char *text, const char *variable, struct command_mac_key *out,
                          struct error *err)
{
    char id[KEY_SETTING_ID_MAX + 1];
    const char *secret;
    if (key_setting_split(text, variable, id, &secret, err) != C_OK)
        return C_ERR;
    size_t secret_len = strlen(secret);
    if (secret_len < COMMAND_MAC_SECRET_MIN || secret_len > COMMAND_MAC_SECRET_MAX)
        return error_set(err, variable, "%s: the secret must have %d to %d bytes (it has %zu)",
                         variable, COMMAND_MAC_SECRET_MIN, COMMAND_MAC_SECRET_MAX, secret_len);
    struct command_mac_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.id, id, sizeof(k.id));
    memcpy(k.secret, secret, secret_len);
    k.secret_len = secret_len;
    *out = k;
    OPENSSL_cleanse(&k, sizeof(k));
    return C_OK;
}

int command_mac_keys_load(const char *current, const char *previous, struct command_mac_keys *out,
                          struct error *err)
{
    struct command_mac_keys k;
    memset(&k, 0, sizeof(k));
    if (command_mac_key_parse(current, "CAISSE_COMMAND_MAC_KEY", &k.current, err) != C_OK)
        return C_ERR;
    if (previous != NULL && previous[0] != '\0') {
        if (command_mac_key_parse(previous, "CAISSE_COMMAND_MAC_KEY_PREVIOUS", &k.previous, err) !=
            C_OK) {
            OPENSSL_cleanse(&k, sizeof(k));
            return C_ERR;
        }
        if (strcmp(k.previous.id, k.current.id) == 0) {
            OPENSSL_cleanse(&k, sizeof(k));
            return error_set(err, "CAISSE_COMMAND_MAC_KEY_PREVIOUS",
                             "CAISSE_COMMAND_MAC_KEY_PREVIOUS has the current key's id: a new key "
                             "needs a new id");
        }
        k.has_previous = true;
    }
    *out = k;
    OPENSSL_cleanse(&k, sizeof(k));
    return C_OK;
}

void command_mac_keys_clear(struct command_mac_keys *keys)
{
    OPENSSL_cleanse(keys, sizeof(*keys));
}

/* HMAC-SHA256 over the n parts, one after the other. */
static int command_mac_hmac_parts(const void *secret, size_t secret_len, const void *const *parts,
                                  const size_t *lens, size_t n,
                                  unsigned char out[COMMAND_MAC_BYTES])
{
    EVP_MAC *impl = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = impl != NULL ? EVP_MAC_CTX_new(impl) : NULL;
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
                           OSSL_PARAM_construct_end()};
    size_t mac_len = 0;
    int ok = ctx != NULL && EVP_MAC_init(ctx, secret, secret_len, params) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = lens[i] == 0 || EVP_MAC_update(ctx, parts[i], lens[i]) == 1;
    ok = ok && EVP_MAC_final(ctx, out, &mac_len, COMMAND_MAC_BYTES) == 1 &&
         mac_len == COMMAND_MAC_BYTES;
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(impl);
    return ok ? C_OK : C_ERR;
}

int command_mac_hmac_sha256(const void *secret, size_t secret_len, const void *data, size_t len,
                            unsigned char out[COMMAND_MAC_BYTES])
{
    return command_mac_hmac_parts(secret, secret_len, &data, &len, 1, out);
}

int command_mac_compute(const struct command_mac_key *key, const void *kafka_key, size_t key_len,
                        const void *value, size_t value_len, unsigned char out[COMMAND_MAC_BYTES])
{
    if (key_len > UINT32_MAX)
        return C_ERR;
    unsigned char len_be[4] = {(unsigned char)(key_len >> 24), (unsigned char)(key_len >> 16),
                               (unsigned char)(key_len >> 8), (unsigned char)key_len};
    const void *parts[] = {command_mac_domain, len_be, kafka_key, value};
    size_t lens[] = {sizeof(command_mac_domain), sizeof(len_be), key_len, value_len};
    return command_mac_hmac_parts(key->secret, key->secret_len, parts, lens, 4, out);
}

/* base64url without padding of 32 bytes: 43 characters and a NUL. */
static void command_mac_encode(const unsigned char mac[COMMAND_MAC_BYTES], char *out)
{
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < COMMAND_MAC_BYTES; i++) {
        acc = (acc << 8) | mac[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = command_mac_b64url[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0)
        out[o++] = command_mac_b64url[(acc << (6 - bits)) & 0x3f];
    out[o] = '\0';
}

static int command_mac_b64_value(char c)
{
    const char *p = c != '\0' ? strchr(command_mac_b64url, c) : NULL;
    return p != NULL ? (int)(p - command_mac_b64url) : -1;
}

/* The 43 characters back into 32 bytes; C_ERR on any other shape (the last
 * character's unused low bits must be zero: one text per MAC). */
static int command_mac_decode(const char *text, size_t len, unsigned char out[COMMAND_MAC_BYTES])
{
    if (len != 43)
        return C_ERR;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = command_mac_b64_value(text[i]);
        if (v < 0)
            return C_ERR;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    if ((acc & ((1u << bits) - 1)) != 0)
        return C_ERR;
    return o == COMMAND_MAC_BYTES ? C_OK : C_ERR;
}

int command_mac_sign(const struct command_mac_keys *keys, const void *kafka_key, size_t key_len,
                     const void *value, size_t value_len, char out[COMMAND_MAC_HEADER_MAX])
{
    unsigned char mac[COMMAND_MAC_BYTES];
    if (command_mac_compute(&keys->current, kafka_key, key_len, value, value_len, mac) != C_OK)
        return C_ERR;
    size_t id_len = strlen(keys->current.id);
    memcpy(out, keys->current.id, id_len);
    out[id_len] = ':';
    command_mac_encode(mac, out + id_len + 1);
    OPENSSL_cleanse(mac, sizeof(mac));
    return C_OK;
}

enum command_mac_verdict command_mac_verify(const struct command_mac_keys *keys, const void *header,
                                            size_t header_len, const void *kafka_key,
                                            size_t key_len, const void *value, size_t value_len)
{
    if (header == NULL)
        return COMMAND_MAC_MISSING;
    const char *h = header;
    const char *colon = memchr(h, ':', header_len);
    if (colon == NULL)
        return COMMAND_MAC_MALFORMED;
    size_t id_len = (size_t)(colon - h);
    unsigned char claimed[COMMAND_MAC_BYTES];
    if (id_len == 0 || id_len > COMMAND_MAC_KEY_ID_MAX ||
        command_mac_decode(colon + 1, header_len - id_len - 1, claimed) != C_OK)
        return COMMAND_MAC_MALFORMED;
    const struct command_mac_key *key = NULL;
    if (strlen(keys->current.id) == id_len && memcmp(keys->current.id, h, id_len) == 0)
        key = &keys->current;
    else if (keys->has_previous && strlen(keys->previous.id) == id_len &&
             memcmp(keys->previous.id, h, id_len) == 0)
        key = &keys->previous;
    if (key == NULL)
        return COMMAND_MAC_UNKNOWN_KEY;
    unsigned char mac[COMMAND_MAC_BYTES];
    if (command_mac_compute(key, kafka_key, key_len, value, value_len, mac) != C_OK)
        return COMMAND_MAC_MISMATCH;
    bool same = CRYPTO_memcmp(mac, claimed, COMMAND_MAC_BYTES) == 0;
    OPENSSL_cleanse(mac, sizeof(mac));
    return same ? COMMAND_MAC_VALID : COMMAND_MAC_MISMATCH;
}

const char *command_mac_verdict_name(enum command_mac_verdict v)
{
    switch (v) {
    case COMMAND_MAC_VALID:
        return "valid";
    case COMMAND_MAC_MISSING:
        return "missing";
    case COMMAND_MAC_MALFORMED:
        return "malformed";
    case COMMAND_MAC_UNKNOWN_KEY:
        return "unknown_key";
    case COMMAND_MAC_MISMATCH:
        return "mismatch";
    }
    return "mismatch";
}
