/* Subscriptions against the real stack: reads, list filters and the cursor,
 * every message, tenancy, the cancel action (its refusal, its Idempotency-Key,
 * concurrent requests), the events on Kafka and to webhooks, and past_due:
 * the stack's expiry worker moves an active subscription whose period ended,
 * with exactly one subscription.past_due event, and replicas started here do
 * it once per subscription. The subscriptions here are written straight into
 * PostgreSQL (with a product, a recurring price and a customer of the test's
 * own tenant): what completions make of sessions is tested with them. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/uuid.h"
#include "metrics_support.h"
#include "catalog_support.h"
#include "expiry_replicas.h"
#include "support.h"
#include "webhook_support.h"

/* What a subscription refers to: a product, its monthly price and a customer
 * of one tenant and environment. */
struct fixture {
    char org[UUID_STR_LEN];
    char env[8];
    char product[UUID_STR_LEN];
    char price[UUID_STR_LEN];
    char customer[UUID_STR_LEN];
};

static void fixture_new(struct fixture *f, const char *org, const char *env)
{
    snprintf(f->org, sizeof(f->org), "%s", org);
    snprintf(f->env, sizeof(f->env), "%s", env);
    cr_assert_eq(uuid_v7_string(f->product), 0);
    cr_assert_eq(uuid_v7_string(f->price), 0);
    cr_assert_eq(uuid_v7_string(f->customer), 0);
    char sql[2048];
    snprintf(
        sql, sizeof(sql),
        "WITH p AS (INSERT INTO products (id, organization_id, environment, name, created_at,"
        "   updated_at) VALUES ('%s', $1::uuid, '%s', 'Gold plan', now(), now()) RETURNING id),"
        " pr AS (INSERT INTO prices (id, organization_id, environment, product_id,"
        "   currency_code, unit_amount, type, recurring_interval, recurring_interval_count,"
        "   created_at, updated_at)"
        "   SELECT '%s', $1::uuid, '%s', p.id, 'XOF', 15000, 'recurring', 'month', 1, now(),"
        "   now() FROM p RETURNING id),"
        " c AS (INSERT INTO customers (id, organization_id, environment, email, created_at,"
        "   updated_at) VALUES ('%s', $1::uuid, '%s', 'subscriber@example.com', now(), now())"
        "   RETURNING id)"
        " SELECT count(*) FROM pr, c",
        f->product, f->env, f->price, f->env, f->customer, f->env);
    char *n = test_sql_value(sql, org);
    cr_assert(n != NULL && strcmp(n, "1") == 0, "fixture: %s", n != NULL ? n : "(no row)");
    free(n);
}

/* Another customer of the fixture's tenant. */
static void fixture_customer(const struct fixture *f, char out[UUID_STR_LEN])
{
    cr_assert_eq(uuid_v7_string(out), 0);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "INSERT INTO customers (id, organization_id, environment, created_at, updated_at)"
             " VALUES ('%s', $1::uuid, '%s', now(), now()) RETURNING id",
             out, f->env);
    char *id = test_sql_value(sql, f->org);
    cr_assert(id != NULL);
    free(id);
}

/* A subscription of f's tenant for customer (NULL: f's), in status, its
 * period from now + start_s to now + end_s (whole seconds), created age_s
 * seconds ago. */
static void subscription_insert(const struct fixture *f, const char *customer, const char *status,
                                long start_s, long end_s, long age_s, char out[UUID_STR_LEN])
{
    char session[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(out), 0);
    cr_assert_eq(uuid_v7_string(session), 0);
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "WITH t AS (SELECT date_trunc('second', now()) AS now)"
             " INSERT INTO subscriptions (id, organization_id, environment, customer_id, price_id,"
             "   product_id, status, current_period_start, current_period_end,"
             "   latest_checkout_session_id, canceled_at, created_at, updated_at)"
             " SELECT '%s', $1::uuid, '%s', '%s', '%s', '%s', '%s',"
             "   t.now + interval '%ld seconds', t.now + interval '%ld seconds', '%s',"
             "   CASE WHEN '%s' = 'canceled' THEN t.now END,"
             "   t.now - interval '%ld seconds', t.now - interval '%ld seconds' FROM t"
             " RETURNING id",
             out, f->env, customer != NULL ? customer : f->customer, f->price, f->product, status,
             start_s, end_s, session, status, age_s, age_s);
    char *id = test_sql_value(sql, f->org);
    cr_assert(id != NULL, "subscription insert");
    free(id);
}

/* An active subscription in the middle of a month-long period. */
static void subscription_active(const struct fixture *f, char out[UUID_STR_LEN])
{
    subscription_insert(f, NULL, "active", -86400, 29 * 86400, 86400, out);
}

static struct api_response cancel_with_key(const char *id, const char *key, const char *idem)
{
    char path[128], h[400];
    snprintf(path, sizeof(path), "/subscriptions/%s/cancel", id);
    snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
    const char *headers[] = {h, NULL};
    return test_api("POST", path, key, NULL, headers);
}

static struct api_response cancel(const char *id, const char *key)
{
    char path[128];
    snprintf(path, sizeof(path), "/subscriptions/%s/cancel", id);
    return test_api("POST", path, key, NULL, NULL);
}

/* GET /subscriptions/<id>, 200; a new reference. */
static json_t *get_subscription(const char *key, const char *id)
{
    char path[128];
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    struct api_response r = ct_call("GET", path, key, NULL);
    cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.text);
    json_t *s = json_incref(r.json);
    test_api_free(&r);
    return s;
}

static long sql_long(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert(v != NULL, "no row: %s", sql);
    long n = strtol(v, NULL, 10);
    free(v);
    return n;
}

/* The ids of a list answer, in order, joined by spaces. */
static void list_ids(const char *key, const char *path, char *out, size_t outlen)
{
    struct api_response r = ct_call("GET", path, key, NULL);
    cr_assert_eq(r.status, 200, "%s: %ld %s", path, r.status, r.text);
    cr_assert(json_is_array(r.json), "%s", r.text);
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < json_array_size(r.json); i++)
        len += (size_t)snprintf(out + len, outlen - len, "%s%s", i > 0 ? " " : "",
                                ct_str(json_array_get(r.json, i), "subscription_id"));
    test_api_free(&r);
}

