#include "fake_mhd.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../../gateway/http.h"
#include "core/result.h"
#include "fuzz_input.h"

struct MHD_Response {
    char *data; /* owned */
    size_t len;
    char *headers[FAKE_MHD_HEADERS_MAX][2]; /* owned */
    size_t header_count;
};

static char *fake_mhd_strdup(const char *s)
{
    char *copy = strdup(s);
    if (copy == NULL)
        abort();
    return copy;
}

const char *MHD_lookup_connection_value(struct MHD_Connection *connection, enum MHD_ValueKind kind,
                                        const char *key)
{
    const struct fake_mhd_value *values = NULL;
    size_t count = 0;
    if (kind == MHD_HEADER_KIND)
        values = connection->headers, count = connection->header_count;
    else if (kind == MHD_GET_ARGUMENT_KIND)
        values = connection->query, count = connection->query_count;
    for (size_t i = 0; i < count; i++) {
        /* Header names are case-insensitive; query names are not. */
        if (kind == MHD_HEADER_KIND ? strcasecmp(values[i].name, key) == 0
                                    : strcmp(values[i].name, key) == 0)
            return values[i].value;
    }
    return NULL;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer,
                                                     enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *r = calloc(1, sizeof(*r));
    if (r == NULL)
        abort();
    r->data = malloc(size + 1);
    if (r->data == NULL)
        abort();
    if (size > 0)
        memcpy(r->data, buffer, size);
    r->data[size] = '\0';
    r->len = size;
    if (mode == MHD_RESPMEM_MUST_FREE)
        free(buffer);
    return r;
}

enum MHD_Result MHD_add_response_header(struct MHD_Response *response, const char *header,
                                        const char *content)
{
    /* libmicrohttpd refuses a header that would split the response. */
    FUZZ_CHECK(strpbrk(header, "\r\n:") == NULL && strpbrk(content, "\r\n") == NULL,
               "response header %s would split the response", header);
    FUZZ_CHECK(response->header_count < FAKE_MHD_HEADERS_MAX, "too many response headers");
    response->headers[response->header_count][0] = fake_mhd_strdup(header);
    response->headers[response->header_count][1] = fake_mhd_strdup(content);
    response->header_count++;
    return MHD_YES;
}

enum MHD_Result MHD_queue_response(struct MHD_Connection *connection, unsigned int status_code,
                                   struct MHD_Response *response)
{
    FUZZ_CHECK(!connection->answered, "a request answered twice (%u, then %u)", connection->status,
               status_code);
    connection->answered = true;
    connection->status = status_code;
    connection->body = fake_mhd_strdup(response->data);
    connection->body_len = response->len;
    for (size_t i = 0; i < response->header_count; i++) {
        connection->response_headers[i][0] = fake_mhd_strdup(response->headers[i][0]);
        connection->response_headers[i][1] = fake_mhd_strdup(response->headers[i][1]);
    }
    connection->response_header_count = response->header_count;
    return MHD_YES;
}

void MHD_destroy_response(struct MHD_Response *response)
{
    for (size_t i = 0; i < response->header_count; i++) {
        free(response->headers[i][0]);
        free(response->headers[i][1]);
    }
    free(response->data);
    free(response);
}

void fake_mhd_clear_answer(struct MHD_Connection *conn)
{
    free(conn->body);
    for (size_t i = 0; i < conn->response_header_count; i++) {
        free(conn->response_headers[i][0]);
        free(conn->response_headers[i][1]);
    }
    conn->body = NULL;
    conn->body_len = 0;
    conn->response_header_count = 0;
    conn->answered = false;
    conn->status = 0;
}

const char *fake_mhd_response_header(const struct MHD_Connection *conn, const char *name)
{
    for (size_t i = 0; i < conn->response_header_count; i++) {
        if (strcasecmp(conn->response_headers[i][0], name) == 0)
            return conn->response_headers[i][1];
    }
    return NULL;
}

void fake_mhd_check_error_answer(const struct MHD_Connection *conn, unsigned status)
{
    FUZZ_CHECK(conn->answered, "no answer");
    FUZZ_CHECK(conn->status == status, "answered %u, expected %u: %s", conn->status, status,
               conn->body);
    const char *type = fake_mhd_response_header(conn, "Content-Type");
    FUZZ_CHECK(type != NULL && strncmp(type, "application/json", 16) == 0, "Content-Type %s",
               type != NULL ? type : "(none)");
    const char *id = fake_mhd_response_header(conn, "X-Request-Id");
    FUZZ_CHECK(id != NULL && id[0] != '\0', "no X-Request-Id");
    json_error_t jerr;
    json_t *body = json_loadb(conn->body, conn->body_len, JSON_REJECT_DUPLICATES, &jerr);
    FUZZ_CHECK(body != NULL, "error body is not JSON (%s): %s", jerr.text, conn->body);
    json_int_t code = json_integer_value(json_object_get(body, "statusCode"));
    const json_t *param = json_object_get(body, "param");
    FUZZ_CHECK(code == (json_int_t)status, "statusCode %lld", (long long)code);
    FUZZ_CHECK(json_is_string(json_object_get(body, "message")) &&
                   json_string_length(json_object_get(body, "message")) > 0,
               "no message: %s", conn->body);
    FUZZ_CHECK(json_is_string(json_object_get(body, "error")), "no error: %s", conn->body);
    FUZZ_CHECK(json_is_string(json_object_get(body, "code")), "no code: %s", conn->body);
    FUZZ_CHECK(json_is_string(param) || json_is_null(param), "no param: %s", conn->body);
    FUZZ_CHECK(json_is_string(json_object_get(body, "request_id")), "no request_id: %s",
               conn->body);
    json_decref(body);
}

json_t *fake_mhd_json_body(const char *body, size_t len)
{
    struct MHD_Connection conn = {
        .headers = {{"Content-Type", "application/json"}},
        .header_count = 1,
    };
    struct http_request *req = http_request_new(&conn, "POST", "/v1/fuzz");
    FUZZ_CHECK(req != NULL, "out of memory");
    FUZZ_CHECK(http_request_append_body(req, body, len) == C_OK, "out of memory");
    json_t *obj = NULL;
    http_read_json_object(req, &obj);
    if (obj == NULL) {
        fake_mhd_check_error_answer(&conn, len > HTTP_MAX_BODY ? 413 : 400);
    } else {
        FUZZ_CHECK(!conn.answered, "answered %u and returned an object", conn.status);
        FUZZ_CHECK(json_is_object(obj), "not an object");
    }
    fake_mhd_clear_answer(&conn);
    http_request_free(req);
    return obj;
}

void fake_mhd_check_validation_error(const struct error *err)
{
    struct MHD_Connection conn = {.header_count = 0};
    struct http_request *req = http_request_new(&conn, "POST", "/v1/fuzz");
    FUZZ_CHECK(req != NULL, "out of memory");
    FUZZ_CHECK(err->message[0] != '\0', "a refusal without a message");
    http_respond_error(req, 400, "validation_error", err->param, "%s", err->message);
    fake_mhd_check_error_answer(&conn, 400);
    fake_mhd_clear_answer(&conn);
    http_request_free(req);
}
