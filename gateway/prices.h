/* Prices (POST/GET /prices, GET/PATCH /prices/{id}): the catalog's generic
 * handlers (catalog.h) with the prices' descriptor and rules. A price belongs
 * to an active product of the tenant; its amounts, currency, type and
 * recurrence never change (a new price replaces an old one); archiving is
 * PATCH {"active": false}, refused for the price that is its product's
 * default_price_id. Prices are never deleted. */
#ifndef GATEWAY_PRICES_H
#define GATEWAY_PRICES_H

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "infra/db.h"
#include "model/price.h"
#include "model/tenant.h"

extern const struct catalog_resource prices_catalog;

/* POST /prices: product_id (required), currency_code (default the
 * organization's), unit_amount or custom_unit_amount {minimum, maximum}
 * (exactly one; pay-what-you-want only one_time), type (default recurring
 * when recurring is given, else one_time), recurring {interval,
 * interval_count (default 1)} iff recurring, active (default true),
 * nickname, metadata. obj is a price_init()ed struct price. */
int prices_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                           struct error *err);
/* PATCH /prices/{id}: any of active, nickname (null clears it), metadata
 * (replaced whole; null empties it); a field that never changes is named in
 * its own 400. */
int prices_validate_update(const json_t *body, json_t **changes, struct error *err);

/* The database's part: the product is the tenant's and active (create); the
 * price archived is not its product's default price (update). */
enum catalog_check prices_check_create(struct db *db, const struct tenant_identity *who,
                                       const void *obj, struct error *err);
enum catalog_check prices_check_update(struct db *db, const struct tenant_identity *who,
                                       const void *current, const json_t *changes,
                                       struct error *err);

#endif
