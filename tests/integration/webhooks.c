/* Webhook delivery end to end: sessions change state, the webhook worker
 * delivers their events to the Node receiver (tests/webhooks/receiver.mjs),
 * which verifies every signature with the npm standardwebhooks library. The
 * stack runs with a compressed schedule (CAISSE_WEBHOOK_SCHEDULE=0,1,1,1,1), a
 * 2 s request timeout and the allowlist 127.0.0.1/32 (tests/integration/run.sh).
 * Every test makes its own organization, so suites running alongside cannot
 * see or disturb its endpoints. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"
#include "webhook_support.h"

/* The one delivery of endpoint, once its status is status. */
static json_t *delivery_with_status(const char *key, const char *endpoint_id, const char *event_id,
                                    const char *status, long timeout_ms)
{
    json_t *d = wh_wait_delivery(key, endpoint_id, event_id, status, timeout_ms);
    if (d == NULL) {
        json_t *all = wh_deliveries(key, endpoint_id);
        char *text = json_dumps(all, JSON_COMPACT);
        cr_assert_fail("no %s delivery of event %s to endpoint %s; deliveries: %s", status,
                       event_id != NULL ? event_id : "(any)", endpoint_id, text);
    }
    return d;
}

static size_t count_sql(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL);
    char *end = NULL;
    long n = strtol(v, &end, 10);
    cr_assert(end != v && n >= 0, "%s: %s", sql, v);
    free(v);
    return (size_t)n;
}

/* Every record of records has signature verified by standardwebhooks, with
 * the body being the event JSON from Kafka and webhook-id its id. */
static void assert_record_is_event(const json_t *rec, const json_t *event)
{
    const char *path = json_string_value(json_object_get(rec, "path"));
    cr_assert(json_is_true(json_object_get(rec, "verified")),
              "signature of a delivery to %s not verified by standardwebhooks: %s", path,
              json_dumps(json_object_get(rec, "verify_errors"), JSON_COMPACT));
    cr_assert_str_eq(json_string_value(json_object_get(rec, "method")), "POST");
    const char *ct = wh_record_header(rec, "content-type");
    cr_assert(ct != NULL && strncmp(ct, "application/json", 16) == 0, "content-type %s", ct);
    const char *ua = wh_record_header(rec, "user-agent");
    cr_assert(ua != NULL && strcasestr(ua, "caisse") != NULL, "user-agent %s", ua);
    const char *wid = wh_record_header(rec, "webhook-id");
    cr_assert(wid != NULL);
    cr_assert_str_eq(wid, json_string_value(json_object_get(event, "id")));
    /* The signed timestamp is the time of sending (seconds since the epoch). */
    const char *ts = wh_record_header(rec, "webhook-timestamp");
    cr_assert(ts != NULL);
    char *end = NULL;
    long long sent = strtoll(ts, &end, 10);
    cr_assert(end != ts && *end == '\0', "webhook-timestamp %s", ts);
    long long received = (long long)json_integer_value(json_object_get(rec, "received_at_ms"));
    cr_assert(llabs(received / 1000 - sent) <= 10, "webhook-timestamp %s, received at %lld ms", ts,
              received);
    json_t *body = json_loads(json_string_value(json_object_get(rec, "body")), 0, NULL);
    cr_assert(body != NULL, "body is not JSON: %s",
              json_string_value(json_object_get(rec, "body")));
    cr_assert(json_equal(body, event), "body %s\nis not the event %s",
              json_string_value(json_object_get(rec, "body")), json_dumps(event, JSON_COMPACT));
    json_decref(body);
}

/* The records whose webhook-id is id. */
static size_t records_with_id(const json_t *records, const char *id)
{
    size_t n = 0, i;
    json_t *rec;
    json_array_foreach(records, i, rec)
    {
        const char *wid = wh_record_header(rec, "webhook-id");
        if (wid != NULL && strcmp(wid, id) == 0)
            n++;
    }
    return n;
}

/* The customer.created event of the customer the completion of session sid
 * made (a session completed without a customer gets one: issue 13); new
 * reference. */