Test(subscriptions, get_shows_the_subscription_as_stored)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    json_t *s = get_subscription(t.key, id);
    cr_assert_eq(json_object_size(s), 14, "%s", json_dumps(s, 0));
    cr_assert_str_eq(ct_str(s, "subscription_id"), id);
    cr_assert_str_eq(ct_str(s, "organization_id"), t.org);
    cr_assert_str_eq(ct_str(s, "customer_id"), f.customer);
    cr_assert_str_eq(ct_str(s, "price_id"), f.price);
    cr_assert_str_eq(ct_str(s, "product_id"), f.product);
    cr_assert_str_eq(ct_str(s, "status"), "active");
    cr_assert(json_is_null(json_object_get(s, "canceled_at")));
    cr_assert_eq(json_object_size(json_object_get(s, "metadata")), 0);
    cr_assert_str_eq(ct_str(s, "environment"), "test");
    cr_assert(uuid_is_valid(ct_str(s, "latest_checkout_session_id")));
    /* Whole seconds in UTC; the period is the one stored. */
    cr_assert_eq(strlen(ct_str(s, "current_period_start")), 20);
    char *start = test_sql_value("SELECT to_char(current_period_start AT TIME ZONE 'UTC',"
                                 " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM subscriptions"
                                 " WHERE id = $1::uuid",
                                 id);
    cr_assert_str_eq(ct_str(s, "current_period_start"), start);
    free(start);
    cr_assert(strcmp(ct_str(s, "current_period_end"), ct_str(s, "current_period_start")) > 0);
    /* The same under /v1. */
    char v1[140];
    snprintf(v1, sizeof(v1), "/v1/subscriptions/%s", id);
    struct api_response r = ct_call("GET", v1, t.key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, s));
    test_api_free(&r);
    json_decref(s);
}

