/* Customers (POST/GET /customers, GET/PATCH/DELETE /customers/{id}): the
 * catalog's generic handlers (catalog.h) with the customers' descriptor and
 * rules. A customer's email, name and phone follow the rules of a checkout
 * session's customer_email, customer_name and customer_phone, so that a
 * session's details always make a valid customer. */
#ifndef GATEWAY_CUSTOMERS_H
#define GATEWAY_CUSTOMERS_H

#include <jansson.h>

#include "catalog.h"
#include "core/error.h"
#include "infra/db.h"
#include "model/customer.h"
#include "model/session.h"
#include "model/tenant.h"

/* The lengths of a billing address's members, in characters. */
#define CUSTOMERS_ADDRESS_LINE_MAX 200
#define CUSTOMERS_POSTAL_CODE_MAX 20

extern const struct catalog_resource customers_catalog;

/* POST /customers: any of email, name, phone, billing_address, metadata
 * (none is required). obj is a customer_init()ed struct customer. */
int customers_validate_create(const json_t *body, const struct tenant_identity *who, void *obj,
                              struct error *err);
/* PATCH /customers/{id}: any of the same; null clears a field (metadata:
 * empties it); billing_address and metadata are replaced whole. */
int customers_validate_update(const json_t *body, json_t **changes, struct error *err);

/* A billing address (v, not NULL): null, or an object of line1, city and
 * country (ISO 3166-1 alpha-2, upper case), required, and line2,
 * postal_code, state, optional; each a string that is not only spaces.
 * *out: a new JSON null, or a new object with all six members in that order
 * (null for those not given). C_ERR: err names the member at fault
 * ("billing_address.country"). */
int customers_billing_address(const json_t *v, json_t **out, struct error *err);

/* A checkout session's create names a customer (s->customer_id, not ""):
 * it must be the tenant's, and its email, name and phone become the
 * session's customer_email, customer_name and customer_phone where the
 * request gave none. CATALOG_CHECK_INVALID: "customer_id <id> not found"
 * (param customer_id) in err, s untouched. One read, only for a session
 * that names a customer. */
enum catalog_check customers_fill_session(struct db *db, const struct tenant_identity *who,
                                          struct session *s, struct error *err);

#endif