static json_t *completion_customer_created(const char *api_key, const char *sid)
{
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", sid);
    struct api_response r = test_api("GET", path, api_key, NULL, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    const char *customer_id = json_string_value(json_object_get(r.json, "customer_id"));
    cr_assert_not_null(customer_id, "the completed session has a customer: %s", r.text);
    json_t *created = wh_kafka_event(customer_id, "customer.created");
    test_api_free(&r);
    return created;
}

Test(webhooks, every_delivery_is_signed_and_verified_by_standardwebhooks, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks signed");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "signed", "[\"*\"]");

    /* The secret is shown at creation only. */
    json_t *got = wh_endpoint_get(t.key_test, e.id);
    cr_assert(json_object_get(got, "secret") == NULL, "GET shows the secret");
    cr_assert(!wh_endpoint_is_disabled(got));
    json_decref(got);

    char *sid = wh_session_create(t.key_test);
    wh_session_complete(sid);
    json_t *created = wh_kafka_event(sid, "checkout.session.created");
    json_t *completed = wh_kafka_event(sid, "checkout.session.completed");
    /* "*" takes the customer the completion made too. */
    json_t *customer = completion_customer_created(t.key_test, sid);

    json_t *records = wh_receiver_wait(e.path, 3, 30000);
    cr_assert_eq(json_array_size(records), 3, "deliveries to %s: %zu", e.path,
                 json_array_size(records));
    size_t i;
    json_t *rec;
    json_array_foreach(records, i, rec)
    {
        const char *wid = wh_record_header(rec, "webhook-id");
        cr_assert(wid != NULL);
        const json_t *ev =
            strcmp(wid, json_string_value(json_object_get(created, "id"))) == 0    ? created
            : strcmp(wid, json_string_value(json_object_get(customer, "id"))) == 0 ? customer
                                                                                   : completed;
        assert_record_is_event(rec, ev);
    }
    cr_assert_eq(records_with_id(records, json_string_value(json_object_get(created, "id"))), 1);
    cr_assert_eq(records_with_id(records, json_string_value(json_object_get(completed, "id"))), 1);
    cr_assert_eq(records_with_id(records, json_string_value(json_object_get(customer, "id"))), 1);

    /* The API's view: both delivered at the first attempt. */
    json_t *d = delivery_with_status(
        t.key_test, e.id, json_string_value(json_object_get(completed, "id")), "succeeded", 10000);
    cr_assert_eq(wh_int(d, "attempt_count"), 1);
    cr_assert_eq(wh_int(d, "last_status_code"), 200);
    json_decref(d);

    json_decref(records);
    json_decref(created);
    json_decref(completed);
    json_decref(customer);
    free(sid);
}

Test(webhooks, failing_twice_then_ok_is_three_attempts_with_one_webhook_id, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks retry");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "fail-twice", "[\"checkout.session.created\"]");
    wh_receiver_behavior(e.path, "fail-twice", 0);

    char *sid = wh_session_create(t.key_test);
    json_t *created = wh_kafka_event(sid, "checkout.session.created");
    const char *event_id = json_string_value(json_object_get(created, "id"));

    json_t *d = delivery_with_status(t.key_test, e.id, event_id, "succeeded", 30000);
    json_t *records = wh_receiver_requests(e.path);
    cr_assert_eq(json_array_size(records), 3, "requests to %s: %zu", e.path,
                 json_array_size(records));
    long expected[] = {500, 500, 200};
    for (size_t i = 0; i < 3; i++) {
        json_t *rec = json_array_get(records, i);
        assert_record_is_event(rec, created); /* the same webhook-id and body every time */
        cr_assert_eq(json_integer_value(json_object_get(rec, "response_status")), expected[i]);
    }

    cr_assert_eq(wh_int(d, "attempt_count"), 3, "%s", json_dumps(d, JSON_COMPACT));
    cr_assert_eq(wh_int(d, "last_status_code"), 200);
    const char *delivery_id = json_string_value(json_object_get(d, "id"));
    cr_assert(delivery_id != NULL);
    json_t *full = wh_delivery_get(t.key_test, delivery_id);
    json_t *attempts = json_object_get(full, "attempts");
    cr_assert_eq(json_array_size(attempts), 3, "%s", json_dumps(full, JSON_COMPACT));
    for (size_t i = 0; i < 3; i++) {
        json_t *a = json_array_get(attempts, i);
        cr_assert_eq(wh_int(a, "status_code"), expected[i], "attempt %zu: %s", i,
                     json_dumps(a, JSON_COMPACT));
        cr_assert(wh_int(a, "duration_ms") >= 0, "attempt %zu has no duration", i);
        cr_assert(json_is_string(json_object_get(a, "attempted_at")), "attempt %zu has no time", i);
        if (i < 2) {
            const char *resp = json_string_value(json_object_get(a, "response_body"));
            cr_assert(resp != NULL && strstr(resp, "fail-twice: failure") != NULL,
                      "attempt %zu response body: %s", i, resp);
        }
    }
    json_decref(full);
    json_decref(d);
    json_decref(records);
    json_decref(created);
    free(sid);
}

Test(webhooks, receiver_timeout_is_a_failure_and_is_retried, .timeout = 120)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks timeout");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "timeout", "[\"checkout.session.created\"]");
    wh_receiver_behavior(e.path, "timeout", 0);

    char *sid = wh_session_create(t.key_test);
    json_t *created = wh_kafka_event(sid, "checkout.session.created");
    const char *event_id = json_string_value(json_object_get(created, "id"));

    /* The first attempt times out (2 s), the retry comes about 1 s later. */
    json_t *records = wh_receiver_wait(e.path, 2, 30000);
    cr_assert(json_array_size(records) >= 2, "no retry after a timeout: %zu request(s)",
              json_array_size(records));
    cr_assert_eq(records_with_id(records, event_id), json_array_size(records));
    json_decref(records);

    /* The receiver recovers: the retries end in a delivery. */
    wh_receiver_behavior(e.path, "ok", 0);
    json_t *d = delivery_with_status(t.key_test, e.id, event_id, "succeeded", 30000);
    long count = wh_int(d, "attempt_count");
    cr_assert(count >= 2, "attempt_count %ld", count);
    json_t *full = wh_delivery_get(t.key_test, json_string_value(json_object_get(d, "id")));
    json_t *attempts = json_object_get(full, "attempts");
    cr_assert_eq((long)json_array_size(attempts), count);
    json_t *first = json_array_get(attempts, 0);
    cr_assert_eq(wh_int(first, "status_code"), -1, "a timed-out attempt has no status code: %s",
                 json_dumps(first, JSON_COMPACT));
    const char *err = json_string_value(json_object_get(first, "error"));
    cr_assert(err != NULL &&
                  (strcasestr(err, "timeout") != NULL || strcasestr(err, "timed out") != NULL),
              "the first attempt's error should say it timed out: %s", err);
    cr_assert(wh_int(first, "duration_ms") >= 1500, "timed out after %ld ms",
              wh_int(first, "duration_ms"));
    cr_assert_eq(wh_int(json_array_get(attempts, json_array_size(attempts) - 1), "status_code"),
                 200);
    json_decref(full);
    json_decref(d);
    json_decref(created);
    free(sid);
}

