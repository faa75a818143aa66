/* The REST handlers every catalog resource shares (products, prices,
 * customers, coupons, subscriptions): create with Idempotency-Key, get, list
 * with filters and a cursor, update (PATCH), and delete for a resource whose
 * store declares it (a customer). A resource's gateway part is a
 * struct catalog_resource (its store and its validation) and its route
 * entries in routes.c, whose context pointer names that descriptor:
 *
 *   {"POST", "/products", ..., catalog_create, "/v1/products", &products_catalog},
 *
 * Writes are commands (model/resource_store.h) published through the
 * pipeline: the answer comes once the session worker applied the command
 * (201 for a create, 200 for an update or a delete) or refused it (its
 * outcome: 404, 409, 400), or 202 with the object as known past
 * CAISSE_CREATE_WAIT_MS, as
 * session creates do. Messages name the resource ("Product with ID ... not
 * found or access denied", "Product id must be a UUID"). */
#ifndef GATEWAY_CATALOG_H
#define GATEWAY_CATALOG_H

#include <stdbool.h>

#include <jansson.h>
#include <microhttpd.h>

#include "core/error.h"
#include "http.h"
#include "infra/db.h"
#include "model/resource_store.h"
#include "model/tenant.h"

/* What a check that needs the database found. */
enum catalog_check { CATALOG_CHECK_OK, CATALOG_CHECK_INVALID, CATALOG_CHECK_UNAVAILABLE };

struct catalog_resource {
    const struct resource_store *store;
    /* POST body: checks it completely (unknown members included) and fills
     * the fields a client sets in obj (resource_init()ed by the caller), with
     * their defaults; the caller fills id, tenant, times and key. C_ERR: err
     * has the 400's param and message. */
    int (*validate_create)(const json_t *body, const struct tenant_identity *who, void *obj,
                           struct error *err);
    /* PATCH body: checks it completely and gives *changes, a new object of the
     * updatable fields to change by REST name with their new values (empty:
     * nothing to change). C_ERR: err has the 400. */
    int (*validate_update)(const json_t *body, json_t **changes, struct error *err);
    /* Optional: what only the database can tell about a valid create (an id
     * in the body must name an object of the tenant: catalog_check_reference).
     * CATALOG_CHECK_INVALID: err has the 400. */
    enum catalog_check (*check_create)(struct db *db, const struct tenant_identity *who,
                                       const void *obj, struct error *err);
    /* Optional: the same for an update of current with changes. */
    enum catalog_check (*check_update)(struct db *db, const struct tenant_identity *who,
                                       const void *current, const json_t *changes,
                                       struct error *err);
};

/* Route handlers: req->route.route->ctx is the struct catalog_resource. */
enum MHD_Result catalog_create(struct http_request *req, struct db *db);
enum MHD_Result catalog_get(struct http_request *req, struct db *db);
enum MHD_Result catalog_list(struct http_request *req, struct db *db);
enum MHD_Result catalog_update(struct http_request *req, struct db *db);
/* POST <path>/{id}/<action>: one of the store's actions (the template's last
 * segment names it), no body or an empty object, Idempotency-Key optional
 * (the key's retries send one command; reused for another object: 409). 200
 * with the object after it once applied, the refusal's error (404, 409
 * invalid_state), or 202 with the object as it is past CAISSE_CREATE_WAIT_MS. */
enum MHD_Result catalog_action(struct http_request *req, struct db *db);
/* DELETE: 200 {"<id field>": id, "deleted": true} once the worker deleted it;
 * its refusal (404, or 409 resource_conflict while something refers to it);
 * 202 with the object as it is past the wait. Only for a store with
 * command_delete. */
enum MHD_Result catalog_delete(struct http_request *req, struct db *db);

/* Whether id names an object of store of the tenant; CATALOG_CHECK_INVALID
 * with "<field> <id> not found" (param field) in err when it does not. */
enum catalog_check catalog_check_reference(struct db *db, const struct tenant_identity *who,
                                           const struct resource_store *store, const char *field,
                                           const char *id, struct error *err);

/* The HTTP status of a refused command's outcome code (model/command_outcome.h). */
unsigned catalog_outcome_status(const char *code);

#endif
