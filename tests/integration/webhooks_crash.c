/* The webhook worker under faults (suite "faults": alone, after the others,
 * every test putting the stack back in its .fini):
 *  - kill -9 with deliveries in flight, restart: every delivery completes and
 *    each (event, endpoint) pair has exactly one delivery row;
 *  - SIGTERM with deliveries in flight: the same, and the requests in flight
 *    are finished, so nothing is sent twice;
 *  - the worker without the test allowlist: names and forms that resolve to
 *    loopback are refused without a connection. */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"
#include "webhook_support.h"

#define WORKER "webhook-worker"

/* The worker as the stack runs it (run.sh's environment: schedule, timeout,
 * leases, allowlist), whatever the test did to it. */
static void restore_webhook_worker(void)
{
    test_shell("bash %s/deploy/stack.sh stop-service " WORKER " >/dev/null 2>&1",
               test_env("CAISSE_TEST_REPO"));
    if (test_service_pid(WORKER) == 0) {
        char path[1024];
        snprintf(path, sizeof(path), "%s/run/" WORKER ".pid", test_env("CAISSE_STACK_DIR"));
        unlink(path);
    }
    test_shell("bash %s/deploy/stack.sh start-service " WORKER " >/dev/null 2>&1",
               test_env("CAISSE_TEST_REPO"));
}

static long sql_count(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL, "%s: no row", sql);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    cr_assert(end != v, "%s: %s", sql, v);
    free(v);
    return n;
}

/* Until sql (one parameter) counts at least want; the last count. */
static long wait_sql_count(const char *sql, const char *param, long want, long timeout_ms)
{
    long n = -1;
    for (long deadline = wh_now_ms() + timeout_ms; wh_now_ms() < deadline; test_sleep_ms(250)) {
        n = sql_count(sql, param);
        if (n >= want)
            break;
    }
    return n;
}

#define CRASH_ENDPOINTS 3
#define CRASH_SESSIONS_BEFORE 8
#define CRASH_SESSIONS_DURING 4

/* Stops the worker (kill -9, or SIGTERM: graceful) while deliveries are in
 * flight, creates more events while it is down, restarts it, and checks that
 * every delivery completes once per (event, endpoint). An orderly stop must
 * also finish its in-flight requests: no request cut, nothing sent twice. */
