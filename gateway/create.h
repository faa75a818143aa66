/* POST /checkout-sessions: validate completely, answer idempotent replays at
 * once, otherwise publish the create command through the pipeline and answer
 * 201 once the session is readable, or 202 if that takes longer than the wait. */
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
};

void create_init(const struct create_config *cfg);
enum MHD_Result create_handle(struct http_request *req, struct db *db);

#endif
