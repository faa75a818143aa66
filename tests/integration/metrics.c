/* Health and Prometheus metrics of every service against the real stack:
 * /healthz and /readyz, /metrics valid to a strict parser of the text format
 * (metrics_support.c), and the metrics following what the tests make happen:
 * requests counted exactly on a gateway of the test's own, Kafka and database
 * counters, consumer lag, expiry lag, webhook outcomes and gauges. The fault
 * cases (PostgreSQL or Kafka down) are in faults.c. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics_support.h"
#include "support.h"
#include "core/clock.h"
#include "core/uuid.h"
#include "webhook_support.h"

/* Each service's health and metrics: the gateway's on its internal port. */
struct service_url {
    const char *service;
    const char *env;
};
static const struct service_url services[] = {
    {"gateway", "CAISSE_TEST_INTERNAL_URL"},
    {"session-worker", "CAISSE_TEST_SESSION_WORKER_OPS_URL"},
    {"expiry-worker", "CAISSE_TEST_EXPIRY_WORKER_OPS_URL"},
    {"webhook-worker", "CAISSE_TEST_WEBHOOK_WORKER_OPS_URL"},
};
#define SERVICES (sizeof(services) / sizeof(services[0]))

/* ---- the parser itself ---------------------------------------------------------- */

static void expect_valid(const char *text)
{
    struct prom_scrape *s = NULL;
    char err[600] = "";
    cr_assert_eq(prom_parse(text, &s, err, sizeof(err)), 0, "rejected (%s):\n%s", err, text);
    prom_free(s);
}

static void expect_invalid(const char *text, const char *why)
{
    struct prom_scrape *s = NULL;
    char err[600] = "";
    cr_assert_neq(prom_parse(text, &s, err, sizeof(err)), 0, "accepted %s:\n%s", why, text);
    cr_assert(err[0] != '\0');
}

Test(metrics, the_test_parser_accepts_the_format_and_rejects_its_violations)
{
    expect_valid("");
    expect_valid("# HELP a_total Help with \\\\ and \\n.\n# TYPE a_total counter\n"
                 "a_total{x=\"q\\\"uote\\\\ \\n\",y=\"\"} 1\na_total 2 1700000000000\n"
                 "# a free comment\n# TYPE g gauge\ng -1.5e-3\ng{k=\"1\"} +Inf\ng{k=\"2\"} NaN\n"
                 "# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
                 "h_sum 3.5\nh_count 2\n");
    expect_invalid("# TYPE g gauge\ng 1", "a last line without newline");
    expect_invalid("# TYPE g gauge\n\ng 1\n", "an empty line");
    expect_invalid("g 1\n", "a sample without TYPE");
    expect_invalid("# TYPE g gauge\ng 1\n# TYPE g gauge\n", "a second TYPE");
    expect_invalid("# HELP g x\n# HELP g y\n# TYPE g gauge\n", "a second HELP");
    expect_invalid("# TYPE g gauge\n# TYPE f gauge\ng 1\nf 1\ng{a=\"b\"} 2\n",
                   "a family in two groups");
    expect_invalid("# TYPE g gauge\ng 1\ng 2\n", "the same series twice");
    expect_invalid("# TYPE g gauge\ng{a=\"1\",a=\"2\"} 1\n", "a label twice");
    expect_invalid("# TYPE g gauge\ng{a=\"\\t\"} 1\n", "an unknown escape");
    expect_invalid("# TYPE g gauge\ng{a=\"x} 1\n", "an unterminated label value");
    expect_invalid("# TYPE g gauge\ng{1a=\"x\"} 1\n", "a label name starting with a digit");
    expect_invalid("# TYPE g gauge\ng{a=\"x\",} 1\n", "a trailing comma");
    expect_invalid("# TYPE g gauge\ng 0x10\n", "a hex number");
    expect_invalid("# TYPE g gauge\ng inf\n", "inf spelt otherwise than +Inf");
    expect_invalid("# TYPE g gauge\ng  1\n", "two spaces");
    expect_invalid("# TYPE g gauge\ng 1 soon\n", "junk after the value");
    expect_invalid("# TYPE g widget\n", "an unknown type");
    expect_invalid("# TYPE a counter\na 1\n", "a counter not named _total");
    expect_invalid("# TYPE a_total counter\na_total -1\n", "a negative counter");
    expect_invalid("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",
                   "a histogram without +Inf");
    expect_invalid("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
                   "h_sum 1\nh_count 1\n",
                   "buckets that are not cumulative");
    expect_invalid("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
                   "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
                   "bounds out of order");
    expect_invalid("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",
                   "a _count other than the +Inf bucket");
    expect_invalid("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n", "no _sum");
    expect_invalid("# TYPE h histogram\nh_bucket 2\nh_sum 1\nh_count 2\n", "a bucket without le");
}

