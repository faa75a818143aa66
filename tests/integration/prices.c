/* Prices against the real stack: every rule and message, one-time,
 * recurring and pay-what-you-want prices, what never changes, a product's
 * default price, tenancy, the Idempotency-Key, list filters and the cursor,
 * and the events on Kafka. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"

/* A product of the tenant; its id into id. */
static void product_new(const char *key, const char *body, char id[UUID_STR_LEN])
{
    json_t *p = ct_create("/products", key, body);
    snprintf(id, UUID_STR_LEN, "%s", ct_str(p, "product_id"));
    json_decref(p);
}

/* POST /prices for product with the rest of the body (members after a comma). */
static json_t *price_new(const char *key, const char *product, const char *rest)
{
    char body[1024];
    snprintf(body, sizeof(body), "{\"product_id\": \"%s\"%s%s}", product, rest[0] ? ", " : "",
             rest);
    return ct_create("/prices", key, body);
}

/* A price body for product with the rest of the body, into out. */
static const char *body_for(char *out, size_t outlen, const char *product, const char *rest)
{
    snprintf(out, outlen, "{\"product_id\": \"%s\", %s}", product, rest);
    return out;
}

Test(prices, create_then_get_and_list)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char product[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"Coffee beans\"}", product);
    char body[512];
    struct api_response r =
        ct_call("POST", "/prices", t.key,
                body_for(body, sizeof(body), product,
                         "\"unit_amount\": 5000, \"nickname\": \"1 kg\", \"metadata\": {\"sku\": "
                         "\"CB-1\"}"));
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *p = r.json;
    const char *id = ct_str(p, "price_id");
    cr_assert(uuid_is_valid(id), "%s", r.text);
    cr_assert_str_eq(ct_str(p, "organization_id"), t.org);
    cr_assert_str_eq(ct_str(p, "product_id"), product);
    cr_assert_str_eq(ct_str(p, "currency_code"), "XOF", "the organization's currency by default");
    cr_assert_eq(json_integer_value(json_object_get(p, "unit_amount")), 5000);
    cr_assert_str_eq(ct_str(p, "type"), "one_time");
    cr_assert(json_is_null(json_object_get(p, "recurring")));
    cr_assert(json_is_null(json_object_get(p, "custom_unit_amount")));
    cr_assert(json_is_true(json_object_get(p, "active")));
    cr_assert_str_eq(ct_str(p, "nickname"), "1 kg");
    cr_assert_str_eq(ct_str(json_object_get(p, "metadata"), "sku"), "CB-1");
    cr_assert_str_eq(ct_str(p, "environment"), "test");
    cr_assert_eq(strlen(ct_str(p, "created_at")), 20);
    cr_assert_str_eq(ct_str(p, "created_at"), ct_str(p, "updated_at"));
    cr_assert_eq(json_object_size(p), 14, "%s", r.text);
    char location[128];
    snprintf(location, sizeof(location), "/prices/%s", id);
    cr_assert_str_eq(r.location, location);

    struct api_response g = ct_call("GET", location, t.key, NULL);
    cr_assert_eq(g.status, 200, "%s", g.text);
    cr_assert(json_equal(g.json, p), "%s\n%s", g.text, r.text);
    test_api_free(&g);
    char v1[140];
    snprintf(v1, sizeof(v1), "/v1%s", location);
    g = ct_call("GET", v1, t.key, NULL);
    cr_assert_eq(g.status, 200);
    test_api_free(&g);
    struct api_response l = ct_call("GET", "/v1/prices", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert(json_equal(json_array_get(l.json, 0), p));
    test_api_free(&l);
    test_api_free(&r);
}

