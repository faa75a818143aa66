/* POST /checkout-sessions through the real gateway, Kafka and session worker. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/uuid.h"
#include "support.h"

static const char *key_a(void)
{
    return test_env("CAISSE_TEST_KEY_A");
}

/* Posts body and expects a 400 validation_error naming param with message. */
static void expect_invalid(const char *extra, const char *param, const char *message)
{
    char *body = test_body(extra);
    struct api_response r = test_create(key_a(), body);
    test_assert_error(&r, 400, "validation_error", param, message);
    test_api_free(&r);
    free(body);
}

/* POST path with body as key A, 201; the new object's member (a UUID) into id. */
static void create_catalog_object(const char *path, const char *body, const char *member,
                                  char id[UUID_STR_LEN])
{
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response r = test_api("POST", path, key_a(), body, h);
    cr_assert_eq(r.status, 201, "%s: %s", path, r.text);
    snprintf(id, UUID_STR_LEN, "%s", json_string_value(json_object_get(r.json, member)));
    test_api_free(&r);
}

Test(create, returns_201_with_the_full_session_object)
{
    /* The reference's body, with a product and price of the tenant (they are checked). */
    char product[UUID_STR_LEN], price[UUID_STR_LEN], body[1200];
    create_catalog_object("/products", "{\"name\": \"Premium\"}", "product_id", product);
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"unit_amount\": 10000, \"currency_code\": \"XOF\"}",
             product);
    create_catalog_object("/prices", body, "price_id", price);
    snprintf(body, sizeof(body),
             "{\"amount\": 10000.0, \"currency_code\": \"XOF\","
             " \"title\": \"Premium Subscription\", \"description\": \"Monthly subscription to "
             "premium features\","
             " \"customer_email\": \"john@example.com\", \"customer_name\": \"John Doe\","
             " \"customer_phone\": \"+221771234567\", \"product_id\": \"%s\","
             " \"price_id\": \"%s\", \"allow_quantity\": false, \"quantity\": 1,"
             " \"success_url\": \"https://example.com/success\", \"cancel_url\": "
             "\"https://example.com/cancel\","
             " \"allow_coupon_code\": true, \"require_billing_address\": true,"
             " \"metadata\": {\"order_id\": \"ORDER-12345\"}}",
             product, price);
    struct api_response r = test_create(key_a(), body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    json_t *s = r.json;
    cr_assert_str_eq(json_string_value(json_object_get(s, "product_id")), product);
    cr_assert_str_eq(json_string_value(json_object_get(s, "price_id")), price);
    static const char *const fields[] = {"checkout_session_id",
                                         "organization_id",
                                         "amount",
                                         "currency_code",
                                         "status",
                                         "title",
                                         "description",
                                         "customer_id",
                                         "customer_email",
                                         "customer_name",
                                         "customer_phone",
                                         "product_id",
                                         "price_id",
                                         "subscription_id",
                                         "allow_quantity",
                                         "quantity",
                                         "success_url",
                                         "cancel_url",
                                         "allow_coupon_code",
                                         "require_billing_address",
                                         "payment_link_id",
                                         "is_spi",
                                         "is_pos",
                                         "expires_at",
                                         "metadata",
                                         "environment",
                                         "created_at",
                                         "created_by",
                                         "updated_at",
                                         "amount_subtotal",
                                         "amount_discount",
                                         "amount_total",
                                         "coupon",
                                         "billing_address",
                                         "customer_details",
                                         "payment",
                                         "url"};
    cr_assert_eq(json_object_size(s), sizeof(fields) / sizeof(*fields), "%s", r.text);
    for (size_t i = 0; i < sizeof(fields) / sizeof(*fields); i++)
        cr_assert(json_object_get(s, fields[i]) != NULL, "missing %s", fields[i]);
    cr_assert_eq(json_integer_value(json_object_get(s, "amount")), 10000);
    cr_assert_str_eq(json_string_value(json_object_get(s, "status")), "open");
    cr_assert_str_eq(json_string_value(json_object_get(s, "environment")), "test");
    cr_assert_str_eq(json_string_value(json_object_get(s, "organization_id")),
                     test_env("CAISSE_TEST_ORG_A"));
    cr_assert_str_eq(json_string_value(json_object_get(s, "customer_phone")), "+221771234567");
    cr_assert(json_is_null(json_object_get(s, "customer_id")));
    cr_assert(json_is_null(json_object_get(s, "payment_link_id")));
    cr_assert(json_is_null(json_object_get(s, "subscription_id")));
    cr_assert(json_is_false(json_object_get(s, "is_spi")));
    cr_assert(json_is_false(json_object_get(s, "is_pos")));
    cr_assert(json_is_true(json_object_get(s, "allow_coupon_code")));
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(s, "metadata"), "order_id")),
                     "ORDER-12345");
    const char *id = json_string_value(json_object_get(s, "checkout_session_id"));
    char url[256], location[128];
    /* The hosted page: /checkout/<id>/<secret>, the secret 32 base64url characters. */
    snprintf(url, sizeof(url), "http://localhost:%s/checkout/%s/", test_env("CAISSE_GATEWAY_PORT"),
             id);
    const char *got = json_string_value(json_object_get(s, "url"));
    cr_assert_not_null(got);
    cr_assert_eq(strncmp(got, url, strlen(url)), 0, "%s starts with %s", got, url);
    cr_assert_eq(strlen(got + strlen(url)), 32, "%s ends with a secret", got);
    cr_assert_eq(strspn(got + strlen(url), "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789-_"),
                 32);
    snprintf(location, sizeof(location), "/checkout-sessions/%s", id);
    cr_assert_str_eq(r.location, location);
    cr_assert_str_eq(r.content_type, "application/json");
    /* Default lifetime: 60 minutes after creation, whole seconds in UTC. */
    const char *created = json_string_value(json_object_get(s, "created_at"));
    const char *expires = json_string_value(json_object_get(s, "expires_at"));
    cr_assert_eq(strlen(created), 20);
    cr_assert_eq(created[19], 'Z');
    struct tm tc = {0}, te = {0};
    strptime(created, "%Y-%m-%dT%H:%M:%SZ", &tc);
    strptime(expires, "%Y-%m-%dT%H:%M:%SZ", &te);
    cr_assert_eq(timegm(&te) - timegm(&tc), 3600);
    test_api_free(&r);
}

