/* The prices' rules: every field of POST and PATCH /prices with the exact
 * message and param a client sees, the defaults (currency, type, interval
 * count, active), and the changes an update makes. What needs the database
 * (the product, the default price) runs against the stack
 * (tests/integration/prices.c). */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/prices.h"
#include "../leak_check.h"

TestSuite(prices, .fini = unit_leak_check);

#define PRODUCT "0190a6e4-6b2c-7d3e-8f41-0000000000a1"
#define WITH(rest) "{\"product_id\": \"" PRODUCT "\", " rest "}"

static const struct tenant_identity who = {.organization_id =
                                               "789e0123-e89b-12d3-a456-426614174000",
                                           .environment = "test",
                                           .default_currency = "XOF"};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL: the rules, not the parser, must stop "\u0000". */
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test body does not parse: %s (%s)", jerr.text, text);
    return j;
}

static int create(const char *text, struct price *p, struct error *err)
{
    json_t *body = parse(text);
    cr_assert_eq(price_init(p), C_OK);
    p->active = false; /* the rules set the default */
    int rc = prices_validate_create(body, &who, p, err);
    json_decref(body);
    return rc;
}

static void expect_create_ok(const char *text, struct price *p)
{
    struct error err = ERROR_INIT;
    cr_assert_eq(create(text, p, &err), C_OK, "%s: %s", text, err.message);
}

