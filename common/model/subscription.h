/* A subscription: a customer's recurring purchase of a recurring price, paid
 * period by period through checkout sessions; there is no stored payment
 * method and nothing is charged automatically. Its life:
 *
 *   created   when a session of a recurring price completes
 *             (subscription_store_start, in the completion's transaction):
 *             active, its first period from then on by the price's interval;
 *   renewed   when a renewal session (one naming the subscription) completes
 *             (subscription_store_renew): the period advances, active again;
 *   past_due  once an active subscription's period ended without a renewal
 *             (subscription_store_mark_past_due, the expiry worker's sweep);
 *   canceled  on the merchant's request (POST /subscriptions/{id}/cancel: the
 *             subscription.cancel command, the store's guarded action, applied
 *             by the session worker); nothing leaves canceled.
 *
 * Declared once as a field list (model/resource.h) and read through
 * model/resource_store.h like every catalog resource; each change writes its
 * event (subscription.created, .renewed, .past_due, .canceled) through the
 * one outbox writer in the transaction of the change. */
#ifndef CAISSE_SUBSCRIPTION_H
#define CAISSE_SUBSCRIPTION_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/uuid.h"
#include "infra/db.h"
#include "model/outbox.h"
#include "model/resource.h"
#include "model/resource_store.h"

#define SUBSCRIPTION_COMMAND_CANCEL "subscription.cancel"
#define SUBSCRIPTION_EVENT_CREATED "subscription.created"
#define SUBSCRIPTION_EVENT_RENEWED "subscription.renewed"
#define SUBSCRIPTION_EVENT_CANCELED "subscription.canceled"
#define SUBSCRIPTION_EVENT_PAST_DUE "subscription.past_due"

enum subscription_status { SUBSCRIPTION_ACTIVE = 0, SUBSCRIPTION_PAST_DUE, SUBSCRIPTION_CANCELED };

extern const char *const subscription_status_names[];

/* An active subscription whose period has ended reads as past_due even before
 * the expiry worker's sweep moved it, as an open session past its expires_at
 * reads as expired: a read never shows a subscription active past its period. */
#define SUBSCRIPTION_STATUS_READ                                                                   \
    "CASE WHEN status = 'active' AND current_period_end <= now() THEN 'past_due' ELSE status END"

/* The REST object's order is this list's; members are the columns. */
#define SUBSCRIPTION_FIELDS(X)                                                                     \
    X(UUID, id, "subscription_id", 0, 0, ())                                                       \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    X(UUID, customer_id, "customer_id", 0, 0, ())                                                  \
    /* A recurring price; prices never change, so its interval is the period's. */                 \
    X(UUID, price_id, "price_id", 0, 0, ())                                                        \
    X(UUID, product_id, "product_id", 0, 0, ())                                                    \
    X(ENUM, status, "status", 0, subscription_status,                                              \
      (.values = subscription_status_names, .read_sql = SUBSCRIPTION_STATUS_READ))                 \
    X(TIME, current_period_start, "current_period_start", 0, 0, ())                                \
    /* Paid up to here: past it without a renewal, the subscription is past_due. */                \
    X(TIME, current_period_end, "current_period_end", 0, 0, ())                                    \
    /* The session that created it or last renewed it. */                                          \
    X(UUID, latest_checkout_session_id, "latest_checkout_session_id", 0, 0, ())                    \
    X(TIME, canceled_at, "canceled_at", RESOURCE_NULLABLE, 0, ())                                  \
    X(OBJECT, metadata, "metadata", 0, 0, ())                                                      \
    X(CODE, environment, "environment", 0, RESOURCE_STORE_ENV_LEN,                                 \
      (.values = resource_store_environments))                                                     \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* Columns every stored resource has; a subscription is never created by                       \
     * a request of its own, so they stay null. */                                                 \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, RESOURCE_STORE_REQUEST_HASH_LEN, ())

/* UUIDs "" for null, times epoch seconds (canceled_at RESOURCE_NULL_INT64
 * while not canceled), metadata an owned object. */
