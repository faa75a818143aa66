/* Coupons against the real stack: every rule and message, the code unique per
 * tenant whatever its case, applies_to's products of the tenant, tenancy, the
 * Idempotency-Key, updates (and the limit that may not fall below the
 * redemptions), the active filter and the cursor, and the events on Kafka. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"

Test(coupons, create_then_get_and_list)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    json_t *product = ct_create("/products", t.key, "{\"name\": \"Plan\"}");
    char body[600];
    snprintf(body, sizeof(body),
             "{\"code\": \"Summer10\", \"percent_off\": 12.5,"
             " \"valid_from\": \"2026-06-01T00:00:00Z\", \"valid_until\": \"2099-09-01T00:00:00Z\","
             " \"max_redemptions\": 100, \"applies_to\": {\"product_ids\": [\"%s\"]},"
             " \"metadata\": {\"campaign\": \"summer\"}}",
             ct_str(product, "product_id"));
    struct api_response r = ct_call("POST", "/coupons", t.key, body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *c = r.json;
    const char *id = ct_str(c, "coupon_id");
    cr_assert(uuid_is_valid(id), "%s", r.text);
    cr_assert_str_eq(ct_str(c, "organization_id"), t.org);
    cr_assert_str_eq(ct_str(c, "code"), "Summer10", "stored as given");
    /* Exactly the number given, not a double's digits. */
    cr_assert_not_null(strstr(r.text, "\"percent_off\":12.5,"), "%s", r.text);
    cr_assert(json_is_null(json_object_get(c, "amount_off")));
    cr_assert(json_is_null(json_object_get(c, "currency_code")));
    cr_assert_str_eq(ct_str(c, "valid_from"), "2026-06-01T00:00:00Z");
    cr_assert_str_eq(ct_str(c, "valid_until"), "2099-09-01T00:00:00Z");
    cr_assert_eq(json_integer_value(json_object_get(c, "max_redemptions")), 100);
    cr_assert(json_is_integer(json_object_get(c, "times_redeemed")));
    cr_assert_eq(json_integer_value(json_object_get(c, "times_redeemed")), 0);
    const json_t *ids = json_object_get(json_object_get(c, "applies_to"), "product_ids");
    cr_assert_eq(json_array_size(ids), 1, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_array_get(ids, 0)), ct_str(product, "product_id"));
    cr_assert(json_is_true(json_object_get(c, "active")));
    cr_assert_str_eq(ct_str(json_object_get(c, "metadata"), "campaign"), "summer");
    cr_assert_str_eq(ct_str(c, "environment"), "test");
    cr_assert_str_eq(ct_str(c, "created_at"), ct_str(c, "updated_at"));
    cr_assert_eq(json_object_size(c), 16, "%s", r.text);
    char location[128];
    snprintf(location, sizeof(location), "/coupons/%s", id);
    cr_assert_str_eq(r.location, location);
    char *bp = test_sql_value("SELECT percent_off_bp FROM coupons WHERE id = $1", id);
    cr_assert_str_eq(bp, "1250", "stored as basis points");
    free(bp);

    struct api_response g = ct_call("GET", location, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    cr_assert(json_equal(g.json, c), "%s\n%s", g.text, r.text);
    cr_assert_not_null(strstr(g.text, "\"percent_off\":12.5,"), "%s", g.text);
    test_api_free(&g);
    char v1[140];
    snprintf(v1, sizeof(v1), "/v1%s", location);
    g = ct_call("GET", v1, t.key, NULL);
    cr_assert_eq(g.status, 200);
    test_api_free(&g);

    /* An amount off, with no limits, for every product. */
    json_t *amount = ct_create("/coupons", t.key,
                               "{\"code\": \"TENOFF\", \"amount_off\": 1000,"
                               " \"currency_code\": \"XOF\", \"percent_off\": null}");
    cr_assert(json_is_null(json_object_get(amount, "percent_off")));
    cr_assert_eq(json_integer_value(json_object_get(amount, "amount_off")), 1000);
    cr_assert_str_eq(ct_str(amount, "currency_code"), "XOF");
    cr_assert(json_is_null(json_object_get(amount, "valid_from")));
    cr_assert(json_is_null(json_object_get(amount, "max_redemptions")));
    const json_t *all = json_object_get(json_object_get(amount, "applies_to"), "product_ids");
    cr_assert(json_is_array(all), "every product: an empty list");
    cr_assert_eq(json_array_size(all), 0);
    json_t *small = ct_create("/coupons", t.key, "{\"code\": \"TINY\", \"percent_off\": 0.1}");
    struct api_response l = ct_call("GET", "/coupons", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 3, "%s", l.text);
    cr_assert(json_equal(json_array_get(l.json, 0), small));
    cr_assert(json_equal(json_array_get(l.json, 2), c));
    cr_assert_not_null(strstr(l.text, "\"percent_off\":0.1,"), "%s", l.text);
    test_api_free(&l);
    json_decref(small);
    json_decref(amount);
    json_decref(product);
    test_api_free(&r);
}

