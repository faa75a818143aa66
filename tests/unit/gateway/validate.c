/* Request validation: every rule of api.md's POST and GET /checkout-sessions
 * tables, with the exact message and param a client sees. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/validate.h"
#include "../leak_check.h"

#define NOW 1705314600 /* 2024-01-15T10:30:00Z */
#define VALID_UUID "123e4567-e89b-12d3-a456-426614174000"

static const struct validate_create_options options = {
    .default_currency = "XOF",
    .now = NOW,
    .default_ttl_seconds = 3600,
    .min_ttl_seconds = 1800,
    .max_ttl_seconds = 86400,
};

static json_t *parse(const char *text)
{
    json_error_t jerr;
    /* JSON_ALLOW_NUL: the validator, not the parser, must stop "\u0000". */
    json_t *j = json_loads(text, JSON_ALLOW_NUL, &jerr);
    cr_assert_not_null(j, "test body does not parse: %s (%s)", jerr.text, text);
    return j;
}

/* Validates body (a JSON text) into *s, which the caller frees. */
static int run_body(const json_t *body, struct session *s, struct error *err)
{
    cr_assert_eq(session_init(s), C_OK);
    memset(err, 0, sizeof(*err));
    return validate_create_request(body, &options, s, err);
}

static int run(const char *text, struct session *s, struct error *err)
{
    json_t *body = parse(text);
    int rc = run_body(body, s, err);
    json_decref(body);
    return rc;
}

static void expect_ok(const char *text, struct session *s)
{
    struct error err;
    int rc = run(text, s, &err);
    cr_assert_eq(rc, C_OK, "rejected %s: %s (%s)", text, err.message, err.param);
}

static void expect_error_body(const json_t *body, const char *param, const char *message)
{
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_ERR, "accepted a body that must fail with: %s",
                 message);
    cr_assert_str_eq(err.message, message);
    cr_assert_str_eq(err.param, param);
    session_free(&s);
}

static void expect_error(const char *text, const char *param, const char *message)
{
    json_t *body = parse(text);
    expect_error_body(body, param, message);
    json_decref(body);
}

/* A valid body with one more member: "{"amount":...,member}". */
#define WITH(member) "{\"amount\":1000,\"customer_email\":\"a@example.com\"," member "}"

/* A string of n copies of the UTF-8 character c. */
static char *repeat(const char *c, size_t n)
{
    size_t len = strlen(c);
    char *s = malloc(len * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * len, c, len);
    s[len * n] = '\0';
    return s;
}

/* {"amount":1000,"customer_email":"a@example.com", name: value} */
static json_t *body_with(const char *name, json_t *value)
{
    json_t *body = parse(WITH("\"title\":null"));
    json_object_del(body, "title");
    cr_assert_eq(json_object_set_new(body, name, value), 0);
    return body;
}

static void expect_string_error(const char *name, const char *value, const char *param,
                                const char *message)
{
    json_t *body = body_with(name, json_string(value));
    expect_error_body(body, param, message);
    json_decref(body);
}

static void expect_string_ok(const char *name, const char *value)
{
    json_t *body = body_with(name, json_string(value));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s rejected: %s", name, err.message);
    session_free(&s);
    json_decref(body);
}

/* ---- the body as a whole ---------------------------------------------- */

TestSuite(validate, .fini = unit_leak_check);

Test(validate, create_accepts_the_seed_request_and_fills_every_field)
{
    struct session s;
    expect_ok("{\"amount\": 10000.0, \"currency_code\": \"XOF\","
              " \"title\": \"Premium Subscription\","
              " \"description\": \"Monthly subscription to premium features\","
              " \"customer_email\": \"john@example.com\", \"customer_name\": \"John Doe\","
              " \"customer_phone\": \"+221771234567\","
              " \"product_id\": \"123e4567-e89b-12d3-a456-426614174000\","
              " \"price_id\": \"321e4567-e89b-12d3-a456-426614174000\","
              " \"allow_quantity\": false, \"quantity\": 1,"
              " \"success_url\": \"https://example.com/success\","
              " \"cancel_url\": \"https://example.com/cancel\","
              " \"allow_coupon_code\": true, \"require_billing_address\": true,"
              " \"metadata\": {\"order_id\": \"ORDER-12345\"}}",
              &s);
    cr_assert_eq(s.amount, 10000);
    cr_assert_str_eq(s.currency_code, "XOF");
    cr_assert_str_eq(s.title, "Premium Subscription");
    cr_assert_str_eq(s.description, "Monthly subscription to premium features");
    cr_assert_str_eq(s.customer_id, "");
    cr_assert_str_eq(s.customer_email, "john@example.com");
    cr_assert_str_eq(s.customer_name, "John Doe");
    cr_assert_str_eq(s.customer_phone, "+221771234567");
    cr_assert_str_eq(s.product_id, "123e4567-e89b-12d3-a456-426614174000");
    cr_assert_str_eq(s.price_id, "321e4567-e89b-12d3-a456-426614174000");
    cr_assert_str_eq(s.subscription_id, "");
    cr_assert_not(s.allow_quantity);
    cr_assert_eq(s.quantity, 1);
    cr_assert_str_eq(s.success_url, "https://example.com/success");
    cr_assert_str_eq(s.cancel_url, "https://example.com/cancel");
    cr_assert(s.allow_coupon_code);
    cr_assert(s.require_billing_address);
    cr_assert_str_eq(json_string_value(json_object_get(s.metadata, "order_id")), "ORDER-12345");
    cr_assert_eq(json_object_size(s.metadata), 1);
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
}

Test(validate, create_applies_defaults_for_everything_optional)
{
    struct session s;
    expect_ok("{\"amount\": 5000, \"customer_email\": \"customer@example.com\"}", &s);
    cr_assert_str_eq(s.currency_code, "XOF");
    cr_assert_eq(s.quantity, 1);
    cr_assert_not(s.allow_quantity);
    cr_assert_not(s.allow_coupon_code);
    cr_assert_not(s.require_billing_address);
    cr_assert_null(s.title);
    cr_assert_null(s.success_url);
    cr_assert_eq(json_object_size(s.metadata), 0);
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
}

Test(validate, create_treats_null_as_absent)
{
    struct session s;
    expect_ok("{\"amount\": 5000, \"customer_email\": \"c@example.com\", \"currency_code\": null,"
              " \"title\": null, \"customer_id\": null, \"quantity\": null,"
              " \"allow_quantity\": null, \"metadata\": null, \"expires_at\": null,"
              " \"success_url\": null, \"product_id\": null}",
              &s);
    cr_assert_str_eq(s.currency_code, "XOF");
    cr_assert_null(s.title);
    cr_assert_eq(s.quantity, 1);
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
}

Test(validate, create_rejects_a_body_that_is_not_an_object)
{
    expect_error("[]", "", "Request body must be a JSON object");
    json_t *s = json_string("amount");
    expect_error_body(s, "", "Request body must be a JSON object");
    json_decref(s);
}

