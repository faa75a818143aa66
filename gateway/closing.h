/* The two ways a session leaves "open" through the gateway: a merchant expiring
 * it (POST /checkout-sessions/:id/expire, tenant-scoped) and the payment side
 * completing it (POST /internal/checkout-sessions/:id/complete, on the internal
 * listener, service token). Both publish a command and answer once the session
 * worker applied it, through the pipeline. */
#ifndef GATEWAY_CLOSING_H
#define GATEWAY_CLOSING_H

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

/* service_token "" disables completion (every call is 401). */
void closing_init(const char *public_base_url, const char *service_token);
enum MHD_Result closing_expire(struct http_request *req, struct db *db, const char *id);
enum MHD_Result closing_complete(struct http_request *req, struct db *db, const char *id);

#endif
