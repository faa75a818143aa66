#include "routes.h"

#include <assert.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "auth.h"
#include "catalog.h"
#include "checkout_pay.h"
#include "core/utf8.h"
#include "coupons.h"
#include "closing.h"
#include "create.h"
#include "customers.h"
#include "http.h"
#include "openapi.h"
#include "page.h"
#include "prices.h"
#include "products.h"
#include "reads.h"
#include "server.h"
#include "subscriptions.h"
#include "throttle.h"
#include "webhooks.h"

/* Table order is the order of a 405's Allow, and the order of the search: the
 * busiest routes come first. Merchant API labels carry /v1, as they always did. */
const struct route routes_table[] = {
    /* Checkout sessions */
    {"GET", "/checkout-sessions", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     reads_list, "/v1/checkout-sessions", NULL},
    {"POST", "/checkout-sessions", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     create_handle, "/v1/checkout-sessions", NULL},
    {"GET", "/checkout-sessions/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     reads_get, "/v1/checkout-sessions/{id}", NULL},
    {"POST", "/checkout-sessions/{id}/expire", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, closing_expire, "/v1/checkout-sessions/{id}/expire", NULL},
    {"POST", "/internal/checkout-sessions/{id}/complete", ROUTES_INTERNAL,
     ROUTES_AUTH_INTERNAL_TOKEN, ROUTES_LIMIT_NONE, closing_complete,
     "/internal/checkout-sessions/{id}/complete", NULL},
    {"POST", "/internal/checkout-sessions/{id}/payments", ROUTES_INTERNAL,
     ROUTES_AUTH_INTERNAL_TOKEN, ROUTES_LIMIT_NONE, checkout_pay_internal,
     "/internal/checkout-sessions/{id}/payments", NULL},
    /* The hosted checkout page: the assets' literal paths before {id}/{secret}. */
    {"GET", "/checkout/assets/checkout.css", ROUTES_MERCHANT, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT,
     page_asset_css, "/checkout/assets/checkout.css", NULL},
    {"GET", "/checkout/assets/checkout.js", ROUTES_MERCHANT, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT,
     page_asset_js, "/checkout/assets/checkout.js", NULL},
    {"GET", "/checkout/{id}", ROUTES_MERCHANT, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT, page_id_alone,
     "/checkout/{id}", NULL},
    {"GET", "/checkout/{id}/{secret}", ROUTES_MERCHANT, ROUTES_AUTH_PAGE_SECRET,
     ROUTES_LIMIT_CLIENT, page_get, "/checkout/{id}/{secret}", NULL},
    {"POST", "/checkout/{id}/{secret}", ROUTES_MERCHANT, ROUTES_AUTH_PAGE_SECRET,
     ROUTES_LIMIT_CLIENT, page_post, "/checkout/{id}/{secret}", NULL},
    {"GET", "/checkout/{id}/{secret}/status", ROUTES_MERCHANT, ROUTES_AUTH_PAGE_SECRET,
     ROUTES_LIMIT_CLIENT, page_status, "/checkout/{id}/{secret}/status", NULL},
    /* Webhook endpoints and their deliveries */
    {"GET", "/webhook-endpoints", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_endpoint_list, "/v1/webhook-endpoints", NULL},
    {"POST", "/webhook-endpoints", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_endpoint_create, "/v1/webhook-endpoints", NULL},
    {"GET", "/webhook-endpoints/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_endpoint_get, "/v1/webhook-endpoints/{id}", NULL},
    {"PATCH", "/webhook-endpoints/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_endpoint_update, "/v1/webhook-endpoints/{id}", NULL},
    {"DELETE", "/webhook-endpoints/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, webhooks_endpoint_delete, "/v1/webhook-endpoints/{id}", NULL},
    {"POST", "/webhook-endpoints/{id}/rotate-secret", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, webhooks_endpoint_rotate_secret,
     "/v1/webhook-endpoints/{id}/rotate-secret", NULL},
    {"GET", "/webhook-endpoints/{id}/deliveries", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, webhooks_endpoint_deliveries, "/v1/webhook-endpoints/{id}/deliveries",
     NULL},
    {"GET", "/webhook-deliveries/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_delivery_get, "/v1/webhook-deliveries/{id}", NULL},
    {"POST", "/webhook-deliveries/{id}/retry", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, webhooks_delivery_retry, "/v1/webhook-deliveries/{id}/retry", NULL},
    /* Events */
    {"GET", "/events", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_event_list, "/v1/events", NULL},
    {"GET", "/events/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     webhooks_event_get, "/v1/events/{id}", NULL},
    /* The catalog: the generic handlers with each resource's descriptor */
    {"GET", "/products", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_list,
     "/v1/products", &products_catalog},
    {"POST", "/products", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_create, "/v1/products", &products_catalog},
    {"GET", "/products/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_get, "/v1/products/{id}", &products_catalog},
    {"PATCH", "/products/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_update, "/v1/products/{id}", &products_catalog},
    {"GET", "/prices", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_list,
     "/v1/prices", &prices_catalog},
    {"POST", "/prices", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_create,
     "/v1/prices", &prices_catalog},
    {"GET", "/prices/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_get,
     "/v1/prices/{id}", &prices_catalog},
    {"PATCH", "/prices/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_update, "/v1/prices/{id}", &prices_catalog},
    {"GET", "/coupons", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_list,
     "/v1/coupons", &coupons_catalog},
    {"POST", "/coupons", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_create,
     "/v1/coupons", &coupons_catalog},
    {"GET", "/coupons/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_get, "/v1/coupons/{id}", &coupons_catalog},
    {"PATCH", "/coupons/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_update, "/v1/coupons/{id}", &coupons_catalog},
    {"GET", "/subscriptions", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_list, "/v1/subscriptions", &subscriptions_catalog},
    {"GET", "/subscriptions/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_get, "/v1/subscriptions/{id}", &subscriptions_catalog},
    {"POST", "/subscriptions/{id}/cancel", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY,
     ROUTES_LIMIT_API_KEY, catalog_action, "/v1/subscriptions/{id}/cancel", &subscriptions_catalog},
    {"GET", "/customers", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY, catalog_list,
     "/v1/customers", &customers_catalog},
    {"POST", "/customers", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_create, "/v1/customers", &customers_catalog},
    {"GET", "/customers/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_get, "/v1/customers/{id}", &customers_catalog},
    {"PATCH", "/customers/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_update, "/v1/customers/{id}", &customers_catalog},
    {"DELETE", "/customers/{id}", ROUTES_MERCHANT, ROUTES_AUTH_API_KEY, ROUTES_LIMIT_API_KEY,
     catalog_delete, "/v1/customers/{id}", &customers_catalog},
    /* Operations */
    {"GET", "/healthz", ROUTES_BOTH, ROUTES_AUTH_NONE, ROUTES_LIMIT_NONE, server_healthz,
     "/healthz", NULL},
    {"HEAD", "/healthz", ROUTES_BOTH, ROUTES_AUTH_NONE, ROUTES_LIMIT_NONE, server_healthz,
     "/healthz", NULL},
    /* Readiness asks PostgreSQL: anonymous callers of the merchant listener get
     * a budget (the probes use the internal listener, which has no limits). */
    {"GET", "/readyz", ROUTES_BOTH, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT, server_readyz, "/readyz",
     NULL},
    {"HEAD", "/readyz", ROUTES_BOTH, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT, server_readyz,
     "/readyz", NULL},
    {"GET", "/metrics", ROUTES_INTERNAL, ROUTES_AUTH_NONE, ROUTES_LIMIT_NONE, server_metrics,
     "/metrics", NULL},
    {"HEAD", "/metrics", ROUTES_INTERNAL, ROUTES_AUTH_NONE, ROUTES_LIMIT_NONE, server_metrics,
     "/metrics", NULL},
    {"GET", "/openapi.json", ROUTES_MERCHANT, ROUTES_AUTH_NONE, ROUTES_LIMIT_CLIENT,
     openapi_respond, "/openapi.json", NULL},
};

const size_t routes_table_len = sizeof(routes_table) / sizeof(routes_table[0]);

void routes_path(const char *url, char *path, size_t size)
{
    if (strncmp(url, "/v1/", 4) == 0 || strcmp(url, "/v1") == 0)
        url += 3;
    utf8_truncate(url[0] != '\0' ? url : "/", path, size);
    size_t n = strlen(path);
    if (n > 1 && path[n - 1] == '/')
        path[n - 1] = '\0';
}

/* Whether path matches template; when params is given, copies the values of
 * its {names} there (only called so on a template known to match). */
static bool routes_template_matches(const char *template, const char *path,
                                    char (*params)[ROUTES_PARAM_LEN])
{
    size_t n = 0;
    for (;;) {
        if (*template == '{') {
            size_t len = strcspn(path, "/");
            if (len == 0)
                return false;
            if (params != NULL) {
                assert(n < ROUTES_PARAMS_MAX);
                size_t kept = len;
                if (kept >= ROUTES_PARAM_LEN) {
                    /* Cut before a character, never inside one. */
                    kept = ROUTES_PARAM_LEN - 1;
                    while (kept > 0 && ((unsigned char)path[kept] & 0xC0) == 0x80)
                        kept--;
                }
                memcpy(params[n], path, kept);
                params[n][kept] = '\0';
            }
            n++;
            template = strchr(template, '}');
            assert(template != NULL);
            template ++;
            path += len;
            continue;
        }
        if (*template != *path)
            return false;
        if (*template == '\0')
            return true;
        template ++;
        path++;
    }
}

/* The methods of template on listener, in table order, as an Allow header. */
static void routes_allow(enum routes_listener listener, const char *template,
                         char allow[ROUTES_ALLOW_MAX])
{
    size_t used = 0;
    allow[0] = '\0';
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        if ((r->listeners & listener) == 0 || strcmp(r->template, template) != 0)
            continue;
        int n = snprintf(allow + used, ROUTES_ALLOW_MAX - used, "%s%s", used > 0 ? ", " : "",
                         r->method);
        assert(n > 0 && (size_t)n < ROUTES_ALLOW_MAX - used);
        used += (size_t)n;
    }
}

void routes_match(enum routes_listener listener, const char *method, const char *path,
                  struct routes_match *m)
{
    m->outcome = ROUTES_NOT_FOUND;
    m->listener = listener;
    m->route = NULL;
    m->allow[0] = '\0';
    for (size_t i = 0; i < ROUTES_PARAMS_MAX; i++)
        m->params[i][0] = '\0';
    const struct route *first = NULL; /* the path's template: its first entry */
    for (size_t i = 0; i < routes_table_len; i++) {
        const struct route *r = &routes_table[i];
        if ((r->listeners & listener) == 0)
            continue;
        if (first == NULL) {
            if (!routes_template_matches(r->template, path, NULL))
                continue;
            first = r;
        } else if (strcmp(r->template, first->template) != 0) {
            continue;
        }
        if (strcmp(r->method, method) == 0) {
            m->route = r;
            break;
        }
    }
    if (first == NULL)
        return;
    routes_template_matches(first->template, path, m->params);
    if (m->route != NULL) {
        m->outcome = ROUTES_FOUND;
        return;
    }
    m->outcome = ROUTES_METHOD_NOT_ALLOWED;
    m->route = first;
    routes_allow(listener, first->template, m->allow);
}

void routes_redact_path(char *path, size_t size)
{
    static const char prefix[] = "/checkout/";
    if (strncmp(path, prefix, sizeof(prefix) - 1) != 0 ||
        strncmp(path + sizeof(prefix) - 1, "assets/", 7) == 0)
        return;
    char *secret = strchr(path + sizeof(prefix) - 1, '/');
    if (secret == NULL || secret[1] == '\0')
        return;
    secret++;
    char rest[ROUTES_PARAM_LEN * 2] = "";
    const char *after = strchr(secret, '/');
    if (after != NULL)
        utf8_truncate(after, rest, sizeof(rest));
    snprintf(secret, size - (size_t)(secret - path), "{secret}%s", rest);
}

enum routes_limit routes_limit_of(const struct routes_match *m)
{
    if (m->listener != ROUTES_MERCHANT)
        return ROUTES_LIMIT_NONE;
    return m->outcome == ROUTES_FOUND ? m->route->limit : ROUTES_LIMIT_CLIENT;
}

const char *routes_label(const struct routes_match *m)
{
    return m->route != NULL ? m->route->label : "other";
}

/* true: req->identity is the key's tenant; false: answered (401, 429, 503) in *rc. */
static bool routes_authenticate_key(struct http_request *req, struct db *db, enum MHD_Result *rc)
{
    const char *key = http_header(req, "x-api-key");
    const char *authz = http_header(req, "Authorization");
    if ((key == NULL || key[0] == '\0') && authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0)
        key = authz + 7;
    enum auth_result r = auth_authenticate_cached(key, &req->identity);
    if (r == AUTH_NOT_CACHED) {
        /* A client that keeps failing gets no more lookups until it slows down. */
        if (!throttle_client_has_room(req, THROTTLE_AUTH_FAILURE, rc))
            return false;
        r = auth_authenticate(db, key, &req->identity);
    }
    switch (r) {
    case AUTH_OK:
        return true;
    case AUTH_MISSING:
    case AUTH_INVALID:
        if (!throttle_client(req, THROTTLE_AUTH_FAILURE, rc))
            return false;
        *rc = http_respond_error(req, 401, "authentication_error", NULL,
                                 r == AUTH_MISSING ? "API key is missing" : "Invalid API key");
        return false;
    case AUTH_UNAVAILABLE:
    case AUTH_NOT_CACHED:
        break;
    }
    *rc = http_respond_unavailable(req);
    return false;
}

enum MHD_Result routes_serve(struct http_request *req, struct db *(*thread_db)(void))
{
    const struct routes_match *m = &req->route;
    struct db *db = NULL;
    /* Bytes no route can take (http_request_new): 400 on any path, whatever
     * PostgreSQL's state. */
    if (req->malformed != NULL)
        return http_respond_error(req, 400, "validation_error", NULL, "%s", req->malformed);
    enum MHD_Result rc;
    if (routes_limit_of(m) == ROUTES_LIMIT_CLIENT && !throttle_client(req, THROTTLE_CLIENT, &rc))
        return rc;
    /* An unknown path too: 503 comes before routing's answers when PostgreSQL
     * is away (x-caisse-unrouted in openapi.json). */
    if (m->route == NULL || m->route->auth != ROUTES_AUTH_NONE) {
        db = thread_db();
        if (db == NULL)
            return http_respond_unavailable(req);
    }
    switch (m->outcome) {
    case ROUTES_NOT_FOUND:
        return http_respond_error(req, 404, "not_found", NULL, "Route %s %s not found", req->method,
                                  req->path);
    case ROUTES_METHOD_NOT_ALLOWED:
        req->allow = m->allow;
        return http_respond_error(req, 405, "method_not_allowed", NULL,
                                  "Method %s not allowed on %s", req->method, req->path);
    case ROUTES_FOUND:
        break;
    }
    switch (m->route->auth) {
    case ROUTES_AUTH_NONE:
    case ROUTES_AUTH_PAGE_SECRET:
        break;
    case ROUTES_AUTH_API_KEY:
        if (!routes_authenticate_key(req, db, &rc))
            return rc;
        if (m->route->limit == ROUTES_LIMIT_API_KEY && !throttle_api_key(req, &rc))
            return rc;
        break;
    case ROUTES_AUTH_INTERNAL_TOKEN:
        if (!auth_service_token_valid(http_header(req, "Authorization")))
            return http_respond_error(req, 401, "authentication_error", NULL,
                                      "Invalid service token");
        break;
    }
    return m->route->handler(req, db);
}
