/* The checkout session: the one place where its JSON form (the REST object,
 * the Kafka payloads), its C form and its SQL form are defined. */
#ifndef CAISSE_SESSION_H
#define CAISSE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/outbox.h"
#include "model/resource.h"

enum session_status { SESSION_OPEN = 0, SESSION_COMPLETE, SESSION_EXPIRED };

#define SESSION_ENV_LEN 5           /* "test" / "live" */
#define SESSION_CURRENCY_LEN 4      /* ISO 4217 code */
#define SESSION_REQUEST_HASH_LEN 65 /* hex SHA-256 */
/* The hosted page's secret: base64url of SESSION_PAGE_SECRET_BYTES random
 * bytes (192 bits), 32 characters, plus the terminator. */
#define SESSION_PAGE_SECRET_BYTES 24
#define SESSION_PAGE_SECRET_LEN 33
/* The bounds of the checkout_sessions CHECK constraints. */
#define SESSION_MAX_AMOUNT 1000000000000LL
#define SESSION_MAX_QUANTITY 10000

/* The session's fields, declared once (model/resource.h): the struct below,
 * the REST object (seed field order, then url), its reader, the select list,
 * the row reader and the create's insert all follow this list. Members are
 * the SQL columns; the JSON name is the REST object's (NULL: not in it). */
#define SESSION_FIELDS(X)                                                                          \
    X(UUID, id, "checkout_session_id", 0, 0, ())                                                   \
    X(UUID, organization_id, "organization_id", 0, 0, ())                                          \
    /* minor units */                                                                              \
    X(INT64, amount, "amount", 0, 0, (.min = 1, .max = SESSION_MAX_AMOUNT))                        \
    /* Only the shape: an event written while a code was supported must stay                       \
     * readable if the table later drops it. */                                                    \
    X(CODE, currency_code, "currency_code", 0, SESSION_CURRENCY_LEN,                               \
      (.check = session_is_currency_code, .check_failure = "is not a currency code"))              \
    /* Reads never show "open" once expires_at has passed, even before the                         \
     * expiry worker ran: the effective status is computed in the select list. */                  \
    X(ENUM, status, "status", 0, session_status,                                                   \
      (.values = session_status_names,                                                             \
       .read_sql = "CASE WHEN status = 'open' AND expires_at <= now() THEN 'expired'"              \
                   " ELSE status END"))                                                            \
    X(STRING, title, "title", RESOURCE_NULLABLE, 0, ())                                            \
    X(STRING, description, "description", RESOURCE_NULLABLE, 0, ())                                \
    X(UUID, customer_id, "customer_id", RESOURCE_NULLABLE, 0, ())                                  \
    X(STRING, customer_email, "customer_email", RESOURCE_NULLABLE, 0, ())                          \
    X(STRING, customer_name, "customer_name", RESOURCE_NULLABLE, 0, ())                            \
    X(STRING, customer_phone, "customer_phone", RESOURCE_NULLABLE, 0, ())                          \
    X(UUID, product_id, "product_id", RESOURCE_NULLABLE, 0, ())                                    \
    X(UUID, price_id, "price_id", RESOURCE_NULLABLE, 0, ())                                        \
    X(UUID, subscription_id, "subscription_id", RESOURCE_NULLABLE, 0, ())                          \
    X(BOOL, allow_quantity, "allow_quantity", 0, 0, ())                                            \
    X(INT32, quantity, "quantity", 0, 0, (.min = 1, .max = SESSION_MAX_QUANTITY))                  \
    X(STRING, success_url, "success_url", RESOURCE_NULLABLE, 0, ())                                \
    X(STRING, cancel_url, "cancel_url", RESOURCE_NULLABLE, 0, ())                                  \
    X(BOOL, allow_coupon_code, "allow_coupon_code", 0, 0, ())                                      \
    X(BOOL, require_billing_address, "require_billing_address", 0, 0, ())                          \
    X(UUID, payment_link_id, "payment_link_id", RESOURCE_NULLABLE, 0, ())                          \
    X(BOOL, is_spi, "is_spi", 0, 0, ())                                                            \
    X(BOOL, is_pos, "is_pos", 0, 0, ())                                                            \
    X(TIME, expires_at, "expires_at", 0, 0, ())                                                    \
    X(OBJECT, metadata, "metadata", 0, 0, ())                                                      \
    /* Values the fixed-size field would silently truncate ("production" to                        \
     * "prod") or that the table's CHECK rejects are refused when read. */                         \
    X(CODE, environment, "environment", 0, SESSION_ENV_LEN, (.values = session_environments))      \
    X(TIME, created_at, "created_at", 0, 0, ())                                                    \
    X(UUID, created_by, "created_by", 0, 0, ())                                                    \
    X(TIME, updated_at, "updated_at", 0, 0, ())                                                    \
    /* The catalog's totals: amount is the subtotal, less what a coupon takes                      \
     * off (model/discount.h) is what is left to pay. Rows written before they                     \
     * existed read as amount, 0, amount; commands without them are read so too                    \
     * (session_from_json). */                                                                     \
    X(INT64, amount_subtotal, "amount_subtotal", RESOURCE_NULLABLE, 0,                             \
      (.min = 1, .max = SESSION_MAX_AMOUNT, .read_sql = "COALESCE(amount_subtotal, amount)"))      \
    X(INT64, amount_discount, "amount_discount", RESOURCE_NULLABLE, 0,                             \
      (.min = 0, .max = SESSION_MAX_AMOUNT, .read_sql = "COALESCE(amount_discount, 0)"))           \
    X(INT64, amount_total, "amount_total", RESOURCE_NULLABLE, 0,                                   \
      (.min = 0, .max = SESSION_MAX_AMOUNT, .read_sql = "COALESCE(amount_total, amount)"))         \
    /* The coupon applied at creation ({id, code}, or null), redeemed when the                     \
     * session completes. */                                                                       \
    X(UUID, coupon_id, "coupon.id", RESOURCE_NULLABLE, 0, ())                                      \
    X(STRING, coupon_code, "coupon.code", RESOURCE_NULLABLE, 0, ())                                \
    /* What the hosted page's payment set when it completed the session                            \
     * (model/payment_attempt.h), null otherwise: the billing address                              \
     * {line1, city, postal_code, country}, the customer's details {email,                         \
     * name, phone} as given on the page, and the payment {payment_attempt_id,                     \
     * provider, method, reference, status, amount, currency_code, completed_at}. */               \
    X(OBJECT, billing_address, "billing_address", RESOURCE_NULLABLE | RESOURCE_NOT_INSERTED, 0,    \
      ())                                                                                          \
    X(OBJECT, customer_details, "customer_details", RESOURCE_NULLABLE | RESOURCE_NOT_INSERTED, 0,  \
      ())                                                                                          \
    X(OBJECT, payment, "payment", RESOURCE_NULLABLE | RESOURCE_NOT_INSERTED, 0, ())                \
    /* Not part of the REST object: the create request's Idempotency-Key and                       \
     * the hash of its canonical body, kept to answer retries... */                                \
    X(STRING, idempotency_key, NULL, RESOURCE_NULLABLE, 0, ())                                     \
    X(CODE, request_hash, NULL, RESOURCE_NULLABLE, SESSION_REQUEST_HASH_LEN, ())                   \
    /* The secret of the hosted page's url (made at create; "" for sessions made                   \
     * before it existed, whose page is not found). Only ever shown inside url. */                 \
    X(CODE, page_secret, NULL, RESOURCE_NULLABLE, SESSION_PAGE_SECRET_LEN,                         \
      (.check = session_page_secret_is_valid, .check_failure = "is not a page secret"))            \
    /* ...and the payment that completed it. */                                                    \
    X(STRING, payment_reference, NULL, RESOURCE_NULLABLE | RESOURCE_NOT_INSERTED, 0, ())