Test(coupons, create_rules_and_messages)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Coupon tests");
    ct_tenant_new(&other, "Coupon tests");
    const char *k = t.key;
    const char *p = "/coupons";
    ct_expect_400(k, "POST", p, "{}", "code", "code is required");
    ct_expect_400(k, "POST", p, "{\"code\": \"TEN OFF\", \"percent_off\": 10}", "code",
                  "code must be 1 to 64 characters, each a letter, a digit, _ or -");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\"}", "percent_off",
                  "Either percent_off or amount_off is required");
    ct_expect_400(k, "POST", p,
                  "{\"code\": \"X\", \"percent_off\": 10, \"amount_off\": 5,"
                  " \"currency_code\": \"XOF\"}",
                  "amount_off", "Give either percent_off or amount_off, not both");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 0}", "percent_off",
                  "percent_off must be greater than 0 and at most 100");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 100.5}", "percent_off",
                  "percent_off must be greater than 0 and at most 100");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 12.345}", "percent_off",
                  "percent_off must have at most 2 decimal places");
    ct_expect_400(k, "POST", p,
                  "{\"code\": \"X\", \"percent_off\": 10, \"currency_code\": \"XOF\"}",
                  "currency_code",
                  "currency_code goes with amount_off only: a percentage applies in any currency");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"amount_off\": 500}", "currency_code",
                  "currency_code is required with amount_off");
    ct_expect_400(k, "POST", p,
                  "{\"code\": \"X\", \"amount_off\": 500, \"currency_code\": \"JPY\"}",
                  "currency_code", "Unsupported currency_code: JPY");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"amount_off\": -1, \"currency_code\": \"XOF\"}",
                  "amount_off", "amount_off must be greater than 0");
    ct_expect_400(k, "POST", p,
                  "{\"code\": \"X\", \"percent_off\": 10, \"valid_from\": \"2026-06-02T00:00:00Z\","
                  " \"valid_until\": \"2026-06-01T00:00:00Z\"}",
                  "valid_until", "valid_until must be after valid_from");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 10, \"valid_from\": \"June\"}",
                  "valid_from", "valid_from must be an RFC 3339 date-time");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 10, \"max_redemptions\": 0}",
                  "max_redemptions", "max_redemptions must be at least 1");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 10, \"times_redeemed\": 3}",
                  "times_redeemed", "Unknown parameter: times_redeemed");
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": [] }",
                  "applies_to", "applies_to must be an object");
    ct_expect_400(
        k, "POST", p,
        "{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"product_ids\": [\"x\"]}}",
        "applies_to.product_ids", "applies_to.product_ids must hold product ids (UUIDs)");
    /* A product id that names no product of the tenant: unknown, another
     * tenant's, or the other environment's. */
    json_t *theirs = ct_create("/products", other.key, "{\"name\": \"Theirs\"}");
    json_t *live = ct_create("/products", t.live, "{\"name\": \"Live\"}");
    char unknown[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(unknown), 0);
    const char *foreign[] = {unknown, ct_str(theirs, "product_id"), ct_str(live, "product_id")};
    for (size_t i = 0; i < 3; i++) {
        char body[300], msg[200];
        snprintf(
            body, sizeof(body),
            "{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"product_ids\": [\"%s\"]}}",
            foreign[i]);
        snprintf(msg, sizeof(msg), "applies_to.product_ids %s not found", foreign[i]);
        ct_expect_400(k, "POST", p, body, "applies_to.product_ids", msg);
    }
    ct_expect_400(k, "POST", p, "{\"code\": \"X\", \"percent_off\": 10, \"name\": \"x\"}", "name",
                  "Unknown parameter: name");
    ct_expect_400(k, "POST", p, "[]", NULL, "Request body must be a JSON object");
    /* Nothing refused was created. */
    struct api_response r = ct_call("GET", "/coupons", k, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);
    json_decref(theirs);
    json_decref(live);
}