Test(prices, recurring_and_pay_what_you_want_prices)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char product[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"Premium plan\"}", product);
    /* recurring implies the type; interval_count defaults to 1. */
    json_t *monthly = price_new(t.key, product,
                                "\"currency_code\": \"EUR\", \"unit_amount\": 1500.0,"
                                " \"recurring\": {\"interval\": \"month\"}");
    cr_assert_str_eq(ct_str(monthly, "type"), "recurring");
    cr_assert_str_eq(ct_str(monthly, "currency_code"), "EUR");
    cr_assert_eq(json_integer_value(json_object_get(monthly, "unit_amount")), 1500);
    json_t *rec = json_object_get(monthly, "recurring");
    cr_assert_str_eq(ct_str(rec, "interval"), "month");
    cr_assert_eq(json_integer_value(json_object_get(rec, "interval_count")), 1);
    cr_assert_eq(json_object_size(rec), 2);
    json_t *quarterly =
        price_new(t.key, product,
                  "\"type\": \"recurring\", \"unit_amount\": 40000,"
                  " \"recurring\": {\"interval\": \"week\", \"interval_count\": 13}");
    rec = json_object_get(quarterly, "recurring");
    cr_assert_str_eq(ct_str(rec, "interval"), "week");
    cr_assert_eq(json_integer_value(json_object_get(rec, "interval_count")), 13);
    /* Pay what you want: no unit_amount, a range. */
    json_t *tip = price_new(t.key, product,
                            "\"custom_unit_amount\": {\"minimum\": 1000, \"maximum\": 100000},"
                            " \"recurring\": null, \"type\": \"one_time\"");
    cr_assert(json_is_null(json_object_get(tip, "unit_amount")));
    cr_assert_str_eq(ct_str(tip, "type"), "one_time");
    json_t *custom = json_object_get(tip, "custom_unit_amount");
    cr_assert_eq(json_integer_value(json_object_get(custom, "minimum")), 1000);
    cr_assert_eq(json_integer_value(json_object_get(custom, "maximum")), 100000);
    /* As stored: read back the same. */
    json_t *all[] = {monthly, quarterly, tip};
    for (size_t i = 0; i < 3; i++) {
        char path[128];
        snprintf(path, sizeof(path), "/prices/%s", ct_str(all[i], "price_id"));
        struct api_response g = ct_call("GET", path, t.key, NULL);
        cr_assert(json_equal(g.json, all[i]), "%s", g.text);
        test_api_free(&g);
        json_decref(all[i]);
    }
}

Test(prices, create_rules_and_messages)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    const char *k = t.key;
    const char *p = "/prices";
    char product[UUID_STR_LEN], archived[UUID_STR_LEN], unknown[UUID_STR_LEN];
    product_new(k, "{\"name\": \"Plan\"}", product);
    product_new(k, "{\"name\": \"Old plan\", \"active\": false}", archived);
    cr_assert_eq(uuid_v7_string(unknown), 0);
    char body[1024], msg[300];
    ct_expect_400(k, "POST", p, "{\"unit_amount\": 100}", "product_id", "product_id is required");
    ct_expect_400(k, "POST", p, "{\"product_id\": \"premium-plan-id\", \"unit_amount\": 100}",
                  "product_id", "product_id must be a UUID");
    snprintf(msg, sizeof(msg), "product_id %s not found", unknown);
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), unknown, "\"unit_amount\": 100"),
                  "product_id", msg);
    snprintf(msg, sizeof(msg),
             "product_id %s is archived: prices can only be added to an active product", archived);
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), archived, "\"unit_amount\": 100"),
                  "product_id", msg);
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), product, "\"nickname\": \"x\""),
                  "unit_amount",
                  "unit_amount is required (or custom_unit_amount for a pay-what-you-want price)");
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), product, "\"unit_amount\": \"100\""),
                  "unit_amount", "unit_amount must be a number");
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), product, "\"unit_amount\": 0"),
                  "unit_amount", "unit_amount must be greater than 0");
    ct_expect_400(k, "POST", p, body_for(body, sizeof(body), product, "\"unit_amount\": 10.5"),
                  "unit_amount",
                  "unit_amount must be a whole number of the currency's minor units");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1000000000001"),
                  "unit_amount", "unit_amount must not exceed 1000000000000");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"currency_code\": \"ZZZ\""),
        "currency_code", "Unsupported currency_code: ZZZ");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product,
                 "\"unit_amount\": 1, \"custom_unit_amount\": {\"minimum\": 1, \"maximum\": "
                 "2}"),
        "custom_unit_amount", "Give either unit_amount or custom_unit_amount, not both");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product, "\"custom_unit_amount\": {\"minimum\": 10}"),
        "custom_unit_amount.maximum", "custom_unit_amount.maximum is required");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product,
                           "\"custom_unit_amount\": {\"minimum\": 10, \"maximum\": 9}"),
                  "custom_unit_amount.maximum",
                  "custom_unit_amount.maximum must be at least custom_unit_amount.minimum");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product,
                 "\"custom_unit_amount\": {\"minimum\": 1, \"maximum\": 2, \"preset\": 1}"),
        "custom_unit_amount.preset", "Unknown parameter: custom_unit_amount.preset");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product,
                 "\"custom_unit_amount\": {\"minimum\": 1, \"maximum\": 2}, \"recurring\": "
                 "{\"interval\": \"month\"}"),
        "custom_unit_amount",
        "custom_unit_amount is only for one_time prices: a recurring price has a "
        "unit_amount");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"type\": \"monthly\""), "type",
        "type must be one_time or recurring");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"type\": \"recurring\""),
        "recurring",
        "recurring is required for a recurring price ({\"interval\": \"month\"}, for "
        "example)");
    ct_expect_400(
        k, "POST", p,
        body_for(body, sizeof(body), product,
                 "\"unit_amount\": 1, \"type\": \"one_time\", \"recurring\": {\"interval\": "
                 "\"month\"}"),
        "recurring", "recurring must be null for a one_time price");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"recurring\": {}"),
                  "recurring.interval", "recurring.interval is required");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product,
                           "\"unit_amount\": 1, \"recurring\": {\"interval\": \"fortnight\"}"),
                  "recurring.interval", "recurring.interval must be day, week, month or year");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product,
                           "\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\", "
                           "\"interval_count\": 366}"),
                  "recurring.interval_count", "recurring.interval_count must be from 1 to 365");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"recurring\": 5"),
                  "recurring", "recurring must be an object");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"active\": 1"),
                  "active", "active must be a boolean");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"nickname\": 5"),
                  "nickname", "nickname must be a string");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"metadata\": []"),
                  "metadata", "metadata must be an object");
    ct_expect_400(k, "POST", p,
                  body_for(body, sizeof(body), product, "\"unit_amount\": 1, \"amount\": 1"),
                  "amount", "Unknown parameter: amount");
    /* Nothing refused was created. */
    struct api_response r = ct_call("GET", "/prices", k, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);
}