Test(webhooks, redirect_is_a_failure_and_is_not_followed, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks redirect");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "redirect", "[\"checkout.session.created\"]");
    wh_receiver_behavior(e.path, "redirect", 0);
    char moved[300];
    snprintf(moved, sizeof(moved), "%s/moved", e.path);

    char *sid = wh_session_create(t.key_test);
    json_t *records = wh_receiver_wait(e.path, 2, 30000);
    cr_assert(json_array_size(records) >= 2, "a 302 should be retried: %zu request(s)",
              json_array_size(records));
    json_t *d = wh_wait_delivery(t.key_test, e.id, NULL, "pending", 1);
    if (d == NULL)
        d = delivery_with_status(t.key_test, e.id, NULL, "failed", 30000);
    cr_assert_eq(wh_int(d, "last_status_code"), 302);
    json_t *followed = wh_receiver_requests(moved);
    cr_assert_eq(json_array_size(followed), 0, "the redirect was followed");
    json_decref(followed);
    json_decref(d);
    json_decref(records);
    free(sid);
}

Test(webhooks, gone_disables_the_endpoint, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks gone");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "gone", "[\"*\"]");
    wh_receiver_behavior(e.path, "gone", 0);

    char *first = wh_session_create(t.key_test);
    json_t *records = wh_receiver_wait(e.path, 1, 30000);
    cr_assert_eq(json_array_size(records), 1);
    json_decref(records);

    json_t *ep = NULL;
    for (long deadline = wh_now_ms() + 10000; wh_now_ms() < deadline; test_sleep_ms(250)) {
        json_decref(ep);
        ep = wh_endpoint_get(t.key_test, e.id);
        if (wh_endpoint_is_disabled(ep))
            break;
    }
    cr_assert(wh_endpoint_is_disabled(ep), "410 did not disable the endpoint: %s",
              json_dumps(ep, JSON_COMPACT));
    json_decref(ep);

    /* Neither a retry of the 410 nor anything new reaches it. */
    char *second = wh_session_create(t.key_test);
    wh_session_complete(second);
    wh_kafka_event(second, "checkout.session.completed");
    test_sleep_ms(4000);
    records = wh_receiver_requests(e.path);
    cr_assert_eq(json_array_size(records), 1, "a disabled endpoint got %zu requests",
                 json_array_size(records));
    json_decref(records);
    free(first);
    free(second);
}

