/* Secrets at rest: values sealed with AES-256-GCM (OpenSSL EVP) under a key
 * the operator gives in the environment, never in the database.
 *
 * A key is written "<key id>:<base64 of 32 bytes>" (CAISSE_SECRETS_KEY); the
 * keyring holds the current key, which seals and opens, and optionally the
 * previous one (CAISSE_SECRETS_KEY_PREVIOUS), which only opens: during a
 * rotation rows sealed under either key stay readable until
 * `caisse-admin secrets reencrypt` has moved them all to the current one.
 *
 * A sealed value is nonce (12 random bytes, new for every value) || the
 * ciphertext || the tag (16 bytes). The key id is stored beside it by the
 * caller, and the additional authenticated data binds it to its place (the
 * model passes e.g. its table, column and row id), so a ciphertext copied to
 * another row or column does not open. Key bytes are never logged. */
#ifndef CAISSE_SECRETBOX_H
#define CAISSE_SECRETBOX_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/key_setting.h"

#define SECRETBOX_KEY_ID_MAX KEY_SETTING_ID_MAX
#define SECRETBOX_KEY_BYTES 32
#define SECRETBOX_NONCE_BYTES 12
#define SECRETBOX_TAG_BYTES 16
/* A sealed value is this many bytes longer than the plaintext. */
#define SECRETBOX_OVERHEAD (SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES)

struct secretbox_key {
    char id[SECRETBOX_KEY_ID_MAX + 1];
    unsigned char bytes[SECRETBOX_KEY_BYTES];
};

struct secretbox_keyring {
    struct secretbox_key current;
    bool has_previous;
    struct secretbox_key previous;
};

/* Parses "<key id>:<base64 of 32 bytes>" (standard base64, padding
 * optional), the value of setting variable. The message names variable,
 * never the key's bytes. */
int secretbox_key_parse(const char *text, const char *variable, struct secretbox_key *out,
                        struct error *err);
/* The keyring from the two settings; previous NULL or "" for none. A previous
 * key with the current key's id is refused (ids must tell keys apart). */
int secretbox_keyring_init(struct secretbox_keyring *kr, const char *current, const char *previous,
                           struct error *err);
/* Overwrites the key bytes. */
void secretbox_keyring_clear(struct secretbox_keyring *kr);
/* Whether a value sealed under key_id is under the current key. */
bool secretbox_keyring_is_current(const struct secretbox_keyring *kr, const char *key_id);

/* Seals len bytes of plain under the current key, binding aad: out (of
 * len + SECRETBOX_OVERHEAD bytes, the caller's) gets nonce || ciphertext ||
 * tag; the key id to store beside it is kr->current.id. */
int secretbox_seal(const struct secretbox_keyring *kr, const void *aad, size_t aad_len,
                   const void *plain, size_t len, unsigned char *out, struct error *err);
/* Opens what secretbox_seal made under the key named key_id (current or
 * previous) with the same aad: out (of in_len - SECRETBOX_OVERHEAD bytes at
 * least, the caller's) gets the plaintext, *out_len its length. C_ERR when
 * the key id is unknown, or the value was altered, truncated, sealed under
 * another key of that id or for another aad (nothing is written to out then). */
int secretbox_open(const struct secretbox_keyring *kr, const char *key_id, const void *aad,
                   size_t aad_len, const unsigned char *in, size_t in_len, unsigned char *out,
                   size_t *out_len, struct error *err);

#endif
