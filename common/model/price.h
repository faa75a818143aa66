/* A price of the catalog: what a product costs, once (one_time) or every
 * interval (recurring), fixed (unit_amount) or chosen by the customer within
 * a range (pay-what-you-want: custom_unit_amount). Declared once as a field
 * list (model/resource.h); stored, read, created and updated through
 * model/resource_store.h like every catalog resource. Amounts, currency, type
 * and recurrence never change once created (a new price replaces an old one,
 * as at Stripe): only active, nickname and metadata are updatable. Prices are
 * never deleted: archiving is active = false. */
#ifndef CAISSE_PRICE_H
#define CAISSE_PRICE_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"
#include "model/resource.h"
#include "model/resource_store.h"

#define PRICE_CURRENCY_LEN 4 /* ISO 4217 code */
#define PRICE_INTERVAL_LEN 6 /* "month" */
/* The bounds of the prices table's CHECK constraints. */
#define PRICE_MAX_AMOUNT 1000000000000LL
#define PRICE_INTERVAL_COUNT_MAX 365
#define PRICE_NICKNAME_MAX 250

#define PRICE_COMMAND_CREATE "price.create"
#define PRICE_COMMAND_UPDATE "price.update"
#define PRICE_EVENT_CREATED "price.created"
#define PRICE_EVENT_UPDATED "price.updated"

enum price_type { PRICE_ONE_TIME = 0, PRICE_RECURRING };

/* "one_time", "recurring"; "day", "week", "month", "year" (NULL-terminated). */
extern const char *const price_type_names[];
extern const char *const price_intervals[];

/* The REST object's order is this list's; members are the columns. */
#define PRICE_FIELDS(X)                                                                            \
    X(UUID, id, "price_id", 0, 0, ())                                                              \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    X(UUID, product_id, "product_id", 0, 0, ())                                                    \
    /* Only the shape: an event written while a code was supported must stay                       \
     * readable if the table later drops it. */                                                    \
    X(CODE, currency_code, "currency_code", 0, PRICE_CURRENCY_LEN,                                 \
      (.check = price_is_currency_code, .check_failure = "is not a currency code"))                \
    /* minor units; null for pay-what-you-want */                                                  \
    X(INT64, unit_amount, "unit_amount", RESOURCE_NULLABLE, 0,                                     \
      (.min = 1, .max = PRICE_MAX_AMOUNT))                                                         \
    X(ENUM, type, "type", 0, price_type, (.values = price_type_names))                             \
    /* "recurring": {"interval", "interval_count"}, null for one_time. */                          \
    X(CODE, recurring_interval, "recurring.interval", RESOURCE_NULLABLE, PRICE_INTERVAL_LEN,       \
      (.values = price_intervals))                                                                 \
    X(INT32, recurring_interval_count, "recurring.interval_count", RESOURCE_NULLABLE, 0,           \
      (.min = 1, .max = PRICE_INTERVAL_COUNT_MAX))                                                 \
    /* "custom_unit_amount": {"minimum", "maximum"}: pay-what-you-want, else null. */              \
    X(INT64, custom_minimum, "custom_unit_amount.minimum", RESOURCE_NULLABLE, 0,                   \
      (.min = 1, .max = PRICE_MAX_AMOUNT))                                                         \
    X(INT64, custom_maximum, "custom_unit_amount.maximum", RESOURCE_NULLABLE, 0,                   \
      (.min = 1, .max = PRICE_MAX_AMOUNT))                                                         \
    /* false: archived, refused for new sessions; never deleted. */                                \
    X(BOOL, active, "active", RESOURCE_UPDATABLE, 0, ())                                           \
    X(STRING, nickname, "nickname", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())                 \
    X(OBJECT, metadata, "metadata", RESOURCE_UPDATABLE, 0, ())                                     \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* The create's Idempotency-Key and the hash of its canonical body. */                         \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

/* Strings owned (NULL is null), UUIDs and codes "" for null, nullable numbers
 * RESOURCE_NULL_INT64/INT32, times epoch seconds, metadata an owned object. */
struct price {
    PRICE_FIELDS(RESOURCE_MEMBER)
};

extern const struct resource price_resource;
extern const struct resource_store price_store;

/* Three upper-case letters (the field's shape; the gateway checks the
 * supported table). */
bool price_is_currency_code(const char *code);

/* init: all null, one_time, active, metadata empty. free: owned members;
 * twice is harmless. */
int price_init(struct price *p);
void price_free(struct price *p);

/* Whether the customer chooses the amount (custom_unit_amount), within
 * custom_minimum..custom_maximum per unit. */
bool price_is_pay_what_you_want(const struct price *p);

#endif