static void expect_create_error(const char *text, const char *param, const char *message)
{
    struct price p;
    struct error err = ERROR_INIT;
    cr_assert_eq(create(text, &p, &err), C_ERR, "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
    price_free(&p);
}

static json_t *update(const char *text, struct error *err)
{
    json_t *body = parse(text);
    json_t *changes = NULL;
    int rc = prices_validate_update(body, &changes, err);
    json_decref(body);
    if (rc != C_OK) {
        cr_assert_null(changes, "no changes given on failure");
        return NULL;
    }
    cr_assert_not_null(changes);
    return changes;
}

static void expect_update(const char *text, const char *changes)
{
    struct error err = ERROR_INIT;
    json_t *c = update(text, &err);
    cr_assert_not_null(c, "%s: %s", text, err.message);
    char *got = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_str_eq(got, changes, "%s", text);
    free(got);
    json_decref(c);
}

static void expect_update_error(const char *text, const char *param, const char *message)
{
    struct error err = ERROR_INIT;
    cr_assert_null(update(text, &err), "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
}

/* ---- create ---------------------------------------------------------------------------- */

Test(prices, a_fixed_one_time_price_takes_the_organization_s_currency_and_is_active)
{
    struct price p;
    expect_create_ok(WITH("\"unit_amount\": 5000"), &p);
    cr_assert_str_eq(p.product_id, PRODUCT);
    cr_assert_str_eq(p.currency_code, "XOF");
    cr_assert_eq(p.unit_amount, 5000);
    cr_assert_eq(p.type, PRICE_ONE_TIME);
    cr_assert_str_eq(p.recurring_interval, "");
    cr_assert_eq(p.recurring_interval_count, RESOURCE_NULL_INT32);
    cr_assert_eq(p.custom_minimum, RESOURCE_NULL_INT64);
    cr_assert(p.active);
    cr_assert_null(p.nickname);
    cr_assert_eq(json_object_size(p.metadata), 0);
    price_free(&p);
}

Test(prices, a_full_recurring_price_fills_every_field)
{
    struct price p;
    /* The product id in any letter case, stored lower-cased. */
    expect_create_ok(
        "{\"product_id\": \"0190A6E4-6B2C-7D3E-8F41-0000000000A1\","
        " \"currency_code\": \"EUR\", \"unit_amount\": 1999.0, \"type\": \"recurring\","
        " \"recurring\": {\"interval\": \"year\", \"interval_count\": 2},"
        " \"active\": false, \"nickname\": \"Biennial\", \"metadata\": {\"k\": 1}}",
        &p);
    cr_assert_str_eq(p.product_id, PRODUCT);
    cr_assert_str_eq(p.currency_code, "EUR");
    cr_assert_eq(p.unit_amount, 1999);
    cr_assert_eq(p.type, PRICE_RECURRING);
    cr_assert_str_eq(p.recurring_interval, "year");
    cr_assert_eq(p.recurring_interval_count, 2);
    cr_assert_not(p.active);
    cr_assert_str_eq(p.nickname, "Biennial");
    cr_assert_eq(json_integer_value(json_object_get(p.metadata, "k")), 1);
    price_free(&p);
}

Test(prices, recurring_without_type_is_a_recurring_price_of_one_interval)
{
    struct price p;
    expect_create_ok(WITH("\"unit_amount\": 15000, \"recurring\": {\"interval\": \"month\"}"), &p);
    cr_assert_eq(p.type, PRICE_RECURRING);
    cr_assert_str_eq(p.recurring_interval, "month");
    cr_assert_eq(p.recurring_interval_count, 1);
    price_free(&p);
    const char *intervals[] = {"day", "week", "month", "year"};
    for (size_t i = 0; i < 4; i++) {
        char body[300];
        snprintf(body, sizeof(body),
                 WITH("\"unit_amount\": 1, \"type\": \"recurring\", \"recurring\":"
                      " {\"interval\": \"%s\", \"interval_count\": null}"),
                 intervals[i]);
        expect_create_ok(body, &p);
        cr_assert_str_eq(p.recurring_interval, intervals[i]);
        cr_assert_eq(p.recurring_interval_count, 1);
        price_free(&p);
    }
    expect_create_ok(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                          " \"interval_count\": 365}"),
                     &p);
    cr_assert_eq(p.recurring_interval_count, 365);
    price_free(&p);
    /* null is "not given": one_time, as without them. */
    expect_create_ok(WITH("\"unit_amount\": 1, \"type\": null, \"recurring\": null,"
                          " \"custom_unit_amount\": null, \"currency_code\": null,"
                          " \"active\": null, \"nickname\": null, \"metadata\": null"),
                     &p);
    cr_assert_eq(p.type, PRICE_ONE_TIME);
    cr_assert_str_eq(p.currency_code, "XOF");
    cr_assert(p.active);
    price_free(&p);
}

Test(prices, a_pay_what_you_want_price_has_a_range_and_no_unit_amount)
{
    struct price p;
    expect_create_ok(WITH("\"custom_unit_amount\": {\"minimum\": 1000, \"maximum\": 100000}"), &p);
    cr_assert(price_is_pay_what_you_want(&p));
    cr_assert_eq(p.unit_amount, RESOURCE_NULL_INT64);
    cr_assert_eq(p.custom_minimum, 1000);
    cr_assert_eq(p.custom_maximum, 100000);
    cr_assert_eq(p.type, PRICE_ONE_TIME);
    price_free(&p);
    /* A fixed amount in a range of one. */
    expect_create_ok(WITH("\"type\": \"one_time\", \"custom_unit_amount\": {\"minimum\": 7,"
                          " \"maximum\": 7}"),
                     &p);
    cr_assert_eq(p.custom_maximum, 7);
    price_free(&p);
}

Test(prices, product_and_currency_messages)
{
    expect_create_error("{\"unit_amount\": 1}", "product_id", "product_id is required");
    expect_create_error("{\"product_id\": null, \"unit_amount\": 1}", "product_id",
                        "product_id is required");
    expect_create_error("{\"product_id\": \"premium-plan-id\", \"unit_amount\": 1}", "product_id",
                        "product_id must be a UUID");
    expect_create_error("{\"product_id\": 5, \"unit_amount\": 1}", "product_id",
                        "product_id must be a UUID");
    expect_create_error(WITH("\"unit_amount\": 1, \"currency_code\": \"JPY\""), "currency_code",
                        "Unsupported currency_code: JPY");
    expect_create_error(WITH("\"unit_amount\": 1, \"currency_code\": \"xof\""), "currency_code",
                        "Unsupported currency_code: xof");
    expect_create_error(WITH("\"unit_amount\": 1, \"currency_code\": 952"), "currency_code",
                        "currency_code must be a string");
    expect_create_error(WITH("\"unit_amount\": 1, \"currency_code\": \"XOF\\u0000x\""),
                        "currency_code", "currency_code must not contain NUL characters");
    expect_create_error(WITH("\"unit_amount\": 1, \"price\": 5"), "price",
                        "Unknown parameter: price");
    expect_create_error(WITH("\"unit_amount\": 1, \"price_id\": null"), "price_id",
                        "Unknown parameter: price_id");
}

Test(prices, amount_messages)
{
    expect_create_error(WITH("\"currency_code\": \"XOF\""), "unit_amount",
                        "unit_amount is required (or custom_unit_amount for a pay-what-you-want "
                        "price)");
    expect_create_error(WITH("\"unit_amount\": null, \"custom_unit_amount\": null"), "unit_amount",
                        "unit_amount is required (or custom_unit_amount for a pay-what-you-want "
                        "price)");
    expect_create_error(WITH("\"unit_amount\": \"5000\""), "unit_amount",
                        "unit_amount must be a number");
    expect_create_error(WITH("\"unit_amount\": 10.5"), "unit_amount",
                        "unit_amount must be a whole number of the currency's minor units");
    expect_create_error(WITH("\"unit_amount\": 0"), "unit_amount",
                        "unit_amount must be greater than 0");
    expect_create_error(WITH("\"unit_amount\": -3"), "unit_amount",
                        "unit_amount must be greater than 0");
    expect_create_error(WITH("\"unit_amount\": 1000000000001"), "unit_amount",
                        "unit_amount must not exceed 1000000000000");
    expect_create_error(WITH("\"unit_amount\": 1e300"), "unit_amount",
                        "unit_amount must not exceed 1000000000000");
    struct price p;
    expect_create_ok(WITH("\"unit_amount\": 1000000000000"), &p);
    cr_assert_eq(p.unit_amount, 1000000000000LL);
    price_free(&p);
    expect_create_error(WITH("\"unit_amount\": 5, \"custom_unit_amount\": {\"minimum\": 1,"
                             " \"maximum\": 2}"),
                        "custom_unit_amount",
                        "Give either unit_amount or custom_unit_amount, not both");
    expect_create_error(WITH("\"custom_unit_amount\": 5"), "custom_unit_amount",
                        "custom_unit_amount must be an object");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 1}"),
                        "custom_unit_amount.maximum", "custom_unit_amount.maximum is required");
    expect_create_error(WITH("\"custom_unit_amount\": {\"maximum\": 1}"),
                        "custom_unit_amount.minimum", "custom_unit_amount.minimum is required");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 0, \"maximum\": 1}"),
                        "custom_unit_amount.minimum",
                        "custom_unit_amount.minimum must be greater than 0");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 1, \"maximum\": 1.5}"),
                        "custom_unit_amount.maximum",
                        "custom_unit_amount.maximum must be a whole number of the currency's "
                        "minor units");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 1,"
                             " \"maximum\": 1000000000001}"),
                        "custom_unit_amount.maximum",
                        "custom_unit_amount.maximum must not exceed 1000000000000");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 500, \"maximum\": 499}"),
                        "custom_unit_amount.maximum",
                        "custom_unit_amount.maximum must be at least custom_unit_amount.minimum");
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 1, \"maximum\": 2,"
                             " \"preset\": 1}"),
                        "custom_unit_amount.preset",
                        "Unknown parameter: custom_unit_amount.preset");
}

