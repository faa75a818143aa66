#include "transition_command.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/result.h"
#include "model/command_outcome.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/subscription.h"
#include "payment_command.h"

int transition_command_kind_parse(const char *type, enum transition_command_kind *out)
{
    if (type != NULL && strcmp(type, SESSION_COMMAND_COMPLETE) == 0) {
        *out = TRANSITION_COMMAND_COMPLETE;
        return C_OK;
    }
    if (type != NULL && strcmp(type, SESSION_COMMAND_EXPIRE) == 0) {
        *out = TRANSITION_COMMAND_EXPIRE;
        return C_OK;
    }
    if (type != NULL && strcmp(type, SESSION_COMMAND_PAYMENT) == 0) {
        *out = TRANSITION_COMMAND_PAYMENT;
        return C_OK;
    }
    return C_ERR;
}

/* A string field without NUL: jansson only lets one in with JSON_ALLOW_NUL,
 * but libpq would cut the value there, so it is refused wherever it came from.
 * NULL with err set when it is missing (and not nullable) or not a string;
 * NULL without err when it is nullable and null or absent (*present false). */
static const char *transition_command_string(const json_t *data, const char *name, bool nullable,
                                             bool *present, struct error *err)
{
    const json_t *v = json_object_get(data, name);
    *present = v != NULL && !json_is_null(v);
    if (!*present) {
        if (!nullable)
            error_set(err, name, "field %s is missing", name);
        return NULL;
    }
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v))) {
        error_set(err, name, "field %s is not a string", name);
        return NULL;
    }
    return json_string_value(v);
}

/* A UUID field into out ("" when nullable and null or absent). */
static int transition_command_uuid(const json_t *data, const char *name, bool nullable,
                                   char out[UUID_STR_LEN], struct error *err)
{
    bool present;
    const char *s = transition_command_string(data, name, nullable, &present, err);
    out[0] = '\0';
    if (!present)
        return nullable ? C_OK : C_ERR;
    if (s == NULL)
        return C_ERR;
    if (!uuid_is_valid(s))
        return error_set(err, name, "field %s is not a UUID", name);
    snprintf(out, UUID_STR_LEN, "%s", s);
    return C_OK;
}

/* Characters, as the CHECK on payment_reference counts them: jansson has
 * validated the UTF-8, so every byte that is not a continuation byte starts one. */
