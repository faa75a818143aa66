/* The few libmicrohttpd calls of gateway/http.c, answered in memory, so the
 * gateway's own request code (http_request_new, http_request_append_body,
 * http_read_json_object, http_respond_error) runs under a fuzzer without a
 * socket. The harness binary defines these symbols, so they take the place of
 * the library's for every object linked into it. A connection holds the
 * request's headers and query and, once answered, the response. */
#ifndef CAISSE_FAKE_MHD_H
#define CAISSE_FAKE_MHD_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/error.h"

#define FAKE_MHD_VALUES_MAX 8
#define FAKE_MHD_HEADERS_MAX 32

struct fake_mhd_value {
    const char *name;
    const char *value;
};

/* What microhttpd.h leaves opaque. Borrowed strings: the harness keeps them. */
struct MHD_Connection {
    struct fake_mhd_value headers[FAKE_MHD_VALUES_MAX];
    size_t header_count;
    struct fake_mhd_value query[FAKE_MHD_VALUES_MAX];
    size_t query_count;
    /* The answer: set once by MHD_queue_response (a second one aborts). */
    bool answered;
    unsigned status;
    char *body; /* owned, NUL-terminated */
    size_t body_len;
    char *response_headers[FAKE_MHD_HEADERS_MAX][2]; /* owned */
    size_t response_header_count;
};

/* Frees what the answer holds and forgets it; headers and query stay. */
void fake_mhd_clear_answer(struct MHD_Connection *conn);
/* The answer's header name (case-insensitive); NULL when absent. */
const char *fake_mhd_response_header(const struct MHD_Connection *conn, const char *name);
/* Checks the answer is one of the API's error bodies with the given status
 * (api.md: statusCode, message, error, code, param, request_id), Content-Type
 * JSON and an X-Request-Id: a harness's FUZZ_CHECK on every refusal. */
void fake_mhd_check_error_answer(const struct MHD_Connection *conn, unsigned status);

/* The body of a POST with Content-Type application/json, read by the
 * gateway's http_read_json_object: the object (new reference), or NULL when
 * it answered the request (then checked to be a 4xx error body). */
json_t *fake_mhd_json_body(const char *body, size_t len);
/* Answers a validation failure as the handlers do (http_respond_error, 400,
 * validation_error, err's param and message) and checks the answer is that
 * 400: whatever a validator says must stay a well-formed API error. */
void fake_mhd_check_validation_error(const struct error *err);

#endif
