/* The one discount function: its rounding in 0- and 2-decimal currencies, its
 * bounds (never more than the subtotal, 100 % takes all of it), and the rules
 * in the order it checks them, with the messages a client reads. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "model/currency.h"
#include "model/discount.h"

TestSuite(discount);

#define NOW 1767225600LL /* 2026-01-01T00:00:00Z */

static struct discount_terms percent(int32_t bp)
{
    return (struct discount_terms){.percent_off_bp = bp,
                                   .active = true,
                                   .valid_from = DISCOUNT_NO_TIME,
                                   .valid_until = DISCOUNT_NO_TIME};
}

static struct discount_terms amount(int64_t off, const char *currency_code)
{
    return (struct discount_terms){.amount_off = off,
                                   .currency_code = currency_code,
                                   .active = true,
                                   .valid_from = DISCOUNT_NO_TIME,
                                   .valid_until = DISCOUNT_NO_TIME};
}

static struct discount_purchase purchase(int64_t subtotal, const char *currency_code)
{
    const struct currency *c = currency_find(currency_code);
    cr_assert_not_null(c, "%s is supported", currency_code);
    return (struct discount_purchase){.subtotal = subtotal, .currency = c, .now = NOW};
}

static int64_t discount_of(const struct discount_terms *t, int64_t subtotal, const char *currency)
{
    struct discount_purchase p = purchase(subtotal, currency);
    int64_t d = -1;
    enum discount_refusal r = discount_compute(t, &p, &d);
    cr_assert_eq(r, DISCOUNT_APPLIES, "refused: %s", discount_refusal_name(r));
    cr_assert(d >= 0 && d <= subtotal, "%lld within 0..%lld", (long long)d, (long long)subtotal);
    return d;
}

Test(discount, a_percentage_rounds_half_up_to_the_franc_in_a_zero_decimal_currency)
{
    cr_assert_eq(currency_find("XOF")->exponent, 0);
    struct discount_terms t = percent(1250); /* 12.5 % */
    /* 12.5 % of 999 francs is 124.875: 125. */
    cr_assert_eq(discount_of(&t, 999, "XOF"), 125);
    /* 12.5 % of 4 is exactly 0.5: half rounds up, to 1. */
    cr_assert_eq(discount_of(&t, 4, "XOF"), 1);
    /* 12.5 % of 3 is 0.375: 0, a coupon that takes nothing off so small a sum. */
    cr_assert_eq(discount_of(&t, 3, "XOF"), 0);
    t = percent(1000);
    cr_assert_eq(discount_of(&t, 15000, "XOF"), 1500);
    cr_assert_eq(discount_of(&t, 15, "XOF"), 2); /* 1.5 → 2 */
    cr_assert_eq(discount_of(&t, 14, "XOF"), 1); /* 1.4 → 1 */
}

Test(discount, a_percentage_rounds_half_up_to_the_cent_in_a_two_decimal_currency)
{
    cr_assert_eq(currency_find("EUR")->exponent, 2);
    struct discount_terms t = percent(1250);
    /* 12.5 % of 9.99 EUR is 1.24875 EUR: 1.25 EUR. */
    cr_assert_eq(discount_of(&t, 999, "EUR"), 125);
    t = percent(3333); /* 33.33 % of 1.00 USD is 0.3333: 0.33 */
    cr_assert_eq(discount_of(&t, 100, "USD"), 33);
    t = percent(1); /* 0.01 % of 50.00 EUR is 0.005 EUR: half a cent rounds up */
    cr_assert_eq(discount_of(&t, 5000, "EUR"), 1);
    cr_assert_eq(discount_of(&t, 4999, "EUR"), 0); /* 0.4999 cents */
    t = percent(1550);                             /* 15.5 % of 19.99 is 3.09845 → 3.10 */
    cr_assert_eq(discount_of(&t, 1999, "USD"), 310);
}

Test(discount, one_hundred_percent_makes_the_total_zero)
{
    struct discount_terms t = percent(DISCOUNT_BP_MAX);
    cr_assert_eq(discount_of(&t, 999, "XOF"), 999);
    cr_assert_eq(discount_of(&t, 1, "EUR"), 1);
    cr_assert_eq(discount_of(&t, 0, "EUR"), 0);
    cr_assert_eq(discount_of(&t, 1000000000000LL, "XOF"), 1000000000000LL);
}

Test(discount, a_percentage_of_the_largest_amounts_does_not_overflow)
{
    cr_assert_eq(discount_percent_of(INT64_MAX, DISCOUNT_BP_MAX), INT64_MAX);
    cr_assert_eq(discount_percent_of(INT64_MAX, 5000), INT64_MAX / 2 + 1); /* .5 rounds up */
    cr_assert_eq(discount_percent_of(1000000000000LL, 9999), 999900000000LL);
    cr_assert_eq(discount_percent_of(0, 1234), 0);
}

