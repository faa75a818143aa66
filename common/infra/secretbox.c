#include "secretbox.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "core/key_setting.h"
#include "core/result.h"

int secretbox_key_parse(const char *text, const char *variable, struct secretbox_key *out,
                        struct error *err)
{
    char id[KEY_SETTING_ID_MAX + 1];
    const char *b64;
    if (key_setting_split(text, variable, id, &b64, err) != C_OK)
        return C_ERR;
    size_t b64_len = strlen(b64);
    size_t pad = 0;
    while (pad < b64_len && pad < 2 && b64[b64_len - 1 - pad] == '=')
        pad++;
    /* 32 bytes are 43 characters of base64 without padding, 44 with. */
    if (b64_len - pad != 43 || (pad != 0 && pad != 1))
        return error_set(err, variable, "%s: the value must be the base64 of exactly %d bytes",
                         variable, SECRETBOX_KEY_BYTES);
    for (size_t i = 0; i < 43; i++) {
        char c = b64[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return error_set(err, variable, "%s: the value is not base64", variable);
    }
    char padded[45];
    memcpy(padded, b64, 43);
    padded[43] = '=';
    padded[44] = '\0';
    unsigned char decoded[33];
    int n = EVP_DecodeBlock(decoded, (const unsigned char *)padded, 44);
    OPENSSL_cleanse(padded, sizeof(padded));
    if (n != 33) {
        OPENSSL_cleanse(decoded, sizeof(decoded));
        return error_set(err, variable, "%s: the value is not base64", variable);
    }
    struct secretbox_key k;
    memset(&k, 0, sizeof(k));
    memcpy(k.id, id, sizeof(k.id));
    memcpy(k.bytes, decoded, SECRETBOX_KEY_BYTES);
    OPENSSL_cleanse(decoded, sizeof(decoded));
    *out = k;
    OPENSSL_cleanse(&k, sizeof(k));
    return C_OK;
}

int secretbox_keyring_init(struct secretbox_keyring *kr, const char *current, const char *previous,
                           struct error *err)
{
    struct secretbox_keyring r;
    memset(&r, 0, sizeof(r));
    if (secretbox_key_parse(current, "CAISSE_SECRETS_KEY", &r.current, err) != C_OK)
        return C_ERR;
    if (previous != NULL && previous[0] != '\0') {
        if (secretbox_key_parse(previous, "CAISSE_SECRETS_KEY_PREVIOUS", &r.previous, err) !=
            C_OK) {
            secretbox_keyring_clear(&r);
            return C_ERR;
        }
        if (strcmp(r.previous.id, r.current.id) == 0) {
            secretbox_keyring_clear(&r);
            return error_set(err, NULL,
                             "CAISSE_SECRETS_KEY_PREVIOUS has the same key id as "
                             "CAISSE_SECRETS_KEY (\"%s\"): give each key its own id",
                             r.current.id);
        }
        r.has_previous = true;
    }
    *kr = r;
    secretbox_keyring_clear(&r);
    return C_OK;
}

void secretbox_keyring_clear(struct secretbox_keyring *kr)
{
    OPENSSL_cleanse(kr, sizeof(*kr));
}

bool secretbox_keyring_is_current(const struct secretbox_keyring *kr, const char *key_id)
{
    return key_id != NULL && strcmp(key_id, kr->current.id) == 0;
}

int secretbox_seal(const struct secretbox_keyring *kr, const void *aad, size_t aad_len,
                   const void *plain, size_t len, unsigned char *out, struct error *err)
{
    if (len > (size_t)INT32_MAX - SECRETBOX_OVERHEAD || aad_len > (size_t)INT32_MAX)
        return error_set(err, NULL, "value too large to seal");
    unsigned char *nonce = out;
    unsigned char *ct = out + SECRETBOX_NONCE_BYTES;
    unsigned char *tag = ct + len;
    if (RAND_bytes(nonce, SECRETBOX_NONCE_BYTES) != 1)
        return error_set(err, NULL, "cannot seal: no random nonce");
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL)
        return error_set(err, NULL, "cannot seal: out of memory");
    int ok = 0, n = 0;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRETBOX_NONCE_BYTES, NULL) == 1 &&
        EVP_EncryptInit_ex(ctx, NULL, NULL, kr->current.bytes, nonce) == 1 &&
        (aad_len == 0 || EVP_EncryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
        (len == 0 || EVP_EncryptUpdate(ctx, ct, &n, plain, (int)len) == 1) &&
        EVP_EncryptFinal_ex(ctx, ct + (len == 0 ? 0 : (size_t)n), &n) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SECRETBOX_TAG_BYTES, tag) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    if (!ok) {
        OPENSSL_cleanse(out, len + SECRETBOX_OVERHEAD);
        return error_set(err, NULL, "cannot seal: the cipher failed");
    }
    return C_OK;
}

