/* Checkout sessions made from the catalog's products and prices, against the
 * real stack: the reference's use cases verbatim (with ids created through
 * the API), what a price gives a session, and every refusal. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/uuid.h"
#include "catalog_support.h"
#include "support.h"

static long long num(const json_t *o, const char *name)
{
    return json_integer_value(json_object_get(o, name));
}

static void product_new(const char *key, const char *name, char id[UUID_STR_LEN])
{
    char body[300];
    snprintf(body, sizeof(body), "{\"name\": \"%s\"}", name);
    ct_create_id("/products", key, body, "product_id", id);
}

/* A price of product: the members after product_id in rest. */
static void price_new(const char *key, const char *product, const char *rest, char id[UUID_STR_LEN])
{
    char body[600];
    snprintf(body, sizeof(body), "{\"product_id\": \"%s\", %s}", product, rest);
    ct_create_id("/prices", key, body, "price_id", id);
}

static void expect_400(const char *key, const char *body, const char *param, const char *message)
{
    struct api_response r = test_create(key, body);
    test_assert_error(&r, 400, "validation_error", param, message);
    test_api_free(&r);
}

/* ---- the reference's use cases, verbatim ------------------------------------------ */

Test(catalog_sessions, simple_one_time_payment)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    json_t *s = ct_session_create(t.key, "{\"amount\": 5000, \"currency_code\": \"XOF\","
                                         " \"title\": \"Coffee Beans - 1kg\","
                                         " \"customer_email\": \"customer@example.com\","
                                         " \"success_url\": \"https://mystore.com/thank-you\","
                                         " \"cancel_url\": \"https://mystore.com/cart\"}");
    cr_assert_eq(num(s, "amount"), 5000);
    cr_assert_str_eq(ct_str(s, "title"), "Coffee Beans - 1kg");
    cr_assert(json_is_null(json_object_get(s, "product_id")));
    cr_assert(json_is_null(json_object_get(s, "price_id")));
    cr_assert(ct_str(s, "url") != NULL, "redirect the customer to session.url");
    json_decref(s);
}

Test(catalog_sessions, product_purchase_with_multiple_prices)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    /* The reference's placeholders are not ids: their own clear 400. */
    expect_400(t.key,
               "{\"product_id\": \"premium-plan-id\", \"price_id\": \"monthly-price-id\","
               " \"customer_email\": \"customer@example.com\","
               " \"success_url\": \"https://myapp.com/dashboard\", \"allow_coupon_code\": true}",
               "product_id", "product_id must be a UUID");
    char premium[UUID_STR_LEN], monthly[UUID_STR_LEN], yearly[UUID_STR_LEN];
    product_new(t.key, "Premium plan", premium);
    price_new(t.key, premium, "\"unit_amount\": 15000, \"recurring\": {\"interval\": \"month\"}",
              monthly);
    price_new(t.key, premium, "\"unit_amount\": 150000, \"recurring\": {\"interval\": \"year\"}",
              yearly);
    const char *ids[] = {monthly, yearly};
    const long long amounts[] = {15000, 150000};
    for (size_t i = 0; i < 2; i++) {
        char body[600];
        snprintf(body, sizeof(body),
                 "{\"product_id\": \"%s\", \"price_id\": \"%s\","
                 " \"customer_email\": \"customer@example.com\","
                 " \"success_url\": \"https://myapp.com/dashboard\", \"allow_coupon_code\": true}",
                 premium, ids[i]);
        json_t *s = ct_session_create(t.key, body);
        cr_assert_eq(num(s, "amount"), amounts[i], "the price's unit_amount x 1");
        cr_assert_str_eq(ct_str(s, "currency_code"), "XOF");
        cr_assert_str_eq(ct_str(s, "title"), "Premium plan", "the product's name");
        cr_assert_str_eq(ct_str(s, "product_id"), premium);
        cr_assert_str_eq(ct_str(s, "price_id"), ids[i]);
        cr_assert(json_is_true(json_object_get(s, "allow_coupon_code")));
        /* As stored. */
        char path[128];
        snprintf(path, sizeof(path), "/checkout-sessions/%s", ct_str(s, "checkout_session_id"));
        struct api_response g = ct_call("GET", path, t.key, NULL);
        cr_assert(json_equal(g.json, s), "%s", g.text);
        test_api_free(&g);
        json_decref(s);
    }
}

