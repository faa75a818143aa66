/* POST /checkout-sessions: validate completely, answer idempotent replays at
 * once, otherwise publish the create command through the pipeline and answer
 * 201 once the session is readable, or 202 if that takes longer than the wait.
 * A keyed create's session id is derived from its key (idempotency.h), so its
 * retries all name the same session, answered 201 or 202. */
#ifndef GATEWAY_CREATE_H
#define GATEWAY_CREATE_H

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

struct create_config {
    const char *public_base_url;
    long default_ttl_seconds;
    long min_ttl_seconds;
    long max_ttl_seconds;
    const char *idempotency_secret; /* CAISSE_IDEMPOTENCY_SECRET */
};

/* C_ERR: the secret is unusable (logged). */
int create_init(const struct create_config *cfg);
enum MHD_Result create_handle(struct http_request *req, struct db *db);

#endif
