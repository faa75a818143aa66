/* Coupons (POST/GET /coupons, GET/PATCH /coupons/{id}): the catalog's generic
 * handlers (catalog.h) with the coupons' descriptor and rules. A coupon is
 * retired with PATCH {"active": false}; coupons are never deleted. A code
 * another coupon of the tenant holds (in any case) is refused by the session
 * worker, where concurrent creates meet (409 resource_conflict). */
#ifndef GATEWAY_COUPONS_H
#define GATEWAY_COUPONS_H

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "model/coupon.h"
#include "model/session.h"
#include "model/tenant.h"

extern const struct catalog_resource coupons_catalog;

/* POST /coupons: code (required), percent_off or amount_off + currency_code,
 * valid_from, valid_until, max_redemptions, applies_to {product_ids}, active
 * (default true), metadata. obj is a coupon_init()ed struct coupon. */
int coupons_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                            struct error *err);
/* PATCH /coupons/{id}: any of active, valid_until (null: no end),
 * max_redemptions (null: no limit), metadata (replaced whole; null empties
 * it). The other fields are fixed at creation ("<field> cannot be changed"). */
int coupons_validate_update(const json_t *body, json_t **changes, struct error *err);
/* The rules that need the coupon as it is (current) or the database:
 * valid_until after valid_from, max_redemptions not below times_redeemed;
 * every applies_to product a product of the tenant. */
enum catalog_check coupons_check_create(struct db *db, const struct tenant_identity *who,
                                        const void *obj, struct error *err);
enum catalog_check coupons_check_update(struct db *db, const struct tenant_identity *who,
                                        const void *current, const json_t *changes,
                                        struct error *err);

/* ---- coupons on sessions ------------------------------------------------------------ */

/* The coupon_code of a session create's body: absent or null gives "" (none);
 * a string gives its text (a string that cannot be a code finds no coupon
 * later); anything else is a 400 ("coupon_code must be a string"). */
int coupons_session_code(const json_t *body, char code[COUPON_CODE_MAX + 1], struct error *err);
/* Sets s's totals: without a code (""), subtotal and total s->amount, no
 * discount, no coupon and no query. With one, the tenant's coupon of that
 * code (whatever its case) must apply to s at now (model/discount.h: active,
 * valid, not used up, for s's product, an amount off in s's currency): s gets
 * the discount, the total, and the coupon's id and code (as stored);
 * CATALOG_CHECK_INVALID with the reason in err (param coupon_code) otherwise.
 * The redemption is counted when s completes (coupon_redeem_for_completion). */
enum catalog_check coupons_apply_to_session(struct db *db, const struct tenant_identity *who,
                                            const char *code, int64_t now, struct session *s,
                                            struct error *err);

#endif
