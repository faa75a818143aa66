#include "checkout_total.h"

#include <stdbool.h>
#include <stddef.h>

#include "core/result.h"
#include "model/currency.h"

/* The session's subtotal at creation: amount_subtotal, or amount for rows
 * made before the catalog's totals. */
static int64_t checkout_total_created_subtotal(const struct session *s)
{
    return s->amount_subtotal != RESOURCE_NULL_INT64 ? s->amount_subtotal : s->amount;
}

/* Whether s's unit amount is a whole number of minor units. */
static bool checkout_total_unit_is_exact(const struct session *s)
{
    return s->quantity >= 1 && checkout_total_created_subtotal(s) % s->quantity == 0;
}

int32_t checkout_total_max_quantity(const struct session *s)
{
    if (!s->allow_quantity || !checkout_total_unit_is_exact(s))
        return s->quantity >= 1 ? s->quantity : 1;
    int64_t unit = checkout_total_created_subtotal(s) / s->quantity;
    int64_t most = unit > 0 ? SESSION_MAX_AMOUNT / unit : CHECKOUT_TOTAL_MAX_QUANTITY;
    if (most > CHECKOUT_TOTAL_MAX_QUANTITY)
        most = CHECKOUT_TOTAL_MAX_QUANTITY;
    return most >= 1 ? (int32_t)most : 1;
}

int checkout_total_compute(const struct session *s, int32_t quantity,
                           const struct discount_terms *coupon, const char *product_id, int64_t now,
                           struct checkout_total *out, enum discount_refusal *refusal,
                           struct error *err)
{
    const struct currency *currency = currency_find(s->currency_code);
    if (currency == NULL)
        return error_set(err, "currency_code", "currency %s is not supported", s->currency_code);
    if (quantity != s->quantity) {
        if (!s->allow_quantity)
            return error_set(err, "quantity", "this session's quantity cannot be changed");
        if (!checkout_total_unit_is_exact(s))
            return error_set(err, "quantity",
                             "this session's amount is not a whole unit price: its quantity "
                             "cannot be changed");
    }
    int32_t most = checkout_total_max_quantity(s);
    if (quantity < 1 || quantity > most)
        return error_set(err, "quantity", "quantity must be between 1 and %d", (int)most);
    struct checkout_total t = {.quantity = quantity};
    int64_t created = checkout_total_created_subtotal(s);
    if (quantity == s->quantity) {
        /* The amount as created, even when it is not a whole unit price. */
        t.subtotal = created;
        t.unit_amount = created / s->quantity;
    } else {
        t.unit_amount = created / s->quantity;
        t.subtotal = t.unit_amount * quantity; /* <= SESSION_MAX_AMOUNT by max_quantity */
    }
    enum discount_refusal r = DISCOUNT_APPLIES;
    if (coupon != NULL) {
        struct discount_purchase p = {
            .subtotal = t.subtotal, .currency = currency, .product_id = product_id, .now = now};
        r = discount_compute(coupon, &p, &t.discount);
        if (r != DISCOUNT_APPLIES)
            t.discount = 0;
    }
    t.total = t.subtotal - t.discount;
    *out = t;
    *refusal = r;
    return C_OK;
}

int checkout_total_with_coupon(const struct session *s, int32_t quantity,
                               const struct coupon *coupon, int64_t now, struct checkout_total *out,
                               enum discount_refusal *refusal, struct error *err)
{
    if (coupon == NULL)
        return checkout_total_compute(s, quantity, NULL, s->product_id, now, out, refusal, err);
    const json_t *ids = json_object_get(coupon->applies_to, "product_ids");
    const char *product_ids[COUPON_PRODUCT_IDS_MAX];
    size_t n = 0;
    for (size_t i = 0; i < json_array_size(ids) && n < COUPON_PRODUCT_IDS_MAX; i++) {
        const char *id = json_string_value(json_array_get(ids, i));
        if (id != NULL)
            product_ids[n++] = id;
    }
    struct discount_terms t = {
        .percent_off_bp =
            coupon->percent_off_bp != RESOURCE_NULL_INT32 ? coupon->percent_off_bp : 0,
        .amount_off = coupon->amount_off != RESOURCE_NULL_INT64 ? coupon->amount_off : 0,
        .currency_code = coupon->currency_code[0] != '\0' ? coupon->currency_code : NULL,
        .active = coupon->active,
        .valid_from =
            coupon->valid_from != RESOURCE_NULL_INT64 ? coupon->valid_from : DISCOUNT_NO_TIME,
        .valid_until =
            coupon->valid_until != RESOURCE_NULL_INT64 ? coupon->valid_until : DISCOUNT_NO_TIME,
        .max_redemptions =
            coupon->max_redemptions != RESOURCE_NULL_INT32 ? coupon->max_redemptions : 0,
        .times_redeemed = coupon->times_redeemed,
        .product_ids = product_ids,
        .nproduct_ids = n,
    };
    return checkout_total_compute(s, quantity, &t, s->product_id, now, out, refusal, err);
}
