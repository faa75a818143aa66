/* Coupons on checkout sessions against the real stack: the totals of every
 * session, a coupon_code applied at create with each of its rules and
 * messages, and the redemption counted with the completion, exactly
 * max_redemptions times however many completions race for it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"

static json_int_t num(const json_t *o, const char *name)
{
    const json_t *v = json_object_get(o, name);
    cr_assert(json_is_integer(v), "%s is not an integer", name);
    return json_integer_value(v);
}

static void expect_session_refused(const char *key, const char *body, const char *message)
{
    struct api_response r = ct_call("POST", "/checkout-sessions", key, body);
    test_assert_error(&r, 400, "validation_error", "coupon_code", message);
    test_api_free(&r);
}

static struct api_response complete(const char *id, const char *reference)
{
    char body[200];
    snprintf(body, sizeof(body), "{\"payment_reference\": \"%s\"}", reference);
    return ct_session_complete(id, body);
}

static char *times_redeemed(const char *coupon_id)
{
    return test_sql_value("SELECT times_redeemed FROM coupons WHERE id = $1", coupon_id);
}

Test(coupon_sessions, a_session_without_a_coupon_totals_its_amount)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon session tests");
    json_t *s = ct_create("/checkout-sessions", t.key,
                          "{\"amount\": 15000, \"customer_email\": \"a@example.com\"}");
    cr_assert_eq(num(s, "amount_subtotal"), 15000);
    cr_assert_eq(num(s, "amount_discount"), 0);
    cr_assert_eq(num(s, "amount_total"), 15000);
    cr_assert(json_is_null(json_object_get(s, "coupon")));
    /* Additive: after the reference's fields, before url. */
    const char *last[] = {"updated_at",       "amount_subtotal", "amount_discount",
                          "amount_total",     "coupon",          "billing_address",
                          "customer_details", "payment",         "url"};
    size_t i = 0, at = 0;
    const char *k;
    json_t *v;
    json_object_foreach(s, k, v)
    {
        if (strcmp(k, last[0]) == 0)
            at = i;
        i++;
    }
    i = 0;
    json_object_foreach(s, k, v)
    {
        if (i >= at)
            cr_assert_str_eq(k, last[i - at]);
        i++;
    }
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", ct_str(s, "checkout_session_id"));
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, s), "%s", g.text);
    test_api_free(&g);
    json_decref(s);
}

