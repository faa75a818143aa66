/* What a customer pays on the hosted page: the unit amount the session was
 * made with, the quantity the page may change (only when allowed, within its
 * bounds), the coupon's discount on the new subtotal, and the refusals that
 * leave the totals without a discount. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/result.h"
#include "model/checkout_total.h"
#include "model/coupon.h"
#include "model/session.h"
#include "../../leak_check.h"

static void checkout_total_leak_check(void)
{
    unit_leak_check();
}

TestSuite(checkout_total, .fini = checkout_total_leak_check);

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */
#define PRODUCT "0190a6e4-6b2c-7d3e-8f41-00000000000a"

/* A session of quantity units of unit francs (XOF). */
static void session_of(struct session *s, int64_t unit, int32_t quantity, bool allow_quantity)
{
    cr_assert_eq(session_init(s), C_OK);
    snprintf(s->currency_code, sizeof(s->currency_code), "XOF");
    snprintf(s->product_id, sizeof(s->product_id), "%s", PRODUCT);
    s->quantity = quantity;
    s->amount = s->amount_subtotal = s->amount_total = unit * quantity;
    s->amount_discount = 0;
    s->allow_quantity = allow_quantity;
}

static struct discount_terms percent(int32_t bp)
{
    return (struct discount_terms){.percent_off_bp = bp,
                                   .active = true,
                                   .valid_from = DISCOUNT_NO_TIME,
                                   .valid_until = DISCOUNT_NO_TIME};
}

Test(checkout_total, the_session_as_created_pays_its_own_amount)
{
    struct session s;
    session_of(&s, 2500, 2, false);
    struct checkout_total t;
    enum discount_refusal r = DISCOUNT_EXPIRED;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 2, NULL, s.product_id, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_APPLIES);
    cr_assert_eq(t.quantity, 2);
    cr_assert_eq(t.unit_amount, 2500);
    cr_assert_eq(t.subtotal, 5000);
    cr_assert_eq(t.discount, 0);
    cr_assert_eq(t.total, 5000);
    session_free(&s);
}

Test(checkout_total, a_new_quantity_multiplies_the_unit_amount_when_allowed)
{
    struct session s;
    session_of(&s, 2500, 1, true);
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 7, NULL, s.product_id, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(t.quantity, 7);
    cr_assert_eq(t.subtotal, 17500);
    cr_assert_eq(t.total, 17500);
    session_free(&s);
}

Test(checkout_total, a_quantity_cannot_change_when_the_session_does_not_allow_it)
{
    struct session s;
    session_of(&s, 2500, 1, false);
    struct checkout_total t = {.total = -1};
    enum discount_refusal r = DISCOUNT_EXPIRED;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 2, NULL, s.product_id, NOW, &t, &r, &err), C_ERR);
    cr_assert_str_eq(err.param, "quantity");
    cr_assert_eq(t.total, -1, "out untouched");
    cr_assert_eq(r, DISCOUNT_EXPIRED, "refusal untouched");
    cr_assert_eq(checkout_total_max_quantity(&s), 1);
    session_free(&s);
}

Test(checkout_total, a_quantity_outside_one_to_the_bound_is_refused)
{
    struct session s;
    session_of(&s, 100, 1, true);
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_max_quantity(&s), 10000);
    cr_assert_eq(checkout_total_compute(&s, 0, NULL, NULL, NOW, &t, &r, &err), C_ERR);
    cr_assert_eq(checkout_total_compute(&s, 10001, NULL, NULL, NOW, &t, &r, &err), C_ERR);
    cr_assert_str_eq(err.message, "quantity must be between 1 and 10000");
    cr_assert_eq(checkout_total_compute(&s, 10000, NULL, NULL, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(t.subtotal, 1000000);
    session_free(&s);
}

Test(checkout_total, the_bound_keeps_the_subtotal_within_the_maximum_amount)
{
    struct session s;
    session_of(&s, 400000000000LL, 1, true); /* 4e11 a unit: at most 2 fit in 1e12 */
    cr_assert_eq(checkout_total_max_quantity(&s), 2);
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 3, NULL, NULL, NOW, &t, &r, &err), C_ERR);
    cr_assert_eq(checkout_total_compute(&s, 2, NULL, NULL, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(t.subtotal, 800000000000LL);
    session_free(&s);
}

Test(checkout_total, an_amount_that_is_no_whole_unit_price_keeps_its_quantity)
{
    struct session s;
    session_of(&s, 1, 1, true);
    s.quantity = 3;
    s.amount = s.amount_subtotal = s.amount_total = 1000; /* 333.33 a unit */
    cr_assert_eq(checkout_total_max_quantity(&s), 3);
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 3, NULL, NULL, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(t.subtotal, 1000);
    cr_assert_eq(checkout_total_compute(&s, 2, NULL, NULL, NOW, &t, &r, &err), C_ERR);
    session_free(&s);
}

Test(checkout_total, a_percentage_coupon_applies_to_the_new_subtotal)
{
    struct session s;
    session_of(&s, 2500, 1, true);
    struct discount_terms ten = percent(1000);
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 3, &ten, s.product_id, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_APPLIES);
    cr_assert_eq(t.subtotal, 7500);
    cr_assert_eq(t.discount, 750);
    cr_assert_eq(t.total, 6750);
    session_free(&s);
}

Test(checkout_total, a_refused_coupon_leaves_the_totals_without_discount_and_says_why)
{
    struct session s;
    session_of(&s, 2500, 1, true);
    struct discount_terms used = percent(1000);
    used.max_redemptions = 5;
    used.times_redeemed = 5;
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 2, &used, s.product_id, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_USED_UP);
    cr_assert_eq(t.discount, 0);
    cr_assert_eq(t.total, 5000);
    const char *other = "0190a6e4-6b2c-7d3e-8f41-00000000000b";
    struct discount_terms elsewhere = percent(1000);
    elsewhere.product_ids = &other;
    elsewhere.nproduct_ids = 1;
    cr_assert_eq(checkout_total_compute(&s, 2, &elsewhere, s.product_id, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_NOT_FOR_PRODUCT);
    cr_assert_eq(t.total, 5000);
    session_free(&s);
}

Test(checkout_total, a_stored_coupon_gives_the_same_discount_as_its_terms)
{
    struct session s;
    session_of(&s, 999, 1, false);
    struct coupon c;
    cr_assert_eq(coupon_init(&c), C_OK);
    c.percent_off_bp = 1250;
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_with_coupon(&s, 1, &c, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_APPLIES);
    cr_assert_eq(t.discount, 125); /* 124.875 rounds half up */
    cr_assert_eq(t.total, 874);
    c.active = false;
    cr_assert_eq(checkout_total_with_coupon(&s, 1, &c, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_INACTIVE);
    cr_assert_eq(t.total, 999);
    cr_assert_eq(checkout_total_with_coupon(&s, 1, NULL, NOW, &t, &r, &err), C_OK);
    cr_assert_eq(r, DISCOUNT_APPLIES);
    coupon_free(&c);
    session_free(&s);
}

Test(checkout_total, an_unsupported_currency_is_an_error)
{
    struct session s;
    session_of(&s, 100, 1, false);
    snprintf(s.currency_code, sizeof(s.currency_code), "ZZZ");
    struct checkout_total t;
    enum discount_refusal r;
    struct error err = ERROR_INIT;
    cr_assert_eq(checkout_total_compute(&s, 1, NULL, NULL, NOW, &t, &r, &err), C_ERR);
    session_free(&s);
}
