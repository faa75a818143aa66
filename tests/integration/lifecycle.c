/* Sessions leave "open" exactly once, by the right path, with exactly one
 * event per transition: completion (internal API), manual expiry (merchant
 * API), expiry by the worker, and completion racing expiry at the deadline. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "core/uuid.h"

static const char *key_a(void)
{
    return test_env("CAISSE_TEST_KEY_A");
}

/* Creates a session through base_url (the main or the short-TTL gateway). */
static char *create_at(const char *base_url)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    char *body = test_body(NULL);
    struct api_response r = test_api_at(base_url, "POST", "/checkout-sessions", key_a(), body, h);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char *id = strdup(json_string_value(json_object_get(r.json, "checkout_session_id")));
    test_api_free(&r);
    return id;
}

static char *create_session(void)
{
    return create_at(test_env("CAISSE_TEST_URL"));
}

static struct api_response complete(const char *id, const char *body, const char *token)
{
    char path[128], auth[256];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", id);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
    const char *h[] = {"Content-Type: application/json", auth, NULL};
    return test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", path, NULL, body, h);
}

static struct api_response complete_with(const char *id, const char *reference)
{
    char body[512];
    snprintf(body, sizeof(body), "{\"payment_reference\": \"%s\"}", reference);
    char *full = test_completion_body(id, body);
    struct api_response r = complete(id, full, test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    free(full);
    return r;
}

static struct api_response expire(const char *id, const char *api_key)
{
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s/expire", id);
    return test_api("POST", path, api_key, NULL, NULL);
}

static const char *status_of(const struct api_response *r)
{
    return json_string_value(json_object_get(r->json, "status"));
}

/* Number of distinct event ids of type for the session, in all events. */
static size_t distinct_events(json_t *events, const char *type)
{
    json_t *seen = json_object();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), type) == 0)
            json_object_set_new(seen, json_string_value(json_object_get(ev, "id")), json_true());
    }
    size_t n = json_object_size(seen);
    json_decref(seen);
    return n;
}

Test(lifecycle, completion_marks_the_session_complete_with_one_event, .timeout = 60)
{
    char *id = create_session();
    char *body =
        test_completion_body(id, "{\"payment_reference\": \"pay_1001\","
                                 " \"customer_id\": \"123e4567-e89b-12d3-a456-426614174000\"}");
    struct api_response r = complete(id, body, test_env("CAISSE_TEST_INTERNAL_TOKEN"));
    free(body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(status_of(&r), "complete");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "customer_id")),
                     "123e4567-e89b-12d3-a456-426614174000");
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    struct api_response g = test_api("GET", path, key_a(), NULL, NULL);
    cr_assert_str_eq(status_of(&g), "complete");
    cr_assert(json_equal(g.json, r.json), "%s\n%s", g.text, r.text);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(distinct_events(events, "checkout.session.created"), 1);
    cr_assert_eq(distinct_events(events, "checkout.session.completed"), 1);
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(json_string_value(json_object_get(ev, "type")), "checkout.session.completed") ==
            0)
            cr_assert(json_equal(json_object_get(ev, "data"), r.json),
                      "completed event data differs");
    }
    json_decref(events);
    test_api_free(&g);
    test_api_free(&r);
    free(id);
}

Test(lifecycle, repeated_completion_gives_the_same_answer_and_no_new_event, .timeout = 60)
{
    char *id = create_session();
    struct api_response a = complete_with(id, "pay_repeat");
    struct api_response b = complete_with(id, "pay_repeat");
    cr_assert_eq(a.status, 200, "%s", a.text);
    cr_assert_eq(b.status, 200, "%s", b.text);
    cr_assert(json_equal(a.json, b.json));
    test_sleep_ms(1500);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(distinct_events(events, "checkout.session.completed"), 1);
    json_decref(events);
    test_api_free(&a);
    test_api_free(&b);
    free(id);
}

Test(lifecycle, completion_by_another_payment_is_409)
{
    char *id = create_session();
    struct api_response a = complete_with(id, "pay_first");
    cr_assert_eq(a.status, 200, "%s", a.text);
    struct api_response b = complete_with(id, "pay_second");
    char message[200];
    snprintf(message, sizeof(message),
             "Checkout session %s was already completed by another payment", id);
    test_assert_error(&b, 409, "invalid_state", "id", message);
    test_api_free(&a);
    test_api_free(&b);
    free(id);
}