/* Strings are owned (NULL is JSON null); UUID fields are "" for null; times
 * are epoch seconds; metadata an owned reference to an object, never NULL
 * after init. */
struct session {
    SESSION_FIELDS(RESOURCE_MEMBER)
};

/* init: all null/zero, quantity 1, metadata an empty object. free: owned
 * members only; freeing twice is harmless. */
int session_init(struct session *s);
void session_free(struct session *s);

const char *session_status_name(enum session_status status);
int session_status_parse(const char *name, enum session_status *out);

/* A new page secret into out (SESSION_PAGE_SECRET_LEN - 1 base64url
 * characters). C_ERR: the system's random source failed (out untouched). */
int session_page_secret_generate(char out[SESSION_PAGE_SECRET_LEN]);
/* Whether text has a page secret's shape: 32 characters of [A-Za-z0-9_-]. */
bool session_page_secret_is_valid(const char *text);
/* Whether secret is s's page secret, compared in constant time (the time
 * tells nothing of how much of it matched). false when s has none or secret
 * is NULL. */
bool session_page_secret_matches(const struct session *s, const char *secret);

/* The REST object (seed field order, plus url = <public_base_url>/checkout/<id>/<page_secret>,
 * or <public_base_url>/checkout/<id> for a session without a page secret).
 * New reference, NULL on allocation failure. */
json_t *session_to_json(const struct session *s, const char *public_base_url);
/* The same object as compact JSON text, written without a jansson tree (a GET's
 * answer); malloc'ed, the caller's. NULL: out of memory or a string of s that
 * is not UTF-8. */
