/* A product of the catalog: what a merchant sells, with its prices (model of
 * its own). Declared once as a field list (model/resource.h); stored, read,
 * created and updated through model/resource_store.h like every catalog
 * resource. Products are never deleted: archiving is active = false. */
#ifndef CAISSE_PRODUCT_H
#define CAISSE_PRODUCT_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"
#include "model/resource.h"
#include "model/resource_store.h"

#define PRODUCT_NAME_MAX 250
#define PRODUCT_DESCRIPTION_MAX 2000

#define PRODUCT_COMMAND_CREATE "product.create"
#define PRODUCT_COMMAND_UPDATE "product.update"
#define PRODUCT_EVENT_CREATED "product.created"
#define PRODUCT_EVENT_UPDATED "product.updated"

/* The REST object's order is this list's; members are the columns. */
#define PRODUCT_FIELDS(X)                                                                          \
    X(UUID, id, "product_id", 0, 0, ())                                                            \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    X(STRING, name, "name", RESOURCE_UPDATABLE, 0, ())                                             \
    X(STRING, description, "description", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())           \
    /* false: archived, refused for new sessions; never deleted. */                                \
    X(BOOL, active, "active", RESOURCE_UPDATABLE, 0, ())                                           \
    /* A price of this product; set through the prices' rules. */                                  \
    X(UUID, default_price_id, "default_price_id", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())   \
    X(OBJECT, metadata, "metadata", RESOURCE_UPDATABLE, 0, ())                                     \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* The create's Idempotency-Key and the hash of its canonical body. */                         \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

/* Strings owned (NULL is null), UUIDs "" for null, times epoch seconds,
 * metadata an owned object. */
struct product {
    PRODUCT_FIELDS(RESOURCE_MEMBER)
};

extern const struct resource product_resource;
extern const struct resource_store product_store;

/* init: all null, active, metadata empty. free: owned members; twice is harmless. */
int product_init(struct product *p);
void product_free(struct product *p);

#endif