static const struct secretbox_key *secretbox_find(const struct secretbox_keyring *kr,
                                                  const char *key_id)
{
    if (key_id == NULL)
        return NULL;
    if (strcmp(key_id, kr->current.id) == 0)
        return &kr->current;
    if (kr->has_previous && strcmp(key_id, kr->previous.id) == 0)
        return &kr->previous;
    return NULL;
}

int secretbox_open(const struct secretbox_keyring *kr, const char *key_id, const void *aad,
                   size_t aad_len, const unsigned char *in, size_t in_len, unsigned char *out,
                   size_t *out_len, struct error *err)
{
    const struct secretbox_key *k = secretbox_find(kr, key_id);
    if (k == NULL)
        return error_set(err, NULL,
                         "sealed under key id \"%.32s\", which is neither CAISSE_SECRETS_KEY's nor "
                         "CAISSE_SECRETS_KEY_PREVIOUS's",
                         key_id != NULL ? key_id : "");
    if (in_len < SECRETBOX_OVERHEAD || in_len > (size_t)INT32_MAX || aad_len > (size_t)INT32_MAX)
        return error_set(err, NULL, "sealed value of a wrong length");
    size_t len = in_len - SECRETBOX_OVERHEAD;
    const unsigned char *nonce = in;
    const unsigned char *ct = in + SECRETBOX_NONCE_BYTES;
    unsigned char tag[SECRETBOX_TAG_BYTES];
    memcpy(tag, ct + len, SECRETBOX_TAG_BYTES);
    /* GCM writes the plaintext before the tag is checked: into a buffer of
     * our own, copied out only once it is authentic. */
    unsigned char *tmp = malloc(len + 1);
    EVP_CIPHER_CTX *ctx = tmp != NULL ? EVP_CIPHER_CTX_new() : NULL;
    if (ctx == NULL) {
        free(tmp);
        return error_set(err, NULL, "cannot open: out of memory");
    }
    int ok = 0, n = 0, m = 0;
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) == 1 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, SECRETBOX_NONCE_BYTES, NULL) == 1 &&
        EVP_DecryptInit_ex(ctx, NULL, NULL, k->bytes, nonce) == 1 &&
        (aad_len == 0 || EVP_DecryptUpdate(ctx, NULL, &n, aad, (int)aad_len) == 1) &&
        (len == 0 || EVP_DecryptUpdate(ctx, tmp, &n, ct, (int)len) == 1) &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SECRETBOX_TAG_BYTES, tag) == 1 &&
        EVP_DecryptFinal_ex(ctx, tmp + (len == 0 ? 0 : (size_t)n), &m) == 1)
        ok = 1;
    EVP_CIPHER_CTX_free(ctx);
    if (ok) {
        memcpy(out, tmp, len);
        *out_len = len;
    }
    OPENSSL_cleanse(tmp, len + 1);
    free(tmp);
    if (!ok)
        return error_set(err, NULL,
                         "cannot open a sealed value: altered, or sealed under another key or "
                         "for another row");
    return C_OK;
}
