/* The coupons' rules: every field of POST and PATCH /coupons with the exact
 * message and param a client sees, the defaults, and the changes an update
 * makes. The handlers themselves run against the stack (tests/integration/coupons.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "../../../gateway/coupons.h"
#include "../leak_check.h"

TestSuite(coupons, .fini = unit_leak_check);

static const struct tenant_identity who = {.organization_id =
                                               "789e0123-e89b-12d3-a456-426614174000",
                                           .environment = "test",
                                           .default_currency = "XOF"};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test body does not parse: %s (%s)", jerr.text, text);
    return j;
}

static int create(const char *text, struct coupon *c, struct error *err)
{
    json_t *body = parse(text);
    cr_assert_eq(coupon_init(c), C_OK);
    c->active = false; /* the rules set the default */
    int rc = coupons_validate_create(body, &who, c, err);
    json_decref(body);
    return rc;
}

static void expect_create_error(const char *text, const char *param, const char *message)
{
    struct coupon c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create(text, &c, &err), C_ERR, "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    if (param == NULL)
        cr_assert_str_eq(err.param, "", "%s", text);
    else
        cr_assert_str_eq(err.param, param, "%s", text);
    coupon_free(&c);
}

static json_t *update(const char *text, struct error *err)
{
    json_t *body = parse(text);
    json_t *changes = NULL;
    int rc = coupons_validate_update(body, &changes, err);
    json_decref(body);
    if (rc != C_OK) {
        cr_assert_null(changes, "no changes given on failure");
        return NULL;
    }
    cr_assert_not_null(changes);
    return changes;
}

static void expect_update_error(const char *text, const char *param, const char *message)
{
    struct error err = ERROR_INIT;
    cr_assert_null(update(text, &err), "accepted %s", text);
    cr_assert_str_eq(err.message, message, "%s", text);
    cr_assert_str_eq(err.param, param, "%s", text);
}