Test(coupons, a_code_is_unique_in_the_tenant_whatever_its_case)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Coupon tests");
    ct_tenant_new(&other, "Coupon tests");
    json_t *first = ct_create("/coupons", t.key, "{\"code\": \"Spring-5\", \"percent_off\": 5}");
    ct_expect_error(t.key, "POST", "/coupons", "{\"code\": \"SPRING-5\", \"percent_off\": 7}", 409,
                    "resource_conflict", NULL, "Coupon with code SPRING-5 already exists");
    ct_expect_error(t.key, "POST", "/coupons",
                    "{\"code\": \"spring-5\", \"amount_off\": 100, \"currency_code\": \"XOF\"}",
                    409, "resource_conflict", NULL, "Coupon with code spring-5 already exists");
    /* Another tenant, or the other environment, has codes of its own. */
    json_t *theirs =
        ct_create("/coupons", other.key, "{\"code\": \"SPRING-5\", \"percent_off\": 5}");
    json_t *live = ct_create("/coupons", t.live, "{\"code\": \"spring-5\", \"percent_off\": 5}");
    struct api_response r = ct_call("GET", "/coupons", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert(json_equal(json_array_get(r.json, 0), first));
    test_api_free(&r);
    /* Retiring a coupon does not free its code. */
    char path[128];
    snprintf(path, sizeof(path), "/coupons/%s", ct_str(first, "coupon_id"));
    r = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    ct_expect_error(t.key, "POST", "/coupons", "{\"code\": \"spring-5\", \"percent_off\": 5}", 409,
                    "resource_conflict", NULL, "Coupon with code spring-5 already exists");
    json_decref(theirs);
    json_decref(live);
    json_decref(first);
}