Test(prices, amounts_currency_type_and_recurrence_never_change)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char product[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"Plan\"}", product);
    json_t *p = price_new(t.key, product,
                          "\"unit_amount\": 15000, \"recurring\": {\"interval\": \"month\"},"
                          " \"nickname\": \"Monthly\", \"metadata\": {\"a\": \"1\"}");
    char path[128];
    snprintf(path, sizeof(path), "/prices/%s", ct_str(p, "price_id"));
    const char *fixed[][2] = {
        {"unit_amount", "{\"unit_amount\": 100}"},
        {"currency_code", "{\"currency_code\": \"EUR\"}"},
        {"type", "{\"type\": \"one_time\"}"},
        {"recurring", "{\"recurring\": null}"},
        {"custom_unit_amount", "{\"custom_unit_amount\": null}"},
        {"product_id", "{\"product_id\": null, \"active\": false}"},
    };
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        char msg[200];
        snprintf(msg, sizeof(msg),
                 "%s cannot be changed: create a new price (and archive this one)", fixed[i][0]);
        ct_expect_400(t.key, "PATCH", path, fixed[i][1], fixed[i][0], msg);
    }
    ct_expect_400(t.key, "PATCH", path, "{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                  "Unknown parameter: created_at");
    ct_expect_400(t.key, "PATCH", path, "{\"active\": null}", "active", "active must be a boolean");
    ct_expect_400(t.key, "PATCH", path, "{\"nickname\": 5}", "nickname",
                  "nickname must be a string");
    ct_expect_400(t.key, "PATCH", path, "{\"metadata\": 5}", "metadata",
                  "metadata must be an object");
    ct_expect_400(t.key, "GET", "/prices/monthly-price-id", NULL, "id", "Price id must be a UUID");
    ct_expect_400(t.key, "PATCH", "/prices/monthly-price-id", "{\"active\": false}", "id",
                  "Price id must be a UUID");
    char unknown[UUID_STR_LEN], missing[128], msg[200];
    cr_assert_eq(uuid_v7_string(unknown), 0);
    snprintf(missing, sizeof(missing), "/prices/%s", unknown);
    snprintf(msg, sizeof(msg), "Price with ID %s not found or access denied", unknown);
    ct_expect_error(t.key, "GET", missing, NULL, 404, "not_found", "id", msg);
    ct_expect_error(t.key, "PATCH", missing, "{\"active\": false}", 404, "not_found", "id", msg);
    /* Untouched by every refusal. */
    struct api_response r = ct_call("GET", path, t.key, NULL);
    cr_assert(json_equal(r.json, p), "%s", r.text);
    test_api_free(&r);

    /* What may change: nickname, metadata (whole), active. */
    test_sleep_ms(1100); /* updated_at moves on by a whole second */
    r = ct_call("PATCH", path, t.key, "{\"nickname\": null, \"metadata\": {\"b\": true}}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "nickname")));
    cr_assert_eq(json_object_size(json_object_get(r.json, "metadata")), 1, "replaced whole");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "unit_amount")), 15000);
    cr_assert(strcmp(ct_str(r.json, "updated_at"), ct_str(p, "updated_at")) > 0, "%s", r.text);
    cr_assert_str_eq(r.location, "", "an update names no new resource");
    test_api_free(&r);
    r = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_false(json_object_get(r.json, "active")), "archived");
    json_t *archived = json_incref(r.json);
    test_api_free(&r);
    r = ct_call("PATCH", path, t.key, "{}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_equal(r.json, archived), "nothing to change");
    test_api_free(&r);
    /* created, then two updated events; none for {}. */
    json_t *events = test_kafka_events_for(ct_str(p, "price_id"), 3, 20000);
    cr_assert_eq(json_array_size(events), 3, "%zu events", json_array_size(events));
    json_decref(events);
    json_decref(archived);
    json_decref(p);
}

