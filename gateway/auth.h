/* The gateway's two credentials. Merchant API keys, with a small per-process
 * cache so the hot path does not touch Postgres for every request (revocation
 * takes effect within the TTL); and the internal listener's service token.
 * The router (routes.c) applies them from each route's authentication kind. */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>

#include "infra/db.h"
#include "model/tenant.h"

enum auth_result { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_UNAVAILABLE };

/* service_token: CAISSE_INTERNAL_TOKEN, kept (not copied); "" refuses every
 * internal call. */
int auth_init(long ttl_seconds, const char *service_token);
void auth_shutdown(void);
/* key may be NULL (missing). db is the calling thread's connection. */
enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out);
/* Whether an Authorization header value is "Bearer <the service token>". */
bool auth_service_token_valid(const char *authorization);

#endif