Test(coupons, read_and_update_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    const char *k = t.key;
    json_t *c = ct_create("/coupons", k,
                          "{\"code\": \"RULES\", \"percent_off\": 10,"
                          " \"valid_from\": \"2026-06-01T00:00:00Z\"}");
    char path[128], missing[128], unknown_id[UUID_STR_LEN], msg[200];
    snprintf(path, sizeof(path), "/coupons/%s", ct_str(c, "coupon_id"));
    cr_assert_eq(uuid_v7_string(unknown_id), 0);
    snprintf(missing, sizeof(missing), "/coupons/%s", unknown_id);
    snprintf(msg, sizeof(msg), "Coupon with ID %s not found or access denied", unknown_id);
    ct_expect_400(k, "GET", "/coupons/nope", NULL, "id", "Coupon id must be a UUID");
    ct_expect_400(k, "PATCH", "/coupons/nope", "{\"active\": false}", "id",
                  "Coupon id must be a UUID");
    ct_expect_error(k, "GET", missing, NULL, 404, "not_found", "id", msg);
    ct_expect_error(k, "PATCH", missing, "{\"active\": false}", 404, "not_found", "id", msg);

    ct_expect_400(k, "PATCH", path, "{\"code\": \"OTHER\"}", "code", "code cannot be changed");
    ct_expect_400(k, "PATCH", path, "{\"percent_off\": 20}", "percent_off",
                  "percent_off cannot be changed");
    ct_expect_400(k, "PATCH", path, "{\"times_redeemed\": 0}", "times_redeemed",
                  "times_redeemed cannot be changed");
    ct_expect_400(k, "PATCH", path, "{\"active\": \"no\"}", "active", "active must be a boolean");
    ct_expect_400(k, "PATCH", path, "{\"max_redemptions\": 0}", "max_redemptions",
                  "max_redemptions must be at least 1");
    ct_expect_400(k, "PATCH", path, "{\"valid_until\": \"2026-05-01T00:00:00Z\"}", "valid_until",
                  "valid_until must be after valid_from");
    ct_expect_400(k, "PATCH", path, "{\"colour\": \"red\"}", "colour", "Unknown parameter: colour");

    ct_expect_400(k, "GET", "/coupons?limit=0", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(k, "GET", "/coupons?starting_after=x", NULL, "starting_after",
                  "starting_after must be a coupon id (UUID)");
    ct_expect_400(k, "GET", "/coupons?active=maybe", NULL, "active",
                  "active must be true or false");
    ct_expect_400(k, "GET", "/coupons?code=RULES", NULL, "code", "Unknown query parameter: code");
    /* The coupon is as it was. */
    struct api_response r = ct_call("GET", path, k, NULL);
    cr_assert(json_equal(r.json, c), "%s", r.text);
    test_api_free(&r);
    json_decref(c);
}

Test(coupons, another_tenant_or_environment_sees_nothing)
{
    struct ct_tenant a, b;
    ct_tenant_new(&a, "Coupon tests");
    ct_tenant_new(&b, "Coupon tests");
    json_t *c = ct_create("/coupons", a.key, "{\"code\": \"MINE\", \"percent_off\": 10}");
    const char *id = ct_str(c, "coupon_id");
    char path[128], msg[200];
    snprintf(path, sizeof(path), "/coupons/%s", id);
    snprintf(msg, sizeof(msg), "Coupon with ID %s not found or access denied", id);
    const char *others[] = {b.key, a.live, b.live};
    for (size_t i = 0; i < 3; i++) {
        ct_expect_error(others[i], "GET", path, NULL, 404, "not_found", "id", msg);
        ct_expect_error(others[i], "PATCH", path, "{\"active\": false}", 404, "not_found", "id",
                        msg);
        struct api_response l = ct_call("GET", "/coupons", others[i], NULL);
        cr_assert_eq(l.status, 200);
        cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
        test_api_free(&l);
    }
    struct api_response r = ct_call("GET", path, a.key, NULL);
    cr_assert(json_equal(r.json, c), "%s", r.text);
    test_api_free(&r);
    json_decref(c);
}

Test(coupons, same_idempotency_key_and_body_is_the_same_coupon)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    char idem[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem), 0);
    const char *body = "{\"code\": \"KEYED\", \"percent_off\": 33.33}";
    struct api_response a = ct_call_keyed("/coupons", t.key, idem, body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    struct api_response b = ct_call_keyed("/coupons", t.key, idem, body);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert_str_eq(a.text, b.text);
    cr_assert_not_null(strstr(b.text, "\"percent_off\":33.33,"), "%s", b.text);
    cr_assert_str_eq(a.location, b.location);
    /* Another body with the key: 409, and nothing created. */
    struct api_response d =
        ct_call_keyed("/coupons", t.key, idem, "{\"code\": \"KEYED2\", \"percent_off\": 5}");
    test_assert_error(&d, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    char *n = test_sql_value("SELECT count(*) FROM coupons WHERE idempotency_key = $1", idem);
    cr_assert_str_eq(n, "1");
    free(n);
    /* Another key with a code already taken: the code's 409. */
    char idem2[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(idem2), 0);
    struct api_response e =
        ct_call_keyed("/coupons", t.key, idem2, "{\"code\": \"keyed\", \"percent_off\": 5}");
    test_assert_error(&e, 409, "resource_conflict", NULL, "Coupon with code keyed already exists");
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&d);
    test_api_free(&e);
}