Test(prices, type_and_recurring_messages)
{
    expect_create_error(WITH("\"unit_amount\": 1, \"type\": \"monthly\""), "type",
                        "type must be one_time or recurring");
    expect_create_error(WITH("\"unit_amount\": 1, \"type\": 1"), "type",
                        "type must be one_time or recurring");
    expect_create_error(WITH("\"unit_amount\": 1, \"type\": \"one_time\\u0000\""), "type",
                        "type must be one_time or recurring");
    expect_create_error(WITH("\"unit_amount\": 1, \"type\": \"recurring\""), "recurring",
                        "recurring is required for a recurring price ({\"interval\": \"month\"}, "
                        "for example)");
    expect_create_error(WITH("\"unit_amount\": 1, \"type\": \"one_time\", \"recurring\":"
                             " {\"interval\": \"month\"}"),
                        "recurring", "recurring must be null for a one_time price");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": \"month\""), "recurring",
                        "recurring must be an object");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {}"), "recurring.interval",
                        "recurring.interval is required");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"fortnight\"}"),
                        "recurring.interval",
                        "recurring.interval must be day, week, month or year");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"Month\"}"),
                        "recurring.interval",
                        "recurring.interval must be day, week, month or year");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": 30}"),
                        "recurring.interval",
                        "recurring.interval must be day, week, month or year");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                             " \"interval_count\": 0}"),
                        "recurring.interval_count",
                        "recurring.interval_count must be from 1 to 365");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                             " \"interval_count\": 366}"),
                        "recurring.interval_count",
                        "recurring.interval_count must be from 1 to 365");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                             " \"interval_count\": 1.5}"),
                        "recurring.interval_count", "recurring.interval_count must be an integer");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                             " \"interval_count\": \"2\"}"),
                        "recurring.interval_count", "recurring.interval_count must be an integer");
    expect_create_error(WITH("\"unit_amount\": 1, \"recurring\": {\"interval\": \"day\","
                             " \"usage_type\": \"metered\"}"),
                        "recurring.usage_type", "Unknown parameter: recurring.usage_type");
    /* Pay-what-you-want is for one-time payments only. */
    expect_create_error(WITH("\"custom_unit_amount\": {\"minimum\": 1, \"maximum\": 2},"
                             " \"recurring\": {\"interval\": \"month\"}"),
                        "custom_unit_amount",
                        "custom_unit_amount is only for one_time prices: a recurring price has a "
                        "unit_amount");
}