static size_t transition_command_utf8_length(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int transition_command_decode_complete(const json_t *data, struct transition_command *t,
                                              struct error *err)
{
    bool present;
    const char *ref = transition_command_string(data, "payment_reference", false, &present, err);
    if (ref == NULL)
        return C_ERR;
    size_t len = transition_command_utf8_length(ref);
    if (len < 1 || len > SESSION_PAYMENT_REFERENCE_MAX)
        return error_set(err, "payment_reference",
                         "field payment_reference must have 1 to %d characters",
                         SESSION_PAYMENT_REFERENCE_MAX);
    if (transition_command_uuid(data, "customer_id", true, t->customer_id, err) != C_OK)
        return C_ERR;
    if (transition_command_uuid(data, "coupon_id", true, t->coupon_id, err) != C_OK)
        return C_ERR;
    const json_t *amount = json_object_get(data, "amount");
    const char *currency = transition_command_string(data, "currency_code", true, &present, err);
    if (currency == NULL && present)
        return C_ERR;
    if ((amount != NULL) != present)
        return error_set(err, "amount", "fields amount and currency_code go together");
    if (present) {
        if (!json_is_integer(amount))
            return error_set(err, "amount", "field amount is not an integer");
        if (strlen(currency) != SESSION_CURRENCY_LEN - 1)
            return error_set(err, "currency_code", "field currency_code is not a currency code");
        t->has_amount = true;
        t->amount = (int64_t)json_integer_value(amount);
        memcpy(t->currency_code, currency, SESSION_CURRENCY_LEN);
    }
    t->payment_reference = strdup(ref);
    if (t->payment_reference == NULL)
        return error_set(err, NULL, "out of memory");
    return C_OK;
}

static int transition_command_decode_expire(const json_t *data, struct transition_command *t,
                                            struct error *err)
{
    if (transition_command_uuid(data, "organization_id", false, t->organization_id, err) != C_OK)
        return C_ERR;
    bool present;
    const char *env = transition_command_string(data, "environment", false, &present, err);
    if (env == NULL)
        return C_ERR;
    if (strcmp(env, "test") != 0 && strcmp(env, "live") != 0)
        return error_set(err, "environment", "field environment must be test or live");
    snprintf(t->environment, sizeof(t->environment), "%s", env);
    return C_OK;
}

static int transition_command_decode_payment(const json_t *data, struct transition_command *t,
                                             struct error *err)
{
    struct payment_attempt a;
    if (payment_attempt_from_command_json(data, &a, err) != C_OK)
        return C_ERR;
    t->payment = malloc(sizeof(*t->payment));
    if (t->payment == NULL) {
        payment_attempt_free(&a);
        return error_set(err, NULL, "out of memory");
    }
    *t->payment = a;
    return C_OK;
}

int transition_command_decode(enum transition_command_kind kind, const json_t *data,
                              struct transition_command *out, struct error *err)
{
    if (!json_is_object(data))
        return error_set(err, NULL, "data is not a JSON object");
    struct transition_command t;
    memset(&t, 0, sizeof(t));
    t.kind = kind;
    if (transition_command_uuid(data, "checkout_session_id", false, t.session_id, err) != C_OK)
        return C_ERR;
    int rc;
    switch (kind) {
    case TRANSITION_COMMAND_COMPLETE:
        rc = transition_command_decode_complete(data, &t, err);
        break;
    case TRANSITION_COMMAND_EXPIRE:
        rc = transition_command_decode_expire(data, &t, err);
        break;
    case TRANSITION_COMMAND_PAYMENT:
    default:
        rc = transition_command_decode_payment(data, &t, err);
        break;
    }
    if (rc != C_OK) {
        transition_command_free(&t);
        return C_ERR;
    }
    *out = t;
    return C_OK;
}

void transition_command_free(struct transition_command *t)
{
    free(t->payment_reference);
    t->payment_reference = NULL;
    if (t->payment != NULL)
        payment_attempt_free(t->payment);
    free(t->payment);
    t->payment = NULL;
}

/* A completed session's subscription, started or renewed in the same
 * transaction (model/subscription.h); what could not be done is logged. */
int transition_command_subscription(struct db *db, const char *session_id,
                                    struct outbox_batch *events)
{
    enum subscription_completion what;
    if (subscription_store_complete(db, session_id, events, &what) != C_OK)
        return C_ERR;
    if (what == SUBSCRIPTION_COMPLETION_NO_CUSTOMER)
        log_fields(LOG_WARN, json_pack("{ss}", "checkout_session_id", session_id),
                   "completed session of a recurring price has no customer: no subscription");
    else if (what == SUBSCRIPTION_COMPLETION_NOT_RENEWED)
        log_fields(LOG_WARN, json_pack("{ss}", "checkout_session_id", session_id),
                   "completed renewal session names a canceled subscription: not renewed");
    return C_OK;
}

/* A refusal of the completion t: recorded under its command id (without one,
 * none to answer, it stands unrecorded), the session left as it is. */
static int transition_command_refuse(struct db *db, const struct transition_command *t,
                                     const struct command_outcome *o)
{
    log_fields(LOG_WARN,
               json_pack("{ss ss}", "checkout_session_id", t->session_id, "reason", o->message),
               "completion refused");
    if (t->command_id[0] == '\0')
        return C_OK;
    return command_outcome_insert(db, o, 1);
}

/* The checks of a completion against its open session, row locked: its
 * amount and currency, and its payment_reference unused by another session of
 * the tenant. *refused: the outcome is recorded, nothing else to do. */
static int transition_command_check_completion(struct db *db, const struct transition_command *t,
                                               bool *refused)
{
    *refused = false;
    struct session s;
    bool found = false;
    if (session_store_lock(db, t->session_id, &s, &found) != C_OK)
        return C_ERR;
    /* Gone, or no longer open: the guarded UPDATE does nothing, as before. */
    if (!found || s.status != SESSION_OPEN) {
        if (found)
            session_free(&s);
        return C_OK;
    }
    struct command_outcome o;
    int64_t due = session_amount_due(&s);
    int rc = C_OK;
    if (t->has_amount && (t->amount != due || strcmp(t->currency_code, s.currency_code) != 0)) {
        command_outcome_refused(&o, t->command_id, t->session_id, COMMAND_OUTCOME_INVALID_STATE,
                                "The completion states %lld %s but checkout session %s is for"
                                " %lld %s: it was not completed",
                                (long long)t->amount, t->currency_code, t->session_id,
                                (long long)due, s.currency_code);
        *refused = true;
    } else {
        char owner[UUID_STR_LEN];
        bool taken = false;
        rc = session_store_payment_reference_owner(db, s.organization_id, s.environment,
                                                   t->payment_reference, t->session_id, owner,
                                                   &taken);
        if (rc == C_OK && taken) {
            command_outcome_refused(&o, t->command_id, t->session_id, COMMAND_OUTCOME_CONFLICT,
                                    "payment_reference has already completed checkout session %s:"
                                    " one payment completes one session",
                                    owner);
            *refused = true;
        }
    }
    session_free(&s);
    if (rc == C_OK && *refused)
        rc = transition_command_refuse(db, t, &o);
    return rc;
}

int transition_command_apply(struct db *db, const struct transition_command *t,
                             const char *public_base_url, struct outbox_batch *events,
                             bool *applied)
{
    *applied = false;
    if (t->kind == TRANSITION_COMMAND_PAYMENT)
        return payment_command_apply(db, t, public_base_url, events, applied);
    if (t->kind == TRANSITION_COMMAND_COMPLETE) {
        bool refused = false;
        if (transition_command_check_completion(db, t, &refused) != C_OK)
            return C_ERR;
        if (refused)
            return C_OK;
        if (t->coupon_id[0] != '\0' &&
            coupon_redeem_for_completion(db, t->session_id, t->command_id, &refused) != C_OK)
            return C_ERR;
        if (refused)
            return C_OK; /* its coupon is used up: the session stays open */
        char customer_id[UUID_STR_LEN];
        snprintf(customer_id, sizeof(customer_id), "%s", t->customer_id);
        /* A session completed without a customer gets one (model/customer.h). */
        if (customer_id[0] == '\0' &&
            customer_for_completion(db, t->session_id, events, customer_id) != C_OK)
            return C_ERR;
        int rc = session_store_complete(db, t->session_id, t->payment_reference,
                                        customer_id[0] != '\0' ? customer_id : NULL, t->event_id,
                                        public_base_url, events, applied);
        /* Then its subscription, started or renewed (model/subscription.h). */
        if (rc == C_OK && *applied)
            rc = transition_command_subscription(db, t->session_id, events);
        return rc;
    }
    return session_store_expire(db, t->session_id, t->organization_id, t->environment, t->event_id,
                                public_base_url, events, applied);
}
