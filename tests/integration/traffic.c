/* Helpers of the crash and restart tests (crash.c): a bounded background
 * traffic runner, a per-session tally of the events on Kafka, whole query
 * results, and control of the stack's service processes. Declared in
 * support.h. The traffic threads never call a Criterion assertion (only the
 * test's own thread may); they record what they saw for the test to judge. */
#include "core/clock.h"
#include "support.h"

#include <criterion/criterion.h>
#include <curl/curl.h>
#include <errno.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ---- background traffic --------------------------------------------------------- */

enum { TRAFFIC_MAX_THREADS = 16, TRAFFIC_STATUSES = 600 };

struct test_traffic {
    struct test_traffic_options o;
    char *url;            /* merchant API base */
    char *internal_url;   /* internal API base */
    char *internal_token; /* service token */
    pthread_t threads[TRAFFIC_MAX_THREADS];
    int started;
    pthread_mutex_t lock;
    struct test_traffic_op *ops; /* o.creates slots, filled in issue order */
    size_t issued;               /* creates handed out to threads */
    long create_answers[TRAFFIC_STATUSES];
    long complete_answers[TRAFFIC_STATUSES];
    bool stop;
};

/* Longer than any answer the gateway may legitimately take (a 503 after a
 * broker loss comes within ~3x the 5 s Kafka timeout). */
#define TRAFFIC_TIMEOUT_S 60L

static long traffic_post(CURL *c, const char *base_url, const char *path, const char *auth_header,
                         const char *body, char **out)
{
    const char *const extra[] = {auth_header, NULL};
    return test_post_from_thread(c, base_url, path, extra, body, TRAFFIC_TIMEOUT_S, out);
}

static void traffic_count(long *answers, long status)
{
    answers[status >= 0 && status < TRAFFIC_STATUSES ? status : 0]++;
}

static bool traffic_stopping(struct test_traffic *t)
{
    pthread_mutex_lock(&t->lock);
    bool stop = t->stop;
    pthread_mutex_unlock(&t->lock);
    return stop;
}

/* Creates one session; returns its slot, or -1 when there is nothing left to do. */
static long traffic_create(struct test_traffic *t, CURL *c, const char *key_header)
{
    pthread_mutex_lock(&t->lock);
    if (t->stop || t->issued >= (size_t)t->o.creates) {
        pthread_mutex_unlock(&t->lock);
        return -1;
    }
    size_t slot = t->issued++;
    pthread_mutex_unlock(&t->lock);

    json_t *body = json_pack("{si ss ss ss s{ss si}}", "amount", 10000, "currency_code", "XOF",
                             "title", "Crash test", "customer_email", "crash@example.com",
                             "metadata", "traffic", t->o.marker, "seq", (int)slot);
    char *text = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    char *answer = NULL;
    long status =
        text != NULL ? traffic_post(c, t->url, "/checkout-sessions", key_header, text, &answer) : 0;
    free(text);
    json_t *j = answer != NULL ? json_loads(answer, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "checkout_session_id"));

    pthread_mutex_lock(&t->lock);
    struct test_traffic_op *op = &t->ops[slot];
    op->create_status = status;
    if ((status == 201 || status == 202) && id != NULL)
        snprintf(op->id, sizeof(op->id), "%s", id);
    op->complete_wanted = (status == 201 || status == 202) && id != NULL &&
                          t->o.complete_every > 0 && slot % (size_t)t->o.complete_every == 0;
    traffic_count(t->create_answers, status);
    pthread_mutex_unlock(&t->lock);
    json_decref(j);
    free(answer);
    return (long)slot;
}

/* One completion attempt of slot; returns its HTTP status. A 404 (the
 * acknowledged create is not readable yet) is left for a later attempt. */