Test(webhooks, only_subscribed_enabled_endpoints_of_the_tenant_and_environment_receive,
     .timeout = 120)
{
    struct wh_tenant x, y;
    wh_tenant_new(&x, "Webhooks isolation X");
    wh_tenant_new(&y, "Webhooks isolation Y");
    struct wh_endpoint completed_only, created_only, disabled, other_org;
    wh_endpoint_create(&completed_only, x.key_test, "completed-only",
                       "[\"checkout.session.completed\"]");
    wh_endpoint_create(&created_only, x.key_test, "created-only", "[\"checkout.session.created\"]");
    wh_endpoint_create(&disabled, x.key_test, "disabled", "[\"*\"]");
    wh_endpoint_create(&other_org, y.key_test, "other-org", "[\"*\"]");
    char path[256];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s", disabled.id);
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response r = test_api("PATCH", path, x.key_test, "{\"disabled\": true}", h);
    cr_assert_eq(r.status, 200, "PATCH disabled: %ld %s", r.status, r.text);
    test_api_free(&r);
    json_t *ep = wh_endpoint_get(x.key_test, disabled.id);
    cr_assert(wh_endpoint_is_disabled(ep), "%s", json_dumps(ep, JSON_COMPACT));
    json_decref(ep);
    /* Another tenant's key does not see the endpoint at all. */
    r = test_api("GET", path, y.key_test, NULL, NULL);
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.text);
    test_api_free(&r);
    r = test_api("GET", path, x.key_live, NULL, NULL);
    cr_assert_eq(r.status, 404, "%ld %s", r.status, r.text);
    test_api_free(&r);

    /* X test (the subscribed endpoints' own), X live, and Y test sessions. */
    char *xs = wh_session_create(x.key_test);
    char *xl = wh_session_create(x.key_live);
    char *ys = wh_session_create(y.key_test);
    wh_session_complete(xs);
    wh_session_complete(xl);
    wh_session_complete(ys);
    json_t *xs_created = wh_kafka_event(xs, "checkout.session.created");
    json_t *xs_completed = wh_kafka_event(xs, "checkout.session.completed");
    json_t *ys_created = wh_kafka_event(ys, "checkout.session.created");
    json_t *ys_completed = wh_kafka_event(ys, "checkout.session.completed");
    json_t *xl_completed = wh_kafka_event(xl, "checkout.session.completed");
    json_t *ys_customer = completion_customer_created(y.key_test, ys);

    /* What should arrive does, then time for anything that should not. */
    json_decref(wh_receiver_wait(completed_only.path, 1, 30000));
    json_decref(wh_receiver_wait(created_only.path, 1, 30000));
    json_decref(wh_receiver_wait(other_org.path, 3, 30000));
    test_sleep_ms(4000);

    json_t *got = wh_receiver_requests(completed_only.path);
    cr_assert_eq(json_array_size(got), 1, "completed-only got %zu", json_array_size(got));
    assert_record_is_event(json_array_get(got, 0), xs_completed);
    json_decref(got);

    got = wh_receiver_requests(created_only.path);
    cr_assert_eq(json_array_size(got), 1, "created-only got %zu", json_array_size(got));
    assert_record_is_event(json_array_get(got, 0), xs_created);
    json_decref(got);

    got = wh_receiver_requests(disabled.path);
    cr_assert_eq(json_array_size(got), 0, "a disabled endpoint got %zu", json_array_size(got));
    json_decref(got);

    got = wh_receiver_requests(other_org.path);
    cr_assert_eq(json_array_size(got), 3, "the other org's endpoint got %zu", json_array_size(got));
    cr_assert_eq(records_with_id(got, json_string_value(json_object_get(ys_created, "id"))), 1);
    cr_assert_eq(records_with_id(got, json_string_value(json_object_get(ys_completed, "id"))), 1);
    cr_assert_eq(records_with_id(got, json_string_value(json_object_get(ys_customer, "id"))), 1);
    json_decref(got);

    /* Nor is a delivery even recorded for them. */
    cr_assert_eq(
        count_sql("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1", disabled.id),
        0);
    cr_assert_eq(count_sql("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = $1",
                           completed_only.id),
                 1);
    cr_assert_eq(count_sql("SELECT count(*) FROM webhook_deliveries WHERE event_id = $1",
                           json_string_value(json_object_get(xl_completed, "id"))),
                 0, "the live session's event was fanned out to test endpoints");

    json_decref(xs_created);
    json_decref(xs_completed);
    json_decref(ys_created);
    json_decref(ys_completed);
    json_decref(xl_completed);
    json_decref(ys_customer);
    free(xs);
    free(xl);
    free(ys);
}

