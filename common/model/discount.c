#include "discount.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/rfc3339.h"

int64_t discount_percent_of(int64_t subtotal, int32_t bp)
{
    assert(subtotal >= 0 && bp >= 0 && bp <= DISCOUNT_BP_MAX);
    /* subtotal * bp could pass int64 for large subtotals: split it at 10000.
     * q * bp is whole, so only the rest's share is rounded; rest * bp is
     * below 10^8. */
    int64_t q = subtotal / DISCOUNT_BP_MAX, rest = subtotal % DISCOUNT_BP_MAX;
    return q * bp + (rest * bp + DISCOUNT_BP_MAX / 2) / DISCOUNT_BP_MAX;
}

static bool discount_for_product(const struct discount_terms *t, const char *product_id)
{
    if (t->nproduct_ids == 0)
        return true;
    if (product_id == NULL || product_id[0] == '\0')
        return false;
    for (size_t i = 0; i < t->nproduct_ids; i++) {
        if (strcmp(t->product_ids[i], product_id) == 0)
            return true;
    }
    return false;
}

static enum discount_refusal discount_check(const struct discount_terms *t,
                                            const struct discount_purchase *p)
{
    if (t == NULL)
        return DISCOUNT_UNKNOWN;
    if (!t->active)
        return DISCOUNT_INACTIVE;
    if (t->valid_from != DISCOUNT_NO_TIME && p->now < t->valid_from)
        return DISCOUNT_NOT_YET_VALID;
    if (t->valid_until != DISCOUNT_NO_TIME && p->now >= t->valid_until)
        return DISCOUNT_EXPIRED;
    if (t->max_redemptions > 0 && t->times_redeemed >= t->max_redemptions)
        return DISCOUNT_USED_UP;
    if (t->percent_off_bp == 0 &&
        (t->currency_code == NULL || strcmp(t->currency_code, p->currency->code) != 0))
        return DISCOUNT_WRONG_CURRENCY;
    if (!discount_for_product(t, p->product_id))
        return DISCOUNT_NOT_FOR_PRODUCT;
    return DISCOUNT_APPLIES;
}

enum discount_refusal discount_compute(const struct discount_terms *terms,
                                       const struct discount_purchase *p, int64_t *discount)
{
    assert(p->subtotal >= 0 && p->currency != NULL);
    *discount = 0;
    enum discount_refusal r = discount_check(terms, p);
    if (r != DISCOUNT_APPLIES)
        return r;
    assert((terms->percent_off_bp > 0) != (terms->amount_off > 0));
    int64_t off = terms->percent_off_bp > 0
                      ? discount_percent_of(p->subtotal, terms->percent_off_bp)
                      : terms->amount_off;
    *discount = off < p->subtotal ? off : p->subtotal;
    return DISCOUNT_APPLIES;
}

const char *discount_refusal_name(enum discount_refusal r)
{
    switch (r) {
    case DISCOUNT_APPLIES:
        return "applies";
    case DISCOUNT_UNKNOWN:
        return "unknown";
    case DISCOUNT_INACTIVE:
        return "inactive";
    case DISCOUNT_NOT_YET_VALID:
        return "not_yet_valid";
    case DISCOUNT_EXPIRED:
        return "expired";
    case DISCOUNT_USED_UP:
        return "used_up";
    case DISCOUNT_WRONG_CURRENCY:
        return "wrong_currency";
    case DISCOUNT_NOT_FOR_PRODUCT:
        return "not_for_product";
    }
    return "unknown";
}

void discount_refusal_message(enum discount_refusal r, const char *code,
                              const struct discount_terms *terms, const struct discount_purchase *p,
                              char *out, size_t outlen)
{
    char when[RFC3339_LEN];
    switch (r) {
    case DISCOUNT_APPLIES:
        snprintf(out, outlen, "Coupon %s applies", code);
        return;
    case DISCOUNT_UNKNOWN:
        snprintf(out, outlen, "No coupon with code %s", code);
        return;
    case DISCOUNT_INACTIVE:
        snprintf(out, outlen, "Coupon %s is not active", code);
        return;
    case DISCOUNT_NOT_YET_VALID:
        rfc3339_format(terms->valid_from, when);
        snprintf(out, outlen, "Coupon %s is not valid before %s", code, when);
        return;
    case DISCOUNT_EXPIRED:
        rfc3339_format(terms->valid_until, when);
        snprintf(out, outlen, "Coupon %s expired at %s", code, when);
        return;
    case DISCOUNT_USED_UP:
        snprintf(out, outlen, "Coupon %s has been redeemed its maximum number of times", code);
        return;
    case DISCOUNT_WRONG_CURRENCY:
        snprintf(out, outlen, "Coupon %s takes an amount off in %s, not in %s", code,
                 terms->currency_code != NULL ? terms->currency_code : "another currency",
                 p->currency->code);
        return;
    case DISCOUNT_NOT_FOR_PRODUCT:
        snprintf(out, outlen, "Coupon %s does not apply to this product", code);
        return;
    }
    snprintf(out, outlen, "Coupon %s does not apply", code);
}