char *session_to_json_text(const struct session *s, const char *public_base_url);
/* Reads a REST object written by session_to_json (commands and events carry it).
 * Trusts the shape only as far as it checks: C_ERR with the first problem in
 * err otherwise ("field amount is out of range"). On C_ERR *out is untouched. */
int session_from_json(const json_t *obj, struct session *out, struct error *err);

/* Kafka: the command that asks the session worker to create a session.
 * A CloudEvent (structured mode) whose data is the REST object; the
 * idempotency key, request hash and page secret ride as extension attributes
 * (idempotencykey, requesthash, pagesecret). */
#define SESSION_COMMAND_CREATE "checkout.session.create"
#define SESSION_EVENT_CREATED "checkout.session.created"
#define SESSION_COMMAND_COMPLETE "checkout.session.complete"
#define SESSION_COMMAND_EXPIRE "checkout.session.expire"
#define SESSION_EVENT_COMPLETED "checkout.session.completed"
#define SESSION_EVENT_EXPIRED "checkout.session.expired"
#define SESSION_PAYMENT_REFERENCE_MAX 255
/* The hosted page's payments (model/payment_attempt.h): the command that
 * records an attempt (and completes the session when it succeeded), and the
 * events of an attempt that failed or that succeeded without completing it. */
#define SESSION_COMMAND_PAYMENT "checkout.session.payment"
#define SESSION_EVENT_PAYMENT_FAILED "checkout.session.payment_failed"
#define SESSION_EVENT_PAYMENT_REFUND_REQUIRED "checkout.session.payment_refund_required"

json_t *session_command_create(const struct session *s, const char *public_base_url,
                               const char *command_id);
/* Command asking the session worker to complete an open session (payment
 * done). data: {checkout_session_id, payment_reference, customer_id|null,
 * amount, currency_code}: what the payment side says it took, which the
 * worker checks against the session again. customer_id may be NULL. */
json_t *session_command_complete(const char *session_id, const char *payment_reference,
                                 const char *customer_id, int64_t amount, const char *currency_code,
                                 const char *command_id);
/* What a completion of s must state as its amount: amount_total (rows and
 * commands written before the totals existed: the amount, nothing taken off). */
int64_t session_amount_due(const struct session *s);
/* Command asking the session worker to expire an open session of a tenant
 * now (merchant request). data: {checkout_session_id, organization_id, environment}. */
json_t *session_command_expire(const char *session_id, const char *organization_id,
                               const char *environment, const char *command_id);
/* The event of a change of s, as the text the outbox keeps and the relay
 * publishes: a CloudEvent (structured mode) whose data is the REST object,
 * with organizationid and environment as extension attributes so consumers
 * can route on the tenant without parsing data. Written into w without any
 * jansson tree (the hot path of every create and every expiry). C_ERR (w as
 * it was): out of memory, or a string of s that is not UTF-8. */
int session_event_write(struct json_writer *w, const struct session *s, const char *public_base_url,
                        const char *type, const char *event_id, int64_t time);
/* The same with one more member in data, after url: "<member>":<member_json>
 * (JSON text, e.g. a payment attempt's object). */
int session_event_write_with(struct json_writer *w, const struct session *s,
                             const char *public_base_url, const char *type, const char *event_id,
                             int64_t time, const char *member, const char *member_json);

/* ---- SQL -------------------------------------------------------------- */

struct session_list_query {
    bool has_status;
    enum session_status status;
    long limit;
    long offset;
    char starting_after[UUID_STR_LEN]; /* "" when absent */
};

/* found: false when no such session for this tenant (not an error). */
int session_store_get(struct db *db, const char *organization_id, const char *environment,
                      const char *id, struct session *out, bool *found);
/* A session asked for by one of several coalesced reads: by id, of a tenant. */
struct session_key {
    const char *organization_id;
    const char *environment;
    const char *id; /* canonical (uuid_format) */
};
/* The sessions keys[0..n) name, read with one statement (by primary key,
 * whatever the statistics): found[i] and out[i] as session_store_get would
 * give them for keys[i], the tenant checked on every row. Ids may repeat. On
 * C_ERR found[] is all false and out[] holds nothing to free. */
int session_store_get_many(struct db *db, const struct session_key *keys, size_t n,
                           struct session *out, bool *found);
/* The statement session_store_get_many runs ($1 the ids, uuid[]): tests
 * EXPLAIN it to hold its plan. */
const char *session_store_get_many_sql(void);
int session_store_find_by_idempotency_key(struct db *db, const char *organization_id,
                                          const char *environment, const char *key,
                                          struct session *out, bool *found);
/* The statement session_store_find_by_idempotency_key runs ($1 organization,
 * $2 environment, $3 key): tests EXPLAIN it to hold its plan (see session.c). */
const char *session_store_idempotency_sql(void);
/* *out is a new array of *count sessions (free with session_array_free).
 * cursor_found is false when starting_after names no session of the tenant. */