Test(prices, a_product_s_default_price)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Price tests");
    ct_tenant_new(&other, "Price tests");
    char product[UUID_STR_LEN], second[UUID_STR_LEN], foreign_product[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"Plan\"}", product);
    product_new(t.key, "{\"name\": \"Other plan\"}", second);
    product_new(other.key, "{\"name\": \"Theirs\"}", foreign_product);
    json_t *monthly = price_new(t.key, product, "\"unit_amount\": 15000");
    json_t *old = price_new(t.key, product, "\"unit_amount\": 12000, \"active\": false");
    json_t *elsewhere = price_new(t.key, second, "\"unit_amount\": 1");
    json_t *foreign = price_new(other.key, foreign_product, "\"unit_amount\": 1");
    char path[128], body[200], msg[300];
    snprintf(path, sizeof(path), "/products/%s", product);

    /* A new product has no prices yet: only PATCH sets it. */
    snprintf(body, sizeof(body), "{\"name\": \"x\", \"default_price_id\": \"%s\"}",
             ct_str(monthly, "price_id"));
    ct_expect_400(t.key, "POST", "/products", body, "default_price_id",
                  "Unknown parameter: default_price_id");
    ct_expect_400(t.key, "PATCH", path, "{\"default_price_id\": \"monthly-price-id\"}",
                  "default_price_id", "default_price_id must be a UUID");
    snprintf(body, sizeof(body), "{\"default_price_id\": \"%s\"}", ct_str(foreign, "price_id"));
    snprintf(msg, sizeof(msg), "default_price_id %s not found", ct_str(foreign, "price_id"));
    ct_expect_400(t.key, "PATCH", path, body, "default_price_id", msg);
    snprintf(body, sizeof(body), "{\"default_price_id\": \"%s\"}", ct_str(elsewhere, "price_id"));
    snprintf(msg, sizeof(msg), "default_price_id %s is a price of another product",
             ct_str(elsewhere, "price_id"));
    ct_expect_400(t.key, "PATCH", path, body, "default_price_id", msg);
    snprintf(body, sizeof(body), "{\"default_price_id\": \"%s\"}", ct_str(old, "price_id"));
    snprintf(msg, sizeof(msg),
             "default_price_id %s is archived: a product's default price must be active",
             ct_str(old, "price_id"));
    ct_expect_400(t.key, "PATCH", path, body, "default_price_id", msg);

    snprintf(body, sizeof(body), "{\"default_price_id\": \"%s\"}", ct_str(monthly, "price_id"));
    struct api_response r = ct_call("PATCH", path, t.key, body);
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert_str_eq(ct_str(r.json, "default_price_id"), ct_str(monthly, "price_id"));
    test_api_free(&r);
    /* The default price is not archived while it is the default. */
    char price_path[128];
    snprintf(price_path, sizeof(price_path), "/prices/%s", ct_str(monthly, "price_id"));
    snprintf(msg, sizeof(msg),
             "Price %s is the default price of product %s: give the product another "
             "default_price_id (or null) before archiving it",
             ct_str(monthly, "price_id"), product);
    ct_expect_400(t.key, "PATCH", price_path, "{\"active\": false}", "active", msg);
    r = ct_call("PATCH", path, t.key, "{\"default_price_id\": null}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    cr_assert(json_is_null(json_object_get(r.json, "default_price_id")));
    test_api_free(&r);
    r = ct_call("PATCH", price_path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    json_decref(monthly);
    json_decref(old);
    json_decref(elsewhere);
    json_decref(foreign);
}

Test(prices, another_tenant_or_environment_sees_nothing)
{
    struct ct_tenant a, b;
    ct_tenant_new(&a, "Price tests");
    ct_tenant_new(&b, "Price tests");
    char product[UUID_STR_LEN];
    product_new(a.key, "{\"name\": \"Mine\"}", product);
    json_t *p = price_new(a.key, product, "\"unit_amount\": 100");
    const char *id = ct_str(p, "price_id");
    char path[128], msg[200], body[200];
    snprintf(path, sizeof(path), "/prices/%s", id);
    snprintf(msg, sizeof(msg), "Price with ID %s not found or access denied", id);
    const char *others[] = {b.key, a.live, b.live};
    for (size_t i = 0; i < 3; i++) {
        ct_expect_error(others[i], "GET", path, NULL, 404, "not_found", "id", msg);
        ct_expect_error(others[i], "PATCH", path, "{\"active\": false}", 404, "not_found", "id",
                        msg);
        struct api_response l = ct_call("GET", "/prices", others[i], NULL);
        cr_assert_eq(l.status, 200);
        cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
        test_api_free(&l);
        char q[200];
        snprintf(q, sizeof(q), "/prices?product_id=%s", product);
        l = ct_call("GET", q, others[i], NULL);
        cr_assert_eq(json_array_size(l.json), 0, "%s", l.text);
        test_api_free(&l);
        snprintf(q, sizeof(q), "/prices?starting_after=%s", id);
        ct_expect_400(others[i], "GET", q, NULL, "starting_after",
                      "starting_after must be the id of one of your prices");
        /* Their product is not ours to price. */
        char m[200];
        snprintf(body, sizeof(body), "{\"product_id\": \"%s\", \"unit_amount\": 1}", product);
        snprintf(m, sizeof(m), "product_id %s not found", product);
        ct_expect_400(others[i], "POST", "/prices", body, "product_id", m);
    }
    struct api_response r = ct_call("GET", path, a.key, NULL);
    cr_assert(json_equal(r.json, p), "untouched: %s", r.text);
    test_api_free(&r);
    json_decref(p);
}

Test(prices, same_idempotency_key_and_body_is_the_same_price)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char product[UUID_STR_LEN], idem[UUID_STR_LEN], body[300], other[300];
    product_new(t.key, "{\"name\": \"Plan\"}", product);
    cr_assert_eq(uuid_v7_string(idem), 0);
    snprintf(body, sizeof(body), "{\"product_id\": \"%s\", \"unit_amount\": 700}", product);
    snprintf(other, sizeof(other), "{\"product_id\": \"%s\", \"unit_amount\": 701}", product);
    struct api_response a = ct_call_keyed("/prices", t.key, idem, body);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert(!a.idempotent_replayed);
    struct api_response b = ct_call_keyed("/prices", t.key, idem, body);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    cr_assert_str_eq(a.location, b.location);
    struct api_response c = ct_call_keyed("/prices", t.key, idem, other);
    test_assert_error(&c, 409, "idempotency_conflict", "Idempotency-Key",
                      "Idempotency-Key was reused with a different request payload");
    char *n = test_sql_value("SELECT count(*) FROM prices WHERE idempotency_key = $1", idem);
    cr_assert_str_eq(n, "1");
    free(n);
    /* Keys are per environment: the live product does not exist there. */
    char m[200];
    snprintf(m, sizeof(m), "product_id %s not found", product);
    struct api_response d = ct_call_keyed("/prices", t.live, idem, body);
    test_assert_error(&d, 400, "validation_error", "product_id", m);
    test_api_free(&a);
    test_api_free(&b);
    test_api_free(&c);
    test_api_free(&d);
}

