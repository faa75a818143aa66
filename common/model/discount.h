/* What a coupon takes off a purchase, or why it takes nothing: the one
 * function every caller uses (a session created with a coupon_code, the code a
 * customer types on the hosted page, a completion checking again), so that the
 * rules and the rounding are the same everywhere. Pure: no database, no clock
 * (the caller gives now), no allocation.
 *
 * Amounts are integers of the currency's minor unit (model/currency.h), so a
 * percentage rounded half up to the currency's minor unit is rounded half up
 * to a whole number of them, whatever the exponent: 12.5 % of 999 is 124.875,
 * so 125, francs for XOF (exponent 0) or cents for EUR (exponent 2). A discount
 * never exceeds the subtotal (no total below zero), and 100 % takes all of it. */
#ifndef CAISSE_DISCOUNT_H
#define CAISSE_DISCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/currency.h"

/* Why a coupon takes nothing, in the order they are checked. */
enum discount_refusal {
    DISCOUNT_APPLIES = 0,
    DISCOUNT_UNKNOWN,         /* the tenant has no coupon with that code */
    DISCOUNT_INACTIVE,        /* active is false */
    DISCOUNT_NOT_YET_VALID,   /* now is before valid_from */
    DISCOUNT_EXPIRED,         /* now is valid_until or later */
    DISCOUNT_USED_UP,         /* times_redeemed has reached max_redemptions */
    DISCOUNT_WRONG_CURRENCY,  /* an amount off in another currency than the purchase's */
    DISCOUNT_NOT_FOR_PRODUCT, /* it names products, and not the one bought (or none is) */
};

/* No bound: valid_from / valid_until not set. */
#define DISCOUNT_NO_TIME INT64_MIN
/* The most basis points: 100 %. */
#define DISCOUNT_BP_MAX 10000

/* A coupon's terms (model/coupon.h: coupon_discount fills them from a coupon). */
struct discount_terms {
    int32_t percent_off_bp;    /* 1..DISCOUNT_BP_MAX (0.01 % to 100 %), or 0 for an amount */
    int64_t amount_off;        /* > 0, minor units of currency_code, when percent_off_bp is 0 */
    const char *currency_code; /* amount_off's */
    bool active;
    int64_t valid_from, valid_until; /* epoch seconds, or DISCOUNT_NO_TIME */
    int64_t max_redemptions;         /* 0: no limit */
    int64_t times_redeemed;
    /* The products it is for; none: every purchase, with a product or not. */
    const char *const *product_ids;
    size_t nproduct_ids;
};

struct discount_purchase {
    int64_t subtotal;                /* minor units, >= 0 */
    const struct currency *currency; /* the purchase's */
    const char *product_id;          /* the product bought; NULL or "": none */
    int64_t now;                     /* epoch seconds */
};

/* The discount terms give p: *discount (0 <= *discount <= p->subtotal) and
 * DISCOUNT_APPLIES, or 0 and the first rule that refuses it. terms NULL: no
 * such coupon (DISCOUNT_UNKNOWN). */
enum discount_refusal discount_compute(const struct discount_terms *terms,
                                       const struct discount_purchase *p, int64_t *discount);

/* round_half_up(subtotal * bp / 10000) without overflow for any subtotal >= 0. */
int64_t discount_percent_of(int64_t subtotal, int32_t bp);

/* The rule's short name ("expired"), stable: for logs and tests. */
const char *discount_refusal_name(enum discount_refusal r);
/* What a client is told, naming the coupon by code (and the time or the
 * currency at fault, from terms and p, which may be NULL for UNKNOWN):
 * "Coupon SUMMER10 expired at 2024-09-01T00:00:00Z". */
void discount_refusal_message(enum discount_refusal r, const char *code,
                              const struct discount_terms *terms, const struct discount_purchase *p,
                              char *out, size_t outlen);

#endif