Test(validate, create_rejects_an_unknown_parameter_by_name)
{
    expect_error(WITH("\"colour\":\"red\""), "colour", "Unknown parameter: colour");
}

Test(validate, create_rejects_response_only_fields_as_unknown)
{
    expect_error(WITH("\"status\":\"complete\""), "status", "Unknown parameter: status");
    expect_error(WITH("\"organization_id\":\"" VALID_UUID "\""), "organization_id",
                 "Unknown parameter: organization_id");
    expect_error(WITH("\"environment\":\"live\""), "environment", "Unknown parameter: environment");
}

Test(validate, create_names_unknown_parameters_before_any_other_error)
{
    expect_error("{\"amount\": -1, \"zzz\": 1}", "zzz", "Unknown parameter: zzz");
}

Test(validate, create_truncates_a_very_long_unknown_parameter_name)
{
    char *name = repeat("k", 100);
    json_t *body = body_with(name, json_true());
    char expected_param[64], expected_message[128];
    snprintf(expected_param, sizeof(expected_param), "%.63s", name);
    snprintf(expected_message, sizeof(expected_message), "Unknown parameter: %.63s", name);
    expect_error_body(body, expected_param, expected_message);
    json_decref(body);
    free(name);
}

/* ---- amount ----------------------------------------------------------- */

Test(validate, create_rejects_missing_amount)
{
    expect_error("{\"customer_email\": \"a@example.com\"}", "amount", "amount is required");
    expect_error("{\"amount\": null, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount is required");
}

Test(validate, create_rejects_non_numeric_amount)
{
    expect_error("{\"amount\": \"10000\", \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be a number");
    expect_error("{\"amount\": true, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be a number");
    expect_error("{\"amount\": [1], \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be a number");
}

Test(validate, create_rejects_fractional_xof_amount)
{
    expect_error("{\"amount\": 10000.5, \"currency_code\": \"XOF\","
                 " \"customer_email\": \"a@example.com\"}",
                 "amount", "amount must be a whole number of the currency's minor units");
}

Test(validate, create_rejects_fractional_usd_amount_because_amounts_are_minor_units)
{
    expect_error("{\"amount\": 10.99, \"currency_code\": \"USD\","
                 " \"customer_email\": \"a@example.com\"}",
                 "amount", "amount must be a whole number of the currency's minor units");
}

