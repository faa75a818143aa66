/* The transition commands (checkout.session.complete, checkout.session.expire,
 * checkout.session.payment): decoding their data, which the gateway wrote with
 * session_command_complete, session_command_expire and
 * payment_attempt_command, and applying one with its guarded UPDATE (a
 * payment: payment_command.h). */
#ifndef SESSION_WORKER_TRANSITION_COMMAND_H
#define SESSION_WORKER_TRANSITION_COMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "core/error.h"
#include "core/uuid.h"
#include "infra/db.h"
#include "model/outbox.h"
#include "model/payment_attempt.h"
#include "model/session.h"

enum transition_command_kind {
    TRANSITION_COMMAND_COMPLETE,
    TRANSITION_COMMAND_EXPIRE,
    TRANSITION_COMMAND_PAYMENT
};

/* One decoded transition. UUID fields are "" when absent (only customer_id
 * may be); session_id is kept exactly as the command carried it, so the
 * notification names the session the way the gateway that waits on it does. */
struct transition_command {
    enum transition_command_kind kind;
    char session_id[UUID_STR_LEN];
    char event_id[UUID_STR_LEN]; /* set by the caller, once per batch */
    /* complete */
    char *payment_reference; /* owned */
    char customer_id[UUID_STR_LEN];
    /* What the payment side says it took, checked against the session's
     * amount_total and currency; a command written before they were stated
     * (has_amount false) is checked by the gateway only. */
    bool has_amount;
    int64_t amount;
    char currency_code[SESSION_CURRENCY_LEN];
    /* The session's coupon, named by the gateway for a session made with one
     * (its redemption is counted with the completion), else ""; and the
     * command's own id, under which a refusal is recorded. */
    char coupon_id[UUID_STR_LEN];
    char command_id[UUID_STR_LEN];
    /* expire */
    char organization_id[UUID_STR_LEN];
    char environment[SESSION_ENV_LEN];
    /* payment: the attempt (owned), and the id of the event it writes when it
     * failed or must be refunded (set by the caller, once per batch, like
     * event_id, which is its completion's). */
    struct payment_attempt *payment;
    char payment_event_id[UUID_STR_LEN];
};

/* C_OK and *out set when type names a transition command. */
int transition_command_kind_parse(const char *type, enum transition_command_kind *out);

/* Decodes the data of a command of the given kind. Refuses what PostgreSQL
 * would refuse (so one bad message is reported as such, not as a failed
 * batch): session_id, organization_id and customer_id must be UUIDs,
 * payment_reference 1..SESSION_PAYMENT_REFERENCE_MAX characters without NUL,
 * a completion's amount and currency_code both or neither (an integer, three
 * letters),
 * environment test or live; a payment's data is an attempt
 * (payment_attempt_from_command_json). Unknown fields are ignored. C_ERR with
 * the reason in err (out untouched) when malformed or out of memory. event_id
 * and payment_event_id are "". */
int transition_command_decode(enum transition_command_kind kind, const json_t *data,
                              struct transition_command *out, struct error *err);
void transition_command_free(struct transition_command *t);

/* Applies t in the caller's transaction: session_store_complete or
 * session_store_expire with t's event id, which adds the event to events. A
 * completion first locks the open session and refuses, with its outcome
 * recorded under the command's id (the gateway answers 409), an amount or
 * currency other than the session's, or a payment_reference another session
 * of the tenant was completed with; then, when it names no customer_id, gives
 * the session its customer (customer_for_completion: found by email or
 * created, with its event).
 * *applied false: the guard did not hold (a replay, a session no longer open,
 * another tenant's), nothing added. A payment: payment_command_apply. */
int transition_command_apply(struct db *db, const struct transition_command *t,
                             const char *public_base_url, struct outbox_batch *events,
                             bool *applied);

/* A completed session's subscription, started or renewed in the caller's
 * transaction (model/subscription.h); what could not be done is logged. */
int transition_command_subscription(struct db *db, const char *session_id,
                                    struct outbox_batch *events);

#endif
