/* The session id of a keyed create, derived from what names the request:
 * organization, environment and Idempotency-Key, under a server secret
 * (CAISSE_IDEMPOTENCY_SECRET). Every retry of a key computes the same id on
 * every gateway replica, whatever the session worker's lag: its answers (201
 * or 202) all carry that id, and its commands, keyed by it, meet on one Kafka
 * partition, where the first applied makes the session and the others find it.
 *
 * The id is a UUIDv8 (RFC 9562: custom; version and variant bits set, the rest
 * from HMAC-SHA256), not a v7: it carries no time, so keyed sessions created in
 * the same second list in id order, not creation order. Without the secret,
 * anyone who knows an organization id and a merchant's keys (order numbers,
 * say) could compute its session ids. */
#ifndef GATEWAY_IDEMPOTENCY_H
#define GATEWAY_IDEMPOTENCY_H

#include "core/uuid.h"

/* Shortest secret accepted: 32 bytes, as many as the HMAC's output. */
#define IDEMPOTENCY_SECRET_MIN 32
#define IDEMPOTENCY_FINGERPRINT_LEN 13 /* 12 hexadecimal digits */

/* Keeps secret (a copy). "" is accepted for local stacks (a fixed key, ids
 * predictable; a warning is logged); C_ERR for a shorter non-empty one. */
int idempotency_init(const char *secret);
/* Writes the canonical text of the session id for (organization, environment,
 * key) into out. key is a validated Idempotency-Key (no NUL). */
void idempotency_session_id(const char *organization_id, const char *environment, const char *key,
                            char out[UUID_STR_LEN]);
/* The same for a catalog object of kind (its table: "products"), so that a
 * key used for a session and for a product names two different ids. */
void idempotency_object_id(const char *kind, const char *organization_id, const char *environment,
                           const char *key, char out[UUID_STR_LEN]);
/* The id of a hosted page's payment attempt: the same session and attempt key
 * (the form's, at most 255 characters) give the same attempt. */
void idempotency_payment_attempt_id(const char *session_id, const char *attempt_key,
                                    char out[UUID_STR_LEN]);
/* A short digest of the secret, the same on every replica that has the same
 * secret and nothing an attacker can use: logged at start, so operators can
 * check that replicas agree. */
void idempotency_fingerprint(char out[IDEMPOTENCY_FINGERPRINT_LEN]);

#endif