Test(coupon_sessions, a_coupon_code_applies_at_create, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon session tests");
    json_t *c =
        ct_create("/coupons", t.key,
                  "{\"code\": \"Summer10\", \"percent_off\": 12.5, \"max_redemptions\": 5}");
    /* Any case finds it; 12.5 % of 999 F CFA is 124.875: 125. */
    json_t *s = ct_create("/checkout-sessions", t.key,
                          "{\"amount\": 999, \"customer_email\": \"a@example.com\","
                          " \"coupon_code\": \"SUMMER10\"}");
    cr_assert_eq(num(s, "amount"), 999);
    cr_assert_eq(num(s, "amount_subtotal"), 999);
    cr_assert_eq(num(s, "amount_discount"), 125);
    cr_assert_eq(num(s, "amount_total"), 874);
    const json_t *coupon = json_object_get(s, "coupon");
    cr_assert_eq(json_object_size(coupon), 2);
    cr_assert_str_eq(ct_str(coupon, "id"), ct_str(c, "coupon_id"));
    cr_assert_str_eq(ct_str(coupon, "code"), "Summer10", "the coupon's code as stored");
    char path[128];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", ct_str(s, "checkout_session_id"));
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, s), "%s", g.text);
    test_api_free(&g);
    /* The created event carries the totals. */
    json_t *events = test_kafka_events_for(ct_str(s, "checkout_session_id"), 1, 20000);
    cr_assert_geq(json_array_size(events), 1);
    cr_assert(json_equal(json_object_get(json_array_get(events, 0), "data"), s));
    json_decref(events);
    /* Counted at completion, not at create. */
    char *n = times_redeemed(ct_str(c, "coupon_id"));
    cr_assert_str_eq(n, "0");
    free(n);

    /* 100 % makes the total 0; an amount off never exceeds the subtotal. */
    json_decref(ct_create("/coupons", t.key, "{\"code\": \"FREE\", \"percent_off\": 100}"));
    json_decref(ct_create("/coupons", t.key,
                          "{\"code\": \"BIG\", \"amount_off\": 5000, \"currency_code\": \"XOF\"}"));
    json_t *free_s = ct_create("/checkout-sessions", t.key,
                               "{\"amount\": 15000, \"customer_email\": \"a@example.com\","
                               " \"coupon_code\": \"free\"}");
    cr_assert_eq(num(free_s, "amount_discount"), 15000);
    cr_assert_eq(num(free_s, "amount_total"), 0);
    json_t *big = ct_create("/checkout-sessions", t.key,
                            "{\"amount\": 3000, \"customer_email\": \"a@example.com\","
                            " \"coupon_code\": \"BIG\"}");
    cr_assert_eq(num(big, "amount_discount"), 3000);
    cr_assert_eq(num(big, "amount_total"), 0);
    json_t *part = ct_create("/checkout-sessions", t.key,
                             "{\"amount\": 8000, \"customer_email\": \"a@example.com\","
                             " \"coupon_code\": \"BIG\"}");
    cr_assert_eq(num(part, "amount_discount"), 5000);
    cr_assert_eq(num(part, "amount_total"), 3000);
    /* Two decimals: 12.5 % of 9.99 EUR is 1.24875 EUR: 1.25 EUR. */
    json_t *eur =
        ct_create("/checkout-sessions", t.key,
                  "{\"amount\": 999, \"currency_code\": \"EUR\","
                  " \"customer_email\": \"a@example.com\", \"coupon_code\": \"summer10\"}");
    cr_assert_eq(num(eur, "amount_discount"), 125);
    cr_assert_eq(num(eur, "amount_total"), 874);
    json_decref(eur);
    json_decref(part);
    json_decref(big);
    json_decref(free_s);
    json_decref(s);
    json_decref(c);
}

Test(coupon_sessions, each_rule_of_a_coupon_refuses_the_session_with_its_reason)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Coupon session tests");
    ct_tenant_new(&other, "Coupon session tests");
    const char *k = t.key;
    json_t *product = ct_create("/products", k, "{\"name\": \"Plan\"}");
    json_t *another = ct_create("/products", k, "{\"name\": \"Other plan\"}");
    char body[600];
    json_decref(
        ct_create("/coupons", k, "{\"code\": \"OFF\", \"percent_off\": 10, \"active\": false}"));
    json_decref(ct_create("/coupons", k,
                          "{\"code\": \"LATER\", \"percent_off\": 10,"
                          " \"valid_from\": \"2098-01-01T00:00:00Z\"}"));
    json_decref(ct_create("/coupons", k,
                          "{\"code\": \"OLD\", \"percent_off\": 10,"
                          " \"valid_from\": \"2020-01-01T00:00:00Z\","
                          " \"valid_until\": \"2020-02-01T00:00:00Z\"}"));
    json_t *once = ct_create("/coupons", k,
                             "{\"code\": \"ONCE\", \"percent_off\": 10, \"max_redemptions\": 1}");
    char *set = test_sql_value("UPDATE coupons SET times_redeemed = 1 WHERE id = $1 RETURNING 1",
                               ct_str(once, "coupon_id"));
    free(set);
    snprintf(body, sizeof(body),
             "{\"code\": \"PLANONLY\", \"percent_off\": 10,"
             " \"applies_to\": {\"product_ids\": [\"%s\"]}}",
             ct_str(product, "product_id"));
    json_decref(ct_create("/coupons", k, body));
    json_decref(ct_create(
        "/coupons", k, "{\"code\": \"EUROS\", \"amount_off\": 100, \"currency_code\": \"EUR\"}"));
    json_decref(ct_create("/coupons", other.key, "{\"code\": \"THEIRS\", \"percent_off\": 10}"));