/* ---- health -------------------------------------------------------------------------- */

static long get_status(const char *base, const char *path, json_t **body)
{
    struct api_response r = test_api_at(base, "GET", path, NULL, NULL, NULL);
    long status = r.status;
    if (body != NULL)
        *body = json_incref(r.json);
    test_api_free(&r);
    return status;
}

/* Polls base+path until it answers want (the stack's workers may still be
 * joining their groups right after start). Returns the last status. */
static long wait_status(const char *base, const char *path, long want, int seconds)
{
    long status = 0;
    for (long deadline = clock_now_ms() + seconds * 1000L; clock_now_ms() < deadline;
         test_sleep_ms(200)) {
        /* Through refused connections: a listener may be restarting. */
        struct api_response r = test_api_try_at(base, "GET", path, NULL, NULL, NULL);
        status = r.status;
        test_api_free(&r);
        if (status == want)
            break;
    }
    return status;
}

Test(metrics, every_service_answers_healthz_and_readyz, .timeout = 120)
{
    for (size_t i = 0; i < SERVICES; i++) {
        const char *base = test_env(services[i].env);
        json_t *body = NULL;
        cr_assert_eq(get_status(base, "/healthz", &body), 200, "%s /healthz", services[i].service);
        cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "ok");
        json_decref(body);
        cr_assert_eq(wait_status(base, "/readyz", 200, 60), 200, "%s /readyz", services[i].service);
        cr_assert_eq(get_status(base, "/readyz", &body), 200);
        cr_assert_str_eq(json_string_value(json_object_get(body, "status")), "ready", "%s",
                         services[i].service);
        cr_assert(json_is_true(json_object_get(json_object_get(body, "checks"), "postgres")));
        cr_assert(json_is_false(json_object_get(json_object_get(body, "checks"), "draining")));
        json_decref(body);
    }
    /* A worker's listener serves these three routes and nothing else. */
    const char *worker = test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL");
    cr_assert_eq(get_status(worker, "/nothing-here", NULL), 404);
    struct api_response r = test_api_at(worker, "POST", "/metrics", NULL, "{}", NULL);
    cr_assert_eq(r.status, 405);
    test_api_free(&r);
}

Test(metrics, every_service_serves_valid_prometheus_text_with_its_build, .timeout = 60)
{
    for (size_t i = 0; i < SERVICES; i++) {
        struct prom_scrape *s = prom_scrape(test_env(services[i].env));
        cr_assert_eq(prom_count(s, "caisse_build_info",
                                (const char *[]){"service", services[i].service, NULL}),
                     1, "%s has no caisse_build_info", services[i].service);
        cr_assert_eq(prom_count(s, "caisse_build_info", NULL), 1);
        double started = prom_value(s, "process_start_time_seconds", NULL);
        cr_assert(started > 1.7e9 && started <= (double)time(NULL) + 1, "%s started at %f",
                  services[i].service, started);
        /* Every service talks to PostgreSQL, and every statement is measured. */
        cr_assert_gt(prom_count(s, "caisse_db_statement_duration_seconds_count", NULL), 0,
                     "%s measures no statement", services[i].service);
        prom_free(s);
    }
    /* Metrics are for the cluster, not for merchants. */
    cr_assert_eq(get_status(test_env("CAISSE_TEST_URL"), "/metrics", NULL), 404);
}