Test(create, session_is_readable_as_soon_as_201_is_returned)
{
    for (int i = 0; i < 20; i++) {
        char *body = test_body(NULL);
        struct api_response r = test_create(key_a(), body);
        free(body);
        cr_assert_eq(r.status, 201, "%s", r.text);
        char path[128];
        snprintf(path, sizeof(path), "/checkout-sessions/%s",
                 json_string_value(json_object_get(r.json, "checkout_session_id")));
        struct api_response g = test_api("GET", path, key_a(), NULL, NULL);
        cr_assert_eq(g.status, 200, "create answered 201 but GET says %ld: %s", g.status, g.text);
        cr_assert(json_equal(g.json, r.json), "GET differs from the create answer:\n%s\n%s", g.text,
                  r.text);
        test_api_free(&g);
        test_api_free(&r);
    }
}

Test(create, accepts_customer_id_without_email)
{
    /* A customer of the key's (issue 13: customer_id must name one), without an email. */
    const char *h[] = {"Content-Type: application/json", NULL};
    struct api_response c = test_api("POST", "/customers", key_a(), "{\"name\": \"No email\"}", h);
    cr_assert_eq(c.status, 201, "%s", c.text);
    char customer_id[64], body[160];
    snprintf(customer_id, sizeof(customer_id), "%s",
             json_string_value(json_object_get(c.json, "customer_id")));
    test_api_free(&c);
    snprintf(body, sizeof(body), "{\"amount\": 500, \"customer_id\": \"%s\"}", customer_id);
    struct api_response r = test_create(key_a(), body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "customer_id")), customer_id);
    cr_assert(json_is_null(json_object_get(r.json, "customer_email")));
    /* The organization's default currency. */
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "currency_code")), "XOF");
    test_api_free(&r);
}

Test(create, defaults_currency_to_the_organizations)
{
    struct api_response r =
        test_create(test_env("CAISSE_TEST_KEY_USD"),
                    "{\"amount\": 1000, \"customer_email\": \"a@example.com\"}");
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "currency_code")), "USD");
    test_api_free(&r);
}

Test(create, accepts_expires_at_within_bounds)
{
    time_t t = time(NULL) + 2 * 3600;
    struct tm tm;
    gmtime_r(&t, &tm);
    char when[32], extra[96];
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(extra, sizeof(extra), "{\"expires_at\": \"%s\"}", when);
    char *body = test_body(extra);
    struct api_response r = test_create(key_a(), body);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "expires_at")), when);
    test_api_free(&r);
}

