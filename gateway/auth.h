/* The gateway's two credentials. Merchant API keys, with a cache in each
 * server thread (auth_cache.c) so the hot path neither touches Postgres nor
 * takes a lock for every request (revocation takes effect within the TTL);
 * and the internal listener's service token. The router (routes.c) applies
 * them from each route's authentication kind. */
#ifndef GATEWAY_AUTH_H
#define GATEWAY_AUTH_H

#include <stdbool.h>

#include "core/error.h"
#include "infra/db.h"
#include "model/tenant.h"

enum auth_result {
    AUTH_OK,
    AUTH_MISSING,
    AUTH_INVALID,
    AUTH_UNAVAILABLE,
    AUTH_NOT_CACHED, /* auth_authenticate_cached only: PostgreSQL must be asked */
};

/* The service token's shortest length: a token is 32 random bytes' worth
 * (openssl rand -hex 32 gives 64 characters). */
#define AUTH_SERVICE_TOKEN_MIN 32

/* Whether the two tokens may be used (the rules of auth_init), before
 * anything starts: C_ERR with err filled when not. */
int auth_check_tokens(const char *service_token, const char *previous_token, struct error *err);
/* service_token: CAISSE_INTERNAL_TOKEN; previous_token:
 * CAISSE_INTERNAL_TOKEN_PREVIOUS, also accepted while callers move to the new
 * one (rotation); both kept (not copied). "" service token refuses every
 * internal call (a previous token alone is refused). C_ERR with err filled:
 * a token shorter than AUTH_SERVICE_TOKEN_MIN, the two tokens equal, or out
 * of memory. */
int auth_init(long ttl_seconds, const char *service_token, const char *previous_token,
              struct error *err);
/* Frees the calling thread's cache; the server threads' go with their threads. */
void auth_shutdown(void);
/* key may be NULL (missing). db is the calling thread's connection. */
enum auth_result auth_authenticate(struct db *db, const char *key, struct tenant_identity *out);
/* The same from what is known without PostgreSQL: AUTH_OK, AUTH_MISSING,
 * AUTH_INVALID (malformed, or known invalid), or AUTH_NOT_CACHED. Lets the
 * router refuse a client that keeps failing before its next guess costs a
 * query. */
enum auth_result auth_authenticate_cached(const char *key, struct tenant_identity *out);
/* Whether an Authorization header value is "Bearer <the service token>" or
 * "Bearer <the previous token>", each compared in constant time. */
bool auth_service_token_valid(const char *authorization);

#endif
