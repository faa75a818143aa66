#include "support.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"

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

size_t test_capture_header_cb(char *line, size_t size, size_t nitems, void *headers)
{
    json_t *all = headers;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(line, "HTTP/", 5) == 0) {
        json_object_clear(all); /* a new response starts (after a 100 Continue, say) */
        return n;
    }
    const char *colon = memchr(line, ':', n);
    if (colon == NULL || colon == line)
        return n; /* the blank line that ends the headers */
    char name[128];
    size_t nl =
        (size_t)(colon - line) < sizeof(name) - 1 ? (size_t)(colon - line) : sizeof(name) - 1;
    for (size_t i = 0; i < nl; i++)
        name[i] = (char)tolower((unsigned char)line[i]);
    name[nl] = '\0';
    const char *v = colon + 1;
    const char *end = line + n;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    json_t *value = json_stringn(v, (size_t)(end - v));
    if (value == NULL)
        return n; /* not UTF-8: no header of ours, nothing to check */
    const char *earlier = json_string_value(json_object_get(all, name));
    if (earlier != NULL) {
        /* A repeated header is one list (RFC 9110, 5.3). */
        char *joined = NULL;
        if (asprintf(&joined, "%s, %s", earlier, json_string_value(value)) >= 0) {
            json_decref(value);
            value = json_string(joined);
            free(joined);
        }
    }
    json_object_set_new(all, name, value);
    return n;
}

/* Which listener of the stack base_url is, NULL for anything else. */
static const char *test_capture_listener(const char *base_url)
{
    static const char *const merchant[] = {"CAISSE_TEST_URL", "CAISSE_TEST_SHORT_TTL_URL"};
    for (size_t i = 0; i < sizeof(merchant) / sizeof(*merchant); i++) {
        const char *url = getenv(merchant[i]);
        if (url != NULL && strcmp(url, base_url) == 0)
            return "merchant";
    }
    const char *internal = getenv("CAISSE_TEST_INTERNAL_URL");
    if (internal != NULL && strcmp(internal, base_url) == 0)
        return "internal";
    return NULL;
}

int test_capture_response(const char *base_url, const char *method, const char *path, long status,
                          const json_t *headers, const char *body, size_t body_len)
{
    const char *file = getenv("CAISSE_TEST_HTTP_CAPTURE");
    const char *listener = test_capture_listener(base_url);
    if (file == NULL || file[0] == '\0' || listener == NULL)
        return 0;
    json_t *rec = json_pack("{ss ss ss sI sO}", "listener", listener, "method", method, "path",
                            path, "status", (json_int_t)status, "headers", headers);
    json_t *text = json_stringn(body != NULL ? body : "", body != NULL ? body_len : 0);
    /* Not UTF-8 cannot be JSON text: the checker fails it as such. */
    if (rec != NULL)
        json_object_set_new(rec, "body", text != NULL ? text : json_null());
    else
        json_decref(text);
    char *line = rec != NULL ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    int rc = -1;
    int fd = line != NULL ? open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : -1;
    /* Several test processes and threads append at once: one locked write per line. */
    if (fd >= 0 && flock(fd, LOCK_EX) == 0) {
        size_t len = strlen(line);
        line[len] = '\n'; /* replaces the terminator; len + 1 bytes are written */
        size_t done = 0;
        while (done < len + 1) {
            ssize_t w = write(fd, line + done, len + 1 - done);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                break;
            done += (size_t)w;
        }
        rc = done == len + 1 ? 0 : -1;
    }
    if (fd >= 0)
        close(fd);
    free(line);
    if (rc != 0)
        fprintf(stderr, "could not record %s %s in %s\n", method, path, file);
    return rc;
}