Test(create, also_served_under_v1)
{
    const char *h[] = {"Content-Type: application/json", NULL};
    char *body = test_body(NULL);
    struct api_response r = test_api("POST", "/v1/checkout-sessions", key_a(), body, h);
    free(body);
    cr_assert_eq(r.status, 201, "%s", r.text);
    test_api_free(&r);
}

Test(create, rejects_missing_customer)
{
    struct api_response r = test_create(key_a(), "{\"amount\": 10000}");
    test_assert_error(&r, 400, "validation_error", "customer_email",
                      "Either customer_id or customer_email is required");
    test_api_free(&r);
}

Test(create, rejects_missing_amount)
{
    struct api_response r = test_create(key_a(), "{\"customer_email\": \"john@example.com\"}");
    test_assert_error(&r, 400, "validation_error", "amount", "amount is required");
    test_api_free(&r);
}

Test(create, rejects_fractional_xof_amount)
{
    expect_invalid("{\"amount\": 10000.5}", "amount",
                   "amount must be a whole number of the currency's minor units");
}

Test(create, rejects_non_positive_amounts)
{
    expect_invalid("{\"amount\": 0}", "amount", "amount must be greater than 0");
    expect_invalid("{\"amount\": -5}", "amount", "amount must be greater than 0");
}

Test(create, rejects_amount_over_the_maximum)
{
    expect_invalid("{\"amount\": 1000000000001}", "amount", "amount must not exceed 1000000000000");
}

Test(create, rejects_amount_of_the_wrong_type)
{
    expect_invalid("{\"amount\": \"10000\"}", "amount", "amount must be a number");
}

Test(create, rejects_unsupported_currency)
{
    expect_invalid("{\"currency_code\": \"ABC\"}", "currency_code",
                   "Unsupported currency_code: ABC");
    expect_invalid("{\"currency_code\": \"xof\"}", "currency_code",
                   "Unsupported currency_code: xof");
}

Test(create, rejects_malformed_customer_fields)
{
    expect_invalid("{\"customer_id\": \"not-a-uuid\"}", "customer_id",
                   "customer_id must be a UUID");
    expect_invalid("{\"customer_email\": \"john@\"}", "customer_email",
                   "customer_email must be a valid email address");
    expect_invalid("{\"customer_phone\": \"771234567\"}", "customer_phone",
                   "customer_phone must be in E.164 format (+ followed by 8 to 15 digits)");
}

Test(create, rejects_overlong_texts)
{
    char extra[3000];
    snprintf(extra, sizeof(extra), "{\"title\": \"%0251d\"}", 0);
    expect_invalid(extra, "title", "title must be at most 250 characters");
    snprintf(extra, sizeof(extra), "{\"description\": \"%02001d\"}", 0);
    expect_invalid(extra, "description", "description must be at most 2000 characters");
}

Test(create, rejects_malformed_catalog_ids)
{
    expect_invalid("{\"product_id\": \"premium-plan-id\"}", "product_id",
                   "product_id must be a UUID");
    expect_invalid("{\"price_id\": 5}", "price_id", "price_id must be a UUID");
    expect_invalid("{\"subscription_id\": \"x\"}", "subscription_id",
                   "subscription_id must be a UUID");
}

Test(create, rejects_non_boolean_flags)
{
    expect_invalid("{\"allow_quantity\": \"yes\"}", "allow_quantity",
                   "allow_quantity must be a boolean");
    expect_invalid("{\"allow_coupon_code\": 1}", "allow_coupon_code",
                   "allow_coupon_code must be a boolean");
    expect_invalid("{\"require_billing_address\": null, \"allow_coupon_code\": []}",
                   "allow_coupon_code", "allow_coupon_code must be a boolean");
}

Test(create, rejects_quantity_out_of_range)
{
    expect_invalid("{\"quantity\": 0}", "quantity", "Quantity must be greater than 0");
    expect_invalid("{\"quantity\": 10001}", "quantity", "quantity must be at most 10000");
    expect_invalid("{\"quantity\": 1.5}", "quantity", "quantity must be an integer");
}

Test(create, rejects_bad_urls)
{
    expect_invalid("{\"success_url\": \"example.com/success\"}", "success_url",
                   "success_url must be an absolute http or https URL");
    expect_invalid("{\"cancel_url\": \"ftp://example.com\"}", "cancel_url",
                   "cancel_url must be an absolute http or https URL");
}