Test(prices, list_filters_on_product_and_active_with_a_cursor)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"A\"}", a);
    product_new(t.key, "{\"name\": \"B\"}", b);
    enum { N = 5 };
    char ids[N][UUID_STR_LEN];
    /* 0 A active, 1 B archived, 2 A archived, 3 B active, 4 A active */
    for (int i = 0; i < N; i++) {
        char rest[100];
        snprintf(rest, sizeof(rest), "\"unit_amount\": %d, \"active\": %s", 100 + i,
                 i == 1 || i == 2 ? "false" : "true");
        json_t *p = price_new(t.key, i % 2 == 0 ? a : b, rest);
        snprintf(ids[i], sizeof(ids[i]), "%s", ct_str(p, "price_id"));
        json_decref(p);
    }
    struct api_response r = ct_call("GET", "/prices", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), N);
    for (int i = 0; i < N; i++)
        cr_assert_str_eq(ct_str(json_array_get(r.json, (size_t)i), "price_id"), ids[N - 1 - i]);
    test_api_free(&r);
    char path[200];
    snprintf(path, sizeof(path), "/prices?product_id=%s", a);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 3, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "price_id"), ids[4]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "price_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 2), "price_id"), ids[0]);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/prices?product_id=%s&active=true", a);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "price_id"), ids[0]);
    test_api_free(&r);
    r = ct_call("GET", "/prices?active=false", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 2, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "price_id"), ids[2]);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 1), "price_id"), ids[1]);
    test_api_free(&r);
    snprintf(path, sizeof(path), "/prices?product_id=%s&limit=1&starting_after=%s", a, ids[4]);
    r = ct_call("GET", path, t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 1, "%s", r.text);
    cr_assert_str_eq(ct_str(json_array_get(r.json, 0), "price_id"), ids[2]);
    test_api_free(&r);
    ct_expect_400(t.key, "GET", "/prices?product_id=premium-plan-id", NULL, "product_id",
                  "product_id must be a UUID");
    ct_expect_400(t.key, "GET", "/prices?active=1", NULL, "active", "active must be true or false");
    ct_expect_400(t.key, "GET", "/prices?limit=0", NULL, "limit",
                  "limit must be an integer from 1 to 100");
    ct_expect_400(t.key, "GET", "/prices?starting_after=x", NULL, "starting_after",
                  "starting_after must be a price id (UUID)");
    ct_expect_400(t.key, "GET", "/prices?type=recurring", NULL, "type",
                  "Unknown query parameter: type");
}