void test_capture_curl_files(const char *base_url, const char *method, const char *path,
                             const char *header_file, const char *body_file)
{
    FILE *h = fopen(header_file, "r");
    cr_assert(h != NULL, "curl wrote no headers to %s", header_file);
    json_t *headers = json_object();
    long status = 0;
    char line[8192];
    while (fgets(line, sizeof(line), h) != NULL) {
        if (strncmp(line, "HTTP/", 5) == 0) {
            const char *sp = strchr(line, ' ');
            cr_assert(sp != NULL, "status line %s", line);
            status = strtol(sp + 1, NULL, 10);
        }
        test_capture_header_cb(line, 1, strlen(line), headers);
    }
    fclose(h);
    FILE *b = fopen(body_file, "rb");
    cr_assert(b != NULL, "curl wrote no body to %s", body_file);
    struct test_buffer buf = {NULL, 0};
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), b)) > 0)
        test_write_cb(chunk, 1, n, &buf);
    fclose(b);
    cr_assert_eq(test_capture_response(base_url, method, path, status, headers, buf.data, buf.len),
                 0);
    free(buf.data);
    json_decref(headers);
}

static size_t test_header_cb(char *line, size_t size, size_t nitems, void *userdata)
{
    struct api_response *r = userdata;
    size_t n = size * nitems;
    test_capture_header_cb(line, size, nitems, r->headers);
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

/* test_api_at; a transport error (a listener not up yet, a reset) fails the
 * test unless tolerated, in which case it answers status 0. */
static struct api_response test_api_call(const char *base_url, const char *method, const char *path,
                                         const char *api_key, const char *body,
                                         const char *const *headers, bool tolerate_transport)
{
    struct api_response r;
    memset(&r, 0, sizeof(r));
    r.headers = json_object();
    cr_assert(r.headers != NULL);
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
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L); /* else curl waits for the body HEAD has not */
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    cr_assert(rc == CURLE_OK || tolerate_transport, "%s %s failed: %s", method, path,
              curl_easy_strerror(rc));
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (rc == CURLE_OK)
        cr_assert_eq(
            test_capture_response(base_url, method, path, r.status, r.headers, buf.data, buf.len),
            0);
    r.text = buf.data != NULL ? buf.data : strdup("");
    r.json = json_loads(r.text, 0, NULL);
    return r;
}

struct api_response test_api_at(const char *base_url, const char *method, const char *path,
                                const char *api_key, const char *body, const char *const *headers)
{
    return test_api_call(base_url, method, path, api_key, body, headers, false);
}

struct api_response test_api_try_at(const char *base_url, const char *method, const char *path,
                                    const char *api_key, const char *body,
                                    const char *const *headers)
{
    return test_api_call(base_url, method, path, api_key, body, headers, true);
}

long test_wait_readyz(const char *base_url, long want, int seconds, char *reason, size_t reasonlen)
{
    long status = 0;
    for (int64_t end = clock_now_ms() + seconds * 1000L;; test_sleep_ms(250)) {
        struct api_response r = test_api_try_at(base_url, "GET", "/readyz", NULL, NULL, NULL);
        status = r.status;
        const char *why = json_string_value(json_object_get(r.json, "reason"));
        if (reason != NULL)
            snprintf(reason, reasonlen, "%s", why != NULL ? why : "");
        test_api_free(&r);
        if (status == want || clock_now_ms() >= end)
            return status;
    }
}