/* ---- a gateway of the test's own ------------------------------------------------------- */

static char own_pid_file[512];

static int own_port(void)
{
    const char *text = test_env("CAISSE_GATEWAY_PORT");
    char *end = NULL;
    long port = strtol(text, &end, 10);
    cr_assert(end != text && *end == '\0' && port > 0 && port < 65500, "port %s", text);
    return (int)port + 34;
}

static void stop_own_gateway(void)
{
    test_shell("pid=$(cat '%s' 2>/dev/null) && kill -TERM \"$pid\" 2>/dev/null &&"
               " for i in $(seq 1 100); do kill -0 \"$pid\" 2>/dev/null || break; sleep 0.1; done;"
               " rm -f '%s'",
               own_pid_file, own_pid_file);
}

/* Its counters start at zero and see only this test's requests, which the
 * shared gateway (used by every suite at once) could not promise. */
static void start_own_gateway(char *url, size_t urllen, char *internal, size_t internallen)
{
    const char *dir = test_env("CAISSE_STACK_DIR");
    snprintf(own_pid_file, sizeof(own_pid_file), "%s/run/gateway-metrics.pid", dir);
    int port = own_port();
    cr_assert_eq(test_shell("CAISSE_GATEWAY_PORT=%d CAISSE_GATEWAY_INTERNAL_PORT=%d"
                            " CAISSE_PUBLIC_BASE_URL=http://localhost:%s"
                            " setsid %s/build/bin/caisse-gateway >>%s/logs/gateway-metrics.log"
                            " 2>&1 </dev/null & echo $! >%s",
                            port, port + 1, test_env("CAISSE_GATEWAY_PORT"),
                            test_env("CAISSE_TEST_REPO"), dir, own_pid_file),
                 0);
    snprintf(url, urllen, "http://127.0.0.1:%d", port);
    snprintf(internal, internallen, "http://127.0.0.1:%d", port + 1);
    for (long deadline = clock_now_ms() + 30000; clock_now_ms() < deadline; test_sleep_ms(200)) {
        if (test_shell("curl -fsS -o /dev/null %s/readyz 2>/dev/null", url) == 0)
            return;
    }
    cr_assert_fail("the test's own gateway did not become ready on %s", url);
}

static double metric(const struct prom_scrape *s, const char *name, const char *const *labels)
{
    return prom_value(s, name, labels);
}

#define CREATE_ROUTE "route", "/v1/checkout-sessions", "method", "POST"
#define COMMANDS "topic", "checkout.session.commands"