Test(webhooks, forbidden_targets_are_refused_without_a_connection, .timeout = 120)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks forbidden");
    const char *port = test_env("CAISSE_TEST_WEBHOOK_RECEIVER_PORT");
    /* The API refuses these URLs, so they go straight into the table: what is
     * tested is the worker's check at connect time. The loopback ones point at
     * the receiver's port. 127.0.0.1/32 is
     * allowlisted (and with it ::ffff:127.0.0.1, the same destination: netguard
     * maps it), but 127.0.0.2 is not: its v4-mapped IPv6 form must be
     * classified as loopback, and so must its decimal form 2130706434. The
     * forms of 127.0.0.1 itself are tested without the allowlist in
     * webhooks_crash.c. */
    struct {
        const char *label;
        const char *url_fmt; /* %s: port, %s: path */
        const char *class_word;
        char path[256];
        struct wh_endpoint e;
    } targets[] = {
        {.label = "metadata", .url_fmt = "http://169.254.169.254%.0s%s", .class_word = "link"},
        {.label = "private", .url_fmt = "http://10.0.0.1%.0s%s", .class_word = "private"},
        {.label = "v4-mapped",
         .url_fmt = "http://[::ffff:127.0.0.2]:%s%s",
         .class_word = "loopback"},
        {.label = "decimal", .url_fmt = "http://2130706434:%s%s", .class_word = "loopback"},
    };
    size_t n = sizeof(targets) / sizeof(targets[0]);
    for (size_t i = 0; i < n; i++) {
        wh_unique_path(targets[i].path, sizeof(targets[i].path), targets[i].label);
        char url[512];
        snprintf(url, sizeof(url), targets[i].url_fmt, port, targets[i].path);
        wh_endpoint_insert(&targets[i].e, t.org, "test", url, "checkout.session.created");
        snprintf(targets[i].e.path, sizeof(targets[i].e.path), "%s", targets[i].path);
    }
    /* A control endpoint of the same tenant: the event does go out. */
    struct wh_endpoint ok;
    wh_endpoint_create(&ok, t.key_test, "control", "[\"checkout.session.created\"]");

    char *sid = wh_session_create(t.key_test);
    json_decref(wh_receiver_wait(ok.path, 1, 30000));

    for (size_t i = 0; i < n; i++) {
        json_t *items = NULL;
        json_t *d = NULL;
        for (long deadline = wh_now_ms() + 20000; d == NULL && wh_now_ms() < deadline;
             test_sleep_ms(250)) {
            json_decref(items);
            items = wh_deliveries(t.key_test, targets[i].e.id);
            if (json_array_size(items) > 0 && wh_int(json_array_get(items, 0), "attempt_count") > 0)
                d = json_array_get(items, 0);
        }
        cr_assert(d != NULL, "%s: no attempt in 20 s", targets[i].label);
        json_t *full = wh_delivery_get(t.key_test, json_string_value(json_object_get(d, "id")));
        json_t *a = json_array_get(json_object_get(full, "attempts"), 0);
        cr_assert(a != NULL, "%s: no attempt in the log", targets[i].label);
        cr_assert_eq(wh_int(a, "status_code"), -1, "%s: %s", targets[i].label,
                     json_dumps(a, JSON_COMPACT));
        const char *err = json_string_value(json_object_get(a, "error"));
        cr_assert(err != NULL && strcasestr(err, targets[i].class_word) != NULL,
                  "%s: the attempt's error should name the forbidden range (%s): %s",
                  targets[i].label, targets[i].class_word, err);
        /* Refused before connecting: well under the 5 s connect timeout. */
        cr_assert(wh_int(a, "duration_ms") < 1000, "%s: %ld ms", targets[i].label,
                  wh_int(a, "duration_ms"));
        json_decref(full);
        json_decref(items);
        json_t *records = wh_receiver_requests(targets[i].path);
        cr_assert_eq(json_array_size(records), 0, "%s reached the receiver", targets[i].label);
        json_decref(records);
    }
    free(sid);
}

