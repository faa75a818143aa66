#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"
#include "core/utf8.h"
#include "core/uuid.h"
#include "core/hex.h"

#include <pthread.h>

/* An incoming id is echoed only if it is short and plain, so it can never
 * smuggle anything into our logs or headers. */
static bool http_request_id_acceptable(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > HTTP_REQUEST_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return false;
    }
    return true;
}

size_t http_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
    (void)cls;
    (void)conn;
    char *w = s;
    for (const char *r = s; *r != '\0';) {
        int hi = r[0] == '%' ? hex_digit_value(r[1]) : -1;
        int lo = hi >= 0 ? hex_digit_value(r[2]) : -1;
        if (lo >= 0 && (hi | lo) != 0) {
            *w++ = (char)(hi * 16 + lo);
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - s);
}

/* RFC 9110 token characters, what a method is made of. */
static bool http_is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              strchr("!#$%&'*+-.^_`|~", c) != NULL))
            return false;
    }
    return true;
}

static enum MHD_Result http_find_non_utf8(void *cls, enum MHD_ValueKind kind, const char *key,
                                          size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    bool *bad = cls;
    if (utf8_valid(key, key_size) && (value == NULL || utf8_valid(value, value_size)))
        return MHD_YES;
    *bad = true;
    return MHD_NO;
}

struct http_request *http_request_new(struct MHD_Connection *conn, const char *method,
                                      const char *url)
{
    struct http_request *req = calloc(1, sizeof(*req));
    if (req == NULL)
        return NULL;
    req->conn = conn;
    req->method = method;
    req->started_us = clock_now_us();
    bool query_bad = false;
    MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, http_find_non_utf8, &query_bad);
    size_t url_len = strlen(url);
    if (!utf8_valid(url, url_len)) {
        char escaped[sizeof(req->path)];
        utf8_escape_invalid(url, url_len, escaped, sizeof(escaped));
        routes_path(escaped, req->path, sizeof(req->path));
        req->malformed = "Request path must be valid UTF-8";
    } else {
        routes_path(url, req->path, sizeof(req->path));
        if (query_bad)
            req->malformed = "Query parameter names and values must be valid UTF-8";
    }
    if (!http_is_token(method)) {
        utf8_escape_invalid(method, strlen(method), req->method_escaped,
                            sizeof(req->method_escaped));
        req->method = req->method_escaped;
        req->malformed = "Request method must be an HTTP token";
    }
    const char *incoming = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (incoming != NULL && http_request_id_acceptable(incoming))
        snprintf(req->request_id, sizeof(req->request_id), "%s", incoming);
    else if (uuid_v7_string(req->request_id) != C_OK)
        snprintf(req->request_id, sizeof(req->request_id), "unknown");
    return req;
}

void http_request_free(struct http_request *req)
{
    if (req == NULL)
        return;
    if (req->resume_ctx_free != NULL)
        req->resume_ctx_free(req->resume_ctx);
    free(req->body);
    free(req);
}

int http_request_append_body(struct http_request *req, const char *data, size_t len)
{
    if (req->body_too_large || req->body_len + len > HTTP_MAX_BODY) {
        req->body_too_large = true;
        return C_OK;
    }
    char *grown = realloc(req->body, req->body_len + len + 1);
    if (grown == NULL)
        return C_ERR;
    memcpy(grown + req->body_len, data, len);
    req->body_len += len;
    grown[req->body_len] = '\0';
    req->body = grown;
    return C_OK;
}

const char *http_header(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static bool http_is_json(const char *content_type)
{
    if (content_type == NULL)
        return false;
    size_t n = strlen("application/json");
    if (strncasecmp(content_type, "application/json", n) != 0)
        return false;
    char next = content_type[n];
    return next == '\0' || next == ';' || next == ' ';
}

enum MHD_Result http_read_json_object(struct http_request *req, json_t **out)
{
    *out = NULL;
    if (req->body_too_large)
        return http_respond_error(req, 413, "payload_too_large", NULL,
                                  "Request body must not exceed %d bytes", HTTP_MAX_BODY);
    if (!http_is_json(http_header(req, "Content-Type")))
        return http_respond_error(req, 415, "unsupported_media_type", NULL,
                                  "Content-Type must be application/json");
    json_error_t jerr;
    json_t *body = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                              JSON_REJECT_DUPLICATES, &jerr);
    /* Valid JSON, but PostgreSQL's text has no NUL: refused for what it is. */
    if (body == NULL &&
        (strstr(jerr.text, "\\u0000") != NULL || strstr(jerr.text, "NUL byte") != NULL))
        return http_respond_error(req, 400, "validation_error", NULL,
                                  "Request body must not contain NUL characters (\\u0000)");
    if (body == NULL)
        return http_respond_error(req, 400, "validation_error", NULL,
                                  "Request body must be valid JSON (line %d, column %d)", jerr.line,
                                  jerr.column);
    if (!json_is_object(body)) {
        json_decref(body);
        return http_respond_error(req, 400, "validation_error", NULL,
                                  "Request body must be a JSON object");
    }
    *out = body;
    return MHD_YES;
}

