#include "support.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

const char *test_env(const char *name)
{
    const char *v = getenv(name);
    cr_assert(v != NULL && v[0] != '\0',
              "%s is not set: run the suite through tests/integration/run.sh", name);
    return v;
}

void test_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

struct test_buffer {
    char *data;
    size_t len;
};

static size_t test_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct test_buffer *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    cr_assert(grown != NULL);
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

static void test_copy_header(const char *line, size_t n, const char *name, char *out, size_t outlen)
{
    size_t nl = strlen(name);
    if (n <= nl + 1 || strncasecmp(line, name, nl) != 0 || line[nl] != ':')
        return;
    const char *v = line + nl + 1;
    while (*v == ' ')
        v++;
    size_t vl = n - (size_t)(v - line);
    while (vl > 0 && (v[vl - 1] == '\r' || v[vl - 1] == '\n'))
        vl--;
    snprintf(out, outlen, "%.*s", (int)vl, v);
}

static size_t test_header_cb(char *line, size_t size, size_t nitems, void *userdata)
{
    struct api_response *r = userdata;
    size_t n = size * nitems;
    char replayed[16] = "";
    test_copy_header(line, n, "X-Request-Id", r->request_id, sizeof(r->request_id));
    test_copy_header(line, n, "Location", r->location, sizeof(r->location));
    test_copy_header(line, n, "Content-Type", r->content_type, sizeof(r->content_type));
    test_copy_header(line, n, "Idempotent-Replayed", replayed, sizeof(replayed));
    if (strcmp(replayed, "true") == 0)
        r->idempotent_replayed = true;
    return n;
}

struct api_response test_api(const char *method, const char *path, const char *api_key,
                             const char *body, const char *const *headers)
{
    return test_api_at(test_env("CAISSE_TEST_URL"), method, path, api_key, body, headers);
}

struct api_response test_api_at(const char *base_url, const char *method, const char *path,
                                const char *api_key, const char *body, const char *const *headers)
{
    struct api_response r;
    memset(&r, 0, sizeof(r));
    char url[2048];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    CURL *c = curl_easy_init();
    cr_assert(c != NULL);
    struct curl_slist *h = NULL;
    char keyh[256];
    if (api_key != NULL) {
        snprintf(keyh, sizeof(keyh), "x-api-key: %s", api_key);
        h = curl_slist_append(h, keyh);
    }
    for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
        h = curl_slist_append(h, headers[i]);
    h = curl_slist_append(h, "Expect:");
    struct test_buffer buf = {NULL, 0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, test_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, test_header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    cr_assert(rc == CURLE_OK, "%s %s failed: %s", method, path, curl_easy_strerror(rc));
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    r.text = buf.data != NULL ? buf.data : strdup("");
    r.json = json_loads(r.text, 0, NULL);
    return r;
}

void test_api_free(struct api_response *r)
{
    free(r->text);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

struct api_response test_create(const char *api_key, const char *body)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    return test_api("POST", "/checkout-sessions", api_key, body, h);
}

char *test_body(const char *extra)
{
    json_t *o = json_pack("{si ss ss ss}", "amount", 10000, "currency_code", "XOF", "title",
                          "Premium Subscription", "customer_email", "john@example.com");
    if (extra != NULL) {
        json_t *e = json_loads(extra, 0, NULL);
        cr_assert(json_is_object(e), "bad extra JSON: %s", extra);
        json_object_update(o, e);
        json_decref(e);
    }
    char *text = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return text;
}

void test_assert_error(const struct api_response *r, long status, const char *code,
                       const char *param, const char *message)
{
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->text);
    cr_assert(json_is_object(r->json), "error body is not JSON: %s", r->text);
    cr_assert_eq(json_integer_value(json_object_get(r->json, "statusCode")), status);
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "code")), code, "body: %s",
                     r->text);
    if (message != NULL)
        cr_assert_str_eq(json_string_value(json_object_get(r->json, "message")), message);
    json_t *p = json_object_get(r->json, "param");
    if (param == NULL)
        cr_assert(json_is_null(p), "param should be null: %s", r->text);
    else
        cr_assert_str_eq(json_string_value(p), param, "body: %s", r->text);
    cr_assert(json_is_string(json_object_get(r->json, "error")));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "request_id")), r->request_id);
}

static char *test_run_capture(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL);
    struct test_buffer b = {NULL, 0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), p)) > 0)
        test_write_cb(chunk, 1, n, &b);
    pclose(p);
    return b.data != NULL ? b.data : strdup("");
}

json_t *test_kafka_read_all(const char *topic)
{
    char cmd[1024];
    /* -e: stop at the end of every partition; -J: one JSON envelope per record. */
    snprintf(cmd, sizeof(cmd), "kcat -C -b %s -t %s -o beginning -e -J -q 2>/dev/null",
             test_env("CAISSE_KAFKA_BROKERS"), topic);
    char *out = test_run_capture(cmd);
    json_t *all = json_array();
    char *save = NULL;
    for (char *line = strtok_r(out, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *rec = json_loads(line, 0, NULL);
        if (rec != NULL)
            json_array_append_new(all, rec);
    }
    free(out);
    return all;
}

json_t *test_kafka_events_for(const char *session_id, size_t min_count, int timeout_ms)
{
    for (int waited = 0;; waited += 250) {
        json_t *all = test_kafka_read_all("checkout.session.events");
        json_t *mine = json_array();
        size_t i;
        json_t *rec;
        json_array_foreach(all, i, rec)
        {
            json_t *ev = json_loads(json_string_value(json_object_get(rec, "payload")), 0, NULL);
            const char *subject = json_string_value(json_object_get(ev, "subject"));
            if (subject != NULL && strcmp(subject, session_id) == 0) {
                json_object_set(ev, "_headers", json_object_get(rec, "headers"));
                json_object_set(ev, "_key", json_object_get(rec, "key"));
                json_array_append_new(mine, ev);
            } else {
                json_decref(ev);
            }
        }
        json_decref(all);
        if (json_array_size(mine) >= min_count || waited >= timeout_ms)
            return mine;
        json_decref(mine);
        test_sleep_ms(250);
    }
}

char *test_sql_value(const char *sql, const char *param)
{
    PGconn *c = PQconnectdb(test_env("CAISSE_DATABASE_URL"));
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    const char *params[1] = {param};
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    char *v = PQntuples(r) > 0 && !PQgetisnull(r, 0, 0) ? strdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    PQfinish(c);
    return v;
}

int test_shell(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    cr_assert(len >= 0);
    char *cmd = malloc((size_t)len + 1);
    cr_assert(cmd != NULL);
    va_start(ap, fmt);
    vsnprintf(cmd, (size_t)len + 1, fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    free(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