Test(subscriptions, list_is_newest_first_with_filters_and_a_cursor)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char other[UUID_STR_LEN];
    fixture_customer(&f, other);
    /* Oldest first: a (f's customer, active), b (other, canceled), c (f's,
     * period ended: past_due), d (other, active), e (f's, past_due stored). */
    char a[UUID_STR_LEN], b[UUID_STR_LEN], c[UUID_STR_LEN], d[UUID_STR_LEN], e[UUID_STR_LEN];
    subscription_insert(&f, NULL, "active", -86400, 29 * 86400, 50, a);
    subscription_insert(&f, other, "canceled", -86400, 29 * 86400, 40, b);
    subscription_insert(&f, NULL, "active", -31 * 86400, -86400, 30, c);
    subscription_insert(&f, other, "active", -86400, 29 * 86400, 20, d);
    subscription_insert(&f, NULL, "past_due", -31 * 86400, -86400, 10, e);
    char got[512], want[512];

    list_ids(t.key, "/subscriptions", got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s %s %s %s", e, d, c, b, a);
    cr_assert_str_eq(got, want);
    list_ids(t.key, "/v1/subscriptions?limit=2", got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s", e, d);
    cr_assert_str_eq(got, want);
    char path[256];
    snprintf(path, sizeof(path), "/subscriptions?limit=2&starting_after=%s", d);
    list_ids(t.key, path, got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s", c, b);
    cr_assert_str_eq(got, want);

    snprintf(path, sizeof(path), "/subscriptions?customer_id=%s", f.customer);
    list_ids(t.key, path, got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s %s", e, c, a);
    cr_assert_str_eq(got, want);
    /* The status filter sees the status as reads show it: c ended its period
     * (past_due, whether or not the expiry worker has moved it yet). */
    list_ids(t.key, "/subscriptions?status=active", got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s", d, a);
    cr_assert_str_eq(got, want);
    list_ids(t.key, "/subscriptions?status=past_due", got, sizeof(got));
    snprintf(want, sizeof(want), "%s %s", e, c);
    cr_assert_str_eq(got, want);
    list_ids(t.key, "/subscriptions?status=canceled", got, sizeof(got));
    cr_assert_str_eq(got, b);
    json_t *sc = get_subscription(t.key, c);
    cr_assert_str_eq(ct_str(sc, "status"), "past_due");
    json_decref(sc);
    /* Both filters and the cursor together. */
    snprintf(path, sizeof(path), "/subscriptions?customer_id=%s&status=past_due&starting_after=%s",
             f.customer, e);
    list_ids(t.key, path, got, sizeof(got));
    cr_assert_str_eq(got, c);
    snprintf(path, sizeof(path), "/subscriptions?customer_id=%s&status=canceled", f.customer);
    list_ids(t.key, path, got, sizeof(got));
    cr_assert_str_eq(got, "");
}

Test(subscriptions, rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN], unknown[UUID_STR_LEN];
    subscription_active(&f, id);
    cr_assert_eq(uuid_v7_string(unknown), 0);
    const char *k = t.key;
    char path[160], msg[200];

    ct_expect_400(k, "GET", "/subscriptions/nope", NULL, "id", "Subscription id must be a UUID");
    ct_expect_400(k, "POST", "/subscriptions/nope/cancel", NULL, "id",
                  "Subscription id must be a UUID");
    snprintf(msg, sizeof(msg), "Subscription with ID %s not found or access denied", unknown);
    snprintf(path, sizeof(path), "/subscriptions/%s", unknown);
    ct_expect_error(k, "GET", path, NULL, 404, "not_found", "id", msg);
    snprintf(path, sizeof(path), "/subscriptions/%s/cancel", unknown);
    ct_expect_error(k, "POST", path, NULL, 404, "not_found", "id", msg);

    /* A cancel takes no parameter. */
    snprintf(path, sizeof(path), "/subscriptions/%s/cancel", id);
    ct_expect_400(k, "POST", path, "{\"reason\": \"too dear\"}", "reason",
                  "Unknown parameter: reason");
    ct_expect_400(k, "POST", path, "[]", NULL, "Request body must be a JSON object");
    struct api_response r = test_api("POST", path, k, "{}", NULL);
    test_assert_error(&r, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
    test_api_free(&r);
    char long_key[300];
    memset(long_key, 'k', 256);
    long_key[256] = '\0';
    r = cancel_with_key(id, k, long_key);
    test_assert_error(&r, 400, "validation_error", "Idempotency-Key",
                      "Idempotency-Key must be 1 to 255 characters");
    test_api_free(&r);
    r = test_api("POST", path, NULL, NULL, NULL);
    test_assert_error(&r, 401, "authentication_error", NULL, "API key is missing");
    test_api_free(&r);
    /* Nothing a request could create or change. */
    r = ct_call("POST", "/subscriptions", k, "{}");
    cr_assert_eq(r.status, 405, "%s", r.text);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    r = ct_call("PATCH", path, k, "{\"status\": \"canceled\"}");
    cr_assert_eq(r.status, 405, "%s", r.text);
    test_api_free(&r);

    ct_expect_400(k, "GET", "/subscriptions?limit=0", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/subscriptions?limit=101", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/subscriptions?starting_after=x", NULL, "starting_after",
                  "starting_after must be a subscription id (UUID)");
    snprintf(path, sizeof(path), "/subscriptions?starting_after=%s", unknown);
    ct_expect_400(k, "GET", path, NULL, "starting_after",
                  "starting_after must be the id of one of your subscriptions");
    ct_expect_400(k, "GET", "/subscriptions?customer_id=x", NULL, "customer_id",
                  "customer_id must be a UUID");
    ct_expect_400(k, "GET", "/subscriptions?status=paused", NULL, "status",
                  "status must be one of active, past_due, canceled");
    ct_expect_400(k, "GET", "/subscriptions?price_id=x", NULL, "price_id",
                  "Unknown query parameter: price_id");
    /* Refused requests changed nothing. */
    json_t *s = get_subscription(k, id);
    cr_assert_str_eq(ct_str(s, "status"), "active");
    json_decref(s);
}

Test(subscriptions, another_tenant_or_environment_sees_nothing)
{
    struct ct_tenant a, b;
    ct_tenant_new(&a, "Subscription tests");
    ct_tenant_new(&b, "Subscription tests");
    struct fixture f;
    fixture_new(&f, a.org, "test");
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    json_t *before = get_subscription(a.key, id);
    char path[160], cancel_path[160], msg[200], cursor[200], by_customer[200];
    snprintf(path, sizeof(path), "/subscriptions/%s", id);
    snprintf(cancel_path, sizeof(cancel_path), "/subscriptions/%s/cancel", id);
    snprintf(msg, sizeof(msg), "Subscription with ID %s not found or access denied", id);
    snprintf(cursor, sizeof(cursor), "/subscriptions?starting_after=%s", id);
    snprintf(by_customer, sizeof(by_customer), "/subscriptions?customer_id=%s", f.customer);
    const char *others[] = {b.key, a.live, b.live};
    for (size_t i = 0; i < 3; i++) {
        ct_expect_error(others[i], "GET", path, NULL, 404, "not_found", "id", msg);
        ct_expect_error(others[i], "POST", cancel_path, NULL, 404, "not_found", "id", msg);
        char got[256];
        list_ids(others[i], "/subscriptions", got, sizeof(got));
        cr_assert_str_eq(got, "");
        list_ids(others[i], by_customer, got, sizeof(got));
        cr_assert_str_eq(got, "");
        ct_expect_400(others[i], "GET", cursor, NULL, "starting_after",
                      "starting_after must be the id of one of your subscriptions");
    }
    /* Untouched by the refused cancels. */
    json_t *after = get_subscription(a.key, id);
    cr_assert(json_equal(before, after));
    json_decref(before);
    json_decref(after);
}

Test(subscriptions, cancel_sets_canceled_at_once_with_its_event, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    json_t *before = get_subscription(t.key, id);

    /* An empty object is the same as no body. */
    char path[160];
    snprintf(path, sizeof(path), "/subscriptions/%s/cancel", id);
    struct api_response r = ct_call("POST", path, t.key, "{}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(!r.idempotent_replayed);
    cr_assert_str_eq(r.location, "", "an action names no new resource");
    cr_assert_str_eq(ct_str(r.json, "status"), "canceled");
    cr_assert_str_eq(ct_str(r.json, "canceled_at"), ct_str(r.json, "updated_at"));
    cr_assert_str_eq(ct_str(r.json, "created_at"), ct_str(before, "created_at"));
    cr_assert_str_eq(ct_str(r.json, "current_period_end"), ct_str(before, "current_period_end"),
                     "the period is kept");
    json_t *after = get_subscription(t.key, id);
    cr_assert(json_equal(after, r.json), "GET shows the answer");

    /* Canceled again: 409, and nothing changes. */
    char msg[200];
    snprintf(msg, sizeof(msg), "Subscription %s is already canceled", id);
    struct api_response again = cancel(id, t.key);
    test_assert_error(&again, 409, "invalid_state", "id", msg);
    test_api_free(&again);
    json_t *still = get_subscription(t.key, id);
    cr_assert(json_equal(still, after));

    /* One canceled event, the subscription after the change; none for the refusal. */
    json_t *events = test_kafka_events_for(id, 1, 20000);
    test_sleep_ms(500);
    json_decref(events);
    events = test_kafka_events_for(id, 1, 0);
    cr_assert_eq(json_array_size(events), 1, "%zu events", json_array_size(events));
    ct_assert_event(json_array_get(events, 0), "/caisse/subscriptions", "subscription.canceled", id,
                    t.org, after, ct_str(after, "updated_at"));
    json_decref(events);
    /* The events API lists it under its type. */
    struct api_response l = ct_call("GET", "/events?type=subscription.canceled", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert_str_eq(ct_str(json_array_get(l.json, 0), "subject"), id);
    test_api_free(&l);
    test_api_free(&r);
    json_decref(before);
    json_decref(after);
    json_decref(still);
}

Test(subscriptions, a_past_due_subscription_can_be_canceled)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN];
    subscription_insert(&f, NULL, "past_due", -31 * 86400, -86400, 86400, id);
    struct api_response r = cancel(id, t.key);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "status"), "canceled");
    cr_assert(json_is_string(json_object_get(r.json, "canceled_at")));
    test_api_free(&r);
    /* The sweep leaves canceled ones alone, even past their period. */
    test_sleep_ms(1500);
    json_t *s = get_subscription(t.key, id);
    cr_assert_str_eq(ct_str(s, "status"), "canceled");
    json_decref(s);
}

Test(subscriptions, a_keyed_cancel_answers_its_retries_the_same, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN], other[UUID_STR_LEN], idem[UUID_STR_LEN];
    subscription_active(&f, id);
    subscription_active(&f, other);
    cr_assert_eq(uuid_v7_string(idem), 0);

    struct api_response a = cancel_with_key(id, t.key, idem);
    cr_assert_eq(a.status, 200, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    cr_assert_str_eq(ct_str(a.json, "status"), "canceled");
    /* The retry: the same subscription, replayed, no second command applied. */
    struct api_response b = cancel_with_key(id, t.key, idem);
    cr_assert_eq(b.status, 200, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    /* The key for another subscription: 409, and that one stays active. */
    struct api_response c = cancel_with_key(other, t.key, idem);
    test_assert_error(&c, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    json_t *o = get_subscription(t.key, other);
    cr_assert_str_eq(ct_str(o, "status"), "active");
    json_decref(o);
    /* Keys are per tenant and environment: the same key in live is another
     * request, here for a subscription live does not have. */
    char path_msg[200];
    snprintf(path_msg, sizeof(path_msg), "Subscription with ID %s not found or access denied",
             other);
    struct api_response d = cancel_with_key(other, t.live, idem);
    test_assert_error(&d, 404, "not_found", "id", path_msg);

    /* A keyed cancel refused (already canceled): its retry gets the same error. */
    char idem2[UUID_STR_LEN], msg[200];
    cr_assert_eq(uuid_v7_string(idem2), 0);
    snprintf(msg, sizeof(msg), "Subscription %s is already canceled", id);
    struct api_response e = cancel_with_key(id, t.key, idem2);
    test_assert_error(&e, 409, "invalid_state", "id", msg);
    struct api_response g = cancel_with_key(id, t.key, idem2);
    test_assert_error(&g, 409, "invalid_state", "id", msg);

    json_t *events = test_kafka_events_for(id, 1, 20000);
    test_sleep_ms(500);
    json_decref(events);
    events = test_kafka_events_for(id, 1, 0);
    cr_assert_eq(json_array_size(events), 1, "one canceled event: %zu", json_array_size(events));
    json_decref(events);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE session_id = $1::uuid", other), 0);
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&c);
    test_api_free(&d);
    test_api_free(&e);
    test_api_free(&g);
}

/* N concurrent cancels of one subscription with curl; the statuses and
 * bodies are in outdir/<i> and outdir/<i>.h. */
static void concurrent_cancels(const char *key, const char *id, const char *idem, int n,
                               char *outdir)
{
    cr_assert(mkdtemp(outdir) != NULL);
    char header[300] = "";
    if (idem != NULL)
        snprintf(header, sizeof(header), "-H 'Idempotency-Key: %s'", idem);
    int rc = test_shell("for i in $(seq 1 %d); do curl -s -o %s/$i -D %s/$i.h -X POST"
                        " %s/subscriptions/%s/cancel -H 'x-api-key: %s' %s & done; wait",
                        n, outdir, outdir, test_env("CAISSE_TEST_URL"), id, key, header);
    cr_assert_eq(rc, 0);
}

/* Answer i of a concurrent run: its status, and its body (a new reference). */
static long concurrent_answer(const char *outdir, int i, const char *id, json_t **body)
{
    char path[160], headers[170], cancel_path[128];
    snprintf(path, sizeof(path), "%s/%d", outdir, i);
    snprintf(headers, sizeof(headers), "%s.h", path);
    snprintf(cancel_path, sizeof(cancel_path), "/subscriptions/%s/cancel", id);
    test_capture_curl_files(test_env("CAISSE_TEST_URL"), "POST", cancel_path, headers, path);
    FILE *h = fopen(headers, "r");
    cr_assert(h != NULL);
    char line[256] = "";
    cr_assert(fgets(line, sizeof(line), h) != NULL);
    fclose(h);
    long status = 0;
    const char *sp = strchr(line, ' ');
    if (sp != NULL)
        status = strtol(sp + 1, NULL, 10);
    *body = json_load_file(path, 0, NULL);
    cr_assert(*body != NULL, "answer %d is not JSON", i);
    unlink(headers);
    unlink(path);
    return status;
}

Test(subscriptions, concurrent_cancels_cancel_once, .timeout = 90)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    enum { N = 6 };
    /* Without a key: one is applied (200), the others find it canceled (409). */
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    char outdir[] = "/tmp/caisse-subscription-XXXXXX";
    concurrent_cancels(t.key, id, NULL, N, outdir);
    int applied = 0, refused = 0;
    for (int i = 1; i <= N; i++) {
        json_t *body;
        long status = concurrent_answer(outdir, i, id, &body);
        if (status == 200) {
            applied++;
            cr_assert_str_eq(ct_str(body, "status"), "canceled");
        } else {
            cr_assert_eq(status, 409, "answer %d: %ld", i, status);
            cr_assert_str_eq(ct_str(body, "code"), "invalid_state");
            refused++;
        }
        json_decref(body);
    }
    rmdir(outdir);
    cr_assert_eq(applied, 1, "%d applied, %d refused", applied, refused);

    /* With one key: every answer is 200 with the canceled subscription. */
    char keyed[UUID_STR_LEN], idem[UUID_STR_LEN];
    subscription_active(&f, keyed);
    cr_assert_eq(uuid_v7_string(idem), 0);
    char outdir2[] = "/tmp/caisse-subscription-XXXXXX";
    concurrent_cancels(t.key, keyed, idem, N, outdir2);
    for (int i = 1; i <= N; i++) {
        json_t *body;
        long status = concurrent_answer(outdir2, i, keyed, &body);
        cr_assert_eq(status, 200, "answer %d: %ld %s", i, status, json_dumps(body, 0));
        cr_assert_str_eq(ct_str(body, "status"), "canceled");
        json_decref(body);
    }
    rmdir(outdir2);

    /* One canceled event each, whatever the retries. */
    const char *ids[] = {id, keyed};
    for (size_t i = 0; i < 2; i++) {
        json_t *events = test_kafka_events_for(ids[i], 1, 20000);
        test_sleep_ms(500);
        json_decref(events);
        events = test_kafka_events_for(ids[i], 1, 0);
        cr_assert_eq(json_array_size(events), 1, "%s: %zu events", ids[i], json_array_size(events));
        json_decref(events);
    }
}

Test(subscriptions, webhook_endpoints_subscribe_to_subscription_events, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Subscription webhooks");
    struct wh_endpoint e;
    wh_endpoint_create(&e, t.key_test, "subscriptions",
                       "[\"subscription.created\", \"subscription.renewed\","
                       " \"subscription.canceled\", \"subscription.past_due\"]");
    json_t *endpoint = wh_endpoint_get(t.key_test, e.id);
    cr_assert_eq(json_array_size(json_object_get(endpoint, "enabled_events")), 4);
    json_decref(endpoint);
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    struct api_response r = cancel(id, t.key_test);
    cr_assert_eq(r.status, 200, "%s", r.text);
    json_t *records = wh_receiver_wait(e.path, 1, 30000);
    cr_assert_eq(json_array_size(records), 1, "one delivery: %zu", json_array_size(records));
    const json_t *rec = json_array_get(records, 0);
    json_t *delivered = json_loads(json_string_value(json_object_get(rec, "body")), 0, NULL);
    cr_assert_not_null(delivered, "the delivery's body is the event");
    cr_assert_str_eq(ct_str(delivered, "type"), "subscription.canceled");
    cr_assert(json_equal(json_object_get(delivered, "data"), r.json));
    cr_assert(json_is_true(json_object_get(rec, "verified")), "signed like every webhook");
    json_decref(delivered);
    json_decref(records);
    test_api_free(&r);
}

/* ---- past_due ------------------------------------------------------------------------ */

/* Waits up to timeout_ms until the stored status of id is status. */
static bool wait_stored_status(const char *id, const char *status, long timeout_ms)
{
    long start = clock_now_ms();
    for (;;) {
        char *s = test_sql_value("SELECT status FROM subscriptions WHERE id = $1::uuid", id);
        bool done = s != NULL && strcmp(s, status) == 0;
        free(s);
        if (done)
            return true;
        if (clock_now_ms() - start >= timeout_ms)
            return false;
        test_sleep_ms(100);
    }
}

Test(subscriptions, the_expiry_worker_makes_an_ended_period_past_due_once, .timeout = 90)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char due[UUID_STR_LEN], running[UUID_STR_LEN], canceled[UUID_STR_LEN];
    /* Ended a second ago; still running; canceled and ended. */
    subscription_insert(&f, NULL, "active", -30 * 86400, -1, 30 * 86400, due);
    subscription_active(&f, running);
    subscription_insert(&f, NULL, "canceled", -30 * 86400, -1, 30 * 86400, canceled);
    /* Past its period it reads past_due at once, moved or not. */
    json_t *s = get_subscription(t.key, due);
    cr_assert_str_eq(ct_str(s, "status"), "past_due");
    json_decref(s);

    cr_assert(wait_stored_status(due, "past_due", 30000), "the expiry worker did not move it");
    json_t *after = get_subscription(t.key, due);
    cr_assert_str_eq(ct_str(after, "status"), "past_due");
    cr_assert(json_is_null(json_object_get(after, "canceled_at")));
    json_t *events = test_kafka_events_for(due, 1, 20000);
    test_sleep_ms(1500); /* three more sweeps: none may add a second event */
    json_decref(events);
    events = test_kafka_events_for(due, 1, 0);
    cr_assert_eq(json_array_size(events), 1, "%zu events", json_array_size(events));
    ct_assert_event(json_array_get(events, 0), "/caisse/subscriptions", "subscription.past_due",
                    due, t.org, after, ct_str(after, "updated_at"));
    json_decref(events);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE session_id = $1::uuid"
                          " AND type = 'subscription.past_due'",
                          due),
                 1);
    /* The others are as they were, without events. */
    json_t *r = get_subscription(t.key, running);
    cr_assert_str_eq(ct_str(r, "status"), "active");
    json_decref(r);
    json_t *c = get_subscription(t.key, canceled);
    cr_assert_str_eq(ct_str(c, "status"), "canceled");
    json_decref(c);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE session_id IN ($1::uuid)", running),
                 0);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox WHERE session_id IN ($1::uuid)", canceled),
                 0);
    /* The expiry worker counts them. */
    struct prom_scrape *m = prom_scrape(test_env("CAISSE_TEST_EXPIRY_WORKER_OPS_URL"));
    cr_assert_not_null(m);
    cr_assert(prom_has(m, "caisse_subscriptions_past_due_total", NULL));
    prom_free(m);
    json_decref(after);
}

