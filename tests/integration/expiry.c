/* The expiry worker: due open sessions are expired by the stack's running
 * worker with exactly one checkout.session.expired event each, and extra
 * replicas started here next to it neither double-expire nor miss a session.
 * Each test touches only its own tenant's rows, so the suite runs in parallel
 * with the others. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expiry_replicas.h"
#include "support.h"
#include "core/clock.h"
#include "core/uuid.h"

/* The first line a shell command prints, without its newline. Caller frees. */
static char *first_line(const char *cmd)
{
    FILE *p = popen(cmd, "r");
    cr_assert(p != NULL, "cannot run %s", cmd);
    char line[512] = "";
    char *got = fgets(line, sizeof(line), p);
    int rc = pclose(p);
    cr_assert(got != NULL && rc == 0, "%s failed (status %d)", cmd, rc);
    line[strcspn(line, "\r\n")] = '\0';
    return strdup(line);
}

/* A tenant of this test alone (a new organization and test key), so nothing
 * it expires is seen by another test's listing. */
static char *own_tenant_key(void)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "%s create-org --name 'Tenant Expiry' --currency XOF 2>/dev/null",
             test_env("CAISSE_TEST_ADMIN"));
    char *org = first_line(cmd);
    cr_assert(uuid_is_valid(org), "create-org printed %s", org);
    snprintf(cmd, sizeof(cmd),
             "%s create-key --org %s --env test --description expiry-test 2>/dev/null",
             test_env("CAISSE_TEST_ADMIN"), org);
    free(org);
    return first_line(cmd);
}

static long sql_long(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL, "no row: %s", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

static const char *header(json_t *ev, const char *name)
{
    json_t *h = json_object_get(ev, "_headers");
    for (size_t i = 0; i + 1 < json_array_size(h); i += 2) {
        if (strcmp(json_string_value(json_array_get(h, i)), name) == 0)
            return json_string_value(json_array_get(h, i + 1));
    }
    return NULL;
}

Test(expiry, due_sessions_are_expired_by_the_worker_with_one_event_each, .timeout = 120)
{
    enum { N = 3 };
    char *key = own_tenant_key();
    char marker[UUID_STR_LEN], extra[128];
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(extra, sizeof(extra), "{\"metadata\": {\"expiry_test\": \"%s\"}}", marker);
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char *body = test_body(extra);
        struct api_response r = test_create(key, body);
        free(body);
        cr_assert_eq(r.status, 201, "%ld %s", r.status, r.text);
        cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "open");
        snprintf(ids[i], sizeof(ids[i]), "%s",
                 json_string_value(json_object_get(r.json, "checkout_session_id")));
        test_api_free(&r);
    }
    /* As if their hour had passed: only the deadline moves, the worker does the rest. */
    cr_assert_eq(sql_long("WITH moved AS (UPDATE checkout_sessions"
                          " SET expires_at = now() - interval '1 second'"
                          " WHERE metadata->>'expiry_test' = $1 AND status = 'open' RETURNING 1)"
                          " SELECT count(*) FROM moved",
                          marker),
                 N);
    long start = clock_now_ms(), took = 0;
    long expired = 0;
    for (; clock_now_ms() - start < 30000; test_sleep_ms(100)) {
        expired = sql_long("SELECT count(*) FROM checkout_sessions"
                           " WHERE metadata->>'expiry_test' = $1 AND status = 'expired'",
                           marker);
        if (expired == N)
            break;
    }
    took = clock_now_ms() - start;
    cr_assert_eq(expired, N, "only %ld of %d sessions expired in the database after %ld ms",
                 expired, N, took);
    /* The stack's worker sweeps every CAISSE_EXPIRY_INTERVAL_MS (2 s by default). */
    cr_assert_leq(took, 10000, "expiry took %ld ms", took);
    cr_log_info("expired by the worker %ld ms after their deadline moved", took);

    /* created + expired for each; then a pause, so a duplicate would have time to show. */
    for (int i = 0; i < N; i++)
        json_decref(test_kafka_events_for(ids[i], 2, 30000));
    test_sleep_ms(1000);
    for (int i = 0; i < N; i++) {
        char path[256];
        snprintf(path, sizeof(path), "/checkout-sessions/%s", ids[i]);
        struct api_response g = test_api("GET", path, key, NULL, NULL);
        cr_assert_eq(g.status, 200);
        cr_assert_str_eq(json_string_value(json_object_get(g.json, "status")), "expired");
        cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE session_id = $1"
                              " AND type = 'checkout.session.expired'",
                              ids[i]),
                     1);
        json_t *events = test_kafka_events_for(ids[i], 2, 1000);
        size_t j, n_expired = 0, n_created = 0;
        json_t *ev, *expired_ev = NULL;
        json_array_foreach(events, j, ev)
        {
            const char *type = json_string_value(json_object_get(ev, "type"));
            if (strcmp(type, "checkout.session.created") == 0)
                n_created++;
            if (strcmp(type, "checkout.session.expired") == 0) {
                n_expired++;
                expired_ev = ev;
            }
        }
        cr_assert_eq(n_created, 1, "session %s: %zu created events", ids[i], n_created);
        cr_assert_eq(n_expired, 1, "session %s: %zu expired events", ids[i], n_expired);
        json_t *data = json_object_get(expired_ev, "data");
        cr_assert_str_eq(json_string_value(json_object_get(data, "status")), "expired");
        /* The event carries the session exactly as the API now shows it. */
        char *data_text = json_dumps(data, JSON_COMPACT);
        cr_assert(json_equal(data, g.json), "event data differs from GET:\n%s\n%s", data_text,
                  g.text);
        free(data_text);
        cr_assert_str_eq(json_string_value(json_object_get(expired_ev, "subject")), ids[i]);
        cr_assert_str_eq(json_string_value(json_object_get(expired_ev, "_key")), ids[i]);
        cr_assert_str_eq(json_string_value(json_object_get(expired_ev, "time")),
                         json_string_value(json_object_get(data, "updated_at")));
        cr_assert(uuid_is_valid(json_string_value(json_object_get(expired_ev, "id"))));
        cr_assert_str_eq(header(expired_ev, "content-type"), "application/cloudevents+json");
        json_decref(events);
        test_api_free(&g);
    }
    free(key);
}