const char *http_query(struct http_request *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

/* Every answer's: its request id; no cache may keep it (every read is a
 * tenant's, the rest is live state); no browser may guess another type than
 * the one given. */
static void http_add_common_headers(struct MHD_Response *resp, const struct http_request *req)
{
    MHD_add_response_header(resp, "X-Request-Id", req->request_id);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
}

enum MHD_Result http_respond_json(struct http_request *req, unsigned status, json_t *body,
                                  const char *const *extra_headers)
{
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    return http_respond_json_text(req, status, text, extra_headers);
}

enum MHD_Result http_respond_json_text(struct http_request *req, unsigned status, char *text,
                                       const char *const *extra_headers)
{
    if (text == NULL) {
        /* Out of memory while answering: a bodiless 500 is all we can still do. */
        struct MHD_Response *bare =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (bare == NULL)
            return MHD_NO;
        http_add_common_headers(bare, req);
        enum MHD_Result rc = MHD_queue_response(req->conn, MHD_HTTP_INTERNAL_SERVER_ERROR, bare);
        MHD_destroy_response(bare);
        req->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        req->answered = true;
        return rc;
    }
    size_t len = strlen(text);
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", "application/json");
    http_add_common_headers(resp, req);
    for (size_t i = 0; extra_headers != NULL && extra_headers[i] != NULL; i += 2)
        MHD_add_response_header(resp, extra_headers[i], extra_headers[i + 1]);
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->answered = true;
    return rc;
}

enum MHD_Result http_respond_redirect(struct http_request *req, unsigned status,
                                      const char *location)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp == NULL)
        return MHD_NO;
    http_add_common_headers(resp, req);
    MHD_add_response_header(resp, "Location", location);
    /* The page it leaves may hold a secret in its URL: never a Referer of it. */
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->answered = true;
    return rc;
}

enum MHD_Result http_respond_text(struct http_request *req, unsigned status,
                                  const char *content_type, char *text, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", content_type);
    http_add_common_headers(resp, req);
    enum MHD_Result rc = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    req->status = status;
    req->answered = true;
    return rc;
}

static const char *http_reason(unsigned status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 415:
        return "Unsupported Media Type";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "Error";
    }
}

enum MHD_Result http_respond_error(struct http_request *req, unsigned status, const char *code,
                                   const char *param, const char *fmt, ...)
{
    if (status >= 500 && req->error_page != NULL) {
        enum MHD_Result (*page)(struct http_request *, unsigned) = req->error_page;
        req->error_page = NULL; /* a page that cannot be made falls back to JSON */
        return page(req, status);
    }
    char raw[512], message[512], shown_param[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(raw, sizeof(raw), fmt, ap);
    va_end(ap);
    /* Whatever a message or a parameter name echoes of the request, the
     * answer stays buildable JSON: never a 500 for a client's bytes. */
    utf8_escape_invalid(raw, strlen(raw), message, sizeof(message));
    if (param != NULL)
        utf8_escape_invalid(param, strlen(param), shown_param, sizeof(shown_param));
    json_t *body =
        json_pack("{si ss ss ss so ss}", "statusCode", (int)status, "message", message, "error",
                  http_reason(status), "code", code, "param",
                  param != NULL && param[0] != '\0' ? json_string(shown_param) : json_null(),
                  "request_id", req->request_id);
    const char *extra[13] = {NULL};
    size_t n = 0;
    if (status == 405 && req->allow != NULL)
        extra[n++] = "Allow", extra[n++] = req->allow;
    if (status == 503)
        extra[n++] = "Retry-After", extra[n++] = "1";
    for (size_t i = 0; req->error_headers != NULL && req->error_headers[i] != NULL &&
                       n + 2 < sizeof(extra) / sizeof(extra[0]);
         i += 2)
        extra[n++] = req->error_headers[i], extra[n++] = req->error_headers[i + 1];
    return http_respond_json(req, status, body, extra);
}

enum MHD_Result http_respond_unavailable(struct http_request *req)
{
    return http_respond_error(req, 503, "service_unavailable", NULL,
                              "Service temporarily unavailable, please retry");
}

void http_request_log(struct http_request *req)
{
    double ms = (double)(clock_now_us() - req->started_us) / 1000.0;
    enum log_level level = req->status >= 500 ? LOG_WARN : LOG_INFO;
    if (!log_enabled(level))
        return;
    json_t *f = json_pack("{ss ss ss si sf}", "request_id", req->request_id, "method", req->method,
                          "path", req->path, "status", (int)req->status, "duration_ms", ms);
    if (f != NULL && req->identity.organization_id[0] != '\0') {
        json_object_set_new(f, "organization_id", json_string(req->identity.organization_id));
        json_object_set_new(f, "environment", json_string(req->identity.environment));
    }
    log_fields(level, f, "http request");
}

static struct metrics_family *http_requests_family, *http_duration_family;
static pthread_once_t http_metrics_once = PTHREAD_ONCE_INIT;

static void http_metrics_init(void)
{
    static const char *const counted[] = {"route", "method", "status", NULL};
    static const char *const timed[] = {"route", "method", NULL};
    /* Prometheus's default buckets: reads take milliseconds, a create waits
     * up to CAISSE_CREATE_WAIT_MS (2 s) before its 202. */
    static const double bounds[] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
    struct metrics_registry *r = metrics_default();
    http_requests_family =
        metrics_counter(r, "caisse_http_requests_total",
                        "HTTP requests answered, by route template, method and status", counted);
    http_duration_family = metrics_histogram(
        r, "caisse_http_request_duration_seconds",
        "From the request's arrival to its response sent, by route template and method", timed,
        bounds, sizeof(bounds) / sizeof(bounds[0]));
}

/* Any other token a client sends as a method is one label value, so a
 * scanner cannot make series at will. */
static const char *http_method_label(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(method, known[i]) == 0)
            return known[i];
    }
    return "other";
}

void http_request_observe(struct http_request *req, const char *route)
{
    pthread_once(&http_metrics_once, http_metrics_init);
    char status[16];
    snprintf(status, sizeof(status), "%u", req->status);
    const char *method = http_method_label(req->method);
    const char *counted[] = {route, method, status};
    metrics_counter_add(metrics_series(http_requests_family, counted), 1);
    const char *timed[] = {route, method};
    metrics_histogram_observe(metrics_series(http_duration_family, timed),
                              (double)(clock_now_us() - req->started_us) / 1e6);
}
