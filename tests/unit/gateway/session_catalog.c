/* Sessions made from the catalog: what a price and its product give a
 * session, and every refusal with the exact param and message. Reading the
 * tenant's objects runs against the stack (tests/integration/catalog_sessions.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/session_catalog.h"
#include "../leak_check.h"

TestSuite(session_catalog, .fini = unit_leak_check);

#define PRODUCT "0190a6e4-6b2c-7d3e-8f41-0000000000a1"
#define PRICE "0190a6e4-6b2c-7d3e-8f41-0000000000b1"

struct fixture {
    struct product product;
    struct price price;
    struct session s;
};

/* An active product "Coffee beans" with an active XOF price of 5000 per unit,
 * and a session asking for them with quantity (the validator's defaults). */
static void fixture_init(struct fixture *f, int32_t quantity)
{
    cr_assert_eq(product_init(&f->product), C_OK);
    cr_assert_eq(price_init(&f->price), C_OK);
    cr_assert_eq(session_init(&f->s), C_OK);
    memcpy(f->product.id, PRODUCT, UUID_STR_LEN);
    f->product.name = strdup("Coffee beans");
    memcpy(f->price.id, PRICE, UUID_STR_LEN);
    memcpy(f->price.product_id, PRODUCT, UUID_STR_LEN);
    memcpy(f->price.currency_code, "XOF", 4);
    f->price.unit_amount = 5000;
    memcpy(f->s.currency_code, "XOF", 4); /* the organization's, by default */
    memcpy(f->s.price_id, PRICE, UUID_STR_LEN);
    f->s.quantity = quantity;
}

static void fixture_free(struct fixture *f)
{
    product_free(&f->product);
    price_free(&f->price);
    session_free(&f->s);
}

static void pay_what_you_want(struct price *p, int64_t min, int64_t max)
{
    p->unit_amount = RESOURCE_NULL_INT64;
    p->custom_minimum = min;
    p->custom_maximum = max;
}

static void expect_refusal(struct fixture *f, bool with_price,
                           const struct session_catalog_given *g, const char *param,
                           const char *message)
{
    struct error err = ERROR_INIT;
    int64_t amount = f->s.amount;
    cr_assert_eq(session_catalog_apply(&f->product, with_price ? &f->price : NULL, g, &f->s, &err),
                 CATALOG_CHECK_INVALID, "accepted; expected %s", message);
    cr_assert_str_eq(err.param, param);
    cr_assert_str_eq(err.message, message);
    cr_assert_eq(f->s.amount, amount, "the session is as it was");
    cr_assert_null(f->s.title, "the session is as it was");
}

Test(session_catalog, a_fixed_price_gives_amount_currency_title_and_ids)
{
    struct fixture f;
    fixture_init(&f, 3);
    memcpy(f.s.currency_code, "EUR", 4); /* the organization's default, not given */
    struct session_catalog_given g = {false, false, false};
    struct error err = ERROR_INIT;
    cr_assert_eq(session_catalog_apply(&f.product, &f.price, &g, &f.s, &err), CATALOG_CHECK_OK,
                 "%s", err.message);
    cr_assert_eq(f.s.amount, 15000, "unit_amount x quantity");
    cr_assert_str_eq(f.s.currency_code, "XOF", "the price's");
    cr_assert_str_eq(f.s.title, "Coffee beans", "the product's name");
    cr_assert_str_eq(f.s.product_id, PRODUCT, "filled in");
    cr_assert_str_eq(f.s.price_id, PRICE);
    fixture_free(&f);
}

Test(session_catalog, what_the_body_gives_stays_when_it_agrees)
{
    struct fixture f;
    fixture_init(&f, 2);
    f.s.title = strdup("Beans, twice");
    f.s.amount = 10000;
    struct session_catalog_given g = {true, true, true};
    struct error err = ERROR_INIT;
    cr_assert_eq(session_catalog_apply(&f.product, &f.price, &g, &f.s, &err), CATALOG_CHECK_OK,
                 "%s", err.message);
    cr_assert_eq(f.s.amount, 10000);
    cr_assert_str_eq(f.s.title, "Beans, twice");
    fixture_free(&f);
}