#define SESSION(extra) "{\"amount\": 10000, \"customer_email\": \"a@example.com\", " extra "}"
    expect_session_refused(k, SESSION("\"coupon_code\": \"NOPE\""), "No coupon with code NOPE");
    expect_session_refused(k, SESSION("\"coupon_code\": \"THEIRS\""), "No coupon with code THEIRS");
    expect_session_refused(k, SESSION("\"coupon_code\": \"not a code!\""),
                           "No coupon with code not a code!");
    expect_session_refused(k, SESSION("\"coupon_code\": 10"), "coupon_code must be a string");
    expect_session_refused(k, SESSION("\"coupon_code\": \"off\""), "Coupon OFF is not active");
    expect_session_refused(k, SESSION("\"coupon_code\": \"LATER\""),
                           "Coupon LATER is not valid before 2098-01-01T00:00:00Z");
    expect_session_refused(k, SESSION("\"coupon_code\": \"OLD\""),
                           "Coupon OLD expired at 2020-02-01T00:00:00Z");
    expect_session_refused(k, SESSION("\"coupon_code\": \"ONCE\""),
                           "Coupon ONCE has been redeemed its maximum number of times");
    expect_session_refused(k, SESSION("\"coupon_code\": \"PLANONLY\""),
                           "Coupon PLANONLY does not apply to this product");
    snprintf(body, sizeof(body), SESSION("\"coupon_code\": \"PLANONLY\", \"product_id\": \"%s\""),
             ct_str(another, "product_id"));
    expect_session_refused(k, body, "Coupon PLANONLY does not apply to this product");
    expect_session_refused(k, SESSION("\"coupon_code\": \"EUROS\""),
                           "Coupon EUROS takes an amount off in EUR, not in XOF");
    /* Nothing refused was created; the right product and currency are taken. */
    struct api_response l = ct_call("GET", "/checkout-sessions", k, NULL);
    cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
    test_api_free(&l);
    snprintf(body, sizeof(body), SESSION("\"coupon_code\": \"PLANONLY\", \"product_id\": \"%s\""),
             ct_str(product, "product_id"));
    json_t *s = ct_create("/checkout-sessions", k, body);
    cr_assert_eq(num(s, "amount_discount"), 1000);
    json_decref(s);
    s = ct_create(
        "/checkout-sessions", k,
        "{\"amount\": 250, \"currency_code\": \"EUR\", \"customer_email\": \"a@example.com\","
        " \"coupon_code\": \"euros\"}");
    cr_assert_eq(num(s, "amount_discount"), 100);
    cr_assert_eq(num(s, "amount_total"), 150);
    json_decref(s);
#undef SESSION
    json_decref(once);
    json_decref(another);
    json_decref(product);
}

Test(coupon_sessions, the_completion_counts_the_redemption_once, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon session tests");
    json_t *c = ct_create("/coupons", t.key,
                          "{\"code\": \"COUNTME\", \"percent_off\": 50, \"max_redemptions\": 3}");
    json_t *s = ct_create("/checkout-sessions", t.key,
                          "{\"amount\": 10000, \"customer_email\": \"a@example.com\","
                          " \"coupon_code\": \"COUNTME\"}");
    const char *id = ct_str(s, "checkout_session_id");
    struct api_response r = complete(id, "pay_countme_1");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "status"), "complete");
    cr_assert_eq(num(r.json, "amount_total"), 5000);
    cr_assert_str_eq(ct_str(json_object_get(r.json, "coupon"), "code"), "COUNTME");
    test_api_free(&r);
    char *n = times_redeemed(ct_str(c, "coupon_id"));
    cr_assert_str_eq(n, "1");
    free(n);
    /* The same payment again: the same answer, no second redemption. */
    r = complete(id, "pay_countme_1");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    n = times_redeemed(ct_str(c, "coupon_id"));
    cr_assert_str_eq(n, "1");
    free(n);
    struct api_response g = ct_call("GET", "/coupons", t.key, NULL);
    cr_assert_eq(num(json_array_get(g.json, 0), "times_redeemed"), 1, "%s", g.text);
    test_api_free(&g);
    /* A session without a coupon completes as before and counts nothing. */
    json_t *plain = ct_create("/checkout-sessions", t.key,
                              "{\"amount\": 10000, \"customer_email\": \"a@example.com\"}");
    r = complete(ct_str(plain, "checkout_session_id"), "pay_plain");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    n = times_redeemed(ct_str(c, "coupon_id"));
    cr_assert_str_eq(n, "1");
    free(n);
    json_decref(plain);
    json_decref(s);
    json_decref(c);
}