/* PostgreSQL's jsonb gives a stored real past int64 back as an integer
 * jansson cannot hold ({"n": 1e+19} as 10000000000000000000). The gateway
 * refuses such metadata now, but one row of it (from before, or from a
 * gateway not yet upgraded) made every expiry sweep that claimed it fail:
 * no due session of any tenant expired. Found with the validators' fuzzers. */
Test(expiry, a_stored_number_past_int64_stops_neither_reads_nor_expiry, .timeout = 120)
{
    char *key = own_tenant_key();
    char marker[UUID_STR_LEN], extra[128];
    cr_assert_eq(uuid_v7_string(marker), 0);
    snprintf(extra, sizeof(extra), "{\"metadata\": {\"expiry_test\": \"%s\"}}", marker);
    char ids[2][64];
    for (int i = 0; i < 2; i++) {
        char *body = test_body(extra);
        struct api_response r = test_create(key, body);
        free(body);
        cr_assert_eq(r.status, 201, "%ld %s", r.status, r.text);
        snprintf(ids[i], sizeof(ids[i]), "%s",
                 json_string_value(json_object_get(r.json, "checkout_session_id")));
        test_api_free(&r);
    }
    cr_assert_eq(sql_long("WITH moved AS (UPDATE checkout_sessions"
                          " SET metadata = metadata || '{\"n\": 1e+19}'::jsonb"
                          " WHERE id = $1 RETURNING 1) SELECT count(*) FROM moved",
                          ids[0]),
                 1);
    char path[256];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", ids[0]);
    struct api_response g = test_api("GET", path, key, NULL, NULL);
    cr_assert_eq(g.status, 200, "%ld %s", g.status, g.text);
    json_t *n = json_object_get(json_object_get(g.json, "metadata"), "n");
    cr_assert(json_is_number(n) && json_number_value(n) == 1e19, "%s", g.text);
    test_api_free(&g);

    cr_assert_eq(sql_long("WITH moved AS (UPDATE checkout_sessions"
                          " SET expires_at = now() - interval '1 second'"
                          " WHERE metadata->>'expiry_test' = $1 AND status = 'open' RETURNING 1)"
                          " SELECT count(*) FROM moved",
                          marker),
                 2);
    long start = clock_now_ms(), expired = 0;
    for (; clock_now_ms() - start < 30000; test_sleep_ms(100)) {
        expired = sql_long("SELECT count(*) FROM checkout_sessions"
                           " WHERE metadata->>'expiry_test' = $1 AND status = 'expired'",
                           marker);
        if (expired == 2)
            break;
    }
    cr_assert_eq(expired, 2, "%ld of 2 sessions expired after %ld ms", expired,
                 clock_now_ms() - start);
    free(key);
}

/* ---- replicas ------------------------------------------------------------ */

