/* The merchant API of webhooks: endpoints (create, list, get, update, delete,
 * rotate the secret), the events API (GET /events, /events/{id}) and the
 * deliveries of an endpoint with their attempts (and retry). Straight from
 * Postgres on the calling server thread's connection, tenant-scoped by the
 * API key like every merchant route. */
#ifndef GATEWAY_WEBHOOKS_H
#define GATEWAY_WEBHOOKS_H

#include <microhttpd.h>

#include "infra/db.h"
#include "infra/secretbox.h"
#include "http.h"

struct webhooks_config {
    const char *allowlist;     /* CIDRs an endpoint URL may reach although private */
    long event_retention_days; /* events older than this are not shown */
    /* An endpoint URL's host name is looked up off the server threads
     * (resolver.h) within this, else the create or update is a 400. */
    long resolve_timeout_ms;
    /* Most endpoints (not deleted) per organization and environment: a
     * create past it is 409 limit_exceeded. */
    long max_endpoints;
    /* Seals the endpoints' signing secrets (borrowed, for the server's life). */
    const struct secretbox_keyring *secrets;
};

/* C_ERR: the allowlist does not parse, or the resolver cannot start (logged). */
int webhooks_init(const struct webhooks_config *cfg);
/* Waits for the URL lookups in flight, whose requests are suspended (each
 * ends by CAISSE_WEBHOOK_RESOLVE_TIMEOUT_MS at most); no more are started.
 * Before the server stops. */
void webhooks_shutdown(void);

/* Route handlers (routes.c), one per route: the caller is authenticated
 * (req->identity is the tenant); {id} is req->route.params[0], checked to be a
 * UUID here (400 otherwise). */
enum MHD_Result webhooks_endpoint_create(struct http_request *req, struct db *db);
enum MHD_Result webhooks_endpoint_list(struct http_request *req, struct db *db);
enum MHD_Result webhooks_endpoint_get(struct http_request *req, struct db *db);
enum MHD_Result webhooks_endpoint_update(struct http_request *req, struct db *db);
enum MHD_Result webhooks_endpoint_delete(struct http_request *req, struct db *db);
enum MHD_Result webhooks_endpoint_rotate_secret(struct http_request *req, struct db *db);
/* GET /webhook-endpoints/{id}/deliveries */
enum MHD_Result webhooks_endpoint_deliveries(struct http_request *req, struct db *db);
enum MHD_Result webhooks_delivery_get(struct http_request *req, struct db *db);
enum MHD_Result webhooks_delivery_retry(struct http_request *req, struct db *db);
enum MHD_Result webhooks_event_list(struct http_request *req, struct db *db);
enum MHD_Result webhooks_event_get(struct http_request *req, struct db *db);

#endif
