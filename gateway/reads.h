/* GET /checkout-sessions and GET /checkout-sessions/{id}, straight from
 * Postgres on the calling server thread's own connection. Route handlers
 * (routes.c): the caller is authenticated; {id} is req->route.params[0]. */
#ifndef GATEWAY_READS_H
#define GATEWAY_READS_H

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

void reads_init(const char *public_base_url);
enum MHD_Result reads_get(struct http_request *req, struct db *db);
enum MHD_Result reads_list(struct http_request *req, struct db *db);

#endif