static long traffic_complete(struct test_traffic *t, CURL *c, const char *auth_header, size_t slot)
{
    char id[64];
    pthread_mutex_lock(&t->lock);
    snprintf(id, sizeof(id), "%s", t->ops[slot].id);
    pthread_mutex_unlock(&t->lock);
    char path[256], body[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", id);
    /* The amount and currency of every traffic create (traffic_create). */
    snprintf(body, sizeof(body),
             "{\"payment_reference\": \"pay-%s\", \"amount\": 10000, \"currency_code\": \"XOF\"}",
             id);
    char *answer = NULL;
    long status = traffic_post(c, t->internal_url, path, auth_header, body, &answer);
    free(answer);
    pthread_mutex_lock(&t->lock);
    struct test_traffic_op *op = &t->ops[slot];
    op->complete_attempts++;
    op->complete_status = status;
    if (status != 404)
        traffic_count(t->complete_answers, status);
    pthread_mutex_unlock(&t->lock);
    return status;
}

static void *traffic_thread(void *arg)
{
    struct test_traffic *t = arg;
    CURL *create_handle = curl_easy_init();
    CURL *complete_handle = curl_easy_init();
    char key_header[256], auth_header[256];
    snprintf(key_header, sizeof(key_header), "x-api-key: %s", t->o.api_key);
    snprintf(auth_header, sizeof(auth_header), "Authorization: Bearer %s", t->internal_token);
    /* This thread's completions still to do, oldest first. */
    size_t *queue = calloc((size_t)t->o.creates, sizeof(*queue));
    size_t head = 0, tail = 0;
    if (create_handle == NULL || complete_handle == NULL || queue == NULL)
        goto out;
    for (;;) {
        long slot = traffic_create(t, create_handle, key_header);
        if (slot < 0)
            break;
        pthread_mutex_lock(&t->lock);
        bool wanted = t->ops[slot].complete_wanted;
        pthread_mutex_unlock(&t->lock);
        if (wanted)
            queue[tail++] = (size_t)slot;
        /* Complete what is readable, oldest first, stopping at the first that
         * is not yet (the ones after it are younger). The newest waits one
         * round, so completions run behind the creates, as payments do. */
        while (head + (wanted ? 1 : 0) < tail &&
               traffic_complete(t, complete_handle, auth_header, queue[head]) != 404)
            head++;
        if (t->o.pause_ms > 0)
            test_sleep_ms(t->o.pause_ms);
    }
    /* Then the rest, retrying the not-yet-readable ones for a bounded time. */
    long deadline = clock_now_ms() + (long)t->o.completion_deadline_s * 1000;
    while (head < tail) {
        if (traffic_complete(t, complete_handle, auth_header, queue[head]) != 404) {
            head++;
            continue;
        }
        if (clock_now_ms() > deadline || traffic_stopping(t))
            head++; /* given up: stays recorded as 404 for the test to judge */
        else
            test_sleep_ms(250);
    }
out:
    free(queue);
    if (create_handle != NULL)
        curl_easy_cleanup(create_handle);
    if (complete_handle != NULL)
        curl_easy_cleanup(complete_handle);
    return NULL;
}

struct test_traffic *test_traffic_start(const struct test_traffic_options *o)
{
    cr_assert(o->threads >= 1 && o->threads <= TRAFFIC_MAX_THREADS);
    cr_assert(o->creates >= 1 && o->marker != NULL && o->api_key != NULL);
    /* On this thread, before any other: curl_global_init is not thread-safe. */
    cr_assert_eq(curl_global_init(CURL_GLOBAL_DEFAULT), CURLE_OK);
    struct test_traffic *t = calloc(1, sizeof(*t));
    cr_assert(t != NULL);
    t->o = *o;
    t->url = strdup(test_env("CAISSE_TEST_URL"));
    t->internal_url = strdup(test_env("CAISSE_TEST_INTERNAL_URL"));
    t->internal_token = strdup(test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    t->ops = calloc((size_t)o->creates, sizeof(*t->ops));
    cr_assert(t->url != NULL && t->internal_url != NULL && t->internal_token != NULL &&
              t->ops != NULL);
    pthread_mutex_init(&t->lock, NULL);
    for (int i = 0; i < o->threads; i++) {
        cr_assert_eq(pthread_create(&t->threads[i], NULL, traffic_thread, t), 0);
        t->started++;
    }
    return t;
}

long test_traffic_count(struct test_traffic *t, long status)
{
    long n = 0;
    pthread_mutex_lock(&t->lock);
    if (status < 0) {
        for (int i = 0; i < TRAFFIC_STATUSES; i++)
            n += t->create_answers[i];
    } else if (status < TRAFFIC_STATUSES) {
        n = t->create_answers[status];
    }
    pthread_mutex_unlock(&t->lock);
    return n;
}

bool test_traffic_done(struct test_traffic *t)
{
    return test_traffic_count(t, -1) >= t->o.creates;
}

void test_traffic_stop(struct test_traffic *t)
{
    pthread_mutex_lock(&t->lock);
    t->stop = true;
    pthread_mutex_unlock(&t->lock);
}

void test_traffic_join(struct test_traffic *t)
{
    for (int i = 0; i < t->started; i++)
        pthread_join(t->threads[i], NULL);
    t->started = 0;
}

const struct test_traffic_op *test_traffic_ops(const struct test_traffic *t, size_t *n)
{
    *n = t->issued;
    return t->ops;
}

static void traffic_histogram(const long *answers, char *out, size_t outlen)
{
    size_t used = 0;
    out[0] = '\0';
    for (int s = 0; s < TRAFFIC_STATUSES && used < outlen; s++) {
        if (answers[s] == 0)
            continue;
        int w = s == 0 ? snprintf(out + used, outlen - used, "%stransport-error:%ld",
                                  used > 0 ? " " : "", answers[s])
                       : snprintf(out + used, outlen - used, "%s%d:%ld", used > 0 ? " " : "", s,
                                  answers[s]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}

void test_traffic_summary(const struct test_traffic *t, char *out, size_t outlen)
{
    char creates[512], completes[512];
    traffic_histogram(t->create_answers, creates, sizeof(creates));
    traffic_histogram(t->complete_answers, completes, sizeof(completes));
    snprintf(out, outlen, "creates {%s} completions {%s}", creates, completes);
}

void test_traffic_free(struct test_traffic *t)
{
    if (t == NULL)
        return;
    test_traffic_stop(t);
    test_traffic_join(t);
    pthread_mutex_destroy(&t->lock);
    free(t->ops);
    free(t->url);
    free(t->internal_url);
    free(t->internal_token);
    free(t);
}

/* ---- Kafka ---------------------------------------------------------------------------- */

json_t *test_kafka_tally(const json_t *subjects)
{
    json_t *tally = json_object();
    json_t *all = test_kafka_read_all("checkout.session.events");
    size_t i;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        json_t *ev = json_loads(json_string_value(json_object_get(rec, "payload")), 0, NULL);
        const char *subject = json_string_value(json_object_get(ev, "subject"));
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *id = json_string_value(json_object_get(ev, "id"));
        if (subject != NULL && json_object_get(subjects, subject) != NULL) {
            json_t *by_type = json_object_get(tally, subject);
            if (by_type == NULL) {
                by_type = json_object();
                json_object_set_new(tally, subject, by_type);
            }
            /* A malformed event still counts, under a type and id that no check accepts. */
            const char *t = type != NULL ? type : "(no type)";
            json_t *ids = json_object_get(by_type, t);
            if (ids == NULL) {
                ids = json_object();
                json_object_set_new(by_type, t, ids);
            }
            const char *k = id != NULL ? id : "(no id)";
            json_int_t seen = json_integer_value(json_object_get(ids, k));
            json_object_set_new(ids, k, json_integer(seen + 1));
        }
        json_decref(ev);
    }
    json_decref(all);
    return tally;
}

/* ---- PostgreSQL --------------------------------------------------------------------------- */

json_t *test_sql_rows(const char *sql, const char *param)
{
    PGconn *c = PQconnectdb(test_env("CAISSE_DATABASE_URL"));
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    const char *params[1] = {param};
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *row = json_array();
        for (int j = 0; j < PQnfields(r); j++)
            json_array_append_new(row, PQgetisnull(r, i, j) ? json_null()
                                                            : json_string(PQgetvalue(r, i, j)));
        json_array_append_new(rows, row);
    }
    PQclear(r);
    PQfinish(c);
    return rows;
}

/* ---- stack services ---------------------------------------------------------------------- */

static void service_pidfile(const char *name, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/run/%s.pid", test_env("CAISSE_STACK_DIR"), name);
}

/* Alive and not a zombie (a killed service is nobody's child here; until the
 * init process reaps it, kill(pid, 0) would still succeed). */
static bool service_alive(pid_t pid)
{
    char path[64], stat[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return false;
    size_t n = fread(stat, 1, sizeof(stat) - 1, f);
    fclose(f);
    stat[n] = '\0';
    const char *close_paren = strrchr(stat, ')');
    return close_paren != NULL && close_paren[1] == ' ' && close_paren[2] != 'Z' &&
           close_paren[2] != 'X';
}

pid_t test_service_pid(const char *name)
{
    char path[1024];
    service_pidfile(name, path, sizeof(path));
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[32] = "";
    char *ok = fgets(line, sizeof(line), f);
    fclose(f);
    char *end = NULL;
    long pid = ok != NULL ? strtol(line, &end, 10) : 0;
    if (end == line || pid <= 1 || !service_alive((pid_t)pid))
        return 0;
    return (pid_t)pid;
}

void test_service_kill9(const char *name)
{
    pid_t pid = test_service_pid(name);
    cr_assert(pid > 0, "%s is not running", name);
    cr_assert_eq(kill(pid, SIGKILL), 0, "kill -9 %ld: %s", (long)pid, strerror(errno));
    for (int i = 0; i < 200 && service_alive(pid); i++)
        test_sleep_ms(50);
    cr_assert(!service_alive(pid), "%s (pid %ld) survived SIGKILL", name, (long)pid);
    /* As stack.sh stop-service does: the next start must not see a stale pid. */
    char path[1024];
    service_pidfile(name, path, sizeof(path));
    unlink(path);
}

int test_service_sigterm(const char *name, long timeout_ms, long *took_ms)
{
    pid_t pid = test_service_pid(name);
    cr_assert(pid > 0, "%s is not running", name);
    char exit_path[1024];
    service_pidfile(name, exit_path, sizeof(exit_path));
    size_t len = strlen(exit_path);
    cr_assert(len > 4 && strcmp(exit_path + len - 4, ".pid") == 0);
    snprintf(exit_path + len - 4, sizeof(exit_path) - (len - 4), ".exit");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(kill(pid, SIGTERM), 0, "kill -TERM %ld: %s", (long)pid, strerror(errno));
    int status = -1;
    for (long waited = 0; waited <= timeout_ms; waited += 50) {
        /* Written by stack.sh's supervisor once the process has exited. */
        FILE *f = fopen(exit_path, "r");
        if (f != NULL) {
            char line[16] = "";
            char *ok = fgets(line, sizeof(line), f);
            fclose(f);
            char *end = NULL;
            long v = ok != NULL ? strtol(line, &end, 10) : -1;
            if (end != NULL && end != line) {
                status = (int)v;
                break;
            }
        }
        test_sleep_ms(50);
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (took_ms != NULL)
        *took_ms = (t1.tv_sec - t0.tv_sec) * 1000L + (t1.tv_nsec - t0.tv_nsec) / 1000000L;
    if (status >= 0) {
        char path[1024];
        service_pidfile(name, path, sizeof(path));
        unlink(path);
    }
    return status;
}

void test_service_start(const char *name, const char *env)
{
    if (test_service_pid(name) == 0) {
        /* A dead or zombie pid must not make start-service think it runs. */
        char path[1024];
        service_pidfile(name, path, sizeof(path));
        unlink(path);
    }
    int rc = test_shell("%s bash %s/deploy/stack.sh start-service %s >/dev/null 2>&1",
                        env != NULL ? env : "", test_env("CAISSE_TEST_REPO"), name);
    cr_assert_eq(rc, 0, "stack.sh start-service %s failed", name);
    cr_assert(test_service_pid(name) > 0, "%s did not start", name);
}

void test_service_stop(const char *name)
{
    int rc = test_shell("bash %s/deploy/stack.sh stop-service %s >/dev/null 2>&1",
                        test_env("CAISSE_TEST_REPO"), name);
    cr_assert_eq(rc, 0, "stack.sh stop-service %s failed", name);
}
