/* A coupon of the catalog: a discount code a session takes (coupon_code) or a
 * customer types on the hosted page. Declared once as a field list
 * (model/resource.h); stored, read, created and updated through
 * model/resource_store.h like every catalog resource. Coupons are never
 * deleted: active = false retires one.
 *
 * Besides the store, what the sessions and the hosted page need: the coupon of
 * a code (coupon_find_by_code), what it takes off a purchase (coupon_discount,
 * through model/discount.h) and the redemption a completion counts in its own
 * transaction (coupon_redeem). */
#ifndef CAISSE_COUPON_H
#define CAISSE_COUPON_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"
#include "infra/db.h"
#include "model/discount.h"
#include "model/resource.h"
#include "model/resource_store.h"

#define COUPON_CODE_MAX 64
#define COUPON_AMOUNT_OFF_MAX 1000000000000LL /* as a session's amount */
#define COUPON_PRODUCT_IDS_MAX 100

#define COUPON_COMMAND_CREATE "coupon.create"
#define COUPON_COMMAND_UPDATE "coupon.update"
#define COUPON_EVENT_CREATED "coupon.created"
#define COUPON_EVENT_UPDATED "coupon.updated"

/* The REST object's order is this list's; members are the columns. */
#define COUPON_FIELDS(X)                                                                           \
    X(UUID, id, "coupon_id", 0, 0, ())                                                             \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    /* 1 to 64 of [A-Za-z0-9_-], stored as given, unique in the tenant whatever its case. */       \
    X(STRING, code, "code", 0, 0, ())                                                              \
    /* A percentage of at most two decimals as basis points (1250: 12.5 %), or null. */            \
    X(HUNDREDTHS, percent_off_bp, "percent_off", RESOURCE_NULLABLE, 0,                             \
      (.min = 1, .max = DISCOUNT_BP_MAX))                                                          \
    /* Or an amount in currency_code's minor units. */                                             \
    X(INT64, amount_off, "amount_off", RESOURCE_NULLABLE, 0,                                       \
      (.min = 1, .max = COUPON_AMOUNT_OFF_MAX))                                                    \
    X(CODE, currency_code, "currency_code", RESOURCE_NULLABLE, 4,                                  \
      (.check = coupon_currency_is_supported, .check_failure = "is not a supported currency"))     \
    X(TIME, valid_from, "valid_from", RESOURCE_NULLABLE, 0, ())                                    \
    X(TIME, valid_until, "valid_until", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0, ())             \
    X(INT32, max_redemptions, "max_redemptions", RESOURCE_NULLABLE | RESOURCE_UPDATABLE, 0,        \
      (.min = 1, .max = INT32_MAX))                                                                \
    /* Counted by completions (coupon_redeem), never by a command. */                              \
    X(INT32, times_redeemed, "times_redeemed", RESOURCE_NOT_INSERTED, 0,                           \
      (.min = 0, .max = INT32_MAX))                                                                \
    /* {"product_ids": [...]}: the tenant's products it is for; empty, all. */                     \
    X(OBJECT, applies_to, "applies_to", 0, 0, ())                                                  \
    X(BOOL, active, "active", RESOURCE_UPDATABLE, 0, ())                                           \
    X(OBJECT, metadata, "metadata", RESOURCE_UPDATABLE, 0, ())                                     \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* The create's Idempotency-Key and the hash of its canonical body. */                         \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

/* Strings owned (NULL is null), UUIDs and codes "" for null, times epoch
 * seconds (RESOURCE_NULL_INT64 for null), numbers RESOURCE_NULL_INT32/64 for
 * null, applies_to and metadata owned objects. */
struct coupon {
    COUPON_FIELDS(RESOURCE_MEMBER)
};

extern const struct resource coupon_resource;
extern const struct resource_store coupon_store;

/* init: all null, active, times_redeemed 0, applies_to {"product_ids": []},
 * metadata empty. free: owned members; twice is harmless. */
int coupon_init(struct coupon *c);
void coupon_free(struct coupon *c);

/* Whether code has the shape of a coupon code: 1 to COUPON_CODE_MAX of
 * [A-Za-z0-9_-]. */
bool coupon_code_is_valid(const char *code);
/* Whether code is a currency of model/currency.h (the field's check). */
bool coupon_currency_is_supported(const char *code);

/* The tenant's coupon whose code is code, compared case-insensitively (SUMMER10
 * finds summer10), through the unique index on (tenant, lower(code)): one row
 * at most, whatever the statistics. found false: none (a code that cannot be
 * one, e.g. too long, finds none without a query). out (not initialized) is
 * filled only when found: the caller frees it then (coupon_free). */
int coupon_find_by_code(struct db *db, const char *organization_id, const char *environment,
                        const char *code, struct coupon *out, bool *found);

/* The redemption a session's completion counts, in the caller's transaction
 * (the session worker's batch), before it completes the session: one
 * statement that locks the session if it is still open (and not past
 * expires_at) and counts one redemption of its coupon while times_redeemed is
 * below max_redemptions. Concurrent completions queue on the coupon's row and
 * each sees the count the one before committed, so exactly max_redemptions of
 * them count, whatever their number. *refused: the session is open but its
 * coupon is used up: the caller must not complete it, and the refusal is
 * recorded as command_id's outcome (invalid_state, with the reason) for the
 * gateway that waits on it. Otherwise (counted, or the session is no longer
 * open, which the completion's own guard then sees) *refused is false.
 * Called only for a session made with a coupon (the completion command names
 * it), so other completions pay nothing. C_ERR: PostgreSQL failed (sqlstate
 * in db). */
int coupon_redeem_for_completion(struct db *db, const char *session_id, const char *command_id,
                                 bool *refused);

/* The redemption of a coupon a customer paid with on the hosted page, in the
 * caller's transaction (the session worker's, which holds the session's row):
 * counts one for the tenant's coupon id while times_redeemed is below
 * max_redemptions. Concurrent ones queue on the coupon's row, so exactly
 * max_redemptions of them count. *redeemed false: used up (or no such coupon
 * of the tenant). */
int coupon_redeem(struct db *db, const char *coupon_id, const char *organization_id,
                  const char *environment, bool *redeemed);
/* What c takes off p (model/discount.h's rules and rounding); c NULL: no
 * coupon had the code (DISCOUNT_UNKNOWN). With a refusal, c's code and the
 * message for the client are discount_refusal_message's (coupon_refusal_message). */
enum discount_refusal coupon_discount(const struct coupon *c, const struct discount_purchase *p,
                                      int64_t *discount);
/* The client's message for r about the coupon c (NULL: code, unknown). */
void coupon_refusal_message(enum discount_refusal r, const struct coupon *c, const char *code,
                            const struct discount_purchase *p, char *out, size_t outlen);

/* ---- SQL, for tests ------------------------------------------------------------------ */

enum coupon_statement { COUPON_SQL_FIND_BY_CODE, COUPON_SQL_REDEEM, COUPON_SQL_COUNT };
/* The text of a statement, built once. */
const char *coupon_sql(enum coupon_statement st);

#endif