Test(create, rejects_bad_metadata)
{
    expect_invalid("{\"metadata\": [1]}", "metadata", "metadata must be an object");
    expect_invalid("{\"metadata\": {\"a\": {\"nested\": true}}}", "metadata",
                   "metadata values must be strings, numbers or booleans");
    char extra[4096];
    int n = snprintf(extra, sizeof(extra), "{\"metadata\": {");
    for (int i = 0; i < 51; i++)
        n += snprintf(extra + n, sizeof(extra) - (size_t)n, "%s\"k%d\": 1", i ? "," : "", i);
    snprintf(extra + n, sizeof(extra) - (size_t)n, "}}");
    expect_invalid(extra, "metadata", "metadata must have at most 50 keys");
}

Test(create, rejects_expires_at_out_of_bounds)
{
    expect_invalid("{\"expires_at\": \"tomorrow\"}", "expires_at",
                   "expires_at must be an RFC 3339 date-time");
    expect_invalid("{\"expires_at\": \"2020-01-01T00:00:00Z\"}", "expires_at",
                   "expires_at must be between 30 minutes and 24 hours from now");
}

Test(create, rejects_unknown_fields)
{
    expect_invalid("{\"amount_in_cents\": 5}", "amount_in_cents",
                   "Unknown parameter: amount_in_cents");
    /* Response-only fields are not request parameters. */
    expect_invalid("{\"status\": \"complete\"}", "status", "Unknown parameter: status");
    expect_invalid("{\"organization_id\": \"789e0123-e89b-12d3-a456-426614174000\"}",
                   "organization_id", "Unknown parameter: organization_id");
}

Test(create, rejects_malformed_json)
{
    struct api_response r = test_create(key_a(), "{\"amount\": ");
    test_assert_error(&r, 400, "validation_error", NULL, NULL);
    test_api_free(&r);
    r = test_create(key_a(), "[1, 2]");
    test_assert_error(&r, 400, "validation_error", NULL, "Request body must be a JSON object");
    test_api_free(&r);
    r = test_create(key_a(), "{\"amount\": 1, \"amount\": 2, \"customer_email\": \"a@b.co\"}");
    test_assert_error(&r, 400, "validation_error", NULL, NULL);
    test_api_free(&r);
}

Test(create, rejects_non_json_content_type_with_415)
{
    const char *h[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    char *body = test_body(NULL);
    struct api_response r = test_api("POST", "/checkout-sessions", key_a(), body, h);
    free(body);
    test_assert_error(&r, 415, "unsupported_media_type", NULL,
                      "Content-Type must be application/json");
    test_api_free(&r);
}

Test(create, rejects_bodies_over_64_kib_with_413)
{
    size_t n = 70 * 1024;
    char *big = malloc(n + 64);
    int off = snprintf(big, n + 64, "{\"description\": \"");
    memset(big + off, 'x', n);
    snprintf(big + off + n, 64, "\"}");
    struct api_response r = test_create(key_a(), big);
    free(big);
    test_assert_error(&r, 413, "payload_too_large", NULL,
                      "Request body must not exceed 65536 bytes");
    test_api_free(&r);
}

Test(create, bad_input_creates_nothing)
{
    /* Other tests create sessions concurrently, so the check is on this test's
     * own marker: neither a row nor a command may carry it. */
    char *body =
        test_body("{\"amount\": 0, \"metadata\": {\"marker\": \"bad-input-creates-nothing\"}}");
    struct api_response r = test_create(key_a(), body);
    free(body);
    cr_assert_eq(r.status, 400);
    test_api_free(&r);
    test_sleep_ms(300);
    json_t *cmds = test_kafka_read_all("checkout.session.commands");
    size_t i;
    json_t *rec;
    json_array_foreach(cmds, i, rec)
    {
        const char *payload = json_string_value(json_object_get(rec, "payload"));
        cr_assert(payload == NULL || strstr(payload, "bad-input-creates-nothing") == NULL,
                  "a rejected request reached Kafka");
    }
    json_decref(cmds);
    char *rows =
        test_sql_value("SELECT count(*) FROM checkout_sessions WHERE metadata->>'marker' = $1",
                       "bad-input-creates-nothing");
    cr_assert_str_eq(rows, "0");
    free(rows);
}