Test(lifecycle, completion_needs_the_service_token_and_the_internal_listener)
{
    char *id = create_session();
    struct api_response r = complete(id, "{\"payment_reference\": \"x\"}", "wrong-token");
    test_assert_error(&r, 401, "authentication_error", NULL, "Invalid service token");
    test_api_free(&r);
    char path[128];
    snprintf(path, sizeof(path), "/internal/checkout-sessions/%s/complete", id);
    const char *h[] = {"Content-Type: application/json", NULL};
    r = test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", path, NULL,
                    "{\"payment_reference\": \"x\"}", h);
    test_assert_error(&r, 401, "authentication_error", NULL, "Invalid service token");
    test_api_free(&r);
    /* The merchant port does not serve the internal API at all. */
    r = test_api("POST", path, key_a(), "{\"payment_reference\": \"x\"}", h);
    test_assert_error(&r, 404, "not_found", NULL, NULL);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/checkout-sessions/%s", id);
    r = test_api("GET", path, key_a(), NULL, NULL);
    cr_assert_str_eq(status_of(&r), "open");
    test_api_free(&r);
    free(id);
}

Test(lifecycle, completion_rejects_bad_input)
{
    char *id = create_session();
    const char *token = test_env("CAISSE_TEST_INTERNAL_TOKEN");
    struct api_response r = complete(id, "{}", token);
    test_assert_error(&r, 400, "validation_error", "payment_reference",
                      "payment_reference is required");
    test_api_free(&r);
    r = complete(id,
                 "{\"payment_reference\": \"p\", \"amount\": 10000, \"currency_code\": \"XOF\","
                 " \"tip\": 5}",
                 token);
    test_assert_error(&r, 400, "validation_error", "tip", "Unknown parameter: tip");
    test_api_free(&r);
    r = complete(id,
                 "{\"payment_reference\": \"p\", \"amount\": 10000, \"currency_code\": \"XOF\","
                 " \"customer_id\": \"nope\"}",
                 token);
    test_assert_error(&r, 400, "validation_error", "customer_id", "customer_id must be a UUID");
    test_api_free(&r);
    r = complete("not-a-uuid",
                 "{\"payment_reference\": \"p\", \"amount\": 1, \"currency_code\": \"XOF\"}",
                 token);
    test_assert_error(&r, 400, "validation_error", "id", "Checkout session id must be a UUID");
    test_api_free(&r);
    r = complete("987e6543-e89b-12d3-a456-426614174000",
                 "{\"payment_reference\": \"p\", \"amount\": 1, \"currency_code\": \"XOF\"}",
                 token);
    test_assert_error(&r, 404, "not_found", "id", NULL);
    test_api_free(&r);
    free(id);
}

Test(lifecycle, manual_expiry_expires_once_then_is_409, .timeout = 60)
{
    char *id = create_session();
    struct api_response r = expire(id, key_a());
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(status_of(&r), "expired");
    struct api_response again = expire(id, key_a());
    char message[200];
    snprintf(message, sizeof(message),
             "Checkout session %s is expired; only an open session can be expired", id);
    test_assert_error(&again, 409, "invalid_state", "id", message);
    test_api_free(&again);
    struct api_response c = complete_with(id, "pay_too_late");
    snprintf(message, sizeof(message), "Checkout session %s has expired and cannot be completed",
             id);
    test_assert_error(&c, 409, "invalid_state", "id", message);
    test_api_free(&c);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(distinct_events(events, "checkout.session.expired"), 1);
    cr_assert_eq(distinct_events(events, "checkout.session.completed"), 0);
    json_decref(events);
    /* Also under /v1. */
    char *other = create_session();
    char path[128];
    snprintf(path, sizeof(path), "/v1/checkout-sessions/%s/expire", other);
    struct api_response v1 = test_api("POST", path, key_a(), NULL, NULL);
    cr_assert_eq(v1.status, 200, "%s", v1.text);
    test_api_free(&v1);
    test_api_free(&r);
    free(id);
    free(other);
}

Test(lifecycle, expiring_a_completed_session_is_409)
{
    char *id = create_session();
    struct api_response c = complete_with(id, "pay_then_expire");
    cr_assert_eq(c.status, 200, "%s", c.text);
    struct api_response r = expire(id, key_a());
    char message[200];
    snprintf(message, sizeof(message),
             "Checkout session %s is complete; only an open session can be expired", id);
    test_assert_error(&r, 409, "invalid_state", "id", message);
    test_api_free(&r);
    test_api_free(&c);
    free(id);
}

