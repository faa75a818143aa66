/* Renewal sessions: what a subscription gives a session that names it, and
 * every refusal with its param and message, the session untouched then.
 * Reading the tenant's subscription runs against the stack
 * (tests/integration/subscriptions.c). */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "../../../gateway/session_subscription.h"
#include "../leak_check.h"

TestSuite(session_subscription, .fini = unit_leak_check);

#define SUBSCRIPTION "0190a6e4-6b2c-7d3e-8f41-0000000000c1"
#define CUSTOMER "0190a6e4-6b2c-7d3e-8f41-0000000000d1"
#define PRICE "0190a6e4-6b2c-7d3e-8f41-0000000000b1"
#define PRODUCT "0190a6e4-6b2c-7d3e-8f41-0000000000a1"
#define OTHER "0190a6e4-6b2c-7d3e-8f41-0000000000e1"

struct fixture {
    struct subscription_renewal terms;
    struct session s;
};

/* An active monthly subscription to "Gold plan" at 15000 XOF, and a session
 * naming it with quantity (the validator's defaults otherwise). */
static void fixture_init(struct fixture *f, int32_t quantity)
{
    memset(&f->terms, 0, sizeof(f->terms));
    f->terms.status = SUBSCRIPTION_ACTIVE;
    memcpy(f->terms.customer_id, CUSTOMER, UUID_STR_LEN);
    memcpy(f->terms.price_id, PRICE, UUID_STR_LEN);
    memcpy(f->terms.product_id, PRODUCT, UUID_STR_LEN);
    memcpy(f->terms.currency_code, "XOF", 4);
    f->terms.unit_amount = 15000;
    f->terms.product_name = strdup("Gold plan");
    cr_assert_eq(session_init(&f->s), C_OK);
    memcpy(f->s.subscription_id, SUBSCRIPTION, UUID_STR_LEN);
    memcpy(f->s.currency_code, "XOF", 4); /* the organization's, by default */
    f->s.quantity = quantity;
}

static void fixture_free(struct fixture *f)
{
    subscription_renewal_free(&f->terms);
    subscription_renewal_free(&f->terms);
    session_free(&f->s);
}

/* Refused with param and message, and the session as it was. */
static void expect_refusal(struct fixture *f, const struct session_catalog_given *g,
                           const char *param, const char *message)
{
    struct error err = ERROR_INIT;
    json_t *before = session_to_json(&f->s, "http://localhost:8080");
    cr_assert_eq(session_subscription_apply(&f->terms, g, &f->s, &err), CATALOG_CHECK_INVALID);
    cr_assert_str_eq(err.param, param);
    cr_assert_str_eq(err.message, message);
    json_t *after = session_to_json(&f->s, "http://localhost:8080");
    cr_assert(json_equal(before, after), "the session is untouched");
    json_decref(before);
    json_decref(after);
}

Test(session_subscription, the_subscription_gives_what_the_body_leaves_out)
{
    struct fixture f;
    fixture_init(&f, 2);
    struct session_catalog_given g = {false, false, false};
    struct error err = ERROR_INIT;
    cr_assert_eq(session_subscription_apply(&f.terms, &g, &f.s, &err), CATALOG_CHECK_OK, "%s",
                 err.message);
    cr_assert_eq(f.s.amount, 30000, "unit_amount x quantity");
    cr_assert_str_eq(f.s.currency_code, "XOF");
    cr_assert_str_eq(f.s.title, "Gold plan");
    cr_assert_str_eq(f.s.customer_id, CUSTOMER);
    cr_assert_str_eq(f.s.price_id, PRICE);
    cr_assert_str_eq(f.s.product_id, PRODUCT);
    fixture_free(&f);
}

Test(session_subscription, what_the_body_gives_is_kept_when_it_agrees)
{
    struct fixture f;
    fixture_init(&f, 1);
    f.s.amount = 15000;
    f.s.title = strdup("March");
    memcpy(f.s.customer_id, CUSTOMER, UUID_STR_LEN);
    memcpy(f.s.price_id, PRICE, UUID_STR_LEN);
    memcpy(f.s.product_id, PRODUCT, UUID_STR_LEN);
    struct session_catalog_given g = {true, true, true};
    struct error err = ERROR_INIT;
    cr_assert_eq(session_subscription_apply(&f.terms, &g, &f.s, &err), CATALOG_CHECK_OK, "%s",
                 err.message);
    cr_assert_eq(f.s.amount, 15000);
    cr_assert_str_eq(f.s.title, "March");
    fixture_free(&f);
}

Test(session_subscription, a_past_due_subscription_is_renewed)
{
    struct fixture f;
    fixture_init(&f, 1);
    f.terms.status = SUBSCRIPTION_PAST_DUE;
    struct session_catalog_given g = {false, false, false};
    struct error err = ERROR_INIT;
    cr_assert_eq(session_subscription_apply(&f.terms, &g, &f.s, &err), CATALOG_CHECK_OK);
    cr_assert_eq(f.s.amount, 15000);
    fixture_free(&f);
}

Test(session_subscription, each_disagreement_is_refused_with_its_reason)
{
    struct session_catalog_given none = {false, false, false};
    struct fixture f;
    fixture_init(&f, 1);
    f.terms.status = SUBSCRIPTION_CANCELED;
    expect_refusal(&f, &none, "subscription_id",
                   "subscription_id " SUBSCRIPTION
                   " is canceled: a canceled subscription cannot be renewed");
    fixture_free(&f);

    fixture_init(&f, 1);
    memcpy(f.s.customer_id, OTHER, UUID_STR_LEN);
    expect_refusal(&f, &none, "customer_id",
                   "customer_id " OTHER " is not the customer of subscription " SUBSCRIPTION
                   " (" CUSTOMER ")");
    fixture_free(&f);

    fixture_init(&f, 1);
    memcpy(f.s.price_id, OTHER, UUID_STR_LEN);
    expect_refusal(&f, &none, "price_id",
                   "price_id " OTHER " is not the price of subscription " SUBSCRIPTION " (" PRICE
                   ")");
    fixture_free(&f);

    fixture_init(&f, 1);
    memcpy(f.s.product_id, OTHER, UUID_STR_LEN);
    expect_refusal(&f, &none, "product_id",
                   "product_id " OTHER " is not the product of subscription " SUBSCRIPTION
                   " (" PRODUCT ")");
    fixture_free(&f);

    fixture_init(&f, 3);
    f.s.amount = 15000;
    struct session_catalog_given amount = {true, false, false};
    expect_refusal(&f, &amount, "amount",
                   "amount 15000 does not match the price " PRICE " of subscription " SUBSCRIPTION
                   ": unit_amount 15000 x quantity 3 = 45000 (omit amount to use the price's)");
    fixture_free(&f);

    fixture_init(&f, 1);
    memcpy(f.s.currency_code, "USD", 4);
    struct session_catalog_given currency = {false, true, false};
    expect_refusal(&f, &currency, "currency_code",
                   "currency_code USD does not match the price " PRICE
                   " of subscription " SUBSCRIPTION " (XOF)");
    fixture_free(&f);

    fixture_init(&f, 10000);
    f.terms.unit_amount = 1000000000000LL;
    expect_refusal(&f, &none, "quantity",
                   "unit_amount 1000000000000 x quantity 10000 = 10000000000000000 exceeds the "
                   "maximum amount 1000000000000");
    fixture_free(&f);
}