/* ---- replicas ------------------------------------------------------------------------ */

Test(subscriptions, replicas_make_each_subscription_past_due_exactly_once, .timeout = 240,
     .fini = expiry_replicas_stop)
{
    enum { N = 400 };
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    /* The stack's worker stops, so that two replicas with small batches claim
     * from the same due rows at once (as tests/integration/expiry.c does for
     * sessions). */
    char base_url[256];
    const char *configured = getenv("CAISSE_PUBLIC_BASE_URL");
    if (configured != NULL && configured[0] != '\0')
        snprintf(base_url, sizeof(base_url), "%s", configured);
    else
        snprintf(base_url, sizeof(base_url), "http://localhost:%s",
                 test_env("CAISSE_GATEWAY_PORT"));
    test_service_stop("expiry-worker");

    /* Due subscriptions of the test's tenant, ended 1 to 60 seconds ago. */
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "WITH ins AS (INSERT INTO subscriptions (id, organization_id, environment,"
             "   customer_id, price_id, product_id, status, current_period_start,"
             "   current_period_end, latest_checkout_session_id, created_at, updated_at)"
             " SELECT gen_random_uuid(), $1::uuid, 'test', '%s', '%s', '%s', 'active',"
             "   date_trunc('second', now()) - interval '30 days',"
             "   date_trunc('second', now()) - (1 + g %% 60) * interval '1 second',"
             "   gen_random_uuid(), date_trunc('second', now()) - interval '30 days',"
             "   date_trunc('second', now()) - interval '30 days'"
             " FROM generate_series(1, %d) AS g RETURNING 1)"
             " SELECT count(*) FROM ins",
             f.customer, f.price, f.product, N);
    cr_assert_eq(sql_long(sql, t.org), N);
    /* No worker runs: they read past_due, but are stored active. */
    struct api_response l = ct_call("GET", "/subscriptions?status=active", t.key, NULL);
    cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
    test_api_free(&l);
    cr_assert_eq(sql_long("SELECT count(*) FROM subscriptions WHERE organization_id = $1::uuid"
                          " AND status = 'active'",
                          t.org),
                 N);

    expiry_replicas_start("subscriptions", base_url, 20, 15);

    long start = clock_now_ms(), active = N;
    for (; clock_now_ms() - start < 120000; test_sleep_ms(200)) {
        active = sql_long("SELECT count(*) FROM subscriptions WHERE organization_id = $1::uuid"
                          " AND status = 'active'",
                          t.org);
        if (active == 0)
            break;
    }
    cr_assert_eq(active, 0, "%ld of %d subscriptions still active after %ld ms", active, N,
                 clock_now_ms() - start);
    test_sleep_ms(1000); /* a (wrong) second event would show up meanwhile */

    cr_assert_eq(sql_long("SELECT count(*) FROM subscriptions WHERE organization_id = $1::uuid"
                          " AND status = 'past_due'",
                          t.org),
                 N);
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox o JOIN subscriptions s"
                          " ON s.id = o.session_id"
                          " WHERE s.organization_id = $1::uuid"
                          " AND o.type = 'subscription.past_due'"
                          " AND o.organization_id = s.organization_id"
                          " AND o.payload::jsonb->'data'->>'status' = 'past_due'"
                          " AND o.payload::jsonb->>'subject' = s.id::text",
                          t.org),
                 N, "not one past_due event per subscription");
    cr_assert_eq(sql_long("SELECT count(*) FROM outbox o JOIN subscriptions s"
                          " ON s.id = o.session_id WHERE s.organization_id = $1::uuid",
                          t.org),
                 N, "no other event");
    long by_replicas = 0;
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        long n = expiry_replicas_sum(i, "past_due");
        cr_log_info("replica %d made %ld of %d past_due", i, n, N);
        by_replicas += n;
    }
    cr_assert_geq(by_replicas, N, "the replicas report %ld of %d", by_replicas, N);
    for (int i = 0; i < EXPIRY_REPLICAS; i++) {
        char rc[128];
        expiry_replicas_file(i, "rc", rc, sizeof(rc));
        cr_assert_neq(access(rc, F_OK), 0, "replica %d exited during the test", i);
    }
    expiry_replicas_stop();
    expiry_replicas_remove();
}