Test(validate, create_accepts_whole_real_amount)
{
    struct session s;
    expect_ok("{\"amount\": 10000.0, \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 10000);
    session_free(&s);
    expect_ok("{\"amount\": 1e3, \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 1000);
    session_free(&s);
}

Test(validate, create_accepts_usd_minor_units)
{
    struct session s;
    expect_ok("{\"amount\": 1000, \"currency_code\": \"USD\", \"customer_email\": \"a@b.co\"}", &s);
    cr_assert_eq(s.amount, 1000);
    cr_assert_str_eq(s.currency_code, "USD");
    session_free(&s);
}

Test(validate, create_rejects_zero_and_negative_amounts)
{
    expect_error("{\"amount\": 0, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be greater than 0");
    expect_error("{\"amount\": -5, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be greater than 0");
    expect_error("{\"amount\": -0.0, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must be greater than 0");
}

Test(validate, create_accepts_amount_of_exactly_10_to_the_12)
{
    struct session s;
    expect_ok("{\"amount\": 1000000000000, \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 1000000000000LL);
    session_free(&s);
    expect_ok("{\"amount\": 1e12, \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 1000000000000LL);
    session_free(&s);
    expect_ok("{\"amount\": 1, \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 1);
    session_free(&s);
}

Test(validate, create_rejects_amount_over_10_to_the_12)
{
    expect_error("{\"amount\": 1000000000001, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must not exceed 1000000000000");
    expect_error("{\"amount\": 1e13, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must not exceed 1000000000000");
    expect_error("{\"amount\": 1e300, \"customer_email\": \"a@example.com\"}", "amount",
                 "amount must not exceed 1000000000000");
    expect_error("{\"amount\": 9223372036854775807, \"customer_email\": \"a@example.com\"}",
                 "amount", "amount must not exceed 1000000000000");
}

/* ---- currency_code ---------------------------------------------------- */

Test(validate, create_defaults_currency_to_the_organizations)
{
    struct validate_create_options xaf = options;
    xaf.default_currency = "XAF";
    json_t *body = parse("{\"amount\": 1, \"customer_email\": \"a@example.com\"}");
    struct session s;
    struct error err;
    cr_assert_eq(session_init(&s), C_OK);
    cr_assert_eq(validate_create_request(body, &xaf, &s, &err), C_OK);
    cr_assert_str_eq(s.currency_code, "XAF");
    session_free(&s);
    json_decref(body);
}

Test(validate, create_accepts_every_currency_api_md_requires)
{
    static const char *const codes[] = {"XOF", "XAF", "EUR", "USD", "GHS", "NGN", "KES", "GNF"};
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        json_t *body = body_with("currency_code", json_string(codes[i]));
        struct session s;
        struct error err;
        cr_assert_eq(run_body(body, &s, &err), C_OK, "%s: %s", codes[i], err.message);
        cr_assert_str_eq(s.currency_code, codes[i]);
        session_free(&s);
        json_decref(body);
    }
}

Test(validate, create_rejects_unsupported_currency)
{
    expect_error(WITH("\"currency_code\":\"ABC\""), "currency_code",
                 "Unsupported currency_code: ABC");
    expect_error(WITH("\"currency_code\":\"xof\""), "currency_code",
                 "Unsupported currency_code: xof");
    expect_error(WITH("\"currency_code\":\"\""), "currency_code", "Unsupported currency_code: ");
    expect_error(WITH("\"currency_code\":\"XOFX\""), "currency_code",
                 "Unsupported currency_code: XOFX");
}

Test(validate, create_bounds_the_unsupported_currency_it_echoes)
{
    expect_error(WITH("\"currency_code\":\"ABCDEFGHIJKLMNOPQRSTUVWXYZ\""), "currency_code",
                 "Unsupported currency_code: ABCDEFGHIJKLMNO");
}

Test(validate, create_rejects_non_string_currency)
{
    expect_error(WITH("\"currency_code\":978"), "currency_code", "currency_code must be a string");
}

Test(validate, create_rejects_currency_with_nul_character)
{
    expect_error(WITH("\"currency_code\":\"XOF\\u0000X\""), "currency_code",
                 "currency_code must not contain NUL characters");
}

/* ---- customer --------------------------------------------------------- */

Test(validate, create_requires_customer_id_or_customer_email)
{
    expect_error("{\"amount\": 1}", "customer_email",
                 "Either customer_id or customer_email is required");
    expect_error("{\"amount\": 1, \"customer_id\": null, \"customer_email\": null}",
                 "customer_email", "Either customer_id or customer_email is required");
    expect_error("{\"amount\": 1, \"customer_name\": \"John Doe\"}", "customer_email",
                 "Either customer_id or customer_email is required");
}

Test(validate, create_accepts_customer_id_alone_in_canonical_lower_case)
{
    struct session s;
    expect_ok("{\"amount\": 1, \"customer_id\": \"123E4567-E89B-12D3-A456-426614174000\"}", &s);
    cr_assert_str_eq(s.customer_id, VALID_UUID);
    cr_assert_null(s.customer_email);
    session_free(&s);
}

Test(validate, create_accepts_customer_id_and_email_together)
{
    struct session s;
    expect_ok("{\"amount\": 1, \"customer_id\": \"" VALID_UUID "\","
              " \"customer_email\": \"john@example.com\"}",
              &s);
    cr_assert_str_eq(s.customer_id, VALID_UUID);
    cr_assert_str_eq(s.customer_email, "john@example.com");
    session_free(&s);
}

Test(validate, create_rejects_malformed_customer_id)
{
    expect_error("{\"amount\": 1, \"customer_id\": \"customer-id\"}", "customer_id",
                 "customer_id must be a UUID");
    expect_error("{\"amount\": 1, \"customer_id\": 42}", "customer_id",
                 "customer_id must be a UUID");
    expect_error("{\"amount\": 1, \"customer_id\": \"\", \"customer_email\": \"a@example.com\"}",
                 "customer_id", "customer_id must be a UUID");
}

Test(validate, create_rejects_malformed_customer_email)
{
    static const char *const bad[] = {
        "john",
        "john@",
        "@example.com",
        "john@example",
        "john@@example.com",
        "jo hn@example.com",
        "john@exa mple.com",
        ".john@example.com",
        "john.@example.com",
        "jo..hn@example.com",
        "john@.example.com",
        "john@example.com.",
        "john@-example.com",
        "john@example..com",
        "john@exam_ple.com",
        "\"john\"@example.com",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *body = parse("{\"amount\": 1}");
        json_object_set_new(body, "customer_email", json_string(bad[i]));
        expect_error_body(body, "customer_email", "customer_email must be a valid email address");
        json_decref(body);
    }
}

Test(validate, create_rejects_non_string_customer_email)
{
    expect_error("{\"amount\": 1, \"customer_email\": 5}", "customer_email",
                 "customer_email must be a string");
}

Test(validate, create_accepts_customer_email_of_254_characters)
{
    /* 64-character local part (the maximum) + "@" + 189-character domain. */
    char *local = repeat("l", 64);
    char *label = repeat("d", 60);
    char email[300];
    snprintf(email, sizeof(email), "%s@%s.%s.%s.%s", local, label, label, label, "exampl");
    cr_assert_eq(strlen(email), 254, "fixture is %zu long", strlen(email));
    json_t *body = parse("{\"amount\": 1}");
    json_object_set_new(body, "customer_email", json_string(email));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(s.customer_email, email);
    session_free(&s);
    json_decref(body);
    free(local);
    free(label);
}

Test(validate, create_rejects_customer_email_over_254_characters)
{
    char *local = repeat("l", 64);
    char *label = repeat("d", 60);
    char email[300];
    snprintf(email, sizeof(email), "%s@%s.%s.%s.%s", local, label, label, label, "example");
    cr_assert_eq(strlen(email), 255);
    json_t *body = parse("{\"amount\": 1}");
    json_object_set_new(body, "customer_email", json_string(email));
    expect_error_body(body, "customer_email", "customer_email must be at most 254 characters");
    json_decref(body);
    free(local);
    free(label);
}

Test(validate, create_rejects_customer_email_local_part_over_64_characters)
{
    char *local = repeat("l", 65);
    char email[100];
    snprintf(email, sizeof(email), "%s@example.com", local);
    json_t *body = parse("{\"amount\": 1}");
    json_object_set_new(body, "customer_email", json_string(email));
    expect_error_body(body, "customer_email", "customer_email must be a valid email address");
    json_decref(body);
    free(local);
}

Test(validate, create_rejects_customer_email_with_nul_character)
{
    expect_error("{\"amount\": 1, \"customer_email\": \"a@example.com\\u0000x\"}", "customer_email",
                 "customer_email must not contain NUL characters");
}

Test(validate, create_accepts_customer_name_of_250_characters_counting_code_points)
{
    /* 250 characters but 500 bytes: the limit is in characters. */
    char *name = repeat("é", 250);
    expect_string_ok("customer_name", name);
    free(name);
}

Test(validate, create_rejects_customer_name_over_250_characters)
{
    char *name = repeat("n", 251);
    expect_string_error("customer_name", name, "customer_name",
                        "customer_name must be at most 250 characters");
    free(name);
}

Test(validate, create_rejects_non_string_customer_name)
{
    expect_error(WITH("\"customer_name\":{}"), "customer_name", "customer_name must be a string");
}

Test(validate, create_accepts_e164_phones_of_8_to_15_digits)
{
    expect_string_ok("customer_phone", "+221771234567");
    expect_string_ok("customer_phone", "+12345678");
    expect_string_ok("customer_phone", "+123456789012345");
}

Test(validate, create_rejects_phones_that_are_not_e164)
{
    static const char *const bad[] = {
        "221771234567",      /* no + */
        "+1234567",          /* 7 digits */
        "+1234567890123456", /* 16 digits */
        "+22177123456a",
        "+221 77 123 45 67",
        "+221-77-123-45-67",
        "+0221771234567", /* country codes never start with 0 */
        "+",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_string_error("customer_phone", bad[i], "customer_phone",
                            "customer_phone must be in E.164 format (+ followed by 8 to 15 "
                            "digits)");
}

Test(validate, create_rejects_non_string_phone)
{
    expect_error(WITH("\"customer_phone\":221771234567"), "customer_phone",
                 "customer_phone must be a string");
}

/* ---- title, description ----------------------------------------------- */

Test(validate, create_accepts_title_of_250_and_description_of_2000_characters)
{
    char *title = repeat("t", 250);
    char *description = repeat("ü", 2000);
    json_t *body = body_with("title", json_string(title));
    json_object_set_new(body, "description", json_string(description));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(s.title, title);
    cr_assert_str_eq(s.description, description);
    session_free(&s);
    json_decref(body);
    free(title);
    free(description);
}

Test(validate, create_rejects_title_over_250_characters)
{
    char *title = repeat("t", 251);
    expect_string_error("title", title, "title", "title must be at most 250 characters");
    free(title);
}

Test(validate, create_rejects_description_over_2000_characters)
{
    char *description = repeat("d", 2001);
    expect_string_error("description", description, "description",
                        "description must be at most 2000 characters");
    free(description);
}

Test(validate, create_rejects_non_string_title_and_description)
{
    expect_error(WITH("\"title\":5"), "title", "title must be a string");
    expect_error(WITH("\"description\":[\"x\"]"), "description", "description must be a string");
}

Test(validate, create_rejects_text_with_nul_character)
{
    expect_error(WITH("\"title\":\"a\\u0000b\""), "title", "title must not contain NUL characters");
    expect_error(WITH("\"description\":\"\\u0000\""), "description",
                 "description must not contain NUL characters");
}

/* ---- product_id, price_id, subscription_id ---------------------------- */

Test(validate, create_accepts_optional_ids_in_canonical_lower_case)
{
    struct session s;
    expect_ok(WITH("\"product_id\":\"AAAAAAAA-BBBB-4CCC-8DDD-EEEEEEEEEEEE\","
                   "\"price_id\":\"" VALID_UUID "\",\"subscription_id\":\"" VALID_UUID "\""),
              &s);
    cr_assert_str_eq(s.product_id, "aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee");
    cr_assert_str_eq(s.price_id, VALID_UUID);
    cr_assert_str_eq(s.subscription_id, VALID_UUID);
    session_free(&s);
}

Test(validate, create_rejects_malformed_optional_ids)
{
    /* The seed's own examples use placeholders like these: they are not UUIDs. */
    expect_error(WITH("\"product_id\":\"premium-plan-id\""), "product_id",
                 "product_id must be a UUID");
    expect_error(WITH("\"price_id\":\"monthly-price-id\""), "price_id", "price_id must be a UUID");
    expect_error(WITH("\"subscription_id\":7"), "subscription_id",
                 "subscription_id must be a UUID");
}

/* ---- booleans --------------------------------------------------------- */

Test(validate, create_accepts_booleans)
{
    struct session s;
    expect_ok(WITH("\"allow_quantity\":true,\"allow_coupon_code\":true,"
                   "\"require_billing_address\":false"),
              &s);
    cr_assert(s.allow_quantity);
    cr_assert(s.allow_coupon_code);
    cr_assert_not(s.require_billing_address);
    session_free(&s);
}

Test(validate, create_rejects_boolean_look_alikes)
{
    expect_error(WITH("\"allow_quantity\":\"true\""), "allow_quantity",
                 "allow_quantity must be a boolean");
    expect_error(WITH("\"allow_coupon_code\":1"), "allow_coupon_code",
                 "allow_coupon_code must be a boolean");
    expect_error(WITH("\"require_billing_address\":\"yes\""), "require_billing_address",
                 "require_billing_address must be a boolean");
}

/* ---- quantity --------------------------------------------------------- */

Test(validate, create_accepts_quantity_from_1_to_10000)
{
    struct session s;
    expect_ok(WITH("\"quantity\":1"), &s);
    cr_assert_eq(s.quantity, 1);
    session_free(&s);
    expect_ok(WITH("\"quantity\":10000"), &s);
    cr_assert_eq(s.quantity, 10000);
    session_free(&s);
    expect_ok(WITH("\"quantity\":3.0"), &s);
    cr_assert_eq(s.quantity, 3);
    session_free(&s);
}

Test(validate, create_rejects_quantity_below_1_with_the_seed_message)
{
    expect_error(WITH("\"quantity\":0"), "quantity", "Quantity must be greater than 0");
    expect_error(WITH("\"quantity\":-3"), "quantity", "Quantity must be greater than 0");
}

Test(validate, create_rejects_quantity_over_10000)
{
    expect_error(WITH("\"quantity\":10001"), "quantity", "quantity must be at most 10000");
    expect_error(WITH("\"quantity\":4294967297"), "quantity", "quantity must be at most 10000");
}

Test(validate, create_rejects_non_integer_quantity)
{
    expect_error(WITH("\"quantity\":2.5"), "quantity", "quantity must be an integer");
    expect_error(WITH("\"quantity\":\"2\""), "quantity", "quantity must be an integer");
    expect_error(WITH("\"quantity\":true"), "quantity", "quantity must be an integer");
}

/* ---- success_url, cancel_url ------------------------------------------ */

Test(validate, create_accepts_absolute_http_and_https_urls)
{
    struct session s;
    expect_ok(WITH("\"success_url\":\"https://mystore.com/orders/42/success?x=1#top\","
                   "\"cancel_url\":\"HTTP://localhost:3000/cart\""),
              &s);
    cr_assert_str_eq(s.success_url, "https://mystore.com/orders/42/success?x=1#top");
    cr_assert_str_eq(s.cancel_url, "HTTP://localhost:3000/cart");
    session_free(&s);
}

Test(validate, create_rejects_urls_that_are_not_absolute_http)
{
    static const char *const bad[] = {
        "ftp://example.com/x",
        "/relative/path",
        "example.com/success",
        "https://",
        "https:///path",
        "https://:443/x",
        "https://?q=1",
        "https://exa mple.com/",
        "javascript:alert(1)",
        "https://example.com/<script>",
        "",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        expect_string_error("success_url", bad[i], "success_url",
                            "success_url must be an absolute http or https URL");
        expect_string_error("cancel_url", bad[i], "cancel_url",
                            "cancel_url must be an absolute http or https URL");
    }
}

Test(validate, create_accepts_url_of_2048_characters)
{
    char url[2049];
    memset(url, 'p', sizeof(url) - 1);
    memcpy(url, "https://example.com/", 20);
    url[2048] = '\0';
    expect_string_ok("success_url", url);
}

Test(validate, create_rejects_url_over_2048_characters)
{
    char url[2050];
    memset(url, 'p', sizeof(url) - 1);
    memcpy(url, "https://example.com/", 20);
    url[2049] = '\0';
    expect_string_error("cancel_url", url, "cancel_url",
                        "cancel_url must be at most 2048 characters");
}

Test(validate, create_rejects_non_string_url)
{
    expect_error(WITH("\"success_url\":true"), "success_url", "success_url must be a string");
}

/* ---- metadata --------------------------------------------------------- */

Test(validate, create_accepts_metadata_strings_numbers_and_booleans)
{
    struct session s;
    expect_ok(WITH("\"metadata\":{\"order_id\":\"ORDER-12345\",\"n\":3,\"r\":1.5,\"b\":false}"),
              &s);
    char *text = json_dumps(s.metadata, JSON_COMPACT);
    cr_assert_str_eq(text, "{\"order_id\":\"ORDER-12345\",\"n\":3,\"r\":1.5,\"b\":false}");
    free(text);
    session_free(&s);
}

Test(validate, create_copies_metadata_rather_than_sharing_the_body)
{
    json_t *body = parse(WITH("\"metadata\":{\"k\":\"v\"}"));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK);
    json_object_set_new(json_object_get(body, "metadata"), "k", json_string("changed"));
    json_decref(body);
    cr_assert_str_eq(json_string_value(json_object_get(s.metadata, "k")), "v");
    session_free(&s);
}

Test(validate, create_accepts_the_seeds_cart_items_pattern)
{
    /* metadata.cart_items = JSON.stringify(cart): a long string, not an array. */
    char cart[1900] = "[";
    for (int i = 0; i < 40; i++) {
        char item[60];
        snprintf(item, sizeof(item), "%s{\"sku\":\"SKU-%04d\",\"price\":1500,\"quantity\":2}",
                 i > 0 ? "," : "", i);
        strncat(cart, item, sizeof(cart) - strlen(cart) - 2);
    }
    strncat(cart, "]", sizeof(cart) - strlen(cart) - 1);
    cr_assert_gt(strlen(cart), 1700);
    json_t *metadata = json_pack("{ss ss}", "order_id", "ORDER-1", "cart_items", cart);
    json_t *body = body_with("metadata", metadata);
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    cr_assert_str_eq(json_string_value(json_object_get(s.metadata, "cart_items")), cart);
    session_free(&s);
    json_decref(body);
}

Test(validate, create_keeps_metadata_numbers_within_int64s_range)
{
    struct session s;
    expect_ok(WITH("\"metadata\":{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                   "\"big\":9.2e18,\"tiny\":1e-300}"),
              &s);
    session_free(&s);
    /* PostgreSQL gives these back as integers past int64, which no reader parses. */
    const char *msg = "metadata numbers must be from -9223372036854775808 to 9223372036854775807";
    expect_error(WITH("\"metadata\":{\"n\":-1.2818525023491732e+77}"), "metadata", msg);
    expect_error(WITH("\"metadata\":{\"n\":9.3e18}"), "metadata", msg);
    expect_error(WITH("\"metadata\":{\"n\":1e300}"), "metadata", msg);
}

Test(validate, create_rejects_metadata_that_is_not_an_object)
{
    expect_error(WITH("\"metadata\":[\"a\"]"), "metadata", "metadata must be an object");
    expect_error(WITH("\"metadata\":\"order=1\""), "metadata", "metadata must be an object");
}

static json_t *metadata_with_keys(int n)
{
    json_t *m = json_object();
    for (int i = 0; i < n; i++) {
        char key[16];
        snprintf(key, sizeof(key), "k%d", i);
        json_object_set_new(m, key, json_integer(i));
    }
    return m;
}

Test(validate, create_accepts_metadata_with_50_keys)
{
    json_t *body = body_with("metadata", metadata_with_keys(50));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    cr_assert_eq(json_object_size(s.metadata), 50);
    session_free(&s);
    json_decref(body);
}

Test(validate, create_rejects_metadata_with_51_keys)
{
    json_t *body = body_with("metadata", metadata_with_keys(51));
    expect_error_body(body, "metadata", "metadata must have at most 50 keys");
    json_decref(body);
}

Test(validate, create_accepts_metadata_key_of_40_characters)
{
    char *key = repeat("ß", 40);
    json_t *m = json_object();
    json_object_set_new(m, key, json_string("v"));
    json_t *body = body_with("metadata", m);
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    session_free(&s);
    json_decref(body);
    free(key);
}

Test(validate, create_rejects_metadata_key_over_40_characters_or_empty)
{
    char *key = repeat("k", 41);
    json_t *m = json_object();
    json_object_set_new(m, key, json_string("v"));
    json_t *body = body_with("metadata", m);
    expect_error_body(body, "metadata", "metadata keys must be 1 to 40 characters");
    json_decref(body);
    free(key);
    expect_error(WITH("\"metadata\":{\"\":\"v\"}"), "metadata",
                 "metadata keys must be 1 to 40 characters");
}

Test(validate, create_accepts_metadata_value_of_2000_characters)
{
    char *value = repeat("€", 2000);
    json_t *body = body_with("metadata", json_pack("{ss}", "v", value));
    struct session s;
    struct error err;
    cr_assert_eq(run_body(body, &s, &err), C_OK, "%s", err.message);
    session_free(&s);
    json_decref(body);
    free(value);
}

Test(validate, create_rejects_metadata_value_over_2000_characters)
{
    char *value = repeat("v", 2001);
    json_t *body = body_with("metadata", json_pack("{ss}", "v", value));
    expect_error_body(body, "metadata", "metadata values must be at most 2000 characters");
    json_decref(body);
    free(value);
}

Test(validate, create_rejects_metadata_values_that_are_not_scalars)
{
    expect_error(WITH("\"metadata\":{\"a\":null}"), "metadata",
                 "metadata values must be strings, numbers or booleans");
    expect_error(WITH("\"metadata\":{\"a\":{\"b\":1}}"), "metadata",
                 "metadata values must be strings, numbers or booleans");
    expect_error(WITH("\"metadata\":{\"a\":[1,2]}"), "metadata",
                 "metadata values must be strings, numbers or booleans");
}

/* Found by tests/fuzz/gateway/validate_webhook_endpoint_update.c (with
 * tests/fuzz/jsonb_model.c): PostgreSQL's jsonb gives 1e19 back as
 * 10000000000000000000, an integer jansson refuses, so the stored row could
 * never be read again (reads failed with 503, the expiry sweep claiming it
 * failed for every tenant). */
Test(validate, create_rejects_metadata_reals_outside_int64)
{
    static const char *const refused[] = {"1e19",
                                          "-1e19",
                                          "9223372036854775808.0",
                                          "-9223372036854777856.0",
                                          "1.7976931348623157e308",
                                          "90900199999999999999999999910000.0993"};
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body), WITH("\"metadata\":{\"n\":%s}"), refused[i]);
        expect_error(body, "metadata",
                     "metadata numbers must be from -9223372036854775808 to "
                     "9223372036854775807");
    }
}

Test(validate, create_accepts_metadata_numbers_postgresql_gives_back_readable)
{
    static const char *const accepted[] = {"1e18",
                                           "-9223372036854775808.0",
                                           "9223372036854774784.0",
                                           "9223372036854775807",
                                           "-9223372036854775808",
                                           "1.5e-300",
                                           "0.1"};
    for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
        char body[200];
        snprintf(body, sizeof(body), WITH("\"metadata\":{\"n\":%s}"), accepted[i]);
        struct session s;
        expect_ok(body, &s);
        session_free(&s);
    }
}