Test(coupons, a_percentage_coupon_with_every_field)
{
    struct coupon c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{\"code\": \"Summer10\", \"percent_off\": 12.5,"
                        " \"valid_from\": \"2026-06-01T00:00:00Z\","
                        " \"valid_until\": \"2026-09-01T00:00:00Z\", \"max_redemptions\": 100,"
                        " \"applies_to\": {\"product_ids\":"
                        " [\"0190A1B2-0000-7000-8000-000000000001\"]},"
                        " \"metadata\": {\"campaign\": \"summer\"}}",
                        &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_str_eq(c.code, "Summer10", "stored as given");
    cr_assert_eq(c.percent_off_bp, 1250);
    cr_assert_eq(c.amount_off, RESOURCE_NULL_INT64);
    cr_assert_str_eq(c.currency_code, "");
    int64_t from, until;
    cr_assert_eq(rfc3339_parse("2026-06-01T00:00:00Z", &from), C_OK);
    cr_assert_eq(rfc3339_parse("2026-09-01T00:00:00Z", &until), C_OK);
    cr_assert_eq(c.valid_from, from);
    cr_assert_eq(c.valid_until, until);
    cr_assert_eq(c.max_redemptions, 100);
    cr_assert(c.active, "active by default");
    const json_t *ids = json_object_get(c.applies_to, "product_ids");
    cr_assert_eq(json_array_size(ids), 1);
    cr_assert_str_eq(json_string_value(json_array_get(ids, 0)),
                     "0190a1b2-0000-7000-8000-000000000001", "ids in canonical case");
    cr_assert_str_eq(json_string_value(json_object_get(c.metadata, "campaign")), "summer");
    coupon_free(&c);
}

Test(coupons, an_amount_coupon_takes_its_currency_and_no_limits)
{
    struct coupon c;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{\"code\": \"TENOFF\", \"amount_off\": 1000, \"currency_code\": \"EUR\","
                        " \"active\": false, \"applies_to\": null, \"valid_until\": null}",
                        &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(c.amount_off, 1000);
    cr_assert_str_eq(c.currency_code, "EUR");
    cr_assert_eq(c.percent_off_bp, RESOURCE_NULL_INT32);
    cr_assert_not(c.active);
    cr_assert_eq(c.valid_from, RESOURCE_NULL_INT64);
    cr_assert_eq(c.valid_until, RESOURCE_NULL_INT64);
    cr_assert_eq(c.max_redemptions, RESOURCE_NULL_INT32);
    cr_assert_eq(json_array_size(json_object_get(c.applies_to, "product_ids")), 0, "every product");
    coupon_free(&c);
    cr_assert_eq(create("{\"code\": \"ALL\", \"percent_off\": 100, \"applies_to\": {}}", &c, &err),
                 C_OK, "%s", err.message);
    cr_assert_eq(c.percent_off_bp, 10000);
    coupon_free(&c);
}

Test(coupons, applies_to_is_always_the_object_of_product_ids)
{
    /* The catalog initializes the struct generically (an empty applies_to). */
    struct coupon c;
    cr_assert_eq(resource_init(&coupon_resource, &c), C_OK);
    struct error err = ERROR_INIT;
    json_t *body = parse("{\"code\": \"ALL\", \"percent_off\": 5}");
    cr_assert_eq(coupons_validate_create(body, &who, &c, &err), C_OK, "%s", err.message);
    const json_t *ids = json_object_get(c.applies_to, "product_ids");
    cr_assert(json_is_array(ids));
    cr_assert_eq(json_array_size(ids), 0);
    json_decref(body);
    coupon_free(&c);
}

Test(coupons, create_messages)
{
    expect_create_error("[]", NULL, "Request body must be a JSON object");
    expect_create_error("{}", "code", "code is required");
    expect_create_error("{\"code\": null, \"percent_off\": 10}", "code", "code is required");
    expect_create_error("{\"code\": 10, \"percent_off\": 10}", "code", "code must be a string");
    const char *shape = "code must be 1 to 64 characters, each a letter, a digit, _ or -";
    expect_create_error("{\"code\": \"\", \"percent_off\": 10}", "code", shape);
    expect_create_error("{\"code\": \"TEN OFF\", \"percent_off\": 10}", "code", shape);
    expect_create_error("{\"code\": \"a\\u0000b\", \"percent_off\": 10}", "code", shape);
    char body[300], code[80];
    memset(code, 'C', 65);
    code[65] = '\0';
    snprintf(body, sizeof(body), "{\"code\": \"%s\", \"percent_off\": 10}", code);
    expect_create_error(body, "code", shape);

    expect_create_error("{\"code\": \"X\"}", "percent_off",
                        "Either percent_off or amount_off is required");
    expect_create_error("{\"code\": \"X\", \"percent_off\": null, \"amount_off\": null}",
                        "percent_off", "Either percent_off or amount_off is required");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"amount_off\": 100,"
                        " \"currency_code\": \"XOF\"}",
                        "amount_off", "Give either percent_off or amount_off, not both");
    expect_create_error("{\"code\": \"X\", \"percent_off\": \"10\"}", "percent_off",
                        "percent_off must be a number");
    const char *range = "percent_off must be greater than 0 and at most 100";
    expect_create_error("{\"code\": \"X\", \"percent_off\": 0}", "percent_off", range);
    expect_create_error("{\"code\": \"X\", \"percent_off\": -5}", "percent_off", range);
    expect_create_error("{\"code\": \"X\", \"percent_off\": 100.01}", "percent_off", range);
    expect_create_error("{\"code\": \"X\", \"percent_off\": 1e300}", "percent_off", range);
    expect_create_error("{\"code\": \"X\", \"percent_off\": 12.345}", "percent_off",
                        "percent_off must have at most 2 decimal places");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"currency_code\": \"EUR\"}",
                        "currency_code",
                        "currency_code goes with amount_off only: a percentage applies in any "
                        "currency");

    expect_create_error("{\"code\": \"X\", \"amount_off\": 100}", "currency_code",
                        "currency_code is required with amount_off");
    expect_create_error("{\"code\": \"X\", \"amount_off\": \"100\", \"currency_code\": \"EUR\"}",
                        "amount_off", "amount_off must be a number");
    expect_create_error("{\"code\": \"X\", \"amount_off\": 0, \"currency_code\": \"EUR\"}",
                        "amount_off", "amount_off must be greater than 0");
    expect_create_error("{\"code\": \"X\", \"amount_off\": 10.5, \"currency_code\": \"EUR\"}",
                        "amount_off",
                        "amount_off must be a whole number of the currency's minor units");
    expect_create_error(
        "{\"code\": \"X\", \"amount_off\": 1000000000001, \"currency_code\": \"EUR\"}",
        "amount_off", "amount_off must not exceed 1000000000000");
    expect_create_error("{\"code\": \"X\", \"amount_off\": 100, \"currency_code\": \"eur\"}",
                        "currency_code", "Unsupported currency_code: eur");
    expect_create_error("{\"code\": \"X\", \"amount_off\": 100, \"currency_code\": 978}",
                        "currency_code", "currency_code must be a string");

    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"valid_from\": \"tomorrow\"}",
                        "valid_from", "valid_from must be an RFC 3339 date-time");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"valid_until\": 5}", "valid_until",
                        "valid_until must be an RFC 3339 date-time");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10,"
                        " \"valid_from\": \"2026-06-01T00:00:00Z\","
                        " \"valid_until\": \"2026-06-01T00:00:00Z\"}",
                        "valid_until", "valid_until must be after valid_from");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"max_redemptions\": 0}",
                        "max_redemptions", "max_redemptions must be at least 1");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"max_redemptions\": 1.5}",
                        "max_redemptions", "max_redemptions must be an integer");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"max_redemptions\": 2147483648}",
                        "max_redemptions", "max_redemptions must be at most 2147483647");

    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": []}", "applies_to",
                        "applies_to must be an object");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"prices\": []}}",
                        "applies_to", "Unknown parameter: applies_to.prices");
    expect_create_error(
        "{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"product_ids\": \"x\"}}",
        "applies_to.product_ids", "applies_to.product_ids must be an array of product ids");
    expect_create_error(
        "{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"product_ids\": [\"p\"]}}",
        "applies_to.product_ids", "applies_to.product_ids must hold product ids (UUIDs)");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"applies_to\": {\"product_ids\":"
                        " [\"0190a1b2-0000-7000-8000-000000000001\","
                        " \"0190A1B2-0000-7000-8000-000000000001\"]}}",
                        "applies_to.product_ids",
                        "applies_to.product_ids names 0190a1b2-0000-7000-8000-000000000001 twice");

    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"active\": 1}", "active",
                        "active must be a boolean");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"metadata\": []}", "metadata",
                        "metadata must be an object");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"times_redeemed\": 0}",
                        "times_redeemed", "Unknown parameter: times_redeemed");
    expect_create_error("{\"code\": \"X\", \"percent_off\": 10, \"coupon_id\": \"x\"}", "coupon_id",
                        "Unknown parameter: coupon_id");
}