Test(session_catalog, a_fixed_price_refuses_another_amount_or_currency)
{
    struct fixture f;
    fixture_init(&f, 2);
    f.s.amount = 9999;
    struct session_catalog_given g = {true, false, false};
    expect_refusal(&f, true, &g, "amount",
                   "amount 9999 does not match price " PRICE
                   ": unit_amount 5000 x quantity 2 = 10000 (omit amount to use the price's)");
    f.s.amount = 0;
    memcpy(f.s.currency_code, "EUR", 4);
    g = (struct session_catalog_given){false, true, false};
    expect_refusal(&f, true, &g, "currency_code",
                   "currency_code EUR does not match the currency of price " PRICE ": XOF");
    /* The largest price times the largest quantity passes the largest amount. */
    memcpy(f.s.currency_code, "XOF", 4);
    f.price.unit_amount = 1000000000000LL;
    g = (struct session_catalog_given){false, false, false};
    expect_refusal(&f, true, &g, "quantity",
                   "unit_amount 1000000000000 x quantity 2 = 2000000000000 exceeds the maximum "
                   "amount 1000000000000");
    fixture_free(&f);
}

Test(session_catalog, pay_what_you_want_needs_an_amount_within_range_times_quantity)
{
    struct fixture f;
    fixture_init(&f, 2);
    pay_what_you_want(&f.price, 1000, 100000);
    struct session_catalog_given none = {false, false, false};
    expect_refusal(&f, true, &none, "amount",
                   "amount is required with pay-what-you-want price " PRICE
                   ": from 2000 to 200000 (1000 to 100000 per unit, quantity 2)");
    struct session_catalog_given g = {true, false, false};
    f.s.amount = 1999;
    expect_refusal(&f, true, &g, "amount",
                   "amount 1999 is outside the range of pay-what-you-want price " PRICE
                   ": from 2000 to 200000 (1000 to 100000 per unit, quantity 2)");
    f.s.amount = 200001;
    expect_refusal(&f, true, &g, "amount",
                   "amount 200001 is outside the range of pay-what-you-want price " PRICE
                   ": from 2000 to 200000 (1000 to 100000 per unit, quantity 2)");
    int64_t edges[] = {2000, 200000, 31415};
    for (size_t i = 0; i < 3; i++) {
        struct fixture ok;
        fixture_init(&ok, 2);
        pay_what_you_want(&ok.price, 1000, 100000);
        ok.s.amount = edges[i];
        struct error err = ERROR_INIT;
        cr_assert_eq(session_catalog_apply(&ok.product, &ok.price, &g, &ok.s, &err),
                     CATALOG_CHECK_OK, "%s", err.message);
        cr_assert_eq(ok.s.amount, edges[i], "the customer's amount");
        fixture_free(&ok);
    }
    fixture_free(&f);
}

Test(session_catalog, archived_products_and_prices_are_refused)
{
    struct fixture f;
    fixture_init(&f, 1);
    struct session_catalog_given g = {false, false, false};
    f.price.active = false;
    expect_refusal(&f, true, &g, "price_id",
                   "price_id " PRICE " is archived: it cannot be sold anymore");
    f.product.active = false;
    expect_refusal(&f, true, &g, "product_id",
                   "product_id " PRODUCT " is archived: it cannot be sold anymore");
    fixture_free(&f);
}

Test(session_catalog, a_product_without_a_price_needs_an_amount)
{
    struct fixture f;
    fixture_init(&f, 1);
    memset(f.s.price_id, 0, sizeof(f.s.price_id));
    memcpy(f.s.product_id, PRODUCT, UUID_STR_LEN);
    struct session_catalog_given g = {false, false, false};
    expect_refusal(&f, false, &g, "product_id",
                   "Product has no default price; give price_id or amount");
    /* With the merchant's amount: no price attached, the product's name. */
    f.s.amount = 4200;
    g.amount = true;
    struct error err = ERROR_INIT;
    cr_assert_eq(session_catalog_apply(&f.product, NULL, &g, &f.s, &err), CATALOG_CHECK_OK, "%s",
                 err.message);
    cr_assert_eq(f.s.amount, 4200);
    cr_assert_str_eq(f.s.price_id, "");
    cr_assert_str_eq(f.s.title, "Coffee beans");
    fixture_free(&f);
}

Test(session_catalog, only_a_session_naming_the_catalog_reads_it)
{
    struct session s;
    cr_assert_eq(session_init(&s), C_OK);
    cr_assert(!session_catalog_needed(&s));
    memcpy(s.product_id, PRODUCT, UUID_STR_LEN);
    cr_assert(session_catalog_needed(&s));
    session_free(&s);
    json_t *body =
        json_loads("{\"amount\": 1, \"currency_code\": null, \"title\": \"t\"}", 0, NULL);
    struct session_catalog_given g;
    session_catalog_given_of(body, &g);
    cr_assert(g.amount);
    cr_assert(!g.currency_code, "null is not given");
    cr_assert(g.title);
    json_decref(body);
}