Test(validate, create_rejects_metadata_value_with_nul_character)
{
    expect_error(WITH("\"metadata\":{\"a\":\"x\\u0000y\"}"), "metadata",
                 "metadata values must not contain NUL characters");
}

/* ---- expires_at ------------------------------------------------------- */

Test(validate, create_defaults_expires_at_to_now_plus_the_default_ttl)
{
    struct session s;
    expect_ok(WITH("\"title\":\"x\""), &s);
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
}

Test(validate, create_accepts_expires_at_between_30_minutes_and_24_hours)
{
    struct session s;
    expect_ok(WITH("\"expires_at\":\"2024-01-15T11:00:00Z\""), &s); /* now + 30 min */
    cr_assert_eq(s.expires_at, NOW + 1800);
    session_free(&s);
    expect_ok(WITH("\"expires_at\":\"2024-01-16T10:30:00Z\""), &s); /* now + 24 h */
    cr_assert_eq(s.expires_at, NOW + 86400);
    session_free(&s);
    expect_ok(WITH("\"expires_at\":\"2024-01-15T13:30:00+02:00\""), &s); /* now + 1 h */
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
    expect_ok(WITH("\"expires_at\":\"2024-01-15t11:30:00.750z\""), &s);
    cr_assert_eq(s.expires_at, NOW + 3600);
    session_free(&s);
}