Test(expiry, replicas_expire_each_session_exactly_once, .timeout = 240,
     .fini = expiry_replicas_stop)
{
    enum { N = 2000 };
    /* The stack's own worker stops for the test: with its larger batch it took
     * every due row before the replicas woke up when the box was busy, and the
     * test proved nothing about concurrent sweepers (it failed instead). Two
     * replicas with small batches and short pauses claim from the same due rows
     * at once. Each
     * runs in a subshell that records its exit status after SIGTERM. They
     * expire every due session, other tests' too, so they get the stack's
     * public base URL (deploy/stack.sh's default), which event data embeds. */
    char base_url[256];
    const char *configured = getenv("CAISSE_PUBLIC_BASE_URL");
    if (configured != NULL && configured[0] != '\0')
        snprintf(base_url, sizeof(base_url), "%s", configured);
    else
        snprintf(base_url, sizeof(base_url), "http://localhost:%s",
                 test_env("CAISSE_GATEWAY_PORT"));
    test_service_stop("expiry-worker");
    expiry_replicas_start("expiry", base_url, 50, 25);

    /* Straight into the table: a tenant of its own (the marker is the
     * organization id) and expires_at already past, spread over a minute.
     * generate_series counts to N. */
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    long inserted = sql_long(
        "WITH ins AS (INSERT INTO checkout_sessions (id, organization_id, environment, amount,"
        "   currency_code, status, title, customer_email, quantity, expires_at, metadata,"
        "   created_at, created_by, updated_at)"
        " SELECT gen_random_uuid(), $1::uuid, 'test', 1000 + g, 'XOF', 'open', 'Expiry replicas',"
        "   'replicas@example.com', 1, date_trunc('second', now()) - (g % 60) * interval '1 "
        "second',"
        "   jsonb_build_object('expiry_replicas', $1::text),"
        "   date_trunc('second', now()) - interval '1 hour', $1::uuid,"
        "   date_trunc('second', now()) - interval '1 hour'"
        " FROM generate_series(1, 2000) AS g RETURNING 1)"
        " SELECT count(*) FROM ins",
        marker);
    cr_assert_eq(inserted, N);

    long start = clock_now_ms(), open = N;
    for (; clock_now_ms() - start < 120000; test_sleep_ms(200)) {
        open = sql_long("SELECT count(*) FROM checkout_sessions"
                        " WHERE organization_id = $1::uuid AND status = 'open'",
                        marker);
        if (open == 0)
            break;
    }
    cr_assert_eq(open, 0, "%ld of %d sessions still open after %ld ms", open, N,
                 clock_now_ms() - start);
    /* A sweep that claimed a row commits before another can see it expired,
     * so once none is open every event is written; a short pause still lets
     * a (wrong) second expiry show up. */
    test_sleep_ms(1000);

    cr_assert_eq(sql_long("SELECT count(*) FROM checkout_sessions"
                          " WHERE organization_id = $1::uuid AND status = 'expired'",
                          marker),
                 N);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE type = 'checkout.session.expired'"
                          " AND session_id IN (SELECT id FROM checkout_sessions"
                          "                    WHERE organization_id = $1::uuid)",
                          marker),
                 N, "not exactly one outbox row per session");
    cr_assert_eq(sql_long("SELECT count(*) FROM (SELECT session_id FROM outbox"
                          " WHERE type = 'checkout.session.expired'"
                          " AND session_id IN (SELECT id FROM checkout_sessions"
                          "                    WHERE organization_id = $1::uuid)"
                          " GROUP BY session_id HAVING count(*) > 1) AS twice",
                          marker),
                 0, "some sessions have two expired events");
    /* Every event is the session after the change, of the right tenant. */
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox o JOIN checkout_sessions s"
                          " ON s.id = o.session_id"
                          " WHERE s.organization_id = $1::uuid"
                          " AND o.type = 'checkout.session.expired'"
                          " AND o.organization_id = s.organization_id"
                          " AND o.payload::jsonb->'data'->>'status' = 'expired'"
                          " AND o.payload::jsonb->>'subject' = s.id::text",
                          marker),
                 N);

    long by_replicas = 0;
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        long n = expiry_replicas_sum(i, "expired");
        cr_log_info("replica %d expired %ld of %d", i, n, N);
        by_replicas += n;
    }
    /* The replicas alone ran: they expired every session of the test (and
     * any other test's session that fell due meanwhile). */
    cr_assert_geq(by_replicas, N, "the replicas report %ld expiries of %d sessions", by_replicas,
                  N);

    /* Still running after the drain, and SIGTERM is an orderly exit 0. */
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        char rc[128];
        expiry_replicas_file(i, "rc", rc, sizeof(rc));
        cr_assert_neq(access(rc, F_OK), 0, "replica %d exited during the test", i);
    }
    expiry_replicas_stop();
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        char rc[128];
        expiry_replicas_file(i, "rc", rc, sizeof(rc));
        /* The shell creates the file before it writes the status into it. */
        long start_wait = clock_now_ms();
        char status[16] = "";
        for (;;) {
            FILE *f = fopen(rc, "r");
            bool read = f != NULL && fgets(status, sizeof(status), f) != NULL;
            if (f != NULL)
                fclose(f);
            if (read || clock_now_ms() - start_wait >= 20000)
                break;
            test_sleep_ms(100);
        }
        cr_assert(status[0] != '\0', "replica %d did not exit after SIGTERM", i);
        cr_assert_eq(strtol(status, NULL, 10), 0, "replica %d exited with %s", i, status);
    }
    expiry_replicas_remove();
}

Test(expiry, help_lists_the_configuration)
{
    cr_assert_eq(test_shell("%s/build/bin/caisse-expiry-worker --help | grep -q "
                            "CAISSE_EXPIRY_BATCH",
                            test_env("CAISSE_TEST_REPO")),
                 0);
    /* No Kafka: the session worker's relay publishes what it writes. */
    cr_assert_neq(test_shell("%s/build/bin/caisse-expiry-worker --help | grep -q "
                             "CAISSE_KAFKA_BROKERS",
                             test_env("CAISSE_TEST_REPO")),
                  0);
}