Test(coupons, an_update_gives_only_the_changes_named)
{
    struct error err = ERROR_INIT;
    json_t *c = update("{}", &err);
    cr_assert_eq(json_object_size(c), 0, "nothing to change");
    json_decref(c);
    c = update("{\"active\": false, \"valid_until\": \"2027-01-01T00:00:00+01:00\","
               " \"max_redemptions\": 5, \"metadata\": {\"a\": \"b\"}}",
               &err);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert_eq(json_object_size(c), 4);
    cr_assert(json_is_false(json_object_get(c, "active")));
    cr_assert_str_eq(json_string_value(json_object_get(c, "valid_until")), "2026-12-31T23:00:00Z",
                     "in UTC");
    cr_assert_eq(json_integer_value(json_object_get(c, "max_redemptions")), 5);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(c, "metadata"), "a")), "b");
    json_decref(c);
    /* null removes the end, the limit, the metadata. */
    c = update("{\"valid_until\": null, \"max_redemptions\": null, \"metadata\": null}", &err);
    cr_assert_not_null(c, "%s", err.message);
    cr_assert(json_is_null(json_object_get(c, "valid_until")));
    cr_assert(json_is_null(json_object_get(c, "max_redemptions")));
    cr_assert_eq(json_object_size(json_object_get(c, "metadata")), 0);
    json_decref(c);
}

Test(coupons, update_messages)
{
    expect_update_error("{\"code\": \"OTHER\"}", "code", "code cannot be changed");
    expect_update_error("{\"percent_off\": 20}", "percent_off", "percent_off cannot be changed");
    expect_update_error("{\"amount_off\": 20}", "amount_off", "amount_off cannot be changed");
    expect_update_error("{\"applies_to\": {}}", "applies_to", "applies_to cannot be changed");
    expect_update_error("{\"valid_from\": null}", "valid_from", "valid_from cannot be changed");
    expect_update_error("{\"times_redeemed\": 0}", "times_redeemed",
                        "times_redeemed cannot be changed");
    expect_update_error("{\"name\": \"x\"}", "name", "Unknown parameter: name");
    expect_update_error("{\"active\": null}", "active", "active must be a boolean");
    expect_update_error("{\"valid_until\": \"soon\"}", "valid_until",
                        "valid_until must be an RFC 3339 date-time");
    expect_update_error("{\"max_redemptions\": 0}", "max_redemptions",
                        "max_redemptions must be at least 1");
    expect_update_error("{\"metadata\": 1}", "metadata", "metadata must be an object");
}

