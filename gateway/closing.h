/* The two ways a session leaves "open" through the gateway: a merchant expiring
 * it (POST /checkout-sessions/{id}/expire, API key) and the payment side
 * completing it (POST /internal/checkout-sessions/{id}/complete, on the internal
 * listener, service token). Both publish a command and answer once the session
 * worker applied it, through the pipeline. Route handlers (routes.c): the
 * router has authenticated the caller; {id} is req->route.params[0]. */
#ifndef GATEWAY_CLOSING_H
#define GATEWAY_CLOSING_H

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

void closing_init(const char *public_base_url);
enum MHD_Result closing_expire(struct http_request *req, struct db *db);
enum MHD_Result closing_complete(struct http_request *req, struct db *db);

#endif