Test(metrics, a_gateway_of_its_own_counts_its_requests_exactly, .timeout = 120,
     .fini = stop_own_gateway)
{
    char url[128], internal[128];
    start_own_gateway(url, sizeof(url), internal, sizeof(internal));
    const char *session_worker = test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL");
    struct prom_scrape *before = prom_scrape(internal);
    struct prom_scrape *worker_before = prom_scrape(session_worker);

    enum { N = 5 };
    long statuses[N];
    char first_id[64] = "";
    const char *h[] = {"Content-Type: application/json", NULL};
    char *body = test_body(NULL);
    long n201 = 0, n202 = 0;
    for (int i = 0; i < N; i++) {
        struct api_response r =
            test_api_at(url, "POST", "/checkout-sessions", test_env("CAISSE_TEST_KEY_A"), body, h);
        statuses[i] = r.status;
        cr_assert(r.status == 201 || r.status == 202, "create %d: %ld %s", i, r.status, r.text);
        n201 += r.status == 201;
        n202 += r.status == 202;
        if (i == 0)
            snprintf(first_id, sizeof(first_id), "%s",
                     json_string_value(json_object_get(r.json, "checkout_session_id")));
        test_api_free(&r);
    }
    free(body);
    char path[128];
    snprintf(path, sizeof(path), "/v1/checkout-sessions/%s", first_id);
    struct api_response g =
        test_api_at(url, "GET", path, test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert(g.status == 200 || (g.status == 404 && statuses[0] == 202), "GET: %ld", g.status);
    long get_status_seen = g.status;
    test_api_free(&g);
    struct api_response o = test_api_at(url, "GET", "/no/such/route", NULL, NULL, NULL);
    cr_assert_eq(o.status, 404);
    test_api_free(&o);

    /* A request is counted once its response is sent: a scrape right after
     * the answer may come a moment early (and requests on other connections
     * may be counted in another order), so wait for every count to arrive,
     * then require them exactly. */
    char get_status_text[8];
    snprintf(get_status_text, sizeof(get_status_text), "%ld", get_status_seen);
    const char *const created201[] = {CREATE_ROUTE, "status", "201", NULL};
    const char *const created202[] = {CREATE_ROUTE, "status", "202", NULL};
    const char *const timed[] = {CREATE_ROUTE, NULL};
    const char *const read[] = {
        "route", "/v1/checkout-sessions/{id}", "method", "GET", "status", get_status_text, NULL};
    const char *const other[] = {"route", "other", "method", "GET", "status", "404", NULL};
    const char *const commands[] = {COMMANDS, NULL};
    struct prom_scrape *after = NULL;
    for (long deadline = clock_now_ms() + 20000;; test_sleep_ms(200)) {
        prom_free(after);
        after = prom_scrape(internal);
        bool arrived =
            metric(after, "caisse_http_request_duration_seconds_count", timed) -
                    metric(before, "caisse_http_request_duration_seconds_count", timed) >=
                N &&
            metric(after, "caisse_http_requests_total", other) -
                    metric(before, "caisse_http_requests_total", other) >=
                1 &&
            metric(after, "caisse_http_requests_total", read) -
                    metric(before, "caisse_http_requests_total", read) >=
                1 &&
            metric(after, "caisse_kafka_messages_delivered_total", commands) -
                    metric(before, "caisse_kafka_messages_delivered_total", commands) >=
                N;
        if (arrived || clock_now_ms() > deadline)
            break;
    }
    cr_assert_eq(metric(after, "caisse_http_requests_total", created201) -
                     metric(before, "caisse_http_requests_total", created201),
                 (double)n201, "201s");
    cr_assert_eq(metric(after, "caisse_http_requests_total", created202) -
                     metric(before, "caisse_http_requests_total", created202),
                 (double)n202, "202s");
    cr_assert_eq(metric(after, "caisse_http_request_duration_seconds_count", timed) -
                     metric(before, "caisse_http_request_duration_seconds_count", timed),
                 (double)N);
    const char *const inf_bucket[] = {CREATE_ROUTE, "le", "+Inf", NULL};
    cr_assert_eq(metric(after, "caisse_http_request_duration_seconds_bucket", inf_bucket) -
                     metric(before, "caisse_http_request_duration_seconds_bucket", inf_bucket),
                 (double)N);
    cr_assert_gt(metric(after, "caisse_http_request_duration_seconds_sum", timed),
                 metric(before, "caisse_http_request_duration_seconds_sum", timed));
    cr_assert_eq(metric(after, "caisse_http_requests_total", read) -
                     metric(before, "caisse_http_requests_total", read),
                 1.0);
    cr_assert_eq(metric(after, "caisse_http_requests_total", other) -
                     metric(before, "caisse_http_requests_total", other),
                 1.0);
    /* The route is the template: no label anywhere carries the session id. */
    char *all = json_dumps(after->samples, JSON_COMPACT);
    cr_assert(strstr(all, first_id) == NULL, "a label carries the session id %s", first_id);
    free(all);

    /* One command per create, each acknowledged by the broker. */
    cr_assert_eq(metric(after, "caisse_kafka_messages_produced_total", commands) -
                     metric(before, "caisse_kafka_messages_produced_total", commands),
                 (double)N);
    cr_assert_eq(metric(after, "caisse_kafka_messages_delivered_total", commands) -
                     metric(before, "caisse_kafka_messages_delivered_total", commands),
                 (double)N);
    cr_assert_eq(metric(after, "caisse_kafka_messages_failed_total", commands) -
                     metric(before, "caisse_kafka_messages_failed_total", commands),
                 0.0);
    /* Authenticating read the API key from PostgreSQL at least once. */
    const char *const key_lookup[] = {"statement", "tenant_store_lookup_api_key", NULL};
    cr_assert_geq(metric(after, "caisse_db_statement_duration_seconds_count", key_lookup), 1.0);
    prom_free(before);
    prom_free(after);

    /* The session worker consumed them (with everyone else's commands). */
    double consumed = 0;
    for (long deadline = clock_now_ms() + 30000; clock_now_ms() < deadline; test_sleep_ms(250)) {
        struct prom_scrape *w = prom_scrape(session_worker);
        consumed = metric(w, "caisse_kafka_messages_consumed_total", commands) -
                   metric(worker_before, "caisse_kafka_messages_consumed_total", commands);
        prom_free(w);
        if (consumed >= N)
            break;
    }
    cr_assert_geq(consumed, (double)N, "the session worker consumed %f of %d", consumed, N);
    prom_free(worker_before);
}

/* ---- Kafka consumers --------------------------------------------------------------- */

/* Waits for lag gauges of topic on the worker at base; returns how many. */
static size_t wait_lag_series(const char *base, const char *topic)
{
    const char *const labels[] = {"topic", topic, NULL};
    size_t n = 0;
    for (long deadline = clock_now_ms() + 40000; clock_now_ms() < deadline && n == 0;
         test_sleep_ms(500)) {
        struct prom_scrape *s = prom_scrape(base);
        n = prom_count(s, "caisse_kafka_consumer_lag", labels);
        size_t i;
        json_t *smp;
        json_array_foreach(s->samples, i, smp)
        {
            if (strcmp(json_string_value(json_object_get(smp, "name")),
                       "caisse_kafka_consumer_lag") != 0)
                continue;
            double lag = json_real_value(json_object_get(smp, "value"));
            cr_assert(json_is_real(json_object_get(smp, "value")) && lag >= 0, "lag %f", lag);
            const char *p =
                json_string_value(json_object_get(json_object_get(smp, "labels"), "partition"));
            cr_assert(p != NULL && p[0] != '\0' && strspn(p, "0123456789") == strlen(p),
                      "partition %s", p != NULL ? p : "(none)");
        }
        prom_free(s);
    }
    return n;
}

Test(metrics, consumers_report_lag_of_the_partitions_they_hold, .timeout = 120)
{
    /* Records on the topics, so the consumers have positions to measure from. */
    char *sid = wh_session_create(test_env("CAISSE_TEST_KEY_A"));
    free(sid);
    cr_assert_gt(wait_lag_series(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"),
                                 "checkout.session.commands"),
                 0, "the session worker reports no lag of checkout.session.commands");
    cr_assert_gt(
        wait_lag_series(test_env("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL"), "checkout.session.events"),
        0, "the webhook worker reports no lag of checkout.session.events");
}

/* ---- expiry lag --------------------------------------------------------------------- */

static double scrape_one(const char *base, const char *name, const char *const *labels)
{
    struct prom_scrape *s = prom_scrape(base);
    double v = prom_value(s, name, labels);
    prom_free(s);
    return v;
}

static PGresult *pg_exec(PGconn *c, const char *sql, const char *param)
{
    const char *params[1] = {param};
    PGresult *r = PQexecParams(c, sql, param != NULL ? 1 : 0, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(r);
    cr_assert(st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    return r;
}

static PGconn *held_connection;

static void release_held(void)
{
    if (held_connection != NULL)
        PQfinish(held_connection);
    held_connection = NULL;
}

/* A session the test keeps from the expiry worker: locked before it became
 * due, it is due and open for as long as the lock is held (the worker's
 * claim skips locked rows), so the lag it causes is certain, not a race with
 * the sweeps. */
Test(metrics, expiry_lag_shows_a_due_session_held_back, .timeout = 180, .fini = release_held)
{
    const char *expiry = test_env("CAISSE_TEST_EXPIRY_WORKER_OPS_URL");
    char org[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(org), 0);
    held_connection = PQconnectdb(test_env("CAISSE_DATABASE_URL"));
    cr_assert(PQstatus(held_connection) == CONNECTION_OK);
    PGresult *r =
        pg_exec(held_connection,
                "INSERT INTO checkout_sessions (id, organization_id, environment, amount,"
                " currency_code, status, title, customer_email, quantity, expires_at, metadata,"
                " created_at, created_by, updated_at)"
                " VALUES (gen_random_uuid(), $1::uuid, 'test', 1000, 'XOF', 'open', 'Expiry lag',"
                " 'lag@example.com', 1, date_trunc('second', now()) + interval '8 seconds',"
                " '{}', date_trunc('second', now()), $1::uuid, date_trunc('second', now()))"
                " RETURNING id",
                org);
    char id[64];
    snprintf(id, sizeof(id), "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PQclear(pg_exec(held_connection, "BEGIN", NULL));
    r = pg_exec(held_connection,
                "SELECT expires_at > clock_timestamp() FROM checkout_sessions"
                " WHERE id = $1::uuid AND status = 'open' FOR UPDATE",
                id);
    cr_assert(PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0,
              "the session was due before the test could lock it (machine too slow)");
    PQclear(r);

    /* Due from 8 s on; the gauge passes 2 s some 10 s after the insert. */
    double lag = 0;
    for (long deadline = clock_now_ms() + 60000; clock_now_ms() < deadline && lag < 2;
         test_sleep_ms(250))
        lag = scrape_one(expiry, "caisse_expiry_lag_seconds", NULL);
    cr_assert_geq(lag, 2.0, "caisse_expiry_lag_seconds stayed at %f", lag);
    char *status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1::uuid", id);
    cr_assert_str_eq(status, "open");
    free(status);

    /* Let go: the worker expires it and the lag it caused goes. */
    PQclear(pg_exec(held_connection, "ROLLBACK", NULL));
    for (long deadline = clock_now_ms() + 30000; clock_now_ms() < deadline; test_sleep_ms(250)) {
        status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1::uuid", id);
        bool expired = strcmp(status, "expired") == 0;
        free(status);
        if (expired)
            break;
    }
    status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1::uuid", id);
    cr_assert_str_eq(status, "expired");
    free(status);
    /* Other suites' sessions may be due for a moment too; none for as long. */
    double held = lag;
    for (long deadline = clock_now_ms() + 60000; clock_now_ms() < deadline && lag >= held;
         test_sleep_ms(250))
        lag = scrape_one(expiry, "caisse_expiry_lag_seconds", NULL);
    cr_assert_lt(lag, held, "the expiry lag stayed at %f after the session expired", lag);
}

/* ---- webhooks ------------------------------------------------------------------------ */

static double outcome(const struct prom_scrape *s, const char *name)
{
    return prom_value(s, "caisse_webhook_deliveries_total",
                      (const char *const[]){"outcome", name, NULL});
}

static char inserted_delivery[UUID_STR_LEN];

static void delete_inserted_delivery(void)
{
    if (inserted_delivery[0] != '\0')
        free(test_sql_value("WITH d AS (DELETE FROM webhook_deliveries WHERE id = $1::uuid"
                            " RETURNING 1) SELECT count(*) FROM d",
                            inserted_delivery));
    inserted_delivery[0] = '\0';
}

Test(metrics, webhook_outcomes_and_gauges_follow_deliveries, .timeout = 180,
     .fini = delete_inserted_delivery)
{
    const char *worker = test_env("CAISSE_TEST_WEBHOOK_WORKER_OPS_URL");
    struct prom_scrape *before = prom_scrape(worker);
    struct wh_tenant t;
    wh_tenant_new(&t, "Metrics webhooks");
    struct wh_endpoint flaky, gone;
    wh_endpoint_create(&flaky, t.key_test, "metrics-flaky", "[\"checkout.session.created\"]");
    wh_receiver_behavior(flaky.path, "fail-twice", 0);
    wh_endpoint_create(&gone, t.key_test, "metrics-gone", "[\"checkout.session.created\"]");
    wh_receiver_behavior(gone.path, "gone", 0);

    char *sid = wh_session_create(t.key_test);
    json_t *d = wh_wait_delivery(t.key_test, flaky.id, NULL, "succeeded", 60000);
    cr_assert_not_null(d, "the flaky endpoint's delivery did not succeed");
    json_decref(d);
    d = wh_wait_delivery(t.key_test, gone.id, NULL, "failed", 60000);
    cr_assert_not_null(d, "the 410 endpoint's delivery did not fail");
    json_decref(d);
    free(sid);

    /* Counted once recorded; at least ours (other suites deliver too). */
    struct prom_scrape *after = NULL;
    for (long deadline = clock_now_ms() + 20000;; test_sleep_ms(250)) {
        prom_free(after);
        after = prom_scrape(worker);
        if ((outcome(after, "success") - outcome(before, "success") >= 1 &&
             outcome(after, "retry") - outcome(before, "retry") >= 2 &&
             outcome(after, "gone") - outcome(before, "gone") >= 1) ||
            clock_now_ms() > deadline)
            break;
    }
    cr_assert_geq(outcome(after, "success") - outcome(before, "success"), 1.0);
    cr_assert_geq(outcome(after, "retry") - outcome(before, "retry"), 2.0);
    cr_assert_geq(outcome(after, "gone") - outcome(before, "gone"), 1.0);
    prom_free(before);
    prom_free(after);

    /* The 410 disabled its endpoint. */
    double disabled = 0;
    for (long deadline = clock_now_ms() + 20000; clock_now_ms() < deadline && disabled < 1;
         test_sleep_ms(250))
        disabled = scrape_one(worker, "caisse_webhook_disabled_endpoints", NULL);
    cr_assert_geq(disabled, 1.0, "caisse_webhook_disabled_endpoints is %f", disabled);

    /* A delivery waiting an hour for its retry stays in the retry queue. */
    cr_assert_eq(uuid_v7_string(inserted_delivery), 0);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO webhook_deliveries (id, event_id, endpoint_id, organization_id,"
             " environment, event_type, status, attempt_count, next_attempt_at)"
             " VALUES ($1::uuid, gen_random_uuid(), '%s', '%s', 'test',"
             " 'checkout.session.created', 'pending', 1, now() + interval '1 hour')"
             " RETURNING id",
             flaky.id, t.org);
    free(test_sql_value(sql, inserted_delivery));
    double depth = 0;
    for (long deadline = clock_now_ms() + 20000; clock_now_ms() < deadline && depth < 1;
         test_sleep_ms(250))
        depth = scrape_one(worker, "caisse_webhook_retry_queue_depth", NULL);
    cr_assert_geq(depth, 1.0, "caisse_webhook_retry_queue_depth is %f", depth);
}