Test(prices, events_on_kafka_carry_the_price, .timeout = 60)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Price tests");
    char product[UUID_STR_LEN];
    product_new(t.key, "{\"name\": \"Evented\"}", product);
    json_t *p =
        price_new(t.key, product, "\"unit_amount\": 2500, \"recurring\": {\"interval\": \"year\"}");
    const char *id = ct_str(p, "price_id");
    char path[128];
    snprintf(path, sizeof(path), "/prices/%s", id);
    struct api_response u = ct_call("PATCH", path, t.key, "{\"nickname\": \"Yearly\"}");
    cr_assert_eq(u.status, 200, "%s", u.text);
    json_t *events = test_kafka_events_for(id, 2, 20000);
    cr_assert_eq(json_array_size(events), 2, "%zu events", json_array_size(events));
    const char *types[] = {"price.created", "price.updated"};
    const json_t *data[] = {p, u.json};
    const char *times[] = {ct_str(p, "created_at"), ct_str(u.json, "updated_at")};
    for (size_t i = 0; i < 2; i++) {
        const json_t *ev = json_array_get(events, i);
        cr_assert_str_eq(ct_str(ev, "specversion"), "1.0");
        cr_assert_str_eq(ct_str(ev, "type"), types[i]);
        cr_assert_str_eq(ct_str(ev, "source"), "/caisse/prices");
        cr_assert_str_eq(ct_str(ev, "subject"), id);
        cr_assert_str_eq(ct_str(ev, "_key"), id, "the Kafka key is the price id");
        cr_assert_str_eq(ct_str(ev, "organizationid"), t.org);
        cr_assert_str_eq(ct_str(ev, "environment"), "test");
        cr_assert_str_eq(ct_str(ev, "time"), times[i]);
        cr_assert(json_equal(json_object_get(ev, "data"), data[i]), "data is the REST object");
    }
    struct api_response l = ct_call("GET", "/events?type=price.updated", t.key, NULL);
    cr_assert_eq(l.status, 200, "%s", l.text);
    cr_assert_eq(json_array_size(l.json), 1, "%s", l.text);
    cr_assert_str_eq(ct_str(json_array_get(l.json, 0), "id"),
                     ct_str(json_array_get(events, 1), "id"));
    test_api_free(&l);
    json_decref(events);
    test_api_free(&u);
    json_decref(p);
}
