#include "payment_command.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/json_writer.h"
#include "core/log.h"
#include "core/result.h"
#include "core/rfc3339.h"
#include "model/checkout_total.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/payment_attempt.h"
#include "model/session.h"

/* Adds the event type about attempt a of session s (data: the session's
 * REST object with a's as payment_attempt). Its time is a's settled_at, to the
 * second as the attempt shows it (asyncapi.yaml): the worker may apply the
 * command a second or more after the gateway settled it. */
static int payment_command_event(struct outbox_batch *events, const struct session *s,
                                 const struct payment_attempt *a, const char *type,
                                 const char *event_id, const char *public_base_url)
{
    struct json_writer attempt = JSON_WRITER_INIT, w = JSON_WRITER_INIT;
    int rc = payment_attempt_write_json(&attempt, a);
    if (rc == C_OK)
        rc =
            session_event_write_with(&w, s, public_base_url, type, event_id,
                                     a->settled_at_ms > 0 ? a->settled_at_ms / 1000 : rfc3339_now(),
                                     "payment_attempt", attempt.buf);
    if (rc == C_OK) {
        struct outbox_event ev = {event_id, s->id, s->organization_id, s->environment, type, w.buf};
        rc = outbox_batch_add(events, &ev);
    }
    json_writer_free(&attempt);
    json_writer_free(&w);
    return rc;
}

/* A succeeded attempt that completed nothing: flagged, and its event. */
static int payment_command_refund(struct db *db, const struct transition_command *t,
                                  const struct session *s, struct payment_attempt *a,
                                  const char *reason, const char *public_base_url,
                                  struct outbox_batch *events)
{
    log_fields(LOG_WARN,
               json_pack("{ss ss ss}", "checkout_session_id", a->session_id, "payment_attempt_id",
                         a->id, "refund_reason", reason),
               "a succeeded payment did not complete its session: flagged for refund");
    if (payment_attempt_flag_refund(db, a->id, reason) != C_OK)
        return C_ERR;
    a->refund_required = true;
    snprintf(a->refund_reason, sizeof(a->refund_reason), "%s", reason);
    if (s == NULL)
        return C_OK; /* no session to write an event about */
    return payment_command_event(events, s, a, SESSION_EVENT_PAYMENT_REFUND_REQUIRED,
                                 t->payment_event_id, public_base_url);
}

/* *refund: why a's amounts are not what s asks for them now, or NULL when
 * they are. C_ERR: PostgreSQL failed. */
static int payment_command_check_amounts(struct db *db, const struct session *s,
                                         const struct payment_attempt *a, const char **refund)
{
    *refund = NULL;
    if (strcmp(a->currency_code, s->currency_code) != 0) {
        *refund = PAYMENT_REFUND_AMOUNT_MISMATCH;
        return C_OK;
    }
    struct coupon c;
    bool found = false;
    if (a->coupon_id[0] != '\0') {
        if (coupon_find_by_code(db, s->organization_id, s->environment, a->coupon_code, &c,
                                &found) != C_OK)
            return C_ERR;
        if (found && strcasecmp(c.id, a->coupon_id) != 0) {
            coupon_free(&c);
            found = false;
        }
        if (!found) {
            *refund = PAYMENT_REFUND_COUPON_INVALID;
            return C_OK;
        }
    }
    struct checkout_total total;
    enum discount_refusal refusal = DISCOUNT_APPLIES;
    struct error err = ERROR_INIT;
    int rc = checkout_total_with_coupon(s, a->quantity, found ? &c : NULL, rfc3339_now(), &total,
                                        &refusal, &err);
    if (found)
        coupon_free(&c);
    if (rc != C_OK)
        *refund = PAYMENT_REFUND_AMOUNT_MISMATCH;
    else if (refusal == DISCOUNT_USED_UP)
        *refund = PAYMENT_REFUND_COUPON_USED_UP;
    else if (refusal != DISCOUNT_APPLIES)
        *refund = PAYMENT_REFUND_COUPON_INVALID;
    else if (total.subtotal != a->amount_subtotal || total.discount != a->amount_discount ||
             total.total != a->amount)
        *refund = PAYMENT_REFUND_AMOUNT_MISMATCH;
    return C_OK;
}

/* The session's payment object. New reference, NULL when out of memory. */
static json_t *payment_command_payment_object(const struct payment_attempt *a)
{
    char completed[RFC3339_LEN];
    rfc3339_format(a->settled_at_ms / 1000, completed);
    return json_pack("{ss ss ss ss ss sI ss ss}", "payment_attempt_id", a->id, "provider",
                     a->provider, "method", a->method, "reference", a->reference, "status",
                     payment_attempt_status_name(a->status), "amount", (json_int_t)a->amount,
                     "currency_code", a->currency_code, "completed_at", completed);
}

