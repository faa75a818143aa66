/* One HTTP exchange of the gateway: the request as the handlers see it and the
 * helpers that answer it, always with JSON and an X-Request-Id. */
#ifndef GATEWAY_HTTP_H
#define GATEWAY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <microhttpd.h>

#include "model/tenant.h"
#include "routes.h"

#define HTTP_MAX_BODY (64 * 1024)
#define HTTP_REQUEST_ID_MAX 128

struct pipeline_op;

struct http_request {
    struct MHD_Connection *conn;
    /* MHD's for the connection's lifetime; method_escaped when it is no HTTP token */
    const char *method;
    char path[256]; /* as routes see it (routes_path): no /v1, no trailing slash */
    /* Why the request's bytes are refused whatever its route (the 400's
     * message), or NULL. Its method and path are then escaped as
     * utf8_escape_invalid does, so the access log can show them. */
    const char *malformed;
    char method_escaped[48];
    char request_id[HTTP_REQUEST_ID_MAX + 1];
    char *body; /* owned, NUL-terminated */
    size_t body_len;
    bool body_too_large;
    int64_t started_us;
    unsigned status; /* once answered */
    bool answered;
    struct tenant_identity identity;
    struct routes_match route; /* the route table's answer for method and path */
    const char *allow;         /* the path's methods, for a 405's Allow; set by the router */
    struct pipeline_op *op;    /* owned; set once a command was submitted */
    /* More headers of an error answer (a 429's Retry-After and RateLimit-*):
     * NULL-terminated name/value pairs, set around http_respond_error. */
    const char *const *error_headers;
    /* Set by a handler that suspended the connection for something else than
     * the pipeline (a name lookup): once the connection is resumed, the server
     * thread calls it, with its database, in the handler's place. resume_ctx
     * is freed with the request by resume_ctx_free. */
    routes_handler resume;
    void *resume_ctx;
    void (*resume_ctx_free)(void *ctx);
    /* Set by a handler whose answers are HTML pages for people (the hosted
     * page): a 5xx answered for it, by the pipeline or on a database failure,
     * is this page instead of the API's JSON error. Cleared when called. */
    enum MHD_Result (*error_page)(struct http_request *req, unsigned status);
};

/* MHD_OPTION_UNESCAPE_CALLBACK of both listeners: decodes %XX escapes in the
 * path and in query names and values, except %00, kept as those three
 * characters: a NUL would cut the path or a value short (/checkout-sessions/%00
 * would read as the list), and no name or value of the API holds one. */
size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s);

/* Allocates the per-request state on the first callback, and checks the bytes
 * every route relies on: a method that is an HTTP token, a path and query
 * names and values that are UTF-8 (else req->malformed). NULL: out of memory. */
struct http_request *http_request_new(struct MHD_Connection *conn, const char *method,
                                      const char *url);
void http_request_free(struct http_request *req);
/* Appends upload data; past HTTP_MAX_BODY it only counts (answer 413 at the end). */
int http_request_append_body(struct http_request *req, const char *data, size_t len);

const char *http_header(struct http_request *req, const char *name);
/* The request body as a JSON object: 413 past HTTP_MAX_BODY, 415 unless
 * Content-Type is application/json, 400 for malformed JSON (duplicate keys
 * included), a \u0000 in a string or key, or a non-object. On any of those it has answered and *out
 * is NULL; the returned MHD_Result is then the access handler's. */
enum MHD_Result http_read_json_object(struct http_request *req, json_t **out);
const char *http_query(struct http_request *req, const char *name);

/* Queue a JSON response. body is stolen. extra_headers: NULL-terminated
 * name/value pairs or NULL. Returns MHD_YES/MHD_NO for the access handler. */
enum MHD_Result http_respond_json(struct http_request *req, unsigned status, json_t *body,
                                  const char *const *extra_headers);
/* Queue a body that is already JSON text (stored documents served as they
 * are, e.g. an event exactly as published). text is stolen (malloc'ed). */
enum MHD_Result http_respond_json_text(struct http_request *req, unsigned status, char *text,
                                       const char *const *extra_headers);
/* Queue a body that is not JSON (the metrics' text): text is stolen
 * (malloc'ed), len bytes of content_type. */
enum MHD_Result http_respond_text(struct http_request *req, unsigned status,
                                  const char *content_type, char *text, size_t len);
/* A bodiless redirect (a 303 after a form's POST) to location, with
 * Referrer-Policy: no-referrer. */
enum MHD_Result http_respond_redirect(struct http_request *req, unsigned status,
                                      const char *location);
/* The error body of api.md; param NULL when the error names no parameter. */
enum MHD_Result http_respond_error(struct http_request *req, unsigned status, const char *code,
                                   const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* 503 without internal details (those went to the log). */
enum MHD_Result http_respond_unavailable(struct http_request *req);

/* Writes the access log line. Called once the response is complete. */
void http_request_log(struct http_request *req);
/* Counts the finished request in /metrics (caisse_http_requests_total and
 * caisse_http_request_duration_seconds) under route, its route template
 * ("/v1/checkout-sessions/{id}"; "other" for an unknown path), never the raw
 * path, so the number of series stays bounded. */
void http_request_observe(struct http_request *req, const char *route);

#endif
