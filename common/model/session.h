/* The checkout session: the one place where its JSON form (the REST object,
 * the Kafka payloads), its C form and its SQL form are defined. */
#ifndef CAISSE_SESSION_H
#define CAISSE_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "infra/db.h"
#include "core/uuid.h"

enum session_status { SESSION_OPEN = 0, SESSION_COMPLETE, SESSION_EXPIRED };

#define SESSION_ENV_LEN 5           /* "test" / "live" */
#define SESSION_REQUEST_HASH_LEN 65 /* hex SHA-256 */

/* Strings are owned (NULL is JSON null); UUID fields are "" for null. */
struct session {
    char id[UUID_STR_LEN];
    char organization_id[UUID_STR_LEN];
    char environment[SESSION_ENV_LEN];
    int64_t amount; /* minor units */
    char currency_code[4];
    enum session_status status;
    char *title;
    char *description;
    char customer_id[UUID_STR_LEN];
    char *customer_email;
    char *customer_name;
    char *customer_phone;
    char product_id[UUID_STR_LEN];
    char price_id[UUID_STR_LEN];
    char subscription_id[UUID_STR_LEN];
    bool allow_quantity;
    int32_t quantity;
    char *success_url;
    char *cancel_url;
    bool allow_coupon_code;
    bool require_billing_address;
    char payment_link_id[UUID_STR_LEN];
    bool is_spi;
    bool is_pos;
    int64_t expires_at; /* epoch seconds */
    json_t *metadata;   /* owned reference to an object, never NULL after init */
    int64_t created_at;
    char created_by[UUID_STR_LEN];
    int64_t updated_at;
    /* Not part of the REST object: the create request's Idempotency-Key and the
     * hash of its canonical body, kept to answer retries. */
    char *idempotency_key;
    char request_hash[SESSION_REQUEST_HASH_LEN];
    /* Not part of the REST object either: the payment that completed it. */
    char *payment_reference;
};

/* init: all null/zero, metadata an empty object. free: owned members only. */
int session_init(struct session *s);
void session_free(struct session *s);

const char *session_status_name(enum session_status status);
int session_status_parse(const char *name, enum session_status *out);

/* The REST object (seed field order, plus url = <public_base_url>/checkout/<id>).
 * New reference, NULL on allocation failure. */
json_t *session_to_json(const struct session *s, const char *public_base_url);
/* Reads a REST object written by session_to_json (commands and events carry it).
 * Trusts the shape only as far as it checks: C_ERR with a message otherwise.
 * On C_ERR *out is untouched. */
int session_from_json(const json_t *obj, struct session *out, char *err, size_t errlen);

/* Kafka: the command that asks the session worker to create a session.
 * A CloudEvent (structured mode) whose data is the REST object; the
 * idempotency key and request hash ride as extension attributes. */
#define SESSION_COMMAND_CREATE "checkout.session.create"
#define SESSION_EVENT_CREATED "checkout.session.created"
#define SESSION_COMMAND_COMPLETE "checkout.session.complete"
#define SESSION_COMMAND_EXPIRE "checkout.session.expire"
#define SESSION_EVENT_COMPLETED "checkout.session.completed"
#define SESSION_EVENT_EXPIRED "checkout.session.expired"
#define SESSION_PAYMENT_REFERENCE_MAX 255

json_t *session_command_create(const struct session *s, const char *public_base_url,
                               const char *command_id);
/* Command asking the session worker to complete an open session (payment
 * done). data: {checkout_session_id, payment_reference, customer_id|null}.
 * customer_id may be NULL. */
json_t *session_command_complete(const char *session_id, const char *payment_reference,
                                 const char *customer_id, const char *command_id);
/* Command asking the session worker to expire an open session of a tenant
 * now (merchant request). data: {checkout_session_id, organization_id, environment}. */
json_t *session_command_expire(const char *session_id, const char *organization_id,
                               const char *environment, const char *command_id);
/* Builds the CloudEvent for a transition of s (data = REST object). */
json_t *session_event(const struct session *s, const char *public_base_url, const char *type,
                      const char *event_id, int64_t time);

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
int session_store_find_by_idempotency_key(struct db *db, const char *organization_id,
                                          const char *environment, const char *key,
                                          struct session *out, bool *found);
/* *out is a new array of *count sessions (free with session_array_free).
 * cursor_found is false when starting_after names no session of the tenant. */
int session_store_list(struct db *db, const char *organization_id, const char *environment,
                       const struct session_list_query *q, struct session **out, size_t *count,
                       bool *cursor_found);
void session_array_free(struct session *arr, size_t count);

/* Applies a batch of create commands idempotently: each record is the REST
 * object plus "idempotency_key", "request_hash", "event_id" and "event" (the
 * CloudEvent text). Sessions already present (same id, or same idempotency
 * key for the tenant) are skipped together with their event. Must run inside
 * the caller's transaction. *inserted counts new rows, whose ids are added to
 * the set inserted_ids (an object: id -> true). */
int session_store_insert_batch(struct db *db, json_t *records, long *inserted,
                               json_t *inserted_ids);
/* Any tenant's session, for internal callers (completion by payment providers). */
int session_store_get_any(struct db *db, const char *id, struct session *out, bool *found);

/* Guarded transitions. Each runs inside the caller's transaction, changes the
 * row only if the guard holds, and then writes the transition's event (id
 * event_id, data = the session after the change) to the outbox in the same
 * transaction. *applied false: the guard did not hold (nothing written), and
 * *out is untouched; true: *out is the session after the change.
 *   complete: status open and now < expires_at; sets payment_reference, and
 *             customer_id when given (NULL keeps the session's).
 *   expire:   status open and the session belongs to the tenant (manual expiry;
 *             also fine past expires_at, where it is what the expiry worker does). */
int session_store_complete(struct db *db, const char *id, const char *payment_reference,
                           const char *customer_id, const char *event_id,
                           const char *public_base_url, struct session *out, bool *applied);
int session_store_expire(struct db *db, const char *id, const char *organization_id,
                         const char *environment, const char *event_id, const char *public_base_url,
                         struct session *out, bool *applied);
/* The expiry worker's batch, in the caller's transaction: claims up to limit
 * due open sessions (FOR UPDATE SKIP LOCKED, so replicas never wait on or
 * double-expire each other's rows), expires them with the status guard, and
 * writes one checkout.session.expired event per row. *expired counts them. */
int session_store_expire_due(struct db *db, long limit, const char *public_base_url, long *expired);
/* Age in seconds of the oldest due open session (0 when none): expiry lag. */
int session_store_expiry_lag(struct db *db, double *seconds);

/* Of the given ids, which exist (in any tenant): for the gateway's read-your-
 * write check. ids: JSON array of strings. *existing: new JSON array. */
int session_store_existing_ids(struct db *db, json_t *ids, json_t **existing);

#endif