Test(lifecycle, manual_expiry_is_tenant_scoped)
{
    char *id = create_session();
    struct api_response r = expire(id, test_env("CAISSE_TEST_KEY_B"));
    test_assert_error(&r, 404, "not_found", "id", NULL);
    test_api_free(&r);
    r = expire(id, test_env("CAISSE_TEST_KEY_A_LIVE"));
    test_assert_error(&r, 404, "not_found", "id", NULL);
    test_api_free(&r);
    r = expire(id, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    free(id);
}

Test(lifecycle, short_lived_sessions_are_expired_by_the_worker, .timeout = 90)
{
    enum { N = 5 };
    char *ids[N];
    for (int i = 0; i < N; i++)
        ids[i] = create_at(test_env("CAISSE_TEST_SHORT_TTL_URL"));
    for (int i = 0; i < N; i++) {
        /* Stored status, not only the effective one reads compute. */
        char *status = NULL;
        for (int tries = 0; tries < 120; tries++) {
            free(status);
            status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", ids[i]);
            if (strcmp(status, "expired") == 0)
                break;
            test_sleep_ms(250);
        }
        cr_assert_str_eq(status, "expired", "session %s was not expired by the worker", ids[i]);
        free(status);
        json_t *events = test_kafka_events_for(ids[i], 2, 20000);
        cr_assert_eq(distinct_events(events, "checkout.session.expired"), 1);
        size_t j;
        json_t *ev;
        json_array_foreach(events, j, ev)
        {
            if (strcmp(json_string_value(json_object_get(ev, "type")),
                       "checkout.session.expired") == 0)
                cr_assert_str_eq(
                    json_string_value(json_object_get(json_object_get(ev, "data"), "status")),
                    "expired");
        }
        json_decref(events);
        struct api_response c = complete_with(ids[i], "pay_after_expiry");
        test_assert_error(&c, 409, "invalid_state", "id", NULL);
        test_api_free(&c);
        free(ids[i]);
    }
}

Test(lifecycle, completion_racing_expiry_at_the_deadline_has_one_winner, .timeout = 120)
{
    enum { N = 30 };
    char *ids[N];
    struct timespec created;
    clock_gettime(CLOCK_MONOTONIC, &created);
    for (int i = 0; i < N; i++)
        ids[i] = create_at(test_env("CAISSE_TEST_SHORT_TTL_URL"));
    /* The sessions live 4 s (whole seconds, so 3 to 4 s from now): fire the
     * completions right around the deadline, all at once. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long elapsed = (now.tv_sec - created.tv_sec) * 1000 + (now.tv_nsec - created.tv_nsec) / 1000000;
    if (elapsed < 3300)
        test_sleep_ms(3300 - elapsed);
    char dir[] = "/tmp/caisse-race-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char cmd[65536];
    int n = snprintf(cmd, sizeof(cmd), "cd %s || exit 1;", dir);
    for (int i = 0; i < N; i++)
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                      " (curl -s -o %d.body -D %d.headers -w '%%{http_code}' -X POST "
                      "%s/internal/checkout-sessions/%s/complete"
                      " -H 'Authorization: Bearer %s' -H 'Content-Type: application/json'"
                      " -d '{\"payment_reference\": \"race_%d\", \"amount\": 10000,"
                      " \"currency_code\": \"XOF\"}' > %d.code; sleep 0.02) &",
                      i, i, test_env("CAISSE_TEST_INTERNAL_URL"), ids[i],
                      test_env("CAISSE_TEST_INTERNAL_TOKEN"), i, i);
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, " wait");
    cr_assert_eq(test_shell("%s", cmd), 0);
    test_sleep_ms(3000); /* the worker expires what completion did not take */
    int completed = 0, expired = 0;
    for (int i = 0; i < N; i++) {
        char path[256], code[8] = "";
        snprintf(path, sizeof(path), "%s/%d.code", dir, i);
        FILE *f = fopen(path, "r");
        cr_assert(f != NULL);
        cr_assert(fgets(code, sizeof(code), f) != NULL);
        fclose(f);
        char *status = NULL;
        for (int tries = 0; tries < 60; tries++) {
            free(status);
            status = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", ids[i]);
            if (strcmp(status, "open") != 0)
                break;
            test_sleep_ms(250);
        }
        json_t *events = test_kafka_events_for(ids[i], 2, 20000);
        size_t nc = distinct_events(events, "checkout.session.completed");
        size_t ne = distinct_events(events, "checkout.session.expired");
        cr_assert_eq(nc + ne, 1, "session %s: %zu completed and %zu expired events", ids[i], nc,
                     ne);
        if (strcmp(code, "200") == 0) {
            cr_assert_str_eq(status, "complete");
            cr_assert_eq(nc, 1);
            completed++;
        } else {
            cr_assert_str_eq(code, "409", "completion answered %s", code);
            cr_assert_str_eq(status, "expired");
            cr_assert_eq(ne, 1);
            expired++;
        }
        json_decref(events);
        free(status);
        unlink(path);
        char headers[256], complete_path[160];
        snprintf(path, sizeof(path), "%s/%d.body", dir, i);
        snprintf(headers, sizeof(headers), "%s/%d.headers", dir, i);
        snprintf(complete_path, sizeof(complete_path), "/internal/checkout-sessions/%s/complete",
                 ids[i]);
        test_capture_curl_files(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", complete_path,
                                headers, path);
        unlink(headers);
        unlink(path);
        free(ids[i]);
    }
    rmdir(dir);
    cr_log_info("deadline race: %d completed, %d expired", completed, expired);
}
