/* Standard Webhooks (standardwebhooks.com) signatures: secrets are "whsec_" +
 * base64 of random bytes; a signature is "v1," + base64(HMAC-SHA256(key,
 * "<msg id>.<timestamp>.<body>")) where key is the secret's decoded bytes. */
#ifndef CAISSE_WEBHOOK_SIGNATURE_H
#define CAISSE_WEBHOOK_SIGNATURE_H

#include <stddef.h>
#include <stdint.h>

#define WEBHOOK_SECRET_PREFIX "whsec_"
#define WEBHOOK_SECRET_BYTES 32  /* random bytes in a new secret (spec: 24 to 64) */
#define WEBHOOK_SECRET_MAX 128   /* "whsec_" + base64 of up to 64 bytes + terminator */
#define WEBHOOK_SIGNATURE_MAX 64 /* "v1," + base64 of 32 bytes + terminator */

/* New secret: "whsec_" + base64 of WEBHOOK_SECRET_BYTES random bytes. */
int webhook_secret_generate(char out[WEBHOOK_SECRET_MAX]);
/* Whether text is a well-formed secret (prefix, base64 of 24..64 bytes). */
int webhook_secret_is_valid(const char *secret);
/* out gets "v1,<base64 signature>". C_ERR: malformed secret. */
int webhook_sign(const char *secret, const char *msg_id, int64_t timestamp, const char *body,
                 size_t body_len, char out[WEBHOOK_SIGNATURE_MAX]);

#endif
