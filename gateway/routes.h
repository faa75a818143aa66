/* The gateway's one route table: every route of both listeners, with its
 * method, path template (written as in common/contracts/openapi.json), listener,
 * authentication and handler, and the label of its metrics. Routing, 404, 405
 * with Allow, authentication and the metrics' route label all come from it;
 * tests/unit/gateway/routes.c holds it against the OpenAPI document both ways.
 *
 * Adding a route: its handler (one function in the resource's module, or a
 * generic one with its context, as the catalog's) and one entry in
 * routes_table (routes.c), then the operation in openapi.json. */
#ifndef GATEWAY_ROUTES_H
#define GATEWAY_ROUTES_H

#include <stddef.h>

#include <microhttpd.h>

struct db;
struct http_request;

/* Which listener serves a route: a bit each. */
enum routes_listener {
    ROUTES_MERCHANT = 1, /* CAISSE_GATEWAY_PORT: the merchant API */
    ROUTES_INTERNAL = 2, /* CAISSE_GATEWAY_INTERNAL_PORT: our own services */
    ROUTES_BOTH = ROUTES_MERCHANT | ROUTES_INTERNAL,
};

/* What the router checks before the handler runs. */
enum routes_auth {
    /* Nothing, and no database either: health, metrics, the API's document. */
    ROUTES_AUTH_NONE,
    /* A merchant API key (x-api-key, or Bearer): req->identity is its tenant. */
    ROUTES_AUTH_API_KEY,
    /* The service token, CAISSE_INTERNAL_TOKEN, as a Bearer token. */
    ROUTES_AUTH_INTERNAL_TOKEN,
    /* No credentials, but the database: the hosted checkout page, whose path
     * carries the session's secret, which its handler checks (page.c).
     * Documented like ROUTES_AUTH_NONE (security: []). */
    ROUTES_AUTH_PAGE_SECRET,
};

/* Which rate limit the router applies (throttle.c) on the merchant listener,
 * before the handler; the internal listener's callers are never limited. */
enum routes_limit {
    /* None: liveness, metrics, completion. */
    ROUTES_LIMIT_NONE,
    /* Per client address, for requests without credentials (the API's
     * document, readiness; every unrouted answer too). */
    ROUTES_LIMIT_CLIENT,
    /* Per API key once authenticated; failed authentication per client
     * address. Goes with ROUTES_AUTH_API_KEY. */
    ROUTES_LIMIT_API_KEY,
};

/* A route's handler. The router has authenticated the caller; db is the server
 * thread's connection (NULL for ROUTES_AUTH_NONE); the path's {parameters} are
 * req->route.params[0..], in the template's order. */
typedef enum MHD_Result (*routes_handler)(struct http_request *req, struct db *db);

struct route {
    const char *method;
    /* Segments after "/", each literal or one {name} (a non-empty segment). */
    const char *template;
    unsigned listeners; /* enum routes_listener bits */
    enum routes_auth auth;
    enum routes_limit limit;
    routes_handler handler;
    /* caisse_http_requests_total{route=...}: one per template, never the raw path. */
    const char *label;
    /* What the handler needs to know of its route, NULL when nothing: the
     * catalog's handlers take their resource's struct catalog_resource. */
    const void *ctx;
};

extern const struct route routes_table[];
extern const size_t routes_table_len;

#define ROUTES_PARAMS_MAX 2
/* A longer parameter is cut to at most ROUTES_PARAM_LEN - 1 bytes, before a
 * UTF-8 character; no id is that long, so the handler's validation refuses it. */
#define ROUTES_PARAM_LEN 64
#define ROUTES_ALLOW_MAX 64

enum routes_outcome {
    ROUTES_FOUND,              /* route serves the method */
    ROUTES_NOT_FOUND,          /* no template of the listener matches the path */
    ROUTES_METHOD_NOT_ALLOWED, /* the path's template has other methods: allow */
};

struct routes_match {
    enum routes_outcome outcome;
    enum routes_listener listener; /* the listener it was routed for */
    /* ROUTES_FOUND: the entry to serve; ROUTES_METHOD_NOT_ALLOWED: an entry of
     * the path's template; ROUTES_NOT_FOUND: NULL. Points into routes_table. */
    const struct route *route;
    char params[ROUTES_PARAMS_MAX][ROUTES_PARAM_LEN];
    /* ROUTES_METHOD_NOT_ALLOWED: the template's methods in table order, as an
     * Allow header ("GET, POST"); "" otherwise. */
    char allow[ROUTES_ALLOW_MAX];
};

/* The path routes see for a request URL: without the optional /v1 prefix and
 * one trailing slash, "/" for nothing left, cut to at most size - 1 bytes
 * before a UTF-8 character. */
void routes_path(const char *url, char *path, size_t size);

/* Routes method on path (from routes_path) for one listener (ROUTES_MERCHANT or
 * ROUTES_INTERNAL), filling m. The first entry whose template matches the path
 * decides its template, so a literal template placed before a {name} one
 * wins; that template's entries are its methods. Allocates nothing. */
void routes_match(enum routes_listener listener, const char *method, const char *path,
                  struct routes_match *m);

/* Hides a hosted page's secret in path (from routes_path, once routed): the
 * second segment after /checkout/ becomes {secret}, the assets excepted, so
 * that no log line, metric or error message ever shows one. In place. */
void routes_redact_path(char *path, size_t size);

/* The rate limit of a match on the merchant listener: its route's, and
 * ROUTES_LIMIT_CLIENT for an unrouted answer (404, 405); on the internal
 * listener none. */
enum routes_limit routes_limit_of(const struct routes_match *m);

/* The metrics' route label of a match: its template's, "other" for no route. */
const char *routes_label(const struct routes_match *m);

/* Answers req from req->route: 400 if its bytes are malformed
 * (req->malformed), 429 past a per-client limit (routes_limit_of), 503 if a
 * database is needed (every route but ROUTES_AUTH_NONE ones, and any unknown
 * path) and thread_db has none, 404, 405 with Allow, 401 from the route's
 * authentication (429 once the client address failed too often), 429 past the
 * API key's limit, else its handler.
 * thread_db: the calling server thread's connection, NULL if unavailable. */
enum MHD_Result routes_serve(struct http_request *req, struct db *(*thread_db)(void));

#endif