/* ---- completions: signup and renewal --------------------------------------------------- */

/* POST /checkout-sessions with test_body(extra), 201; its id (caller frees). */
static char *session_new(const char *key, const char *extra)
{
    char *body = test_body(extra);
    struct api_response r = test_create(key, body);
    cr_assert_eq(r.status, 201, "%s: %ld %s", body, r.status, r.text);
    free(body);
    char *id = strdup(ct_str(r.json, "checkout_session_id"));
    test_api_free(&r);
    return id;
}

/* The tenant's subscriptions of customer (a list answer, new reference). */
static json_t *subscriptions_of(const char *key, const char *customer)
{
    char path[160];
    snprintf(path, sizeof(path), "/subscriptions?customer_id=%s", customer);
    struct api_response r = ct_call("GET", path, key, NULL);
    cr_assert_eq(r.status, 200, "%s", r.text);
    json_t *l = json_incref(r.json);
    test_api_free(&r);
    return l;
}

/* t + interval as PostgreSQL's calendar computes it, in the API's form. */
static char *sql_time_plus(const char *t, const char *interval)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "SELECT to_char(($1::timestamptz AT TIME ZONE 'UTC') + interval '%s',"
             " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
             interval);
    char *v = test_sql_value(sql, t);
    cr_assert_not_null(v);
    return v;
}