/* A succeeded attempt: the session's completion, or the refund flag. */
static int payment_command_complete(struct db *db, const struct transition_command *t,
                                    struct payment_attempt *a, const char *public_base_url,
                                    struct outbox_batch *events)
{
    struct session s;
    bool found = false;
    if (session_store_lock(db, a->session_id, &s, &found) != C_OK)
        return C_ERR;
    if (!found)
        return payment_command_refund(db, t, NULL, a, PAYMENT_REFUND_SESSION_EXPIRED,
                                      public_base_url, events);
    const char *refund = NULL;
    if (s.status == SESSION_COMPLETE)
        refund = PAYMENT_REFUND_SESSION_COMPLETE;
    else if (s.status == SESSION_EXPIRED)
        refund = PAYMENT_REFUND_SESSION_EXPIRED;
    else if (strcasecmp(s.organization_id, a->organization_id) != 0 ||
             strcmp(s.environment, a->environment) != 0)
        refund = PAYMENT_REFUND_AMOUNT_MISMATCH; /* not this tenant's session: paid for nothing */
    if (refund == NULL && payment_command_check_amounts(db, &s, a, &refund) != C_OK) {
        session_free(&s);
        return C_ERR;
    }
    /* Its reference is the completion's payment_reference: one that already
     * completed another session of the tenant cannot complete this one. */
    if (refund == NULL && a->reference[0] != '\0') {
        char owner[UUID_STR_LEN];
        bool taken = false;
        if (session_store_payment_reference_owner(db, s.organization_id, s.environment,
                                                  a->reference, s.id, owner, &taken) != C_OK) {
            session_free(&s);
            return C_ERR;
        }
        if (taken)
            refund = PAYMENT_REFUND_REFERENCE_IN_USE;
    }
    bool redeemed = true;
    if (refund == NULL && a->coupon_id[0] != '\0') {
        if (coupon_redeem(db, a->coupon_id, s.organization_id, s.environment, &redeemed) != C_OK) {
            session_free(&s);
            return C_ERR;
        }
        if (!redeemed)
            refund = PAYMENT_REFUND_COUPON_USED_UP;
    }
    if (refund != NULL) {
        int rc = payment_command_refund(db, t, &s, a, refund, public_base_url, events);
        session_free(&s);
        return rc;
    }
    /* A session completed without a customer gets one (model/customer.h). */
    char customer_id[UUID_STR_LEN];
    snprintf(customer_id, sizeof(customer_id), "%s", s.customer_id);
    int rc = C_OK;
    if (customer_id[0] == '\0')
        rc = customer_for_completion(db, a->session_id, events, customer_id);
    json_t *payment = rc == C_OK ? payment_command_payment_object(a) : NULL;
    bool applied = false;
    if (rc == C_OK && payment == NULL)
        rc = C_ERR;
    if (rc == C_OK) {
        struct session_payment_completion c = {.payment_reference = a->reference,
                                               .customer_id = customer_id,
                                               .quantity = a->quantity,
                                               .amount_subtotal = a->amount_subtotal,
                                               .amount_discount = a->amount_discount,
                                               .coupon_id = a->coupon_id,
                                               .coupon_code = a->coupon_code,
                                               .billing_address = a->billing_address,
                                               .customer_details = a->customer_details,
                                               .payment = payment};
        rc = session_store_complete_payment(db, a->session_id, &c, t->event_id, public_base_url,
                                            events, &applied);
    }
    json_decref(payment);
    /* The row is locked and was open: the guard holds. */
    if (rc == C_OK && !applied)
        rc = payment_command_refund(db, t, &s, a, PAYMENT_REFUND_SESSION_EXPIRED, public_base_url,
                                    events);
    else if (rc == C_OK)
        rc = transition_command_subscription(db, a->session_id, events);
    session_free(&s);
    return rc;
}

int payment_command_apply(struct db *db, const struct transition_command *t,
                          const char *public_base_url, struct outbox_batch *events, bool *applied)
{
    *applied = false;
    bool changed = false;
    struct payment_attempt stored;
    if (payment_attempt_upsert(db, t->payment, &changed, &stored) != C_OK)
        return C_ERR;
    int rc = C_OK;
    if (!changed) {
        /* A replay, or the settling of an attempt settled already. */
        payment_attempt_free(&stored);
        return C_OK;
    }
    *applied = true;
    if (stored.status == PAYMENT_ATTEMPT_SUCCEEDED) {
        rc = payment_command_complete(db, t, &stored, public_base_url, events);
    } else if (stored.status == PAYMENT_ATTEMPT_FAILED) {
        struct session s;
        bool found = false;
        rc = session_store_get_any(db, stored.session_id, &s, &found);
        if (rc == C_OK && found) {
            rc = payment_command_event(events, &s, &stored, SESSION_EVENT_PAYMENT_FAILED,
                                       t->payment_event_id, public_base_url);
            session_free(&s);
        }
    }
    payment_attempt_free(&stored);
    return rc;
}