Test(coupon_sessions, concurrent_completions_redeem_exactly_max_redemptions, .timeout = 120)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon session tests");
    enum { N = 8, MAX = 3 };
    char body[200];
    snprintf(body, sizeof(body),
             "{\"code\": \"RACE\", \"percent_off\": 20, \"max_redemptions\": %d}", MAX);
    json_t *c = ct_create("/coupons", t.key, body);
    char ids[N][UUID_STR_LEN];
    for (int i = 0; i < N; i++) {
        json_t *s = ct_create("/checkout-sessions", t.key,
                              "{\"amount\": 10000, \"customer_email\": \"a@example.com\","
                              " \"coupon_code\": \"race\"}");
        snprintf(ids[i], sizeof(ids[i]), "%s", ct_str(s, "checkout_session_id"));
        json_decref(s);
    }
    char dir[] = "/tmp/caisse-coupon-race-XXXXXX";
    cr_assert(mkdtemp(dir) != NULL);
    char cmd[16384];
    int n = snprintf(cmd, sizeof(cmd), "cd %s || exit 1;", dir);
    for (int i = 0; i < N; i++) {
        char reference[64];
        snprintf(reference, sizeof(reference), "{\"payment_reference\": \"race_%d\"}", i);
        /* What the payment took: the session's amount_total (the coupon's off) and currency. */
        char *paid = test_completion_body(ids[i], reference);
        n += snprintf(cmd + n, sizeof(cmd) - (size_t)n,
                      " curl -s -o %d.body -D %d.headers -w '%%{http_code}' -X POST"
                      " %s/internal/checkout-sessions/%s/complete"
                      " -H 'Authorization: Bearer %s' -H 'Content-Type: application/json'"
                      " -d '%s' > %d.code &",
                      i, i, test_env("CAISSE_TEST_INTERNAL_URL"), ids[i],
                      test_env("CAISSE_TEST_INTERNAL_TOKEN"), paid, i);
        free(paid);
    }
    snprintf(cmd + n, sizeof(cmd) - (size_t)n, " wait");
    cr_assert_eq(test_shell("%s", cmd), 0);
    int completed = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        char path[256], headers[256];
        snprintf(path, sizeof(path), "%s/%d.body", dir, i);
        snprintf(headers, sizeof(headers), "%s/%d.headers", dir, i);
        char route[128];
        snprintf(route, sizeof(route), "/internal/checkout-sessions/%.36s/complete", ids[i]);
        test_capture_curl_files(test_env("CAISSE_TEST_INTERNAL_URL"), "POST", route, headers, path);
        json_t *o = json_load_file(path, 0, NULL);
        cr_assert(o != NULL, "answer %d is not JSON", i);
        long status = (long)json_integer_value(json_object_get(o, "statusCode"));
        if (json_object_get(o, "checkout_session_id") != NULL) {
            cr_assert_str_eq(ct_str(o, "status"), "complete");
            completed++;
        } else {
            cr_assert_eq(status, 409, "answer %d", i);
            cr_assert_str_eq(ct_str(o, "code"), "invalid_state");
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "Coupon RACE has been redeemed its maximum number of times: checkout"
                     " session %.36s was not completed",
                     ids[i]);
            cr_assert_str_eq(ct_str(o, "message"), msg);
            refused++;
            /* Nothing changed: still open, no completed event. */
            char *st = test_sql_value("SELECT status FROM checkout_sessions WHERE id = $1", ids[i]);
            cr_assert_str_eq(st, "open");
            free(st);
        }
        json_decref(o);
        unlink(path);
        unlink(headers);
        snprintf(path, sizeof(path), "%s/%d.code", dir, i);
        unlink(path);
    }
    rmdir(dir);
    cr_assert_eq(completed, MAX, "%d completed, %d refused", completed, refused);
    cr_assert_eq(refused, N - MAX);
    char *r = times_redeemed(ct_str(c, "coupon_id"));
    cr_assert_str_eq(r, "3");
    free(r);
    char *done = test_sql_value("SELECT count(*) FROM checkout_sessions WHERE coupon_id = $1"
                                " AND status = 'complete'",
                                ct_str(c, "coupon_id"));
    cr_assert_str_eq(done, "3");
    free(done);
    json_decref(c);
}