Test(catalog_sessions, custom_amount_no_product)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    json_t *s = ct_session_create(t.key, "{\"amount\": 15000, \"currency_code\": \"XOF\","
                                         " \"title\": \"Consultation Fee\","
                                         " \"description\": \"1 hour consultation\","
                                         " \"customer_name\": \"John Doe\","
                                         " \"customer_email\": \"john@example.com\","
                                         " \"customer_phone\": \"+221771234567\"}");
    cr_assert_eq(num(s, "amount"), 15000);
    cr_assert_str_eq(ct_str(s, "description"), "1 hour consultation");
    cr_assert(json_is_null(json_object_get(s, "product_id")));
    json_decref(s);
}

Test(catalog_sessions, pay_what_you_want)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    /* Verbatim: the amount the customer chose (x 100), no catalog. */
    long long amount = 25 * 100;
    char body[800];
    snprintf(body, sizeof(body),
             "{\"amount\": %lld, \"currency_code\": \"XOF\", \"title\": \"Support Us\","
             " \"description\": \"Thank you for your support!\","
             " \"customer_email\": \"customer@example.com\","
             " \"success_url\": \"https://mysite.com/thank-you\"}",
             amount);
    json_t *s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), amount);
    json_decref(s);
    /* The same through a pay-what-you-want price: the minimum is the catalog's. */
    char support[UUID_STR_LEN], tip[UUID_STR_LEN];
    product_new(t.key, "Support Us", support);
    price_new(t.key, support, "\"custom_unit_amount\": {\"minimum\": 1000, \"maximum\": 100000}",
              tip);
    snprintf(body, sizeof(body),
             "{\"amount\": %lld, \"price_id\": \"%s\", \"description\": \"Thank you for your "
             "support!\", \"customer_email\": \"customer@example.com\","
             " \"success_url\": \"https://mysite.com/thank-you\"}",
             amount, tip);
    s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), amount, "the customer's amount");
    cr_assert_str_eq(ct_str(s, "title"), "Support Us");
    cr_assert_str_eq(ct_str(s, "product_id"), support);
    cr_assert_str_eq(ct_str(s, "price_id"), tip);
    json_decref(s);
    char msg[300];
    snprintf(
        body, sizeof(body),
        "{\"amount\": 999, \"price_id\": \"%s\", \"customer_email\": \"customer@example.com\"}",
        tip);
    snprintf(msg, sizeof(msg),
             "amount 999 is outside the range of pay-what-you-want price %s: from 1000 to 100000 "
             "(1000 to 100000 per unit, quantity 1)",
             tip);
    expect_400(t.key, body, "amount", msg);
    snprintf(body, sizeof(body),
             "{\"amount\": 150000, \"quantity\": 2, \"price_id\": \"%s\","
             " \"customer_email\": \"customer@example.com\"}",
             tip);
    s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), 150000, "within the range x quantity 2");
    json_decref(s);
    snprintf(body, sizeof(body),
             "{\"price_id\": \"%s\", \"customer_email\": \"customer@example.com\"}", tip);
    snprintf(msg, sizeof(msg),
             "amount is required with pay-what-you-want price %s: from 1000 to 100000 (1000 to "
             "100000 per unit, quantity 1)",
             tip);
    expect_400(t.key, body, "amount", msg);
}

/* ---- what a price gives, and the refusals ---------------------------------------- */

