/* The gateway's request body reader (gateway/http.c): a body arriving in
 * chunks of any size (http_request_append_body), then read as a JSON object
 * (http_read_json_object) under any Content-Type. Every input ends in an
 * object or in one well-formed 4xx error (413 past HTTP_MAX_BODY, 415 for
 * another Content-Type, 400 for what is not one JSON object), never a 5xx.
 *
 * The request's X-Request-Id comes back only when short and plain (letters,
 * digits, "-_.:", at most HTTP_REQUEST_ID_MAX), else the answer carries an id
 * of ours.
 *
 * Input: a Content-Type choice, a chunk size, a padding count (that many
 * KiB of spaces before the body, to reach the size limit with small inputs),
 * a Content-Type field, an X-Request-Id field (absent when empty), then the
 * body. Dictionary: tests/fuzz/dict/json.dict. */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "../../../gateway/http.h"
#include "../fake_mhd.h"
#include "../fuzz_input.h"
#include "core/result.h"
#include "core/uuid.h"

static const char *const content_types[] = {
    "application/json",
    "application/json; charset=utf-8",
    "Application/JSON",
    "application/json ",
    "application/jsonx",
    "text/plain",
    "",
};

static bool is_plain_id(const char *id)
{
    size_t n = strlen(id);
    return n >= 1 && n <= HTTP_REQUEST_ID_MAX &&
           strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:") == n;
}

/* http.c's rule, written out: the media type, then the end, a parameter or a space. */
static bool is_json_type(const char *type)
{
    size_t n = strlen("application/json");
    return type != NULL && strncasecmp(type, "application/json", n) == 0 &&
           (type[n] == '\0' || type[n] == ';' || type[n] == ' ');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_input in;
    fuzz_input_init(&in, data, size);
    uint8_t type_choice = fuzz_input_byte(&in);
    size_t chunk = fuzz_input_byte(&in);
    size_t padding = (size_t)(fuzz_input_byte(&in) % 80) * 1024;
    char *type_field = fuzz_input_field(&in);
    char *request_id = fuzz_input_field(&in);
    size_t body_len;
    const uint8_t *body = fuzz_input_rest(&in, &body_len);

    size_t n_types = sizeof(content_types) / sizeof(content_types[0]);
    const char *type = NULL; /* no Content-Type at all */
    if (type_choice % (n_types + 2) < n_types)
        type = content_types[type_choice % (n_types + 2)];
    else if (type_choice % (n_types + 2) == n_types)
        type = type_field != NULL ? type_field : "";

    struct MHD_Connection conn = {.header_count = 0};
    if (type != NULL)
        conn.headers[conn.header_count++] = (struct fake_mhd_value){"Content-Type", type};
    if (request_id != NULL && request_id[0] != '\0')
        conn.headers[conn.header_count++] = (struct fake_mhd_value){"X-Request-Id", request_id};
    struct http_request *req = http_request_new(&conn, "POST", "/v1/checkout-sessions");
    FUZZ_CHECK(req != NULL, "out of memory");

    /* The padding first, then the body, each in chunks as a client may send them. */
    static char spaces[1024];
    memset(spaces, ' ', sizeof(spaces));
    for (size_t left = padding; left > 0; left -= sizeof(spaces))
        FUZZ_CHECK(http_request_append_body(req, spaces, sizeof(spaces)) == C_OK, "append");
    if (chunk == 0)
        chunk = body_len > 0 ? body_len : 1;
    for (size_t off = 0; off < body_len; off += chunk) {
        size_t n = body_len - off < chunk ? body_len - off : chunk;
        FUZZ_CHECK(http_request_append_body(req, (const char *)body + off, n) == C_OK, "append");
    }
    size_t total = padding + body_len;
    FUZZ_CHECK(req->body_too_large == (total > HTTP_MAX_BODY), "%zu bytes, too large: %d", total,
               req->body_too_large);
    if (!req->body_too_large) {
        FUZZ_CHECK(req->body_len == total, "kept %zu of %zu bytes", req->body_len, total);
        FUZZ_CHECK(total == 0 || (req->body[total] == '\0' &&
                                  memcmp(req->body + padding, body, body_len) == 0),
                   "the body changed on the way");
    }

    json_t *obj = NULL;
    http_read_json_object(req, &obj);
    if (total > HTTP_MAX_BODY) {
        fake_mhd_check_error_answer(&conn, 413);
    } else if (!is_json_type(type)) {
        fake_mhd_check_error_answer(&conn, 415);
    } else if (obj == NULL) {
        fake_mhd_check_error_answer(&conn, 400);
        /* Refused only what jansson refuses as an object. */
        json_t *again = json_loadb(req->body != NULL ? req->body : "", req->body_len,
                                   JSON_REJECT_DUPLICATES, NULL);
        FUZZ_CHECK(!json_is_object(again), "a JSON object refused");
        json_decref(again);
    } else {
        FUZZ_CHECK(!conn.answered, "answered %u and returned an object", conn.status);
        FUZZ_CHECK(json_is_object(obj), "not an object");
    }
    if (conn.answered) {
        const char *echoed = fake_mhd_response_header(&conn, "X-Request-Id");
        if (request_id != NULL && is_plain_id(request_id))
            FUZZ_CHECK(strcmp(echoed, request_id) == 0, "X-Request-Id %s for %s", echoed,
                       request_id);
        else
            FUZZ_CHECK(uuid_is_valid(echoed), "X-Request-Id %s of ours", echoed);
        json_t *answer = json_loads(conn.body, 0, NULL);
        FUZZ_CHECK(strcmp(json_string_value(json_object_get(answer, "request_id")), echoed) == 0,
                   "request_id of the body and X-Request-Id differ");
        json_decref(answer);
    }
    json_decref(obj);
    fake_mhd_clear_answer(&conn);
    http_request_free(req);
    free(type_field);
    free(request_id);
    return 0;
}
