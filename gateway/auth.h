/* API key authentication with a small per-process cache, so the hot path does
 * not touch Postgres for every request; revocation takes effect within the TTL. */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>

#include "infra/db.h"
#include "model/tenant.h"

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_UNAVAILABLE };

int auth_init(long ttl_seconds);
void auth_shutdown(void);
/* key may be NULL (missing). db is the calling thread's connection. */
enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out);

#endif