Test(coupons, an_update_that_needs_the_coupon_as_it_is)
{
    struct coupon current;
    struct error err = ERROR_INIT;
    cr_assert_eq(create("{\"code\": \"X\", \"percent_off\": 10,"
                        " \"valid_from\": \"2026-06-01T00:00:00Z\", \"max_redemptions\": 10}",
                        &current, &err),
                 C_OK, "%s", err.message);
    current.times_redeemed = 4;
    json_t *changes = update("{\"max_redemptions\": 3}", &err);
    cr_assert_eq(coupons_check_update(NULL, &who, &current, changes, &err), CATALOG_CHECK_INVALID);
    cr_assert_str_eq(err.param, "max_redemptions");
    cr_assert_str_eq(err.message, "max_redemptions must be at least times_redeemed (4)");
    json_decref(changes);
    changes = update("{\"max_redemptions\": 4}", &err);
    cr_assert_eq(coupons_check_update(NULL, &who, &current, changes, &err), CATALOG_CHECK_OK);
    json_decref(changes);
    changes = update("{\"valid_until\": \"2026-05-31T23:59:59Z\"}", &err);
    cr_assert_eq(coupons_check_update(NULL, &who, &current, changes, &err), CATALOG_CHECK_INVALID);
    cr_assert_str_eq(err.message, "valid_until must be after valid_from");
    json_decref(changes);
    changes = update("{\"valid_until\": null, \"max_redemptions\": null}", &err);
    cr_assert_eq(coupons_check_update(NULL, &who, &current, changes, &err), CATALOG_CHECK_OK);
    json_decref(changes);
    coupon_free(&current);
}

/* ---- coupons on sessions (the rules that need a coupon run against the stack) ---- */

Test(coupons, a_session_code_is_read_from_the_create_body)
{
    char code[COUPON_CODE_MAX + 1];
    struct error err = ERROR_INIT;
    json_t *body = parse("{\"amount\": 1}");
    cr_assert_eq(coupons_session_code(body, code, &err), C_OK);
    cr_assert_str_eq(code, "", "none");
    json_decref(body);
    body = parse("{\"coupon_code\": null}");
    cr_assert_eq(coupons_session_code(body, code, &err), C_OK);
    cr_assert_str_eq(code, "");
    json_decref(body);
    body = parse("{\"coupon_code\": \"summer10\"}");
    cr_assert_eq(coupons_session_code(body, code, &err), C_OK);
    cr_assert_str_eq(code, "summer10", "as given: the lookup ignores case");
    json_decref(body);
    body = parse("{\"coupon_code\": 10}");
    cr_assert_eq(coupons_session_code(body, code, &err), C_ERR);
    cr_assert_str_eq(err.param, "coupon_code");
    cr_assert_str_eq(err.message, "coupon_code must be a string");
    json_decref(body);
    /* What cannot be a code names no coupon. */
    body = parse("{\"coupon_code\": \"10 % off\"}");
    cr_assert_eq(coupons_session_code(body, code, &err), C_ERR);
    cr_assert_str_eq(err.message, "No coupon with code 10 % off");
    json_decref(body);
}

Test(coupons, a_session_without_a_code_totals_its_amount_without_a_query)
{
    struct session s;
    cr_assert_eq(session_init(&s), C_OK);
    s.amount = 15000;
    struct error err = ERROR_INIT;
    /* No database: a query would crash on it. */
    cr_assert_eq(coupons_apply_to_session(NULL, &who, "", 1767225600, &s, &err), CATALOG_CHECK_OK);
    cr_assert_eq(s.amount_subtotal, 15000);
    cr_assert_eq(s.amount_discount, 0);
    cr_assert_eq(s.amount_total, 15000);
    cr_assert_str_eq(s.coupon_id, "");
    cr_assert_null(s.coupon_code);
    session_free(&s);
}