Test(prices, other_fields_messages)
{
    char body[700], nickname[300];
    expect_create_error(WITH("\"unit_amount\": 1, \"active\": \"yes\""), "active",
                        "active must be a boolean");
    expect_create_error(WITH("\"unit_amount\": 1, \"nickname\": 5"), "nickname",
                        "nickname must be a string");
    expect_create_error(WITH("\"unit_amount\": 1, \"nickname\": \"a\\u0000b\""), "nickname",
                        "nickname must not contain NUL characters");
    memset(nickname, 'n', 251);
    nickname[251] = '\0';
    snprintf(body, sizeof(body), WITH("\"unit_amount\": 1, \"nickname\": \"%s\""), nickname);
    expect_create_error(body, "nickname", "nickname must be at most 250 characters");
    nickname[250] = '\0';
    snprintf(body, sizeof(body), WITH("\"unit_amount\": 1, \"nickname\": \"%s\""), nickname);
    struct price p;
    expect_create_ok(body, &p);
    cr_assert_eq(strlen(p.nickname), 250);
    price_free(&p);
    expect_create_error(WITH("\"unit_amount\": 1, \"metadata\": []"), "metadata",
                        "metadata must be an object");
    expect_create_error(WITH("\"unit_amount\": 1, \"metadata\": {\"k\": {}}"), "metadata",
                        "metadata values must be strings, numbers or booleans");
}

/* ---- update ---------------------------------------------------------------------------- */

Test(prices, an_update_gives_only_the_changes_named)
{
    expect_update("{}", "{}");
    expect_update("{\"active\": false}", "{\"active\":false}");
    expect_update("{\"nickname\": \"Monthly\", \"metadata\": {\"k\": true}, \"active\": true}",
                  "{\"active\":true,\"metadata\":{\"k\":true},\"nickname\":\"Monthly\"}");
    /* null clears the nickname and empties the metadata. */
    expect_update("{\"nickname\": null, \"metadata\": null}",
                  "{\"metadata\":{},\"nickname\":null}");
}

Test(prices, what_never_changes_is_named_in_its_own_message)
{
    static const char *const fixed[] = {"product_id", "currency_code",      "unit_amount",
                                        "type",       "custom_unit_amount", "recurring"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        char body[100], message[200];
        snprintf(body, sizeof(body), "{\"active\": true, \"%s\": null}", fixed[i]);
        snprintf(message, sizeof(message),
                 "%s cannot be changed: create a new price (and archive this one)", fixed[i]);
        expect_update_error(body, fixed[i], message);
    }
}

Test(prices, update_messages)
{
    expect_update_error("{\"active\": null}", "active", "active must be a boolean");
    expect_update_error("{\"active\": \"false\"}", "active", "active must be a boolean");
    expect_update_error("{\"nickname\": 1}", "nickname", "nickname must be a string");
    expect_update_error("{\"metadata\": []}", "metadata", "metadata must be an object");
    expect_update_error("{\"price_id\": \"x\"}", "price_id", "Unknown parameter: price_id");
    expect_update_error("{\"created_at\": \"2024-01-15T10:30:00Z\"}", "created_at",
                        "Unknown parameter: created_at");
    struct error err = ERROR_INIT;
    json_t *body = json_array();
    json_t *changes = NULL;
    cr_assert_eq(prices_validate_update(body, &changes, &err), C_ERR);
    cr_assert_str_eq(err.message, "Request body must be a JSON object");
    cr_assert_null(changes);
    json_decref(body);
}

Test(prices, the_descriptor_names_the_store_the_rules_and_the_database_checks)
{
    cr_assert_eq(prices_catalog.store, &price_store);
    cr_assert_eq(prices_catalog.validate_create, prices_validate_create);
    cr_assert_eq(prices_catalog.validate_update, prices_validate_update);
    cr_assert_eq(prices_catalog.check_create, prices_check_create, "the product is checked");
    cr_assert_eq(prices_catalog.check_update, prices_check_update, "the default price is kept");
}
