/* The merchant API of webhooks: endpoints (create, list, get, update, delete,
 * rotate the secret), the events API (GET /events, /events/:id) and the
 * deliveries of an endpoint with their attempts (and retry). Straight from
 * Postgres on the calling server thread's connection, tenant-scoped by the
 * API key like every merchant route. */
#ifndef GATEWAY_WEBHOOKS_H
#define GATEWAY_WEBHOOKS_H

#include <stdbool.h>

#include <microhttpd.h>

#include "infra/db.h"
#include "http.h"

struct webhooks_config {
    const char *allowlist;     /* CIDRs an endpoint URL may reach although private */
    long event_retention_days; /* events older than this are not shown */
};

/* C_ERR: the allowlist does not parse (logged). */
int webhooks_init(const struct webhooks_config *cfg);

enum webhooks_kind {
    WEBHOOKS_ENDPOINTS,           /* /webhook-endpoints */
    WEBHOOKS_ENDPOINT,            /* /webhook-endpoints/:id */
    WEBHOOKS_ENDPOINT_ROTATE,     /* /webhook-endpoints/:id/rotate-secret */
    WEBHOOKS_ENDPOINT_DELIVERIES, /* /webhook-endpoints/:id/deliveries */
    WEBHOOKS_EVENTS,              /* /events */
    WEBHOOKS_EVENT,               /* /events/:id */
    WEBHOOKS_DELIVERY,            /* /webhook-deliveries/:id */
    WEBHOOKS_DELIVERY_RETRY,      /* /webhook-deliveries/:id/retry */
};

struct webhooks_route {
    enum webhooks_kind kind;
    char id[64];       /* as given (validated by the handler) */
    const char *allow; /* methods the route serves, as for an Allow header */
    const char *route; /* its template, e.g. "/v1/events/{id}" (the HTTP metrics' label) */
};

/* Whether path (without /v1) is one of these routes; fills r. */
bool webhooks_match(const char *path, struct webhooks_route *r);
bool webhooks_method_allowed(const struct webhooks_route *r, const char *method);
/* The request has been authenticated (req->identity is the tenant). */
enum MHD_Result webhooks_handle(struct http_request *req, struct db *db,
                                const struct webhooks_route *r);

#endif
