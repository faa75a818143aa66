/* The gateway's two credentials. Merchant API keys, with a cache in each
 * server thread (auth_cache.c) so the hot path neither touches Postgres nor
 * takes a lock for every request (revocation takes effect within the TTL);
 * and the internal listener's service token. The router (routes.c) applies
 * them from each route's authentication kind. */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>

#include "infra/db.h"
#include "model/tenant.h"

enum auth_result {
    AUTH_OK,
    AUTH_MISSING,
    AUTH_INVALID,
    AUTH_UNAVAILABLE,
    AUTH_NOT_CACHED, /* auth_authenticate_cached only: PostgreSQL must be asked */
};

/* service_token: CAISSE_INTERNAL_TOKEN, kept (not copied); "" refuses every
 * internal call. C_ERR: out of memory. */
int auth_init(long ttl_seconds, const char *service_token);
/* Frees the calling thread's cache; the server threads' go with their threads. */
void auth_shutdown(void);
/* key may be NULL (missing). db is the calling thread's connection. */
enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out);
/* The same from what is known without PostgreSQL: AUTH_OK, AUTH_MISSING,
 * AUTH_INVALID (malformed, or known invalid), or AUTH_NOT_CACHED. Lets the
 * router refuse a client that keeps failing before its next guess costs a
 * query. */
enum auth_result auth_authenticate_cached(const char *key, struct tenant_identity *out);
/* Whether an Authorization header value is "Bearer <the service token>". */
bool auth_service_token_valid(const char *authorization);

#endif
