/* Hostile bytes on the merchant listener: whatever a client puts in the method,
 * the path, the query or the headers the API reads, the answer is a 4xx (never
 * a 5xx), in the API's error shape with its security headers, and the access
 * log has a complete line for it. Requests go out as raw bytes on a socket, so
 * nothing on the way (libcurl, a shell) cleans them up. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

struct raw_answer {
    int status;
    char content_type[64];
    char nosniff[32];
    char cache_control[32];
    char retry_after[16];
    char request_id[160];
    json_t *json; /* the body, when it is JSON */
};

static int gateway_port(void)
{
    const char *url = test_env("CAISSE_TEST_URL");
    const char *colon = strrchr(url, ':');
    cr_assert(colon != NULL, "CAISSE_TEST_URL has no port: %s", url);
    return (int)strtol(colon + 1, NULL, 10);
}

static void header_value(const char *head, const char *name, char *out, size_t outlen)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line + 2, "\r\n")) {
        const char *l = line + 2;
        if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            size_t len = strcspn(v, "\r");
            snprintf(out, outlen, "%.*s", (int)len, v);
            return;
        }
    }
}

/* Sends len bytes as they are (the request must ask Connection: close) and
 * reads the answer to the end. */
static struct raw_answer raw_send(const char *bytes, size_t len)
{
    struct raw_answer a;
    memset(&a, 0, sizeof(a));
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert(fd >= 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)gateway_port())};
    inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
    cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    cr_assert_eq(send(fd, bytes, len, 0), (ssize_t)len);
    char *buf = NULL;
    size_t used = 0;
    for (;;) {
        char chunk[4096];
        ssize_t n = recv(fd, chunk, sizeof(chunk), 0);
        if (n <= 0)
            break;
        char *grown = realloc(buf, used + (size_t)n + 1);
        cr_assert(grown != NULL);
        buf = grown;
        memcpy(buf + used, chunk, (size_t)n);
        used += (size_t)n;
        buf[used] = '\0';
    }
    close(fd);
    cr_assert(buf != NULL && strncmp(buf, "HTTP/1.1 ", 9) == 0, "no HTTP answer to %.*s",
              (int)(len < 80 ? len : 80), bytes);
    a.status = (int)strtol(buf + 9, NULL, 10);
    char *body = strstr(buf, "\r\n\r\n");
    cr_assert(body != NULL);
    *body = '\0';
    header_value(buf, "Content-Type", a.content_type, sizeof(a.content_type));
    header_value(buf, "X-Content-Type-Options", a.nosniff, sizeof(a.nosniff));
    header_value(buf, "Cache-Control", a.cache_control, sizeof(a.cache_control));
    header_value(buf, "Retry-After", a.retry_after, sizeof(a.retry_after));
    header_value(buf, "X-Request-Id", a.request_id, sizeof(a.request_id));
    if (strcmp(a.content_type, "application/json") == 0)
        a.json = json_loads(body + 4, 0, NULL);
    free(buf);
    return a;
}

/* A request of method, target (the request line's bytes, as they are) and
 * extra header lines ("Name: value\r\n" each, may be ""), with the test key and
 * a request id of our own, so its access-log line can be found. */
static struct raw_answer raw_request(const char *method, const char *target, const char *headers,
                                     const char *request_id)
{
    char req[8192];
    int n = snprintf(req, sizeof(req),
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: %s\r\nX-Request-Id: %s\r\n"
                     "%sConnection: close\r\n\r\n",
                     method, target, test_env("CAISSE_TEST_KEY_A"), request_id, headers);
    cr_assert(n > 0 && (size_t)n < sizeof(req));
    return raw_send(req, (size_t)n);
}

static void raw_answer_free(struct raw_answer *a)
{
    json_decref(a->json);
    a->json = NULL;
}

static long log_offset = -1; /* where this test's lines start in the gateway's log */

static void log_path(char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/logs/gateway.log", test_env("CAISSE_STACK_DIR"));
}

/* The gateway's access-log lines of the requests named in wanted (an object
 * whose keys are request ids), as id -> line; waits a little for them, since a
 * line is written once its response is sent. Missing ids are left out. */