Test(catalog_sessions, a_price_gives_amount_times_quantity_currency_and_title)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    char beans[UUID_STR_LEN], kilo[UUID_STR_LEN];
    product_new(t.key, "Coffee beans", beans);
    price_new(t.key, beans, "\"unit_amount\": 1250, \"currency_code\": \"EUR\"", kilo);
    char body[600];
    snprintf(body, sizeof(body),
             "{\"price_id\": \"%s\", \"quantity\": 3, \"title\": \"Three kilos\","
             " \"customer_email\": \"a@example.com\"}",
             kilo);
    json_t *s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), 3750);
    cr_assert_eq(num(s, "quantity"), 3);
    cr_assert_str_eq(ct_str(s, "currency_code"), "EUR", "the price's, not the organization's");
    cr_assert_str_eq(ct_str(s, "title"), "Three kilos", "given, kept");
    cr_assert_str_eq(ct_str(s, "product_id"), beans, "filled in");
    json_decref(s);
    /* An amount and currency that agree with the price are accepted. */
    snprintf(body, sizeof(body),
             "{\"price_id\": \"%s\", \"product_id\": \"%s\", \"quantity\": 2, \"amount\": 2500,"
             " \"currency_code\": \"EUR\", \"customer_email\": \"a@example.com\"}",
             kilo, beans);
    s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), 2500);
    json_decref(s);
    char msg[300];
    snprintf(body, sizeof(body),
             "{\"price_id\": \"%s\", \"quantity\": 2, \"amount\": 2000,"
             " \"customer_email\": \"a@example.com\"}",
             kilo);
    snprintf(msg, sizeof(msg),
             "amount 2000 does not match price %s: unit_amount 1250 x quantity 2 = 2500 (omit "
             "amount to use the price's)",
             kilo);
    expect_400(t.key, body, "amount", msg);
    snprintf(body, sizeof(body),
             "{\"price_id\": \"%s\", \"currency_code\": \"XOF\", \"customer_email\": "
             "\"a@example.com\"}",
             kilo);
    snprintf(msg, sizeof(msg), "currency_code XOF does not match the currency of price %s: EUR",
             kilo);
    expect_400(t.key, body, "currency_code", msg);
}

Test(catalog_sessions, a_product_alone_takes_its_default_price)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    char plan[UUID_STR_LEN], monthly[UUID_STR_LEN];
    product_new(t.key, "Plan", plan);
    char body[600];
    snprintf(body, sizeof(body), "{\"product_id\": \"%s\", \"customer_email\": \"a@example.com\"}",
             plan);
    expect_400(t.key, body, "product_id", "Product has no default price; give price_id or amount");
    /* With the merchant's amount: no price, the product's name. */
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"amount\": 777, \"customer_email\": \"a@example.com\"}",
             plan);
    json_t *s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), 777);
    cr_assert(json_is_null(json_object_get(s, "price_id")));
    cr_assert_str_eq(ct_str(s, "title"), "Plan");
    json_decref(s);
    price_new(t.key, plan, "\"unit_amount\": 9900", monthly);
    char path[128], patch[128];
    snprintf(path, sizeof(path), "/products/%s", plan);
    snprintf(patch, sizeof(patch), "{\"default_price_id\": \"%s\"}", monthly);
    struct api_response r = ct_call("PATCH", path, t.key, patch);
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"quantity\": 2, \"customer_email\": \"a@example.com\"}",
             plan);
    s = ct_session_create(t.key, body);
    cr_assert_eq(num(s, "amount"), 19800);
    cr_assert_str_eq(ct_str(s, "price_id"), monthly, "the default price");
    json_decref(s);
}