Test(validate, create_rejects_expires_at_under_30_minutes_or_past)
{
    const char *msg = "expires_at must be between 30 minutes and 24 hours from now";
    expect_error(WITH("\"expires_at\":\"2024-01-15T10:59:59Z\""), "expires_at", msg);
    expect_error(WITH("\"expires_at\":\"2024-01-15T10:00:00Z\""), "expires_at", msg);
}

Test(validate, create_rejects_expires_at_over_24_hours)
{
    expect_error(WITH("\"expires_at\":\"2024-01-16T10:30:01Z\""), "expires_at",
                 "expires_at must be between 30 minutes and 24 hours from now");
}

Test(validate, create_rejects_expires_at_that_is_not_rfc3339)
{
    const char *msg = "expires_at must be an RFC 3339 date-time";
    expect_error(WITH("\"expires_at\":\"tomorrow\""), "expires_at", msg);
    expect_error(WITH("\"expires_at\":\"2024-01-15 11:30:00\""), "expires_at", msg);
    expect_error(WITH("\"expires_at\":\"2024-01-15T11:30:00\""), "expires_at", msg);
    expect_error(WITH("\"expires_at\":1705318200"), "expires_at", msg);
    expect_error(WITH("\"expires_at\":\"2024-02-30T11:30:00Z\""), "expires_at", msg);
}

