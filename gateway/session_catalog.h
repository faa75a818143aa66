/* Sessions made from the catalog (POST /checkout-sessions with product_id or
 * price_id): what the body leaves out is taken from the tenant's price and
 * product, and what it gives must agree with them.
 *
 *   price_id (product_id, if given, its product's) and no amount: amount =
 *     unit_amount x quantity, currency_code the price's, title the product's
 *     name unless given, product_id filled in. A pay-what-you-want price
 *     needs an amount within its range x quantity; a fixed price takes an
 *     amount only if it is the computed one.
 *   product_id alone: its default_price_id as above; with an amount and no
 *     default price, the merchant's amount (no price attached).
 *   Archived products and prices, ids of another tenant or environment: 400.
 *
 * A session without product_id and price_id reads nothing here (no query):
 * session_catalog_needed says whether to call session_catalog_resolve. */
#ifndef GATEWAY_SESSION_CATALOG_H
#define GATEWAY_SESSION_CATALOG_H

#include <stdbool.h>

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "infra/db.h"
#include "model/price.h"
#include "model/product.h"
#include "model/session.h"
#include "model/tenant.h"

/* Which members the create's body gave itself (not null): what the catalog
 * may fill is only what was not. */
struct session_catalog_given {
    bool amount;
    bool currency_code;
    bool title;
};

void session_catalog_given_of(const json_t *body, struct session_catalog_given *out);

/* Whether s (as validate_create_request left it) names a product or a price. */
bool session_catalog_needed(const struct session *s);

/* Checks s's product_id and price_id against the tenant's catalog and fills
 * amount, currency_code, title, product_id and price_id as above (s's other
 * fields untouched). CATALOG_CHECK_INVALID: err has the 400 (param, message),
 * s unchanged; CATALOG_CHECK_UNAVAILABLE: the database failed (503). */
enum catalog_check session_catalog_resolve(struct db *db, const struct tenant_identity *who,
                                           const struct session_catalog_given *given,
                                           struct session *s, struct error *err);

/* The pure part, for tests: s against price (NULL: none named, the product
 * has no default price) of product. */
enum catalog_check session_catalog_apply(const struct product *product, const struct price *price,
                                         const struct session_catalog_given *given,
                                         struct session *s, struct error *err);

#endif