Test(webhooks, rotation_signs_with_both_secrets, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks rotation");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "rotation", "[\"checkout.session.created\"]");

    char *before = wh_session_create(t.key_test);
    json_t *records = wh_receiver_wait(e.path, 1, 30000);
    cr_assert_eq(json_array_size(records), 1);
    json_t *rec = json_array_get(records, 0);
    cr_assert(json_is_true(json_object_get(rec, "verified")));
    const char *sig = wh_record_header(rec, "webhook-signature");
    cr_assert(sig != NULL && strchr(sig, ' ') == NULL, "one signature before rotation: %s", sig);
    json_decref(records);

    char path[256];
    snprintf(path, sizeof(path), "/webhook-endpoints/%s/rotate-secret", e.id);
    struct api_response r = test_api("POST", path, t.key_test, NULL, NULL);
    cr_assert(r.status == 200 || r.status == 201, "rotate-secret: %ld %s", r.status, r.text);
    const char *fresh = json_string_value(json_object_get(r.json, "secret"));
    cr_assert(fresh != NULL && strncmp(fresh, "whsec_", 6) == 0, "%s", r.text);
    cr_assert_str_neq(fresh, e.secret);
    wh_receiver_secret(e.path, fresh); /* secret 1; the old one is secret 0 */
    test_api_free(&r);

    char *after = wh_session_create(t.key_test);
    json_t *created = wh_kafka_event(after, "checkout.session.created");
    records = wh_receiver_wait(e.path, 2, 30000);
    cr_assert_eq(json_array_size(records), 2);
    rec = json_array_get(records, 1);
    assert_record_is_event(rec, created);
    sig = wh_record_header(rec, "webhook-signature");
    cr_assert(sig != NULL && strchr(sig, ' ') != NULL, "two signatures during rotation: %s", sig);
    /* standardwebhooks verified it with either secret alone. */
    json_t *with = json_object_get(rec, "verified_with");
    cr_assert_eq(json_array_size(with), 2, "verified with secrets %s (0: old, 1: new)",
                 json_dumps(with, JSON_COMPACT));
    json_decref(records);
    json_decref(created);
    free(before);
    free(after);
}

/* Most requests of one endpoint overlapping in time, each taking delay_ms at
 * the receiver from its arrival (a request on a freed slot arrives only after
 * the answer that freed it). */
static size_t max_overlap(const json_t *records, long delay_ms)
{
    size_t best = 0, i, k;
    const json_t *a, *b;
    json_array_foreach(records, i, a)
    {
        long t = wh_int(a, "received_at_ms");
        size_t n = 0;
        json_array_foreach(records, k, b)
        {
            long s = wh_int(b, "received_at_ms");
            if (s <= t && t < s + delay_ms)
                n++;
        }
        if (n > best)
            best = n;
    }
    return best;
}

Test(webhooks, a_backlog_to_a_slow_endpoint_fills_its_concurrency_cap_and_never_exceeds_it,
     .timeout = 120)
{
    /* The worker claims ahead of free slots (deploy/OPERATIONS.md): the held
     * deliveries must still go out at most CAISSE_WEBHOOK_ENDPOINT_CONCURRENCY
     * (4, the default the test stack keeps) at a time. */
    enum { SESSIONS = 24, DELAY_MS = 400, CAP = 4 };
    struct wh_tenant t;
    wh_tenant_new(&t, "Webhooks capped");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "capped", "[\"checkout.session.created\"]");
    wh_receiver_behavior(e.path, "slow", DELAY_MS);
    for (int i = 0; i < SESSIONS; i++)
        free(wh_session_create(t.key_test));
    json_t *records = wh_receiver_wait(e.path, SESSIONS, 60000);
    cr_assert_eq(json_array_size(records), SESSIONS, "deliveries to %s: %zu", e.path,
                 json_array_size(records));
    size_t overlap = max_overlap(records, DELAY_MS);
    cr_assert_leq(overlap, CAP, "%zu requests in flight to one endpoint at once", overlap);
    /* 24 due deliveries of 400 ms each: the cap is used, not one at a time. */
    cr_assert_geq(overlap, 2, "at most %zu request in flight: the cap is never filled", overlap);
    json_decref(records);
}
