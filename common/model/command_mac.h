/* Unforgeable commands: every record of checkout.session.commands carries
 * an HMAC-SHA256 under a key the gateway and the session worker share, in
 * the Kafka header
 *
 *     caisse-mac: <key id>:<base64url, no padding, of the 32-byte MAC>
 *
 * computed over "caisse-command-mac-v1", a NUL, the Kafka key's length (4
 * bytes, big endian), the key, then the value. The key is covered because
 * it decides the partition, and so the order in which the worker sees a
 * session's commands: a signed command copied under another key would land
 * in another partition and could overtake (or be overtaken by) the
 * session's other commands. Its length comes first so that no split of the
 * same bytes between key and value gives the same MAC.
 *
 * Keys come from the environment as "<key id>:<secret>" (id: 1 to
 * COMMAND_MAC_KEY_ID_MAX characters of [A-Za-z0-9_.-]; secret: at least
 * COMMAND_MAC_SECRET_MIN bytes): the current key signs and verifies, the
 * previous one (optional, during a rotation) only verifies. A secret is
 * never logged. The worker verifies in constant time before decoding. */
#ifndef CAISSE_COMMAND_MAC_H
#define CAISSE_COMMAND_MAC_H

#include <stdbool.h>
#include <stddef.h>

#include "core/error.h"
#include "core/key_setting.h"

#define COMMAND_MAC_HEADER "caisse-mac"
#define COMMAND_MAC_BYTES 32
#define COMMAND_MAC_KEY_ID_MAX KEY_SETTING_ID_MAX
#define COMMAND_MAC_SECRET_MIN 32
#define COMMAND_MAC_SECRET_MAX 256
/* "<key id>:" + 43 base64url characters + NUL */
#define COMMAND_MAC_HEADER_MAX (COMMAND_MAC_KEY_ID_MAX + 1 + 43 + 1)

struct command_mac_key {
    char id[COMMAND_MAC_KEY_ID_MAX + 1];
    unsigned char secret[COMMAND_MAC_SECRET_MAX];
    size_t secret_len;
};

struct command_mac_keys {
    struct command_mac_key current;
    struct command_mac_key previous;
    bool has_previous;
};

/* What verifying a record's header found. */
enum command_mac_verdict {
    COMMAND_MAC_VALID,
    COMMAND_MAC_MISSING,     /* no caisse-mac header */
    COMMAND_MAC_MALFORMED,   /* not "<id>:<43 base64url characters>" */
    COMMAND_MAC_UNKNOWN_KEY, /* a key id neither current nor previous */
    COMMAND_MAC_MISMATCH,    /* the MAC is not the one of these bytes */
};

/* Parses "<key id>:<secret>" (the variable's name for the error). C_ERR
 * (err says why, never the secret): malformed, id too long or of other
 * characters, secret shorter than COMMAND_MAC_SECRET_MIN or longer than
 * COMMAND_MAC_SECRET_MAX; *out unchanged. */
int command_mac_key_parse(const char *text, const char *variable, struct command_mac_key *out,
                          struct error *err);

/* Both keys: current required, previous may be NULL or "" (no rotation).
 * C_ERR as command_mac_key_parse, or when both have the same id. */
int command_mac_keys_load(const char *current, const char *previous, struct command_mac_keys *out,
                          struct error *err);

/* Wipes the secrets. */
void command_mac_keys_clear(struct command_mac_keys *keys);

/* Plain HMAC-SHA256 of data (RFC 2104; the tests check RFC 4231's vectors). */
int command_mac_hmac_sha256(const void *secret, size_t secret_len, const void *data, size_t len,
                            unsigned char out[COMMAND_MAC_BYTES]);

/* HMAC-SHA256(secret, the framing above). C_ERR only if OpenSSL fails. */
int command_mac_compute(const struct command_mac_key *key, const void *kafka_key, size_t key_len,
                        const void *value, size_t value_len, unsigned char out[COMMAND_MAC_BYTES]);

/* The header's value for a record, under the current key. */
int command_mac_sign(const struct command_mac_keys *keys, const void *kafka_key, size_t key_len,
                     const void *value, size_t value_len, char out[COMMAND_MAC_HEADER_MAX]);

/* Checks header (header_len bytes, NULL when the record has none) against
 * the record's key and value, in constant time once the key is found. */
enum command_mac_verdict command_mac_verify(const struct command_mac_keys *keys, const void *header,
                                            size_t header_len, const void *kafka_key,
                                            size_t key_len, const void *value, size_t value_len);

/* "valid", "missing", "malformed", "unknown_key", "mismatch". */
const char *command_mac_verdict_name(enum command_mac_verdict v);

#endif
