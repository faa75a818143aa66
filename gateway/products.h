/* Products (POST/GET /products, GET/PATCH /products/{id}): the catalog's
 * generic handlers (catalog.h) with the products' descriptor and rules.
 * Archiving is PATCH {"active": false}; products are never deleted. */
#ifndef GATEWAY_PRODUCTS_H
#define GATEWAY_PRODUCTS_H

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "infra/db.h"
#include "model/product.h"
#include "model/tenant.h"

extern const struct catalog_resource products_catalog;

/* POST /products: name (required), description, active (default true),
 * metadata. obj is a product_init()ed struct product. (A new product has no
 * prices yet: default_price_id is set by PATCH.) */
int products_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                             struct error *err);
/* PATCH /products/{id}: any of name, description (null clears it), active,
 * metadata (replaced whole; null empties it), default_price_id (null clears
 * it). */
int products_validate_update(const json_t *body, json_t **changes, struct error *err);

/* A default_price_id set by PATCH names an active price of the tenant whose
 * product_id is this product's. */
enum catalog_check products_check_update(struct db *db, const struct tenant_identity *who,
                                         const void *current, const json_t *changes,
                                         struct error *err);

#endif
