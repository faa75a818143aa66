/* What a customer pays on a session's hosted page: the one computation the page
 * (showing the totals), the pay path (the amount asked of the provider) and the
 * session worker (the completion's guard) share, so the three never disagree.
 * Amounts are never taken from a form: they come from the session as created,
 * the quantity chosen and the coupon's terms (model/discount.h). Pure: no
 * database, no clock, no allocation. */
#ifndef CAISSE_CHECKOUT_TOTAL_H
#define CAISSE_CHECKOUT_TOTAL_H

#include <stdint.h>

#include "core/error.h"
#include "model/coupon.h"
#include "model/discount.h"
#include "model/session.h"

/* The bound of a quantity chosen on the page, whatever the price. */
#define CHECKOUT_TOTAL_MAX_QUANTITY SESSION_MAX_QUANTITY

struct checkout_total {
    int32_t quantity;
    int64_t unit_amount, subtotal, discount, total; /* minor units of the session's currency */
};

/* The unit amount of s is its amount_subtotal divided by its quantity at
 * creation (a price's unit_amount, or the amount itself for quantity 1). The
 * quantity may differ from s's only when s allows it, the division is exact,
 * and 1 <= quantity <= checkout_total_max_quantity(s).
 *
 * coupon: the terms of the coupon to apply (the session's own, or a code the
 * customer typed), NULL for none; product_id the product bought (s's, NULL or
 * "" for none); now epoch seconds. The discount is the coupon's
 * (discount_compute) on the new subtotal.
 *
 * C_OK: *out set; *refusal DISCOUNT_APPLIES with a coupon that applies (and
 * when coupon is NULL), else the rule refusing it, and then out->discount is 0
 * (the totals without it). C_ERR (out and refusal untouched): the quantity is
 * not allowed, with the reason in err (param "quantity"), or s's currency is
 * not supported. */
int checkout_total_compute(const struct session *s, int32_t quantity,
                           const struct discount_terms *coupon, const char *product_id, int64_t now,
                           struct checkout_total *out, enum discount_refusal *refusal,
                           struct error *err);

/* The same with a stored coupon (model/coupon.h), NULL for none. */
int checkout_total_with_coupon(const struct session *s, int32_t quantity,
                               const struct coupon *coupon, int64_t now, struct checkout_total *out,
                               enum discount_refusal *refusal, struct error *err);

/* The largest quantity the page offers: s's own quantity when s does not
 * allow another (or its unit is not exact), else CHECKOUT_TOTAL_MAX_QUANTITY
 * or less so that the subtotal stays within SESSION_MAX_AMOUNT. */
int32_t checkout_total_max_quantity(const struct session *s);

#endif