/* The one event of type among the subject's on Kafka (new reference). */
static json_t *kafka_event(const char *subject, const char *type, size_t min_count)
{
    json_t *events = test_kafka_events_for(subject, min_count, 20000);
    json_t *found = NULL;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (strcmp(ct_str(ev, "type"), type) == 0) {
            cr_assert_null(found, "two %s events for %s", type, subject);
            found = json_incref(ev);
        }
    }
    json_decref(events);
    cr_assert_not_null(found, "no %s event for %s", type, subject);
    return found;
}

Test(subscriptions, completing_a_session_of_a_recurring_price_starts_a_subscription, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Subscription signup");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char extra[512];
    snprintf(extra, sizeof(extra),
             "{\"amount\": 15000, \"product_id\": \"%s\", \"price_id\": \"%s\","
             " \"customer_id\": \"%s\"}",
             f.product, f.price, f.customer);
    char *session = session_new(t.key_test, extra);
    /* Nothing before the completion. */
    json_t *none = subscriptions_of(t.key_test, f.customer);
    cr_assert_eq(json_array_size(none), 0);
    json_decref(none);
    wh_session_complete(session);

    /* Started in the completion's transaction: readable once it answered. */
    json_t *list = subscriptions_of(t.key_test, f.customer);
    cr_assert_eq(json_array_size(list), 1, "%s", json_dumps(list, 0));
    json_t *s = json_array_get(list, 0);
    const char *id = ct_str(s, "subscription_id");
    cr_assert(uuid_is_valid(id));
    cr_assert_str_eq(ct_str(s, "status"), "active");
    cr_assert_str_eq(ct_str(s, "customer_id"), f.customer);
    cr_assert_str_eq(ct_str(s, "price_id"), f.price);
    cr_assert_str_eq(ct_str(s, "product_id"), f.product);
    cr_assert_str_eq(ct_str(s, "latest_checkout_session_id"), session);
    cr_assert(json_is_null(json_object_get(s, "canceled_at")));
    cr_assert_str_eq(ct_str(s, "organization_id"), t.org);
    char path[160];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", session);
    struct api_response g = ct_call("GET", path, t.key_test, NULL);
    cr_assert_str_eq(ct_str(g.json, "status"), "complete");
    /* The period starts at the completion (the session's updated_at) and
     * lasts the price's month. */
    cr_assert_str_eq(ct_str(s, "current_period_start"), ct_str(g.json, "updated_at"));
    cr_assert_str_eq(ct_str(s, "created_at"), ct_str(g.json, "updated_at"));
    char *end = sql_time_plus(ct_str(s, "current_period_start"), "1 month");
    cr_assert_str_eq(ct_str(s, "current_period_end"), end);
    free(end);
    test_api_free(&g);
    /* Its created event, after the session's completed one. */
    json_t *ev = kafka_event(id, "subscription.created", 1);
    ct_assert_event(ev, "/caisse/subscriptions", "subscription.created", id, t.org, s,
                    ct_str(s, "created_at"));
    json_decref(ev);
    json_t *completed = wh_kafka_event(session, "checkout.session.completed");
    json_decref(completed);
    char *order =
        test_sql_value("SELECT string_agg(type, ' ' ORDER BY seq) FROM outbox"
                       " WHERE session_id = $1::uuid OR"
                       " payload::jsonb->'data'->>'latest_checkout_session_id' = $1::text",
                       session);
    cr_assert_str_eq(order,
                     "checkout.session.created checkout.session.completed subscription.created");
    free(order);
    json_decref(list);
    free(session);
}

Test(subscriptions, a_session_of_a_one_time_price_or_without_price_starts_none, .timeout = 60)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Subscription one-time");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char once[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(once), 0);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "INSERT INTO prices (id, organization_id, environment, product_id, currency_code,"
             " unit_amount, type, created_at, updated_at) VALUES ('%s', $1::uuid, 'test', '%s',"
             " 'XOF', 5000, 'one_time', now(), now()) RETURNING id",
             once, f.product);
    free(test_sql_value(sql, t.org));
    char extra[512];
    snprintf(extra, sizeof(extra),
             "{\"amount\": 5000, \"price_id\": \"%s\", \"customer_id\": \"%s\"}", once, f.customer);
    char *a = session_new(t.key_test, extra);
    snprintf(extra, sizeof(extra), "{\"customer_id\": \"%s\"}", f.customer);
    char *b = session_new(t.key_test, extra);
    wh_session_complete(a);
    wh_session_complete(b);
    json_t *list = subscriptions_of(t.key_test, f.customer);
    cr_assert_eq(json_array_size(list), 0, "%s", json_dumps(list, 0));
    json_decref(list);
    free(a);
    free(b);
}