/* ---- GET /checkout-sessions query ------------------------------------- */

static void expect_list_error(const char *status, const char *limit, const char *offset,
                              const char *starting_after, const char *param, const char *message)
{
    struct session_list_query q, before;
    memset(&q, 0x5a, sizeof(q));
    before = q;
    struct error err;
    memset(&err, 0, sizeof(err));
    cr_assert_eq(validate_list_query(status, limit, offset, starting_after, &q, &err), C_ERR,
                 "accepted, expected: %s", message);
    cr_assert_str_eq(err.message, message);
    cr_assert_str_eq(err.param, param);
    cr_assert_eq(memcmp(&q, &before, sizeof(q)), 0, "a rejected query must not touch *out");
}

Test(validate, list_defaults_to_limit_20_offset_0_no_filter)
{
    struct session_list_query q;
    struct error err;
    cr_assert_eq(validate_list_query(NULL, NULL, NULL, NULL, &q, &err), C_OK);
    cr_assert_eq(q.limit, 20);
    cr_assert_eq(q.offset, 0);
    cr_assert_not(q.has_status);
    cr_assert_str_eq(q.starting_after, "");
}

Test(validate, list_accepts_each_status)
{
    static const char *const names[] = {"open", "complete", "expired"};
    static const enum session_status values[] = {SESSION_OPEN, SESSION_COMPLETE, SESSION_EXPIRED};
    for (int i = 0; i < 3; i++) {
        struct session_list_query q;
        struct error err;
        cr_assert_eq(validate_list_query(names[i], NULL, NULL, NULL, &q, &err), C_OK);
        cr_assert(q.has_status);
        cr_assert_eq(q.status, values[i]);
    }
}

Test(validate, list_rejects_unknown_status)
{
    const char *msg = "status must be one of open, complete, expired";
    expect_list_error("OPEN", NULL, NULL, NULL, "status", msg);
    expect_list_error("", NULL, NULL, NULL, "status", msg);
    expect_list_error("pending", NULL, NULL, NULL, "status", msg);
}

Test(validate, list_accepts_limit_1_to_100)
{
    struct session_list_query q;
    struct error err;
    cr_assert_eq(validate_list_query(NULL, "1", NULL, NULL, &q, &err), C_OK);
    cr_assert_eq(q.limit, 1);
    cr_assert_eq(validate_list_query(NULL, "100", NULL, NULL, &q, &err), C_OK);
    cr_assert_eq(q.limit, 100);
}

Test(validate, list_rejects_limit_over_100)
{
    expect_list_error(NULL, "101", NULL, NULL, "limit", "limit must be an integer from 1 to 100");
}