static void deliveries_survive_a_stop(bool graceful)
{
    cr_assert(test_service_pid(WORKER) > 0, "the webhook worker is not running");
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks crash");
    /* Slow endpoints (0.8 s an answer, under the 2 s timeout) keep requests in flight. */
    struct wh_endpoint eps[CRASH_ENDPOINTS];
    for (size_t i = 0; i < CRASH_ENDPOINTS; i++) {
        wh_endpoint_create(&eps[i], t.key_test, "crash", "[\"*\"]");
        wh_receiver_behavior(eps[i].path, "slow", 800);
    }
    long sessions = 0, completions = 0;
    for (int i = 0; i < CRASH_SESSIONS_BEFORE; i++, sessions++) {
        char *sid = wh_session_create(t.key_test);
        if (i % 2 == 0) {
            wh_session_complete(sid);
            completions++;
        }
        free(sid);
    }

    /* Kill it while a request is at the receiver, unanswered, and more are due. */
    bool in_flight = false;
    for (long deadline = wh_now_ms() + 30000; !in_flight && wh_now_ms() < deadline;
         test_sleep_ms(20))
        in_flight = wh_request_in_flight(eps, CRASH_ENDPOINTS);
    cr_assert(in_flight, "no delivery was ever in flight");
    if (graceful) {
        long took = 0;
        int status = test_service_sigterm(WORKER, 30000, &took);
        cr_assert_eq(status, 0,
                     "the webhook worker exited with %d after SIGTERM (-1: still running"
                     " after 30 s)",
                     status);
        cr_log_info("the webhook worker stopped in %ld ms", took);
    } else {
        test_service_kill9(WORKER);
    }
    long pending_at_kill = sql_count("SELECT count(*) FROM webhook_deliveries"
                                     " WHERE organization_id = $1 AND status = 'pending'",
                                     t.org);
    long leased_at_kill = sql_count("SELECT count(*) FROM webhook_deliveries"
                                    " WHERE organization_id = $1 AND status = 'pending'"
                                    " AND lease_until > now()",
                                    t.org);
    cr_log_info("at the kill: %ld deliveries pending, %ld of them leased", pending_at_kill,
                leased_at_kill);

    /* Events keep coming while it is down; they wait on Kafka. */
    for (int i = 0; i < CRASH_SESSIONS_DURING; i++, sessions++) {
        char *sid = wh_session_create(t.key_test);
        if (i % 2 == 0) {
            wh_session_complete(sid);
            completions++;
        }
        free(sid);
    }
    test_sleep_ms(500);
    test_service_start(WORKER, NULL);

    /* With the customer.created of each customer the completions made (issue 13). */
    long customers = sql_count("SELECT count(*) FROM customers WHERE organization_id = $1", t.org);
    long events = sessions + completions + customers;
    long expected = events * CRASH_ENDPOINTS;
    cr_assert_eq(wait_sql_count("SELECT count(*) FROM outbox WHERE organization_id = $1", t.org,
                                events, 30000),
                 events, "events in the outbox");
    long done = wait_sql_count("SELECT count(*) FROM webhook_deliveries"
                               " WHERE organization_id = $1 AND status = 'succeeded'",
                               t.org, expected, 150000);
    json_t *stuck = test_sql_rows("SELECT id, event_id, endpoint_id, status, attempt_count,"
                                  " lease_until, last_error FROM webhook_deliveries"
                                  " WHERE organization_id = $1 AND status <> 'succeeded'",
                                  t.org);
    cr_assert_eq(done, expected, "%ld of %ld deliveries succeeded; the others: %s", done, expected,
                 json_dumps(stuck, JSON_COMPACT));
    json_decref(stuck);

    /* Exactly one delivery row per (event, endpoint), and one for every pair. */
    cr_assert_eq(
        sql_count("SELECT count(*) FROM webhook_deliveries WHERE organization_id = $1", t.org),
        expected);
    cr_assert_eq(sql_count("SELECT count(*) FROM (SELECT event_id, endpoint_id"
                           " FROM webhook_deliveries WHERE organization_id = $1"
                           " GROUP BY 1, 2 HAVING count(*) > 1) dup",
                           t.org),
                 0);
    cr_assert_eq(sql_count("SELECT count(*) FROM outbox o JOIN webhook_endpoints e"
                           " ON e.organization_id = o.organization_id"
                           " AND e.environment = o.environment"
                           " WHERE o.organization_id = $1 AND NOT EXISTS (SELECT 1"
                           " FROM webhook_deliveries d WHERE d.event_id = o.id"
                           " AND d.endpoint_id = e.id)",
                           t.org),
                 0, "an (event, endpoint) pair has no delivery");

    /* The receiver's side: every event answered 200 at every endpoint, every
     * signature verified. A request cut by the kill is sent again (same
     * webhook-id): allowed, counted. */
    json_t *event_ids = test_sql_rows("SELECT id FROM outbox WHERE organization_id = $1", t.org);
    long repeats = 0, cut = 0, most = 0;
    for (size_t i = 0; i < CRASH_ENDPOINTS; i++) {
        json_t *records = wh_receiver_requests(eps[i].path);
        json_t *ok = json_object();
        size_t j;
        json_t *rec;
        json_array_foreach(records, j, rec)
        {
            cr_assert(json_is_true(json_object_get(rec, "verified")),
                      "a delivery to %s failed standardwebhooks verification", eps[i].path);
            cut += json_is_true(json_object_get(rec, "client_gone"));
            const char *wid = wh_record_header(rec, "webhook-id");
            cr_assert(wid != NULL);
            if (json_integer_value(json_object_get(rec, "response_status")) == 200) {
                json_int_t times = json_integer_value(json_object_get(ok, wid)) + 1;
                if (times > 1)
                    repeats++;
                if ((long)times > most)
                    most = (long)times;
                json_object_set_new(ok, wid, json_integer(times));
            }
        }
        json_t *row;
        json_array_foreach(event_ids, j, row)
        {
            const char *id = json_string_value(json_array_get(row, 0));
            cr_assert(json_object_get(ok, id) != NULL, "event %s never answered 200 at %s", id,
                      eps[i].path);
        }
        json_decref(ok);
        json_decref(records);
    }
    cr_log_info("%ld deliveries to %d endpoints; %ld answered 200 more than once, %ld requests"
                " cut",
                expected, CRASH_ENDPOINTS, repeats, cut);
    json_decref(event_ids);
    /* One kill: a request it cut (or whose answer it never recorded) is sent
     * once more, no event more than that. */
    cr_assert_leq(most, 2, "an event was answered 200 %ld times at one endpoint after one kill",
                  most);
    if (graceful) {
        cr_assert_eq(cut, 0, "the orderly stop cut %ld requests in flight", cut);
        cr_assert_eq(repeats, 0, "after an orderly stop %ld events were delivered twice", repeats);
    }
}