Test(subscriptions, completing_a_renewal_session_advances_the_period, .timeout = 90)
{
    struct wh_tenant t;
    wh_tenant_new(&t, "Subscription renewal");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    /* Running: the next period follows the current one. */
    char id[UUID_STR_LEN];
    subscription_active(&f, id);
    json_t *before = get_subscription(t.key_test, id);
    char extra[512];
    snprintf(extra, sizeof(extra),
             "{\"amount\": 15000, \"subscription_id\": \"%s\", \"customer_id\": \"%s\"}", id,
             f.customer);
    char *session = session_new(t.key_test, extra);
    wh_session_complete(session);
    json_t *after = get_subscription(t.key_test, id);
    cr_assert_str_eq(ct_str(after, "status"), "active");
    cr_assert_str_eq(ct_str(after, "current_period_start"), ct_str(before, "current_period_end"));
    char *end = sql_time_plus(ct_str(before, "current_period_end"), "1 month");
    cr_assert_str_eq(ct_str(after, "current_period_end"), end);
    free(end);
    cr_assert_str_eq(ct_str(after, "latest_checkout_session_id"), session);
    cr_assert_str_eq(ct_str(after, "created_at"), ct_str(before, "created_at"));
    json_t *ev = kafka_event(id, "subscription.renewed", 1);
    ct_assert_event(ev, "/caisse/subscriptions", "subscription.renewed", id, t.org, after,
                    ct_str(after, "updated_at"));
    json_decref(ev);

    /* Past due: the new period starts at the renewal's completion. */
    char due[UUID_STR_LEN];
    subscription_insert(&f, NULL, "past_due", -31 * 86400, -86400, 31 * 86400, due);
    snprintf(extra, sizeof(extra),
             "{\"amount\": 15000, \"subscription_id\": \"%s\","
             " \"customer_id\": \"%s\"}",
             due, f.customer);
    char *late = session_new(t.key_test, extra);
    wh_session_complete(late);
    json_t *revived = get_subscription(t.key_test, due);
    cr_assert_str_eq(ct_str(revived, "status"), "active");
    cr_assert_str_eq(ct_str(revived, "current_period_start"), ct_str(revived, "updated_at"));
    end = sql_time_plus(ct_str(revived, "current_period_start"), "1 month");
    cr_assert_str_eq(ct_str(revived, "current_period_end"), end);
    free(end);
    cr_assert_str_eq(ct_str(revived, "latest_checkout_session_id"), late);

    /* Canceled meanwhile: the session completes, the subscription stays canceled. */
    char gone[UUID_STR_LEN];
    subscription_active(&f, gone);
    snprintf(extra, sizeof(extra),
             "{\"amount\": 15000, \"subscription_id\": \"%s\","
             " \"customer_id\": \"%s\"}",
             gone, f.customer);
    char *orphan = session_new(t.key_test, extra);
    struct api_response c = cancel(gone, t.key_test);
    cr_assert_eq(c.status, 200, "%s", c.text);
    wh_session_complete(orphan);
    json_t *still = get_subscription(t.key_test, gone);
    cr_assert(json_equal(still, c.json), "a canceled subscription is never renewed");
    test_api_free(&c);
    json_decref(still);
    json_decref(revived);
    json_decref(before);
    json_decref(after);
    free(session);
    free(late);
    free(orphan);
}

/* ---- the reference's use cases, with ids created through the API -------------------- */

/* A product and its monthly price (15 000 F CFA) through the API. */
static void plan_new(const char *key, char product[UUID_STR_LEN], char price[UUID_STR_LEN])
{
    ct_create_id("/products", key, "{\"name\": \"Premium plan\"}", "product_id", product);
    char body[300];
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"unit_amount\": 15000, \"currency_code\": \"XOF\","
             " \"recurring\": {\"interval\": \"month\"}}",
             product);
    ct_create_id("/prices", key, body, "price_id", price);
}

Test(subscriptions, reference_subscription_signup, .timeout = 90)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    char product[UUID_STR_LEN], price[UUID_STR_LEN];
    plan_new(t.key, product, price);
    /* As the reference writes it: a plan's product and price, the customer's email. */
    char body[600];
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"price_id\": \"%s\","
             " \"customer_email\": \"signup@example.com\","
             " \"success_url\": \"https://myapp.com/welcome\","
             " \"cancel_url\": \"https://myapp.com/pricing\", \"allow_coupon_code\": true}",
             product, price);
    struct api_response r = test_create(t.key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "amount")), 15000);
    char *session = strdup(ct_str(r.json, "checkout_session_id"));
    test_api_free(&r);
    wh_session_complete(session);

    /* The completion gave the session a customer, and that customer the subscription. */
    char path[160];
    snprintf(path, sizeof(path), "/checkout-sessions/%s", session);
    struct api_response g = ct_call("GET", path, t.key, NULL);
    const char *customer = ct_str(g.json, "customer_id");
    cr_assert(customer != NULL && uuid_is_valid(customer), "%s", g.text);
    json_t *list = subscriptions_of(t.key, customer);
    cr_assert_eq(json_array_size(list), 1, "%s", json_dumps(list, 0));
    json_t *s = json_array_get(list, 0);
    cr_assert_str_eq(ct_str(s, "status"), "active");
    cr_assert_str_eq(ct_str(s, "price_id"), price);
    cr_assert_str_eq(ct_str(s, "product_id"), product);
    cr_assert_str_eq(ct_str(s, "latest_checkout_session_id"), session);
    cr_assert_str_eq(ct_str(s, "current_period_start"), ct_str(g.json, "updated_at"));
    char *end = sql_time_plus(ct_str(s, "current_period_start"), "1 month");
    cr_assert_str_eq(ct_str(s, "current_period_end"), end);
    free(end);
    json_t *ev = kafka_event(ct_str(s, "subscription_id"), "subscription.created", 1);
    cr_assert(json_equal(json_object_get(ev, "data"), s));
    json_decref(ev);
    test_api_free(&g);
    json_decref(list);
    free(session);
}

Test(subscriptions, reference_subscription_renewal, .timeout = 90)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    char product[UUID_STR_LEN], price[UUID_STR_LEN], customer[UUID_STR_LEN];
    plan_new(t.key, product, price);
    ct_create_id("/customers", t.key, "{\"email\": \"renewal@example.com\", \"name\": \"Awa\"}",
                 "customer_id", customer);
    /* Signed up: a session of the price for the customer, completed. */
    char body[600];
    snprintf(body, sizeof(body), "{\"price_id\": \"%s\", \"customer_id\": \"%s\"}", price,
             customer);
    struct api_response r = test_create(t.key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    char *first = strdup(ct_str(r.json, "checkout_session_id"));
    test_api_free(&r);
    wh_session_complete(first);
    json_t *list = subscriptions_of(t.key, customer);
    cr_assert_eq(json_array_size(list), 1);
    json_t *before = json_incref(json_array_get(list, 0));
    json_decref(list);
    const char *id = ct_str(before, "subscription_id");

    /* As the reference writes it: the subscription, its customer, where to go. */
    snprintf(body, sizeof(body),
             "{\"subscription_id\": \"%s\", \"customer_id\": \"%s\","
             " \"success_url\": \"https://myapp.com/subscription-renewed\"}",
             id, customer);
    r = test_create(t.key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "amount")), 15000);
    cr_assert_str_eq(ct_str(r.json, "currency_code"), "XOF");
    cr_assert_str_eq(ct_str(r.json, "title"), "Premium plan");
    cr_assert_str_eq(ct_str(r.json, "subscription_id"), id);
    cr_assert_str_eq(ct_str(r.json, "price_id"), price);
    cr_assert_str_eq(ct_str(r.json, "product_id"), product);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), customer);
    cr_assert_str_eq(ct_str(r.json, "customer_email"), "renewal@example.com");
    char *renewal = strdup(ct_str(r.json, "checkout_session_id"));
    test_api_free(&r);
    /* Without customer_id too: the subscription's. */
    snprintf(body, sizeof(body), "{\"subscription_id\": \"%s\"}", id);
    r = test_create(t.key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "customer_id"), customer);
    test_api_free(&r);

    wh_session_complete(renewal);
    json_t *after = get_subscription(t.key, id);
    cr_assert_str_eq(ct_str(after, "status"), "active");
    cr_assert_str_eq(ct_str(after, "current_period_start"), ct_str(before, "current_period_end"));
    char *end = sql_time_plus(ct_str(before, "current_period_end"), "1 month");
    cr_assert_str_eq(ct_str(after, "current_period_end"), end);
    free(end);
    cr_assert_str_eq(ct_str(after, "latest_checkout_session_id"), renewal);
    json_t *ev = kafka_event(id, "subscription.renewed", 2);
    cr_assert(json_equal(json_object_get(ev, "data"), after));
    json_decref(ev);
    json_decref(before);
    json_decref(after);
    free(first);
    free(renewal);
}