Test(discount, an_amount_off_never_exceeds_the_subtotal)
{
    struct discount_terms t = amount(500, "XOF");
    cr_assert_eq(discount_of(&t, 15000, "XOF"), 500);
    cr_assert_eq(discount_of(&t, 500, "XOF"), 500);
    cr_assert_eq(discount_of(&t, 300, "XOF"), 300, "total 0, never negative");
    t = amount(1000, "EUR"); /* 10.00 EUR off 9.99 EUR */
    cr_assert_eq(discount_of(&t, 999, "EUR"), 999);
    cr_assert_eq(discount_of(&t, 2500, "EUR"), 1000);
}

Test(discount, an_amount_off_applies_only_in_its_own_currency)
{
    struct discount_terms t = amount(1000, "EUR");
    struct discount_purchase p = purchase(5000, "USD");
    int64_t d = -1;
    cr_assert_eq(discount_compute(&t, &p, &d), DISCOUNT_WRONG_CURRENCY);
    cr_assert_eq(d, 0, "a refusal takes nothing off");
    char msg[200];
    discount_refusal_message(DISCOUNT_WRONG_CURRENCY, "TENOFF", &t, &p, msg, sizeof(msg));
    cr_assert_str_eq(msg, "Coupon TENOFF takes an amount off in EUR, not in USD");
    /* A percentage applies in any currency. */
    t = percent(1000);
    cr_assert_eq(discount_of(&t, 5000, "USD"), 500);
    cr_assert_eq(discount_of(&t, 5000, "XOF"), 500);
}

static enum discount_refusal refusal(const struct discount_terms *t, const char *product_id,
                                     char *msg, size_t len)
{
    struct discount_purchase p = purchase(10000, "XOF");
    p.product_id = product_id;
    int64_t d = -1;
    enum discount_refusal r = discount_compute(t, &p, &d);
    if (r != DISCOUNT_APPLIES)
        cr_assert_eq(d, 0, "a refusal takes nothing off");
    discount_refusal_message(r, "SUMMER10", t, &p, msg, len);
    return r;
}

Test(discount, each_rule_refuses_with_its_reason)
{
    char msg[200];
    cr_assert_eq(refusal(NULL, NULL, msg, sizeof(msg)), DISCOUNT_UNKNOWN);
    cr_assert_str_eq(msg, "No coupon with code SUMMER10");

    struct discount_terms t = percent(1000);
    t.active = false;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_INACTIVE);
    cr_assert_str_eq(msg, "Coupon SUMMER10 is not active");

    t = percent(1000);
    t.valid_from = NOW + 1;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_NOT_YET_VALID);
    cr_assert_str_eq(msg, "Coupon SUMMER10 is not valid before 2026-01-01T00:00:01Z");
    t.valid_from = NOW; /* valid from that second on */
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_APPLIES);

    t = percent(1000);
    t.valid_until = NOW; /* valid until that second, excluded */
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_EXPIRED);
    cr_assert_str_eq(msg, "Coupon SUMMER10 expired at 2026-01-01T00:00:00Z");
    t.valid_until = NOW + 1;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_APPLIES);

    t = percent(1000);
    t.max_redemptions = 3;
    t.times_redeemed = 3;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_USED_UP);
    cr_assert_str_eq(msg, "Coupon SUMMER10 has been redeemed its maximum number of times");
    t.times_redeemed = 2;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_APPLIES);
}

Test(discount, a_coupon_for_some_products_applies_to_those_only)
{
    static const char *const ids[] = {"0190a1b2-0000-7000-8000-000000000001",
                                      "0190a1b2-0000-7000-8000-000000000002"};
    struct discount_terms t = percent(1000);
    t.product_ids = ids;
    t.nproduct_ids = 2;
    char msg[200];
    cr_assert_eq(refusal(&t, ids[1], msg, sizeof(msg)), DISCOUNT_APPLIES);
    cr_assert_eq(refusal(&t, "0190a1b2-0000-7000-8000-000000000003", msg, sizeof(msg)),
                 DISCOUNT_NOT_FOR_PRODUCT);
    cr_assert_str_eq(msg, "Coupon SUMMER10 does not apply to this product");
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_NOT_FOR_PRODUCT,
                 "a purchase of no product");
    cr_assert_eq(refusal(&t, "", msg, sizeof(msg)), DISCOUNT_NOT_FOR_PRODUCT);
    t.nproduct_ids = 0; /* none named: every purchase */
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_APPLIES);
}

Test(discount, the_rules_are_checked_in_order)
{
    /* Inactive and expired and used up: the first of them is the reason. */
    struct discount_terms t = amount(100, "EUR");
    t.active = false;
    t.valid_until = NOW - 10;
    t.max_redemptions = 1;
    t.times_redeemed = 1;
    char msg[200];
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_INACTIVE);
    t.active = true;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_EXPIRED);
    t.valid_until = DISCOUNT_NO_TIME;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_USED_UP);
    t.max_redemptions = 0;
    cr_assert_eq(refusal(&t, NULL, msg, sizeof(msg)), DISCOUNT_WRONG_CURRENCY);
    cr_assert_str_eq(discount_refusal_name(DISCOUNT_WRONG_CURRENCY), "wrong_currency");
}