int session_store_list(struct db *db, const char *organization_id, const char *environment,
                       const struct session_list_query *q, struct session **out, size_t *count,
                       bool *cursor_found);
void session_array_free(struct session *arr, size_t count);

/* Inserts sessions[0..n) in the caller's transaction (by COPY; by one insert
 * when some exist),
 * skipping each whose row exists already (same id, or same Idempotency-Key
 * for the tenant: a replayed command, a concurrent retry). inserted[i] tells
 * whether sessions[i] was. No id may repeat (the caller drops a command
 * replayed within its batch). No event is written: the caller writes the
 * created events of the inserted ones (outbox_insert) after this, in the same
 * transaction. On C_ERR inserted is untouched. */
int session_store_insert_batch(struct db *db, const struct session *const *sessions, size_t n,
                               bool *inserted);
/* The rows of that insert's fast way, COPY: sessions[0..n) as lines of COPY's
 * text format, in id order, appended to *buf (*len used of *cap, grown with
 * realloc). C_ERR (out of memory): *len as it was. */
int session_write_copy_rows(const struct session *const *sessions, size_t n, char **buf,
                            size_t *len, size_t *cap);
/* The one parameter of its other way (some rows exist): a JSON array of sessions[0..n) as rows,
 * {"ord":<index>,"<column>":<value>,...}, for jsonb_to_recordset. C_ERR: w
 * as it was. */
int session_write_insert_rows(struct json_writer *w, const struct session *const *sessions,
                              size_t n);
/* Any tenant's session, for internal callers (completion by payment providers). */
int session_store_get_any(struct db *db, const char *id, struct session *out, bool *found);

/* Guarded transitions. Each runs inside the caller's transaction, changes the
 * row only if the guard holds, and then adds the transition's event (id
 * event_id, data = the session after the change) to events, which the caller
 * writes (outbox_insert) in the same transaction; the row stays locked until
 * it ends, so the events of one session keep their order. *applied false:
 * the guard did not hold (nothing added).
 *   complete: status open and now < expires_at; sets payment_reference, and
 *             customer_id when given (NULL keeps the session's).
 *   expire:   status open and the session belongs to the tenant (manual expiry;
 *             also fine past expires_at, where it is what the expiry worker does). */
int session_store_complete(struct db *db, const char *id, const char *payment_reference,
                           const char *customer_id, const char *event_id,
                           const char *public_base_url, struct outbox_batch *events, bool *applied);
/* The session of id, its row locked FOR UPDATE until the caller's
 * transaction ends (its status read as every read does: "expired" once past
 * expires_at). found false: no such session. */
int session_store_lock(struct db *db, const char *id, struct session *out, bool *found);
/* Another session of the tenant (not exclude_id) that was completed with
 * payment_reference: its id in owner, found true. One payment completes one
 * session: migration 0012's unique index holds it (sessions completed before
 * it with a reference already used keep theirs, flagged
 * payment_reference_duplicate, outside the index). */
int session_store_payment_reference_owner(struct db *db, const char *organization_id,
                                          const char *environment, const char *payment_reference,
                                          const char *exclude_id, char owner[UUID_STR_LEN],
                                          bool *found);
/* What a payment on the hosted page sets when it completes a session
 * (borrowed). customer_id, coupon_id: NULL or "" for none. */
struct session_payment_completion {
    const char *payment_reference;
    const char *customer_id;
    int32_t quantity;
    int64_t amount_subtotal, amount_discount;
    const char *coupon_id, *coupon_code;
    const json_t *billing_address, *customer_details; /* NULL: none */
    const json_t *payment;                            /* the payment object */
};
/*   complete_payment: the completion's guard; sets status complete, c's
 *             totals (amount = amount_subtotal, amount_total = subtotal -
 *             discount), quantity, coupon, billing_address, customer_details,
 *             payment and payment_reference, and customer_id when given. */
int session_store_complete_payment(struct db *db, const char *id,
                                   const struct session_payment_completion *c, const char *event_id,
                                   const char *public_base_url, struct outbox_batch *events,
                                   bool *applied);
int session_store_expire(struct db *db, const char *id, const char *organization_id,
                         const char *environment, const char *event_id, const char *public_base_url,
                         struct outbox_batch *events, bool *applied);
/* The expiry worker's batch, in the caller's transaction: claims up to limit
 * due open sessions (FOR UPDATE SKIP LOCKED, so replicas never wait on or
 * double-expire each other's rows), expires them with the status guard, and
 * writes one checkout.session.expired event per row to the outbox (one
 * outbox_insert). *expired counts them. */
int session_store_expire_due(struct db *db, long limit, const char *public_base_url, long *expired);
/* Age in seconds of the oldest due open session (0 when none): expiry lag. */
int session_store_expiry_lag(struct db *db, double *seconds);

#endif
