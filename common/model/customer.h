/* A customer of a merchant: who pays, with the details a checkout session
 * can take from it (email, name, phone) and a billing address. Declared once
 * as a field list (model/resource.h); stored, read, created, updated and
 * deleted through model/resource_store.h like every catalog resource. A
 * customer is deleted only while no checkout session or subscription of the
 * tenant refers to it (the session worker decides, in the delete's
 * transaction).
 *
 * The completion of a session without a customer finds the tenant's customer
 * with the session's email, or creates one, in the completion's transaction:
 * customer_for_completion. */
#ifndef CAISSE_CUSTOMER_H
#define CAISSE_CUSTOMER_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"
#include "infra/db.h"
#include "model/outbox.h"
#include "model/resource.h"
#include "model/resource_store.h"

/* The rules of a checkout session's customer_email, customer_name and
 * customer_phone, which a completion copies into a customer. */
#define CUSTOMER_EMAIL_MAX 254
#define CUSTOMER_NAME_MAX 250

#define CUSTOMER_COMMAND_CREATE "customer.create"
#define CUSTOMER_COMMAND_UPDATE "customer.update"
#define CUSTOMER_COMMAND_DELETE "customer.delete"
#define CUSTOMER_EVENT_CREATED "customer.created"
#define CUSTOMER_EVENT_UPDATED "customer.updated"
#define CUSTOMER_EVENT_DELETED "customer.deleted"

/* The REST object's order is this list's; members are the columns. */
#define CUSTOMER_FIELDS(X)                                                                         \
    X(UUID, id, "customer_id", 0, 0, ())                                                           \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    /* Matched whatever its case (list filter, completion). */                                     \
    X(STRING, email, "email", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())                       \
    X(STRING, name, "name", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())                         \
    /* E.164. */                                                                                   \
    X(STRING, phone, "phone", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())                       \
    /* {line1, line2, city, postal_code, state, country}, every member present                     \
     * (null when not given), as the gateway checked it. */                                        \
    X(OBJECT, billing_address, "billing_address", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())   \
    X(OBJECT, metadata, "metadata", RESOURCE_UPDATABLE, 0, ())                                     \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* The create's Idempotency-Key and the hash of its canonical body. */                         \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

/* Strings owned (NULL is null), UUIDs "" for null, times epoch seconds,
 * billing_address an owned object or NULL, metadata an owned object. */
struct customer {
    CUSTOMER_FIELDS(RESOURCE_MEMBER)
};

extern const struct resource customer_resource;
extern const struct resource_store customer_store;

/* init: all null, metadata empty. free: owned members; twice is harmless. */
int customer_init(struct customer *c);
void customer_free(struct customer *c);

/* A new customer of the tenant, not stored yet: a new UUIDv7 id, created_at =
 * updated_at = now, email, name and phone copied (NULL: none), no billing
 * address, no metadata, no Idempotency-Key. c needs no init; customer_free
 * it. The caller has checked the values (a session's customer details follow
 * the same rules). C_ERR: out of memory, c then holds nothing to free. */
int customer_new(struct customer *c, const char *organization_id, const char *environment,
                 const char *email, const char *name, const char *phone, int64_t now);

/* The customer a session completing now gets, in the caller's transaction
 * (the session worker's, which then completes it with customer_id): when the
 * session session_id is open (its completion guard holds) and has no
 * customer_id, the tenant's customer whose email is the session's
 * customer_email whatever the case (the newest if several), else a new
 * customer made of the session's email, name and phone, inserted with its
 * customer.created event (a new event id) added to events. The session's row
 * stays locked until the commit, so that its guard still holds when it is
 * completed (the expiry worker skips it); the customer found is share-locked,
 * so that a concurrent delete of it waits and then sees the session.
 * customer_id is "" when there is nothing to attach: the session is not open,
 * has a customer already, or no email (then it has a customer_id, which
 * sessions without an email must have). C_ERR: PostgreSQL failed or out of
 * memory (events as it was). */
int customer_for_completion(struct db *db, const char *session_id, struct outbox_batch *events,
                            char customer_id[UUID_STR_LEN]);

#endif