Test(faults, webhook_worker_kill_9_with_deliveries_in_flight_loses_and_duplicates_nothing,
     .timeout = 240, .fini = restore_webhook_worker)
{
    deliveries_survive_a_stop(false);
}

Test(faults, webhook_worker_sigterm_finishes_deliveries_in_flight_and_sends_nothing_twice,
     .timeout = 240, .fini = restore_webhook_worker)
{
    deliveries_survive_a_stop(true);
}

Test(faults, webhook_worker_without_the_allowlist_refuses_loopback_names_and_forms, .timeout = 120,
     .fini = restore_webhook_worker)
{
    /* The stack allowlists 127.0.0.1/32 for the receiver; here the worker runs
     * with an allowlist that holds no loopback address (a documentation one),
     * as production would. */
    test_service_stop(WORKER);
    test_service_start(WORKER, "CAISSE_WEBHOOK_ALLOWLIST=192.0.2.1/32");
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks no allowlist");
    const char *port = test_env("CAISSE_TEST_WEBHOOK_RECEIVER_PORT");
    const char *forms[] = {"localhost", "2130706433", "127.0.0.1", "[::ffff:127.0.0.1]"};
    size_t n = sizeof(forms) / sizeof(forms[0]);
    struct wh_endpoint eps[4];
    for (size_t i = 0; i < n; i++) {
        char path[256], url[512];
        wh_unique_path(path, sizeof(path), "no-allowlist");
        snprintf(url, sizeof(url), "http://%s:%s%s", forms[i], port, path);
        wh_endpoint_insert(&eps[i], t.org, "test", url, "checkout.session.created");
        snprintf(eps[i].path, sizeof(eps[i].path), "%s", path);
    }
    char *sid = wh_session_create(t.key_test);
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(wait_sql_count("SELECT count(*) FROM webhook_attempts a"
                                    " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                                    " WHERE d.endpoint_id = $1",
                                    eps[i].id, 1, 30000),
                     1, "%s: no attempt", forms[i]);
        json_t *rows = test_sql_rows("SELECT a.status_code, a.error, a.duration_ms"
                                     " FROM webhook_attempts a"
                                     " JOIN webhook_deliveries d ON d.id = a.delivery_id"
                                     " WHERE d.endpoint_id = $1 ORDER BY a.id LIMIT 1",
                                     eps[i].id);
        json_t *row = json_array_get(rows, 0);
        cr_assert(json_is_null(json_array_get(row, 0)), "%s: answered %s", forms[i],
                  json_string_value(json_array_get(row, 0)));
        const char *err = json_string_value(json_array_get(row, 1));
        cr_assert(err != NULL && strcasestr(err, "loopback") != NULL,
                  "%s: the error should say loopback is forbidden: %s", forms[i], err);
        json_decref(rows);
        json_t *records = wh_receiver_requests(eps[i].path);
        cr_assert_eq(json_array_size(records), 0, "%s reached the receiver", forms[i]);
        json_decref(records);
    }
    free(sid);
}