struct subscription {
    SUBSCRIPTION_FIELDS(RESOURCE_MEMBER)
};

extern const struct resource subscription_resource;
/* Get, list (filters customer_id, status) and the cancel action; no create or
 * update command: subscriptions come from completions. */
extern const struct resource_store subscription_store;
/* POST /subscriptions/{id}/cancel: status canceled, canceled_at now, unless
 * it is canceled already (refused: invalid_state). */
extern const struct resource_store_action subscription_cancel;

/* init: all null, active, metadata empty. free: owned members; twice is harmless. */
int subscription_init(struct subscription *s);
void subscription_free(struct subscription *s);

/* ---- periods ------------------------------------------------------------------------ */

/* A recurring price's interval (prices.recurring_interval). */
enum subscription_interval {
    SUBSCRIPTION_INTERVAL_DAY,
    SUBSCRIPTION_INTERVAL_WEEK,
    SUBSCRIPTION_INTERVAL_MONTH,
    SUBSCRIPTION_INTERVAL_YEAR,
};

#define SUBSCRIPTION_INTERVAL_COUNT_MAX 365 /* prices.recurring_interval_count */
/* The last second RFC 3339 times of the API can show: 9999-12-31T23:59:59Z. */
#define SUBSCRIPTION_TIME_MAX INT64_C(253402300799)

/* "day", "week", "month" or "year"; C_ERR for anything else. */
int subscription_interval_parse(const char *name, enum subscription_interval *out);

/* The end of a period that starts at start (epoch seconds) and lasts count
 * intervals, in UTC calendar terms: days and weeks are 86400 and 604800
 * seconds; months and years keep the time of day and the day of the month,
 * or take the month's last day when it is shorter (a month from January 31
 * is February 28, or 29 in a leap year; a year from February 29 is February
 * 28). C_ERR: count outside 1..SUBSCRIPTION_INTERVAL_COUNT_MAX, or start or
 * the end outside years 1 to 9999 (*end untouched). */
int subscription_period_end(int64_t start, enum subscription_interval interval, int count,
                            int64_t *end);

/* ---- changes, each in the caller's transaction with its event --------------------------- */

/* What a completed session of a recurring price starts. */
struct subscription_start {
    const char *id; /* the new subscription's (the caller's, e.g. made once per command) */
    const char *organization_id;
    const char *environment;
    const char *customer_id;         /* a customer of the tenant; NULL or "": none */
    const char *price_id;            /* the session's price */
    const char *checkout_session_id; /* the completed session */
    const json_t *metadata;          /* borrowed; NULL: {} */
    const char *event_id;            /* of its subscription.created event */
};

enum subscription_change {
    SUBSCRIPTION_CHANGED,       /* done, its event added to events */
    SUBSCRIPTION_UNCHANGED,     /* already done by the same session (a replay): nothing added */
    SUBSCRIPTION_NOT_RECURRING, /* start: the price is no recurring price of the tenant */
    SUBSCRIPTION_NO_CUSTOMER,   /* start: customer_id is none of the tenant's (or empty) */
    SUBSCRIPTION_NOT_FOUND,     /* renew: the tenant has no such subscription */
    SUBSCRIPTION_IS_CANCELED,   /* renew: it is canceled, which nothing leaves */
};

/* Creates the subscription of a completed session: reads the tenant's price
 * (its product, interval and count) and checks the customer is the tenant's
 * (NO_CUSTOMER otherwise), inserts the subscription active from the
 * transaction's time (whole seconds) to subscription_period_end of it, and adds
 * its subscription.created event (time: created_at) to events, which the
 * caller writes (outbox_insert) in the same transaction. A subscription with
 * in->id already there is a replay (UNCHANGED). out (may be NULL; not
 * initialized) gets the subscription when CHANGED: the caller frees it.
 * C_ERR: PostgreSQL failed, or out of memory. */