Test(validate, list_rejects_limit_0_and_malformed_limits)
{
    static const char *const bad[] = {
        "0", "-1", "abc", "12abc", " 5", "+5", "5 ", "", "2.0", "0x10", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_list_error(NULL, bad[i], NULL, NULL, "limit",
                          "limit must be an integer from 1 to 100");
}

Test(validate, list_accepts_offsets_up_to_the_cap)
{
    struct session_list_query q;
    struct error err;
    cr_assert_eq(validate_list_query(NULL, NULL, "0", NULL, &q, &err), C_OK);
    cr_assert_eq(q.offset, 0);
    cr_assert_eq(validate_list_query(NULL, NULL, "40", NULL, &q, &err), C_OK);
    cr_assert_eq(q.offset, 40);
    cr_assert_eq(validate_list_query(NULL, NULL, "10000", NULL, &q, &err), C_OK);
    cr_assert_eq(q.offset, 10000);
}

Test(validate, list_refuses_an_offset_past_the_cap_and_names_the_cursor)
{
    static const char *const deep[] = {"10001", "5000000000"};
    for (size_t i = 0; i < sizeof(deep) / sizeof(*deep); i++)
        expect_list_error(NULL, NULL, deep[i], NULL, "offset",
                          "offset must be at most 10000; use starting_after to page further");
}

Test(validate, list_rejects_negative_and_malformed_offsets)
{
    static const char *const bad[] = {"-1", "abc", "1e3", " 1", "+1", "", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        expect_list_error(NULL, NULL, bad[i], NULL, "offset",
                          "offset must be a non-negative integer");
}

Test(validate, list_accepts_starting_after_in_canonical_lower_case)
{
    struct session_list_query q;
    struct error err;
    cr_assert_eq(
        validate_list_query(NULL, NULL, NULL, "123E4567-E89B-12D3-A456-426614174000", &q, &err),
        C_OK);
    cr_assert_str_eq(q.starting_after, VALID_UUID);
}

Test(validate, list_rejects_malformed_starting_after)
{
    expect_list_error(NULL, NULL, NULL, "987e6543", "starting_after",
                      "starting_after must be a checkout session id (UUID)");
    expect_list_error(NULL, NULL, NULL, "", "starting_after",
                      "starting_after must be a checkout session id (UUID)");
}

Test(validate, list_reports_status_before_limit_before_offset)
{
    expect_list_error("bad", "0", "-1", "x", "status",
                      "status must be one of open, complete, expired");
    expect_list_error(NULL, "0", "-1", "x", "limit", "limit must be an integer from 1 to 100");
    expect_list_error(NULL, NULL, "-1", "x", "offset", "offset must be a non-negative integer");
}

/* ---- helpers ---------------------------------------------------------- */

Test(validate, email_helper_accepts_ordinary_addresses)
{
    cr_assert_eq(validate_email("john@example.com"), C_OK);
    cr_assert_eq(validate_email("first.last+tag@sub.example.co.uk"), C_OK);
    cr_assert_eq(validate_email("a@b.co"), C_OK);
    cr_assert_eq(validate_email("o'neil@example.sn"), C_OK);
    cr_assert_eq(validate_email("user@exämple.com"), C_OK);
}

Test(validate, e164_helper_checks_plus_and_digit_count)
{
    cr_assert_eq(validate_e164("+221771234567"), C_OK);
    cr_assert_eq(validate_e164("+12345678"), C_OK);
    cr_assert_eq(validate_e164("+1234567"), C_ERR);
    cr_assert_eq(validate_e164("+123456789012345"), C_OK);
    cr_assert_eq(validate_e164("+1234567890123456"), C_ERR);
    cr_assert_eq(validate_e164("00221771234567"), C_ERR);
}

Test(validate, http_url_helper_is_case_insensitive_on_the_scheme_only)
{
    cr_assert_eq(validate_http_url("HtTpS://example.com"), C_OK);
    cr_assert_eq(validate_http_url("http://user@example.com/"), C_OK);
    cr_assert_eq(validate_http_url("https//example.com"), C_ERR);
    cr_assert_eq(validate_http_url("https://example.com/a b"), C_ERR);
    cr_assert_eq(validate_http_url("https://example.com/\"x\""), C_ERR);
    cr_assert_eq(validate_http_url("https://example.com/a\\b"), C_ERR);
}

/* ---- webhook endpoints ------------------------------------------------------ */

static int run_endpoint(const char *text, bool create, struct webhook_endpoint_input *in,
                        struct error *err)
{
    json_t *body = parse(text);
    memset(in, 0, sizeof(*in));
    memset(err, 0, sizeof(*err));
    int rc = create ? validate_webhook_endpoint_create(body, in, err)
                    : validate_webhook_endpoint_update(body, in, err);
    json_decref(body);
    return rc;
}

static void expect_endpoint_error(const char *text, bool create, const char *param,
                                  const char *message)
{
    struct webhook_endpoint_input in;
    struct error err;
    cr_assert_eq(run_endpoint(text, create, &in, &err), C_ERR, "accepted: %s", text);
    cr_assert_str_eq(err.param, param, "for %s", text);
    cr_assert_str_eq(err.message, message, "for %s", text);
    webhook_endpoint_input_free(&in);
}

Test(validate, endpoint_create_takes_url_events_description_metadata)
{
    struct webhook_endpoint_input in;
    struct error err;
    cr_assert_eq(run_endpoint("{\"url\": \"https://a.example/h\", \"enabled_events\":"
                              " [\"checkout.session.completed\", \"*\"],"
                              " \"description\": \"d\", \"metadata\": {\"k\": \"v\"}}",
                              true, &in, &err),
                 C_OK, "%s", err.message);
    cr_assert(in.has_url && in.has_enabled_events && in.has_description && in.has_metadata);
    cr_assert_str_eq(in.url, "https://a.example/h");
    cr_assert_eq(json_array_size(in.enabled_events), 2);
    cr_assert_str_eq(in.description, "d");
    cr_assert_str_eq(json_string_value(json_object_get(in.metadata, "k")), "v");
    cr_assert(!in.has_disabled);
    webhook_endpoint_input_free(&in);
}

Test(validate, endpoint_create_messages)
{
    const char *unsupported = "Unsupported event type in enabled_events: %s (expected "
                              "checkout.session.created, checkout.session.completed,"
                              " checkout.session.expired, product.created, product.updated,"
                              " price.created, price.updated, coupon.created, coupon.updated,"
                              " customer.created, customer.updated, customer.deleted,"
                              " subscription.created, subscription.renewed,"
                              " subscription.canceled, subscription.past_due,"
                              " checkout.session.payment_failed,"
                              " checkout.session.payment_refund_required or *)";
    char msg[600];
    expect_endpoint_error("{\"enabled_events\": [\"*\"]}", true, "url", "url is required");
    expect_endpoint_error("{\"url\": null, \"enabled_events\": [\"*\"]}", true, "url",
                          "url is required");
    expect_endpoint_error("{\"url\": [], \"enabled_events\": [\"*\"]}", true, "url",
                          "url must be a string");
    expect_endpoint_error("{\"url\": \"http://a\\u0000b\", \"enabled_events\": [\"*\"]}", true,
                          "url", "url must not contain NUL characters");
    expect_endpoint_error("{\"url\": \"https://a.example\"}", true, "enabled_events",
                          "enabled_events is required");
    expect_endpoint_error("{\"url\": \"https://a.example\", \"enabled_events\": {}}", true,
                          "enabled_events", "enabled_events must be an array");
    expect_endpoint_error("{\"url\": \"https://a.example\", \"enabled_events\": []}", true,
                          "enabled_events", "enabled_events must not be empty");
    snprintf(msg, sizeof(msg), unsupported, "checkout.session.create");
    expect_endpoint_error(
        "{\"url\": \"https://a.example\", \"enabled_events\": [\"checkout.session.create\"]}", true,
        "enabled_events", msg);
    expect_endpoint_error("{\"url\": \"https://a.example\", \"enabled_events\": [1]}", true,
                          "enabled_events",
                          "enabled_events must contain only strings (checkout.session.created,"
                          " checkout.session.completed, checkout.session.expired,"
                          " product.created, product.updated, price.created, price.updated,"
                          " coupon.created, coupon.updated, customer.created, customer.updated,"
                          " customer.deleted, subscription.created, subscription.renewed,"
                          " subscription.canceled, subscription.past_due,"
                          " checkout.session.payment_failed,"
                          " checkout.session.payment_refund_required or *)");
    expect_endpoint_error("{\"url\": \"https://a.example\", \"enabled_events\":"
                          " [\"checkout.session.expired\", \"checkout.session.expired\"]}",
                          true, "enabled_events",
                          "enabled_events must not contain duplicates: checkout.session.expired");
    expect_endpoint_error(
        "{\"url\": \"https://a.example\", \"enabled_events\": [\"*\"], \"disabled\": false}", true,
        "disabled", "Unknown parameter: disabled");
    expect_endpoint_error(
        "{\"url\": \"https://a.example\", \"enabled_events\": [\"*\"], \"metadata\": {\"k\": {}}}",
        true, "metadata", "metadata values must be strings, numbers or booleans");
}

Test(validate, endpoint_update_takes_any_subset)
{
    struct webhook_endpoint_input in;
    struct error err;
    cr_assert_eq(run_endpoint("{}", false, &in, &err), C_OK);
    cr_assert(!in.has_url && !in.has_enabled_events && !in.has_description && !in.has_metadata &&
              !in.has_disabled);
    webhook_endpoint_input_free(&in);
    cr_assert_eq(run_endpoint("{\"description\": null, \"metadata\": null, \"disabled\": true}",
                              false, &in, &err),
                 C_OK, "%s", err.message);
    cr_assert(in.has_description && in.description == NULL);
    cr_assert(in.has_metadata && json_object_size(in.metadata) == 0);
    cr_assert(in.has_disabled && in.disabled);
    webhook_endpoint_input_free(&in);
    expect_endpoint_error("{\"url\": null}", false, "url", "url is required");
    expect_endpoint_error("{\"enabled_events\": null}", false, "enabled_events",
                          "enabled_events is required");
    expect_endpoint_error("{\"disabled\": 0}", false, "disabled", "disabled must be a boolean");
    expect_endpoint_error("{\"secret\": \"whsec_x\"}", false, "secret",
                          "Unknown parameter: secret");
}

Test(validate, page_query_and_event_type)
{
    long limit;
    char after[UUID_STR_LEN];
    struct error err;
    cr_assert_eq(validate_page_query(NULL, NULL, "an event", &limit, after, &err), C_OK);
    cr_assert_eq(limit, 20);
    cr_assert_str_eq(after, "");
    cr_assert_eq(validate_page_query("100", "123E4567-E89B-12D3-A456-426614174000", "an event",
                                     &limit, after, &err),
                 C_OK);
    cr_assert_eq(limit, 100);
    cr_assert_str_eq(after, VALID_UUID);
    cr_assert_eq(validate_page_query("101", NULL, "an event", &limit, after, &err), C_ERR);
    cr_assert_str_eq(err.message, "limit must be an integer from 1 to 100");
    cr_assert_eq(validate_page_query(NULL, "x", "a webhook delivery", &limit, after, &err), C_ERR);
    cr_assert_str_eq(err.param, "starting_after");
    cr_assert_str_eq(err.message, "starting_after must be a webhook delivery id (UUID)");
    cr_assert_eq(validate_event_type("checkout.session.expired", &err), C_OK);
    cr_assert_eq(validate_event_type("*", &err), C_ERR);
    cr_assert_str_eq(err.param, "type");
    cr_assert_eq(validate_event_type("checkout.session.create", &err), C_ERR);
}

Test(validate, create_rejects_a_long_non_ascii_unknown_field_with_a_utf8_message)
{
    /* 62 ASCII bytes then "é": a 64-byte cut would keep half of it. */
    char name[128];
    memset(name, 'x', 62);
    memcpy(name + 62, "\xc3\xa9\xc3\xa9", 5);
    json_t *body = json_pack("{si ss ss s{}}", "amount", 1000, "currency_code", "XOF",
                             "customer_email", "a@b.co", name);
    struct session s;
    struct error err;
    cr_assert_eq(validate_create_request(body, &options, &s, &err), C_ERR);
    json_t *msg = json_string(err.message);
    cr_assert_not_null(msg, "the message is not valid UTF-8: %s", err.message);
    json_t *param = json_string(err.param);
    cr_assert_not_null(param, "the param is not valid UTF-8");
    json_decref(msg);
    json_decref(param);
    json_decref(body);
}

Test(validate, idempotency_key_of_1_to_255_characters_of_text)
{
    struct error err;
    char longest[256];
    memset(longest, 'k', 255);
    longest[255] = '\0';
    cr_assert_eq(validate_idempotency_key("order-12345", &err), C_OK);
    cr_assert_eq(validate_idempotency_key("commande-n\xc2\xb0-42 \xe2\x82\xac", &err), C_OK);
    cr_assert_eq(validate_idempotency_key(longest, &err), C_OK);
    longest[254] = '\0';
    cr_assert_eq(validate_idempotency_key(longest, &err), C_OK);
    /* Characters, not bytes: 255 é are 510 bytes. */
    char accents[2 * 255 + 1];
    for (int i = 0; i < 255; i++)
        memcpy(accents + 2 * i, "\xc3\xa9", 2);
    accents[2 * 255] = '\0';
    cr_assert_eq(validate_idempotency_key(accents, &err), C_OK);
}

Test(validate, idempotency_key_empty_or_too_long_is_refused)
{
    struct error err;
    char toolong[257], accents[2 * 256 + 1];
    memset(toolong, 'k', 256);
    toolong[256] = '\0';
    for (int i = 0; i < 256; i++)
        memcpy(accents + 2 * i, "\xc3\xa9", 2);
    accents[2 * 256] = '\0';
    const char *const bad[] = {"", toolong, accents};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_assert_eq(validate_idempotency_key(bad[i], &err), C_ERR);
        cr_assert_str_eq(err.param, "Idempotency-Key");
        cr_assert_str_eq(err.message, "Idempotency-Key must be 1 to 255 characters");
    }
}

Test(validate, idempotency_key_that_is_not_utf8_text_is_refused)
{
    struct error err;
    const char *const bad[] = {"\xff\xfe", "key-\xc3",  "\xc0\xaf",
                               "a\x01b",   "tab\there", "del\x7f"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_assert_eq(validate_idempotency_key(bad[i], &err), C_ERR, "case %zu", i);
        cr_assert_str_eq(err.param, "Idempotency-Key");
        cr_assert_str_eq(err.message,
                         "Idempotency-Key must be UTF-8 text without control characters");
    }
}

Test(validate, endpoint_rejects_metadata_reals_outside_int64)
{
    expect_endpoint_error("{\"url\": \"https://a.example/h\", \"enabled_events\": [\"*\"],"
                          " \"metadata\": {\"n\": 1e19}}",
                          true, "metadata",
                          "metadata numbers must be from -9223372036854775808 to "
                          "9223372036854775807");
    expect_endpoint_error("{\"metadata\":{\"998n\":90900199999999999999999999910000.0993,"
                          "\"ok\":true}}",
                          false, "metadata",
                          "metadata numbers must be from -9223372036854775808 to "
                          "9223372036854775807");
}

/* ---- sessions made from the catalog ------------------------------------------------ */

Test(validate, create_leaves_the_amount_to_a_named_product_or_price)
{
    struct session s;
    expect_ok("{\"price_id\": \"" VALID_UUID "\", \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 0, "the price gives it");
    cr_assert_str_eq(s.price_id, VALID_UUID);
    session_free(&s);
    expect_ok("{\"product_id\": \"" VALID_UUID "\", \"customer_email\": \"a@example.com\"}", &s);
    cr_assert_eq(s.amount, 0, "the product's default price gives it");
    session_free(&s);
    /* Given, it is checked as ever. */
    expect_error("{\"product_id\": \"" VALID_UUID "\", \"amount\": 0, \"customer_email\":"
                 " \"a@example.com\"}",
                 "amount", "amount must be greater than 0");
    expect_error("{\"product_id\": null, \"price_id\": null, \"customer_email\":"
                 " \"a@example.com\"}",
                 "amount", "amount is required");
    /* The reference's placeholders keep their own message. */
    expect_error("{\"product_id\": \"premium-plan-id\", \"price_id\": \"monthly-price-id\","
                 " \"customer_email\": \"a@example.com\"}",
                 "product_id", "product_id must be a UUID");
    expect_error("{\"price_id\": \"monthly-price-id\", \"customer_email\": \"a@example.com\"}",
                 "price_id", "price_id must be a UUID");
}
