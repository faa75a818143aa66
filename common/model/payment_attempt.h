/* A payment a customer started on a session's hosted page: pending (the
 * customer approves it on the phone), failed (with the provider's reason), or
 * succeeded (it completed the session, or, when it could not - the session
 * expired or was completed by another attempt meanwhile - it is flagged for
 * refund). Written only by the session worker (the checkout.session.payment
 * command), read by the gateway (the page, GET of a session, the background
 * settle). Phone and card numbers are kept as their last 4 digits only.
 *
 * Table payment_attempts (migration 0008). */
#ifndef CAISSE_PAYMENT_ATTEMPT_H
#define CAISSE_PAYMENT_ATTEMPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/error.h"
#include "core/json_writer.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/coupon.h"
#include "model/session.h"

enum payment_attempt_status {
    PAYMENT_ATTEMPT_PENDING = 0,
    PAYMENT_ATTEMPT_SUCCEEDED,
    PAYMENT_ATTEMPT_FAILED
};

#define PAYMENT_ATTEMPT_PROVIDER_LEN 32
#define PAYMENT_ATTEMPT_METHOD_LEN 16 /* "mobile_money" | "card" */
#define PAYMENT_ATTEMPT_LAST4_LEN 5
#define PAYMENT_ATTEMPT_REFERENCE_LEN 128
#define PAYMENT_ATTEMPT_FAILURE_CODE_LEN 64
#define PAYMENT_ATTEMPT_FAILURE_MESSAGE_LEN 256
#define PAYMENT_ATTEMPT_REFUND_REASON_LEN 32

/* Why a succeeded payment completed nothing (refund_reason). */
#define PAYMENT_REFUND_SESSION_EXPIRED "session_expired"
#define PAYMENT_REFUND_SESSION_COMPLETE "session_already_complete"
#define PAYMENT_REFUND_COUPON_USED_UP "coupon_used_up"
#define PAYMENT_REFUND_COUPON_INVALID "coupon_not_applicable"
#define PAYMENT_REFUND_AMOUNT_MISMATCH "amount_mismatch"
/* The provider's reference already completed another session of the tenant
 * (one payment completes one session: migration 0012's unique index). */
#define PAYMENT_REFUND_REFERENCE_IN_USE "payment_reference_in_use"

struct payment_attempt {
    char id[UUID_STR_LEN]; /* derived from the session id and the page's attempt key */
    char session_id[UUID_STR_LEN];
    char organization_id[UUID_STR_LEN];
    char environment[SESSION_ENV_LEN];
    char provider[PAYMENT_ATTEMPT_PROVIDER_LEN]; /* "test" */
    char method[PAYMENT_ATTEMPT_METHOD_LEN];
    char account_last4[PAYMENT_ATTEMPT_LAST4_LEN]; /* last 4 digits of the phone or card */
    char reference[PAYMENT_ATTEMPT_REFERENCE_LEN]; /* the provider's; "" when none */
    enum payment_attempt_status status;
    char failure_code[PAYMENT_ATTEMPT_FAILURE_CODE_LEN]; /* failed: "card_declined"... */
    char failure_message[PAYMENT_ATTEMPT_FAILURE_MESSAGE_LEN];
    int64_t amount; /* asked of the provider: amount_subtotal - amount_discount */
    char currency_code[SESSION_CURRENCY_LEN];
    int32_t quantity;
    int64_t amount_subtotal, amount_discount;
    char coupon_id[UUID_STR_LEN]; /* "" none */
    char coupon_code[COUPON_CODE_MAX + 1];
    json_t *customer_details; /* owned; {email, name, phone}, or NULL */
    json_t *billing_address;  /* owned; {line1, city, postal_code, country}, or NULL */
    bool refund_required;
    char refund_reason[PAYMENT_ATTEMPT_REFUND_REASON_LEN]; /* PAYMENT_REFUND_*, "" none */
    int64_t started_at_ms;                                 /* epoch milliseconds */
    int64_t settled_at_ms;                                 /* 0 while pending */
};

/* init: zeroes, quantity 1. free: the owned objects; twice is harmless. */
void payment_attempt_init(struct payment_attempt *a);
void payment_attempt_free(struct payment_attempt *a);

const char *payment_attempt_status_name(enum payment_attempt_status st);
int payment_attempt_status_parse(const char *name, enum payment_attempt_status *out);

/* The last 4 digits of a phone or card number (fewer when it has fewer):
 * what is kept of it. */
void payment_attempt_last4(const char *account, char out[PAYMENT_ATTEMPT_LAST4_LEN]);

/* The REST object (GET of a session's payment_attempts, the payment events):
 * {payment_attempt_id, provider, method, account_last4, reference, status,
 * failure_code, failure_message, amount, currency_code, quantity,
 * amount_subtotal, amount_discount, coupon, refund_required, refund_reason,
 * started_at, settled_at}. New reference, NULL when out of memory. */
json_t *payment_attempt_to_json(const struct payment_attempt *a);
/* The same as text into w. C_ERR: w as it was. */
int payment_attempt_write_json(struct json_writer *w, const struct payment_attempt *a);

/* The payment command's attempt member (gateway to worker): every field of a
 * above plus session_id, organization_id, environment, customer_details,
 * billing_address and started_at_ms. from_json checks what PostgreSQL would
 * refuse; C_ERR with the reason (out untouched). */
json_t *payment_attempt_command_json(const struct payment_attempt *a);
int payment_attempt_from_command_json(const json_t *obj, struct payment_attempt *out,
                                      struct error *err);
/* The checkout.session.payment command (SESSION_COMMAND_PAYMENT): a CloudEvent
 * whose subject is a's session and whose data is payment_attempt_command_json(a).
 * NULL when out of memory. */
json_t *payment_attempt_command(const struct payment_attempt *a, const char *command_id);

/* ---- SQL ------------------------------------------------------------------- */

/* The worker's write, in its transaction: inserts a, or updates the stored
 * attempt of a's id while it is pending (a pending attempt becomes succeeded
 * or failed, with reference, failure and settled_at; a settled one never
 * changes). *changed: the row was inserted or updated; *stored (init'ed by
 * the call; payment_attempt_free it) is the row as it is now. */
int payment_attempt_upsert(struct db *db, const struct payment_attempt *a, bool *changed,
                           struct payment_attempt *stored);
/* Flags a succeeded attempt that completed nothing for refund, in the caller's
 * transaction. */
int payment_attempt_flag_refund(struct db *db, const char *id, const char *reason);

/* The session's newest attempt (found false: none). out is init'ed by the call
 * when found; payment_attempt_free it. */
int payment_attempt_latest(struct db *db, const char *session_id, struct payment_attempt *out,
                           bool *found);
/* One attempt by id (found false: none). */
int payment_attempt_get(struct db *db, const char *id, struct payment_attempt *out, bool *found);
/* The session's attempts, oldest first, at most limit: *out a new array of
 * *count (payment_attempt_array_free). */
int payment_attempt_list(struct db *db, const char *session_id, long limit,
                         struct payment_attempt **out, size_t *count);
void payment_attempt_array_free(struct payment_attempt *arr, size_t count);

/* The background settle's claim: up to limit pending attempts whose next poll
 * is due (FOR UPDATE SKIP LOCKED: gateways never claim the same one at once),
 * their next poll pushed back by retry_ms. *out as payment_attempt_list's. */
int payment_attempt_claim_due(struct db *db, long limit, long retry_ms,
                              struct payment_attempt **out, size_t *count);

#endif