Test(catalog_sessions, archived_mismatched_and_foreign_ids_are_refused)
{
    struct ct_tenant t, other;
    ct_tenant_new(&t, "Catalog session tests");
    ct_tenant_new(&other, "Catalog session tests");
    char plan[UUID_STR_LEN], second[UUID_STR_LEN], price[UUID_STR_LEN], theirs[UUID_STR_LEN],
        their_price[UUID_STR_LEN];
    product_new(t.key, "Plan", plan);
    product_new(t.key, "Second", second);
    price_new(t.key, plan, "\"unit_amount\": 100", price);
    product_new(other.key, "Theirs", theirs);
    price_new(other.key, theirs, "\"unit_amount\": 100", their_price);
    char body[600], msg[300];
    snprintf(body, sizeof(body),
             "{\"product_id\": \"%s\", \"price_id\": \"%s\", \"customer_email\": "
             "\"a@example.com\"}",
             second, price);
    snprintf(msg, sizeof(msg), "price_id %s is not a price of product_id %s (but of %s)", price,
             second, plan);
    expect_400(t.key, body, "price_id", msg);
    /* Another tenant's, or the other environment's: not found. */
    const char *keys[] = {t.key, t.live};
    for (size_t i = 0; i < 2; i++) {
        snprintf(body, sizeof(body),
                 "{\"price_id\": \"%s\", \"customer_email\": \"a@example.com\"}",
                 i == 0 ? their_price : price);
        snprintf(msg, sizeof(msg), "price_id %s not found", i == 0 ? their_price : price);
        expect_400(keys[i], body, "price_id", msg);
        snprintf(body, sizeof(body),
                 "{\"product_id\": \"%s\", \"amount\": 5, \"customer_email\": \"a@example.com\"}",
                 i == 0 ? theirs : plan);
        snprintf(msg, sizeof(msg), "product_id %s not found", i == 0 ? theirs : plan);
        expect_400(keys[i], body, "product_id", msg);
    }
    /* Archived: the price, then its product. */
    char path[128];
    snprintf(path, sizeof(path), "/prices/%s", price);
    struct api_response r = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    snprintf(body, sizeof(body), "{\"price_id\": \"%s\", \"customer_email\": \"a@example.com\"}",
             price);
    snprintf(msg, sizeof(msg), "price_id %s is archived: it cannot be sold anymore", price);
    expect_400(t.key, body, "price_id", msg);
    snprintf(path, sizeof(path), "/products/%s", plan);
    r = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    snprintf(msg, sizeof(msg), "product_id %s is archived: it cannot be sold anymore", plan);
    expect_400(t.key, body, "product_id", msg);
    /* Nothing refused made a session. */
    r = ct_call("GET", "/checkout-sessions", t.key, NULL);
    cr_assert_eq(json_array_size(r.json), 0, "%s", r.text);
    test_api_free(&r);
}

Test(catalog_sessions, a_keyed_create_from_a_price_replays_as_stored)
{
    struct ct_tenant t;
    ct_tenant_new(&t, "Catalog session tests");
    char plan[UUID_STR_LEN], price[UUID_STR_LEN], idem[UUID_STR_LEN];
    product_new(t.key, "Plan", plan);
    price_new(t.key, plan, "\"unit_amount\": 4000", price);
    cr_assert_eq(uuid_v7_string(idem), 0);
    char body[300], h[200];
    snprintf(body, sizeof(body), "{\"price_id\": \"%s\", \"customer_email\": \"a@example.com\"}",
             price);
    snprintf(h, sizeof(h), "Idempotency-Key: %s", idem);
    const char *headers[] = {"Content-Type: application/json", h, NULL};
    struct api_response a = test_api("POST", "/checkout-sessions", t.key, body, headers);
    cr_assert_eq(a.status, 201, "%s", a.text);
    cr_assert_eq(num(a.json, "amount"), 4000);
    /* Archived since: the key still answers with the session it made. */
    char path[128];
    snprintf(path, sizeof(path), "/prices/%s", price);
    struct api_response r = ct_call("PATCH", path, t.key, "{\"active\": false}");
    cr_assert_eq(r.status, 200, "%s", r.text);
    test_api_free(&r);
    struct api_response b = test_api("POST", "/checkout-sessions", t.key, body, headers);
    cr_assert_eq(b.status, 201, "%s", b.text);
    cr_assert(b.idempotent_replayed);
    cr_assert(json_equal(a.json, b.json), "%s\n%s", a.text, b.text);
    test_api_free(&a);
    test_api_free(&b);
}