Test(coupons, update_changes_only_what_is_given)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    json_t *c = ct_create("/coupons", t.key,
                          "{\"code\": \"CHANGE\", \"amount_off\": 250, \"currency_code\": \"XOF\","
                          " \"max_redemptions\": 5, \"metadata\": {\"a\": \"1\"}}");
    const char *id = ct_str(c, "coupon_id");
    char path[128];
    snprintf(path, sizeof(path), "/coupons/%s", id);
    test_sleep_ms(1100); /* updated_at moves on by a whole second */
    struct api_response r = ct_call("PATCH", path, t.key,
                                    "{\"valid_until\": \"2099-01-01T01:00:00+01:00\","
                                    " \"max_redemptions\": 2}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "valid_until"), "2099-01-01T00:00:00Z");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "max_redemptions")), 2);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "amount_off")), 250);
    cr_assert_str_eq(ct_str(json_object_get(r.json, "metadata"), "a"), "1");
    cr_assert_str_eq(ct_str(r.json, "created_at"), ct_str(c, "created_at"));
    cr_assert(strcmp(ct_str(r.json, "updated_at"), ct_str(c, "updated_at")) > 0, "%s", r.text);
    struct api_response g = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(g.json, r.json), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    test_api_free(&r);

    /* Two redemptions counted (as completions count them): the limit may not
     * fall below them. */
    char *set =
        test_sql_value("UPDATE coupons SET times_redeemed = 2 WHERE id = $1 RETURNING 1", id);
    free(set);
    ct_expect_400(t.key, "PATCH", path, "{\"max_redemptions\": 1}", "max_redemptions",
                  "max_redemptions must be at least times_redeemed (2)");
    r = ct_call("PATCH", path, t.key,
                "{\"max_redemptions\": null, \"valid_until\": null, \"active\": false,"
                " \"metadata\": null}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "max_redemptions")));
    cr_assert(json_is_null(json_object_get(r.json, "valid_until")));
    cr_assert(json_is_false(json_object_get(r.json, "active")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "times_redeemed")), 2);
    json_t *before = json_incref(r.json);
    test_api_free(&r);
    /* Nothing to change: the coupon as it is, and no event. */
    r = ct_call("PATCH", path, t.key, "{}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, before));
    test_api_free(&r);
    /* created, then one updated event per change (two), none for {}. */
    json_t *events = test_kafka_events_for(id, 3, 20000);
    cr_assert_eq(json_array_size(events), 3, "%zu events", json_array_size(events));
    json_decref(events);
    json_decref(before);
    json_decref(c);
}

Test(coupons, list_is_newest_first_with_the_active_filter_and_a_cursor)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    enum { N = 5 };
    char ids[N][64];
    for (int i = 0; i < N; i++) {
        char body[100];
        snprintf(body, sizeof(body), "{\"code\": \"C%d\", \"percent_off\": %d, \"active\": %s}", i,
                 i + 1, i % 2 == 0 ? "true" : "false");
        json_t *c = ct_create("/coupons", t.key, body);
        snprintf(ids[i], sizeof(ids[i]), "%s", ct_str(c, "coupon_id"));
        json_decref(c);
    }
    struct api_response r = ct_call("GET", "/v1/coupons", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(ct_str(json_array_get(r.json, (size_t)i), "coupon_id"), ids[N - 1 - i]);
    test_api_free(&r);
    r = ct_call("GET", "/coupons?active=true", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 3, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "coupon_id"), ids[4]);
    test_api_free(&r);
    r = ct_call("GET", "/coupons?active=false", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "coupon_id"), ids[3]);
    test_api_free(&r);
    char path[200];
    snprintf(path, sizeof(path), "/coupons?limit=2&starting_after=%s", ids[3]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "coupon_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "coupon_id"), ids[1]);
    test_api_free(&r);
}

Test(coupons, events_on_kafka_carry_the_coupon, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Coupon tests");
    json_t *c = ct_create("/coupons", t.key, "{\"code\": \"EVENTED\", \"percent_off\": 15.5}");
    const char *id = ct_str(c, "coupon_id");
    char path[128];
    snprintf(path, sizeof(path), "/coupons/%s", id);
    struct api_response u = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(u.status, 200, "%s", u.text);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(json_array_size(events), 2, "%zu events", json_array_size(events));
    ct_assert_event(json_array_get(events, 0), "/caisse/coupons", "coupon.created", id, t.org, c,
                    ct_str(c, "created_at"));
    ct_assert_event(json_array_get(events, 1), "/caisse/coupons", "coupon.updated", id, t.org,
                    u.json, ct_str(u.json, "updated_at"));
    struct api_response l = ct_call("GET", "/events?type=coupon.updated", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    test_api_free(&l);
    json_decref(events);
    test_api_free(&u);
    json_decref(c);
}