void test_api_free(struct api_response *r)
{
    free(r->text);
    json_decref(r->json);
    json_decref(r->headers);
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
    char cmd[2560];
    /* -e: stop at the end of every partition; -J: one JSON envelope per record.
     * Kafka's ACLs: the events as the stack's reader (KCAT_CONFIG), anything else
     * (the commands, which only the session worker may read) as its admin. */
    char login[1024] = "";
    if (strcmp(topic, "checkout.session.events") != 0)
        snprintf(login, sizeof(login), "-F %s/admin.kcat.conf ",
                 test_env("CAISSE_KAFKA_SECURITY_DIR"));
    snprintf(cmd, sizeof(cmd), "kcat %s-C -b %s -t %s -o beginning -e -J -q 2>/dev/null", login,
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

char *test_completion_body(const char *session_id, const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    cr_assert(json_is_object(o), "bad completion body: %s", body);
    json_t *rows = test_sql_rows("SELECT coalesce(amount_total, amount)::text, currency_code"
                                 " FROM checkout_sessions WHERE id::text = $1",
                                 session_id);
    json_t *row = json_array_get(rows, 0);
    const char *amount = row != NULL ? json_string_value(json_array_get(row, 0)) : "1";
    const char *currency = row != NULL ? json_string_value(json_array_get(row, 1)) : "XOF";
    if (json_object_get(o, "amount") == NULL)
        json_object_set_new(o, "amount", json_integer(strtoll(amount, NULL, 10)));
    if (json_object_get(o, "currency_code") == NULL)
        json_object_set_new(o, "currency_code", json_string(currency));
    json_decref(rows);
    char *text = json_dumps(o, JSON_COMPACT);
    cr_assert(text != NULL);
    json_decref(o);
    return text;
}

/* A string of n copies of c. */
static json_t *test_repeat(char c, size_t n, const char *prefix)
{
    size_t p = strlen(prefix);
    char *s = malloc(p + n + 1);
    cr_assert_not_null(s);
    memcpy(s, prefix, p);
    memset(s + p, c, n);
    s[p + n] = '\0';
    json_t *v = json_string(s);
    free(s);
    return v;
}

char *test_largest_session_body(const char *marker)
{
    enum { BODY_MAX = 64 * 1024, MARGIN = 16, KEYS = 50, KEY_LEN = 40, VALUE_MAX = 2000 };
    json_t *o = json_pack("{sI ss so so ss ss so so}", "amount", (json_int_t)1000000000000LL,
                          "currency_code", "XOF", "title", test_repeat('T', 250, ""), "description",
                          test_repeat('D', 2000, ""), "customer_email", "largest@example.com",
                          "customer_name", "Awa Diop", "success_url",
                          test_repeat('s', 2048 - 20, "https://example.com/"), "cancel_url",
                          test_repeat('c', 2048 - 20, "https://example.com/"));
    cr_assert_not_null(o);
    json_t *metadata = json_object();
    char key[KEY_LEN + 1];
    for (int i = 0; i < KEYS; i++) {
        snprintf(key, sizeof(key), "%0*d", KEY_LEN, i);
        json_object_set_new(metadata, key, json_string(""));
    }
    if (marker != NULL)
        json_object_set_new(metadata, "marker", json_string(marker));
    if (marker != NULL) {
        snprintf(key, sizeof(key), "%0*d", KEY_LEN, 0);
        json_object_del(metadata, key); /* still 50 keys */
    }
    json_object_set_new(o, "metadata", metadata);
    char *text = json_dumps(o, JSON_COMPACT);
    cr_assert_not_null(text);
    size_t left = BODY_MAX - MARGIN - strlen(text);
    free(text);
    /* The rest, in 'x's (no escapes: each is one byte of the body). */
    size_t each = left / (KEYS - 1);
    for (int i = 1; i < KEYS; i++) {
        snprintf(key, sizeof(key), "%0*d", KEY_LEN, i);
        size_t n = each < VALUE_MAX ? each : VALUE_MAX;
        json_object_set_new(metadata, key, test_repeat('x', n, ""));
    }
    text = json_dumps(o, JSON_COMPACT);
    cr_assert_not_null(text);
    json_decref(o);
    cr_assert_leq(strlen(text), (size_t)BODY_MAX);
    return text;
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

/* ---- gateways of a test's own -------------------------------------------------------- */

static void own_gateway_file(const char *name, const char *ext, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/run/%s.%s", test_env("CAISSE_STACK_DIR"), name, ext);
}

void test_own_gateway_start(const char *name, int offset, const char *env, char *url, size_t urllen)
{
    char pidfile[1024], exitfile[1024];
    own_gateway_file(name, "pid", pidfile, sizeof(pidfile));
    own_gateway_file(name, "exit", exitfile, sizeof(exitfile));
    unlink(exitfile);
    long port = strtol(test_env("CAISSE_GATEWAY_PORT"), NULL, 10) + offset;
    const char *dir = test_env("CAISSE_STACK_DIR");
    /* A supervisor shell keeps the exit status, as stack.sh does for the services. */
    /* As the gateway's own database user, unless env says otherwise. */
    const char *gateway_db = getenv("CAISSE_TEST_GATEWAY_DATABASE_URL");
    int rc = test_shell("CAISSE_DATABASE_URL='%s' %s CAISSE_GATEWAY_PORT=%ld"
                        " CAISSE_GATEWAY_INTERNAL_PORT=%ld"
                        " setsid bash -c '\"$1\" & pid=$!; echo $pid >\"$2\"; wait $pid;"
                        " echo $? >\"$3\"' own-gateway %s/build/bin/caisse-gateway %s %s"
                        " >>%s/logs/%s.log 2>&1 </dev/null &",
                        gateway_db != NULL ? gateway_db : test_env("CAISSE_DATABASE_URL"),
                        env != NULL ? env : "", port, port + 1, test_env("CAISSE_TEST_REPO"),
                        pidfile, exitfile, dir, name);
    cr_assert_eq(rc, 0, "cannot start %s", name);
    snprintf(url, urllen, "http://127.0.0.1:%ld", port);
    for (int i = 0; i < 150; i++) {
        if (test_shell("curl -fsS -o /dev/null %s/healthz 2>/dev/null", url) == 0)
            return;
        test_sleep_ms(200);
    }
    cr_assert_fail("%s did not answer on %s within 30 s", name, url);
}

int test_own_gateway_stop(const char *name, long timeout_ms)
{
    char pidfile[1024], exitfile[1024];
    own_gateway_file(name, "pid", pidfile, sizeof(pidfile));
    own_gateway_file(name, "exit", exitfile, sizeof(exitfile));
    FILE *f = fopen(pidfile, "r");
    if (f == NULL)
        return -2;
    char line[32] = "";
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    long pid = ok != NULL ? strtol(line, NULL, 10) : 0;
    if (pid <= 0 || kill((pid_t)pid, SIGTERM) != 0) {
        unlink(pidfile);
        return -2;
    }
    int status = -1;
    for (long waited = 0; waited <= timeout_ms && status < 0; waited += 50) {
        FILE *e = fopen(exitfile, "r");
        if (e != NULL) {
            char v[16] = "";
            char *got = fgets(v, sizeof(v), e);
            fclose(e);
            char *end = NULL;
            long n = got != NULL ? strtol(v, &end, 10) : -1;
            if (end != NULL && end != v)
                status = (int)n;
        }
        if (status < 0)
            test_sleep_ms(50);
    }
    if (status < 0)
        kill((pid_t)pid, SIGKILL);
    unlink(pidfile);
    return status;
}

struct test_post_buffer {
    char *data;
    size_t len;
};

static size_t test_post_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct test_post_buffer *b = userdata;
    size_t n = size * nmemb;
    char *grown = realloc(b->data, b->len + n + 1);
    if (grown == NULL)
        return 0; /* makes the transfer fail: recorded as a transport error */
    memcpy(grown + b->len, ptr, n);
    b->len += n;
    grown[b->len] = '\0';
    b->data = grown;
    return n;
}

long test_post_from_thread(CURL *c, const char *base_url, const char *path,
                           const char *const *extra_headers, const char *body, long timeout_s,
                           char **out)
{
    char url[512];
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    json_t *headers = json_object();
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    for (size_t i = 0; extra_headers != NULL && extra_headers[i] != NULL; i++)
        h = curl_slist_append(h, extra_headers[i]);
    h = curl_slist_append(h, "Expect:");
    struct test_post_buffer buf = {NULL, 0};
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, test_post_write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    if (headers != NULL) {
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, test_capture_header_cb);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, headers);
    }
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    /* A failure to record shows on stderr only: nothing on this thread may assert. */
    if (status != 0 && headers != NULL)
        test_capture_response(base_url, "POST", path, status, headers, buf.data,
                              buf.data != NULL ? buf.len : 0);
    json_decref(headers);
    curl_slist_free_all(h);
    *out = buf.data;
    return status;
}