Test(subscriptions, a_renewal_session_must_agree_with_its_subscription)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Subscription tests");
    ct_tenant_new(&other, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN], canceled[UUID_STR_LEN], due[UUID_STR_LEN], stranger[UUID_STR_LEN];
    char unknown[UUID_STR_LEN];
    subscription_active(&f, id);
    subscription_insert(&f, NULL, "canceled", -86400, 29 * 86400, 86400, canceled);
    subscription_insert(&f, NULL, "past_due", -31 * 86400, -86400, 31 * 86400, due);
    fixture_customer(&f, stranger);
    cr_assert_eq(uuid_v7_string(unknown), 0);
    struct fixture g;
    fixture_new(&g, other.org, "test");
    char theirs[UUID_STR_LEN];
    subscription_active(&g, theirs);
    char body[600], msg[400];

#define RENEWAL_400(param, message, fmt, ...)                                                      \
    do {                                                                                           \
        snprintf(body, sizeof(body), fmt, __VA_ARGS__);                                            \
        struct api_response rr = test_create(t.key, body);                                         \
        test_assert_error(&rr, 400, "validation_error", param, message);                           \
        test_api_free(&rr);                                                                        \
    } while (0)

    snprintf(msg, sizeof(msg), "subscription_id %s not found", unknown);
    RENEWAL_400("subscription_id", msg, "{\"subscription_id\": \"%s\"}", unknown);
    /* Another tenant's, or the other environment's, is not found either. */
    snprintf(msg, sizeof(msg), "subscription_id %s not found", theirs);
    RENEWAL_400("subscription_id", msg, "{\"subscription_id\": \"%s\"}", theirs);
    snprintf(msg, sizeof(msg), "subscription_id %s not found", id);
    snprintf(body, sizeof(body), "{\"subscription_id\": \"%s\"}", id);
    struct api_response live = test_create(t.live, body);
    test_assert_error(&live, 400, "validation_error", "subscription_id", msg);
    test_api_free(&live);
    snprintf(msg, sizeof(msg),
             "subscription_id %s is canceled: a canceled subscription cannot be renewed", canceled);
    RENEWAL_400("subscription_id", msg, "{\"subscription_id\": \"%s\"}", canceled);
    snprintf(msg, sizeof(msg), "customer_id %s is not the customer of subscription %s (%s)",
             stranger, id, f.customer);
    RENEWAL_400("customer_id", msg, "{\"subscription_id\": \"%s\", \"customer_id\": \"%s\"}", id,
                stranger);
    snprintf(msg, sizeof(msg), "price_id %s is not the price of subscription %s (%s)", unknown, id,
             f.price);
    RENEWAL_400("price_id", msg, "{\"subscription_id\": \"%s\", \"price_id\": \"%s\"}", id,
                unknown);
    snprintf(msg, sizeof(msg), "product_id %s is not the product of subscription %s (%s)", unknown,
             id, f.product);
    RENEWAL_400("product_id", msg, "{\"subscription_id\": \"%s\", \"product_id\": \"%s\"}", id,
                unknown);
    snprintf(msg, sizeof(msg),
             "amount 100 does not match the price %s of subscription %s: unit_amount 15000 x "
             "quantity 1 = 15000 (omit amount to use the price's)",
             f.price, id);
    RENEWAL_400("amount", msg, "{\"subscription_id\": \"%s\", \"amount\": 100}", id);
    snprintf(msg, sizeof(msg),
             "currency_code USD does not match the price %s of subscription %s (XOF)", f.price, id);
    RENEWAL_400("currency_code", msg, "{\"subscription_id\": \"%s\", \"currency_code\": \"USD\"}",
                id);
#undef RENEWAL_400

    /* A past_due one is renewed; quantity multiplies; an archived price still renews. */
    char sql[256];
    snprintf(sql, sizeof(sql), "UPDATE prices SET active = false WHERE id = '%s' RETURNING id",
             f.price);
    free(test_sql_value(sql, NULL));
    snprintf(body, sizeof(body),
             "{\"subscription_id\": \"%s\", \"quantity\": 2, \"title\": \"Two seats\"}", due);
    struct api_response ok = test_create(t.key, body);
    cr_assert_eq(ok.status, 201, "%s", ok.text);
    cr_assert_eq(json_integer_value(json_object_get(ok.json, "amount")), 30000);
    cr_assert_str_eq(ct_str(ok.json, "title"), "Two seats");
    cr_assert_str_eq(ct_str(ok.json, "customer_id"), f.customer);
    cr_assert_str_eq(ct_str(ok.json, "customer_email"), "subscriber@example.com");
    test_api_free(&ok);
}

/* ---- suite faults (runs alone, last): the wait that runs out --------------------- */

Test(faults, a_cancel_answers_202_while_the_worker_is_away_then_applies, .timeout = 120,
     .fini = ct_restore_session_worker)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Subscription tests");
    struct fixture f;
    fixture_new(&f, t.org, "test");
    char id[UUID_STR_LEN], idem[UUID_STR_LEN];
    subscription_active(&f, id);
    cr_assert_eq(uuid_v7_string(idem), 0);
    test_service_stop("session-worker");
    /* Past CAISSE_CREATE_WAIT_MS: 202 with the subscription as it stands; the
     * command waits in Kafka. */
    struct api_response a = cancel_with_key(id, t.key, idem);
    cr_assert_eq(a.status, 202, "%s", a.text);
    cr_assert_str_eq(ct_str(a.json, "status"), "active");
    test_service_start("session-worker", NULL);
    cr_assert(wait_stored_status(id, "canceled", 60000), "the accepted cancel is applied");
    /* The key's retry: the canceled subscription, replayed. */
    struct api_response b = cancel_with_key(id, t.key, idem);
    cr_assert_eq(b.status, 200, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert_str_eq(ct_str(b.json, "status"), "canceled");
    test_api_free(&a);
    test_api_free(&b);
}