static json_t *access_log_lines(const json_t *wanted)
{
    char path[512];
    log_path(path, sizeof(path));
    json_t *found = json_object();
    for (int attempt = 0; attempt < 40 && json_object_size(found) < json_object_size(wanted);
         attempt++) {
        if (attempt > 0)
            test_sleep_ms(50);
        FILE *f = fopen(path, "r");
        cr_assert(f != NULL, "cannot read %s", path);
        if (log_offset > 0)
            fseek(f, log_offset, SEEK_SET);
        char line[8192];
        while (fgets(line, sizeof(line), f) != NULL) {
            if (strstr(line, "\"http request\"") == NULL)
                continue;
            json_t *o = json_loads(line, 0, NULL);
            const char *id = json_string_value(json_object_get(o, "request_id"));
            if (id != NULL && json_object_get(wanted, id) != NULL)
                json_object_set(found, id, o);
            json_decref(o);
        }
        fclose(f);
    }
    return found;
}

static json_t *access_log_line(const char *request_id)
{
    json_t *wanted = json_pack("{sb}", request_id, 1);
    json_t *found = access_log_lines(wanted);
    json_t *line = json_incref(json_object_get(found, request_id));
    json_decref(found);
    json_decref(wanted);
    return line;
}

static void fresh_request_id(const char *what, char out[96])
{
    static int seq;
    if (log_offset < 0) {
        char path[512];
        log_path(path, sizeof(path));
        FILE *f = fopen(path, "r");
        log_offset = 0;
        if (f != NULL && fseek(f, 0, SEEK_END) == 0)
            log_offset = ftell(f);
        if (f != NULL)
            fclose(f);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(out, 96, "hostile-%s-%d-%ld%09ld", what, ++seq, (long)ts.tv_sec, ts.tv_nsec);
}

/* The answer is ours: a 4xx in the API's error shape with its headers, and a
 * complete access-log line with its method and path as the log shows them. */
static void assert_clean_refusal(const struct raw_answer *a, const char *request_id, int status,
                                 const char *message, const char *logged_method,
                                 const char *logged_path)
{
    cr_assert_eq(a->status, status, "expected %d, got %d", status, a->status);
    cr_assert_str_eq(a->content_type, "application/json");
    cr_assert_str_eq(a->nosniff, "nosniff");
    cr_assert_str_eq(a->cache_control, "no-store");
    cr_assert(a->json != NULL, "the body is not JSON");
    cr_assert_eq(json_integer_value(json_object_get(a->json, "statusCode")), status);
    cr_assert_str_eq(json_string_value(json_object_get(a->json, "request_id")), request_id);
    if (message != NULL)
        cr_assert_str_eq(json_string_value(json_object_get(a->json, "message")), message);
    json_t *line = access_log_line(request_id);
    cr_assert(line != NULL, "no access-log line for %s", request_id);
    cr_assert_eq(json_integer_value(json_object_get(line, "status")), status);
    cr_assert(json_is_number(json_object_get(line, "duration_ms")));
    const char *method = json_string_value(json_object_get(line, "method"));
    const char *path = json_string_value(json_object_get(line, "path"));
    cr_assert(method != NULL && path != NULL, "the access-log line lacks method or path");
    if (logged_method != NULL)
        cr_assert_str_eq(method, logged_method);
    if (logged_path != NULL)
        cr_assert_str_eq(path, logged_path);
    json_decref(line);
}

static void expect_refusal(const char *method, const char *target, const char *headers, int status,
                           const char *message, const char *logged_method, const char *logged_path)
{
    char id[96];
    fresh_request_id("case", id);
    struct raw_answer a = raw_request(method, target, headers, id);
    assert_clean_refusal(&a, id, status, message, logged_method, logged_path);
    raw_answer_free(&a);
}

Test(hostile, query_name_that_is_not_utf8_is_a_400_not_a_500)
{
    const char *msg = "Query parameter names and values must be valid UTF-8";
    expect_refusal("GET", "/checkout-sessions?%FF=1", "", 400, msg, "GET", "/checkout-sessions");
    expect_refusal("GET", "/v1/events?%C3=1", "", 400, msg, "GET", "/events");
    expect_refusal("GET", "/webhook-endpoints?limit=%FE", "", 400, msg, "GET",
                   "/webhook-endpoints");
    /* Raw, not escaped. */
    expect_refusal("GET", "/checkout-sessions?\xff\xfe=1", "", 400, msg, "GET",
                   "/checkout-sessions");
}

Test(hostile, long_multibyte_query_name_is_echoed_cut_between_characters)
{
    char target[256], name[64];
    memset(name, 'a', 62);
    name[62] = '\0';
    /* 62 'a' then é: cut at 63 bytes, é would be halved. */
    snprintf(target, sizeof(target), "/checkout-sessions?%s%%C3%%A9=1", name);
    char id[96];
    fresh_request_id("long-name", id);
    struct raw_answer a = raw_request("GET", target, "", id);
    char message[128];
    snprintf(message, sizeof(message), "Unknown query parameter: %s", name);
    assert_clean_refusal(&a, id, 400, message, "GET", "/checkout-sessions");
    cr_assert_str_eq(json_string_value(json_object_get(a.json, "param")), name);
    raw_answer_free(&a);
}

Test(hostile, percent_00_in_an_id_is_a_400_never_the_list)
{
    expect_refusal("GET", "/checkout-sessions/%00", "", 400, "Checkout session id must be a UUID",
                   "GET", "/checkout-sessions/%00");
    expect_refusal("GET", "/events/%00", "", 400, "Event id must be a UUID", "GET", "/events/%00");
    expect_refusal("GET", "/v1/webhook-endpoints/%00", "", 400,
                   "Webhook endpoint id must be a UUID", "GET", "/webhook-endpoints/%00");
    expect_refusal("GET", "/webhook-deliveries/%00", "", 400, "Webhook delivery id must be a UUID",
                   "GET", "/webhook-deliveries/%00");
    expect_refusal("POST", "/checkout-sessions/%00/expire", "", 400,
                   "Checkout session id must be a UUID", "POST", "/checkout-sessions/%00/expire");
    /* In a query name or value it is the three characters it was written as. */
    expect_refusal("GET", "/checkout-sessions?a%00b=1", "", 400, "Unknown query parameter: a%00b",
                   "GET", "/checkout-sessions");
    expect_refusal("GET", "/checkout-sessions?starting_after=%00", "", 400,
                   "starting_after must be a checkout session id (UUID)", "GET",
                   "/checkout-sessions");
}

Test(hostile, path_that_is_not_utf8_is_a_400_logged_escaped)
{
    const char *msg = "Request path must be valid UTF-8";
    expect_refusal("GET", "/%FF%FE", "", 400, msg, "GET", "/%FF%FE");
    expect_refusal("GET", "/\xff", "", 400, msg, "GET", "/%FF");
    expect_refusal("GET", "/checkout-sessions/\xc3", "", 400, msg, "GET", "/checkout-sessions/%C3");
    expect_refusal("DELETE", "/v1/webhook-endpoints/%ED%A0%80", "", 400, msg, "DELETE",
                   "/webhook-endpoints/%ED%A0%80");
}

Test(hostile, method_that_is_no_token_is_a_400_logged_escaped)
{
    expect_refusal("G\xffT", "/checkout-sessions", "", 400, "Request method must be an HTTP token",
                   "G%FFT", "/checkout-sessions");
}

Test(hostile, idempotency_key_that_is_not_utf8_text_is_a_400_not_a_503)
{
    static const char body[] = "{\"amount\": 1000, \"customer_email\": \"a@example.com\"}";
    const char *const keys[] = {"\xff\xfe", "order-\xc3", "\xc0\xaf", "a\x01z", "\xed\xa0\x80"};
    for (size_t i = 0; i < sizeof(keys) / sizeof(*keys); i++) {
        char headers[256], id[96];
        snprintf(headers, sizeof(headers),
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n"
                 "Idempotency-Key: %s\r\n",
                 strlen(body), keys[i]);
        fresh_request_id("idem", id);
        char req[1024];
        int n = snprintf(req, sizeof(req),
                         "POST /checkout-sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: %s\r\n"
                         "X-Request-Id: %s\r\n%sConnection: close\r\n\r\n%s",
                         test_env("CAISSE_TEST_KEY_A"), id, headers, body);
        cr_assert(n > 0 && (size_t)n < sizeof(req));
        struct raw_answer a = raw_send(req, (size_t)n);
        assert_clean_refusal(&a, id, 400,
                             "Idempotency-Key must be UTF-8 text without control characters",
                             "POST", "/checkout-sessions");
        cr_assert_str_eq(a.retry_after, "", "a 400 must not invite a retry");
        cr_assert_str_eq(json_string_value(json_object_get(a.json, "param")), "Idempotency-Key");
        raw_answer_free(&a);
    }
}

/* Every byte, percent-escaped, in a path segment, a query name and a query
 * value; and every non-ASCII byte raw in each of those places: never a 5xx,
 * always our JSON with a complete log line. */
Test(hostile, every_byte_in_path_and_query_is_answered_4xx_or_2xx_never_5xx, .timeout = 240)
{
    static const char *const shapes[] = {
        "/checkout-sessions/%s",        "/checkout-sessions?%s=1",
        "/checkout-sessions?status=%s", "/events/%s",
        "/webhook-endpoints?%s",        "/%s",
    };
    int answered = 0;
    json_t *statuses = json_object(); /* request id -> status */
    for (int raw = 0; raw < 2; raw++) {
        for (int b = raw ? 0x80 : 0; b < 256; b++) {
            char piece[8];
            if (raw)
                snprintf(piece, sizeof(piece), "x%c", (char)b);
            else
                snprintf(piece, sizeof(piece), "x%%%02X", b);
            for (size_t s = 0; s < sizeof(shapes) / sizeof(*shapes); s++) {
                char target[128], id[96];
                snprintf(target, sizeof(target), shapes[s], piece);
                fresh_request_id("sweep", id);
                struct raw_answer a = raw_request("GET", target, "", id);
                cr_assert(a.status >= 200 && a.status < 500, "%s (byte 0x%02X%s) answered %d",
                          shapes[s], b, raw ? ", raw" : "", a.status);
                cr_assert(a.json != NULL, "%s (byte 0x%02X%s): no JSON body", shapes[s], b,
                          raw ? ", raw" : "");
                cr_assert_str_eq(a.nosniff, "nosniff");
                json_object_set_new(statuses, id, json_integer(a.status));
                raw_answer_free(&a);
                answered++;
            }
        }
    }
    cr_assert_eq(answered, (256 + 128) * 6);
    /* Every one of them has its complete access-log line. */
    json_t *lines = access_log_lines(statuses);
    const char *id;
    json_t *status;
    json_object_foreach(statuses, id, status)
    {
        json_t *line = json_object_get(lines, id);
        cr_assert(line != NULL, "no access-log line for %s", id);
        cr_assert(json_string_value(json_object_get(line, "path")) != NULL, "%s", id);
        cr_assert(json_string_value(json_object_get(line, "method")) != NULL, "%s", id);
        cr_assert_eq(json_integer_value(json_object_get(line, "status")),
                     json_integer_value(status), "%s", id);
    }
    json_decref(lines);
    json_decref(statuses);
}

/* The other headers the API reads: a key, a content type and a request id of
 * any bytes are refused or ignored cleanly. */
Test(hostile, api_key_content_type_and_request_id_of_any_bytes_are_answered_cleanly)
{
    char req[1024], id[96];
    fresh_request_id("key", id);
    /* An API key that is not one: 401, and nothing of it reaches PostgreSQL. */
    int n =
        snprintf(req, sizeof(req),
                 "GET /checkout-sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "x-api-key: sk_test_\xff\xfe\xc3\r\nX-Request-Id: %s\r\nConnection: close\r\n\r\n",
                 id);
    struct raw_answer a = raw_send(req, (size_t)n);
    assert_clean_refusal(&a, id, 401, "Invalid API key", "GET", "/checkout-sessions");
    raw_answer_free(&a);
    fresh_request_id("bearer", id);
    n = snprintf(req, sizeof(req),
                 "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \x01\x80\r\n"
                 "X-Request-Id: %s\r\nConnection: close\r\n\r\n",
                 id);
    a = raw_send(req, (size_t)n);
    assert_clean_refusal(&a, id, 401, NULL, "GET", "/events");
    raw_answer_free(&a);
    /* A content type of junk bytes: 415. */
    fresh_request_id("type", id);
    a = raw_request("POST", "/webhook-endpoints", "Content-Type: application/\xff\xfe\r\n", id);
    assert_clean_refusal(&a, id, 415, "Content-Type must be application/json", "POST",
                         "/webhook-endpoints");
    raw_answer_free(&a);
    /* A request id of junk bytes is not echoed: one is made, and logged. */
    n = snprintf(req, sizeof(req),
                 "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: \xff\xfe-\x01\r\n"
                 "Connection: close\r\n\r\n");
    a = raw_send(req, (size_t)n);
    cr_assert_eq(a.status, 200);
    cr_assert_eq(strlen(a.request_id), 36, "a generated id, not the junk: %s", a.request_id);
    json_t *line = access_log_line(a.request_id);
    cr_assert(line != NULL, "no access-log line for %s", a.request_id);
    json_decref(line);
    raw_answer_free(&a);
}