int subscription_store_start(struct db *db, const struct subscription_start *in,
                             struct outbox_batch *events, struct subscription *out,
                             enum subscription_change *change);

/* Renews the tenant's subscription id for the completed renewal session
 * checkout_session_id: locks it, and unless it is canceled advances its period
 * (the new one starts at the current end, or now if that has passed: a
 * past_due subscription starts afresh) by its price's interval, makes it
 * active, names the session as its latest, and adds subscription.renewed
 * (time: updated_at) to events. The same session again is a replay
 * (UNCHANGED). out as for start. C_ERR: PostgreSQL failed or out of memory. */
int subscription_store_renew(struct db *db, const char *organization_id, const char *environment,
                             const char *id, const char *checkout_session_id, const char *event_id,
                             struct outbox_batch *events, struct subscription *out,
                             enum subscription_change *change);

/* What the completion of a session did to subscriptions. */
enum subscription_completion {
    SUBSCRIPTION_COMPLETION_NONE,        /* no recurring price, no subscription_id */
    SUBSCRIPTION_COMPLETION_STARTED,     /* a new subscription, subscription.created added */
    SUBSCRIPTION_COMPLETION_RENEWED,     /* its period advanced, subscription.renewed added */
    SUBSCRIPTION_COMPLETION_NO_CUSTOMER, /* a recurring price, but the session has no customer */
    SUBSCRIPTION_COMPLETION_NOT_RENEWED, /* subscription_id names a canceled or unknown one */
};

/* The session worker's one call at a completion, in its transaction, once
 * session_store_complete applied it: reads the session by primary key (its
 * tenant, customer_id, price_id, subscription_id). A session created with a
 * subscription_id is a renewal (subscription_store_renew); otherwise a
 * session whose price is recurring starts a subscription for its customer
 * (subscription_store_start, a new UUIDv7). The event (a new UUIDv7) is added
 * to events. A subscription canceled between the session's create and its
 * completion stays canceled (NOT_RENEWED: the payment is the merchant's to
 * settle). C_ERR: PostgreSQL failed or out of memory. */
int subscription_store_complete(struct db *db, const char *checkout_session_id,
                                struct outbox_batch *events, enum subscription_completion *what);

/* What a renewal session takes from the tenant's subscription: its state,
 * customer, price (even archived: an existing subscription keeps its price),
 * the price's amount and currency, and the product's name. */
struct subscription_renewal {
    enum subscription_status status; /* as stored; canceled is what matters */
    char customer_id[UUID_STR_LEN];
    char price_id[UUID_STR_LEN];
    char product_id[UUID_STR_LEN];
    char currency_code[4];
    int64_t unit_amount; /* a recurring price always has one */
    char *product_name;  /* owned */
};

/* The terms of the tenant's subscription id; found false when it has none.
 * subscription_renewal_free releases them (twice is harmless). */
int subscription_store_renewal(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct subscription_renewal *out, bool *found);
void subscription_renewal_free(struct subscription_renewal *r);

/* The expiry worker's sweep, in the caller's transaction: claims up to limit
 * active subscriptions whose current_period_end has passed (FOR UPDATE SKIP
 * LOCKED, so replicas never wait on or move each other's rows), makes them
 * past_due with the status guard, and writes one subscription.past_due event
 * each (time: updated_at) to the outbox (one outbox_insert). *moved counts
 * them. */
int subscription_store_mark_past_due(struct db *db, long limit, long *moved);

/* ---- SQL, for tests -------------------------------------------------------------------- */

enum subscription_statement {
    SUBSCRIPTION_SQL_PRICE,
    SUBSCRIPTION_SQL_INSERT,
    SUBSCRIPTION_SQL_LOCK,
    SUBSCRIPTION_SQL_RENEW,
    SUBSCRIPTION_SQL_PAST_DUE,
    SUBSCRIPTION_SQL_SESSION,
    SUBSCRIPTION_SQL_RENEWAL,
    SUBSCRIPTION_SQL_COUNT
};

const char *subscription_sql(enum subscription_statement st);

#endif
