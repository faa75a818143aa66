/* The session worker's command decoder on any Kafka record, read as
 * session-worker/apply.c reads one: JSON, then by type the create's session
 * (session_from_json) or a transition (session-worker/transition_command.c,
 * transition_command_decode; a payment's attempt is model/payment_attempt.h's). Whatever is
 * accepted is within what PostgreSQL takes (UUIDs, test or live, a payment reference of 1 to 255
 * characters without NUL); an accepted session writes back (session_to_json) to an object that
 * decodes to the same session; a refusal says why.
 *
 * Input: the record's bytes. Dictionary: tests/fuzz/dict/command.dict. */
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "../../../session-worker/transition_command.h"
#include "../fuzz_input.h"
#include "core/result.h"
#include "core/utf8.h"
#include "model/session.h"

static void check_same_string(const char *what, const char *a, const char *b)
{
    FUZZ_CHECK((a == NULL) == (b == NULL) && (a == NULL || strcmp(a, b) == 0),
               "%s: \"%s\", then \"%s\"", what, a ? a : "(null)", b ? b : "(null)");
}

static void check_session_round_trip(const struct session *s)
{
    json_t *back = session_to_json(s, "http://localhost:8080");
    FUZZ_CHECK(back != NULL, "a decoded session does not write back");
    struct session t;
    struct error err = ERROR_INIT;
    FUZZ_CHECK(session_from_json(back, &t, &err) == C_OK,
               "a decoded session, written back, is refused: %s", err.message);
    json_decref(back);
    FUZZ_CHECK(strcmp(s->id, t.id) == 0 && strcmp(s->organization_id, t.organization_id) == 0 &&
                   strcmp(s->environment, t.environment) == 0 && s->amount == t.amount &&
                   strcmp(s->currency_code, t.currency_code) == 0 && s->status == t.status &&
                   strcmp(s->customer_id, t.customer_id) == 0 && s->quantity == t.quantity &&
                   s->expires_at == t.expires_at && s->created_at == t.created_at &&
                   s->updated_at == t.updated_at && strcmp(s->created_by, t.created_by) == 0 &&
                   json_equal(s->metadata, t.metadata),
               "a session changed when written back");
    check_same_string("title", s->title, t.title);
    check_same_string("customer_email", s->customer_email, t.customer_email);
    check_same_string("success_url", s->success_url, t.success_url);
    session_free(&t);
}

static void check_transition(const struct transition_command *t)
{
    FUZZ_CHECK(uuid_is_valid(t->session_id), "session id %s", t->session_id);
    FUZZ_CHECK(t->event_id[0] == '\0', "an event id from the decoder");
    if (t->kind == TRANSITION_COMMAND_COMPLETE) {
        FUZZ_CHECK(t->payment_reference != NULL, "no payment reference");
        size_t chars = utf8_length(t->payment_reference);
        FUZZ_CHECK(chars >= 1 && chars <= SESSION_PAYMENT_REFERENCE_MAX,
                   "payment reference of %zu characters", chars);
        FUZZ_CHECK(t->customer_id[0] == '\0' || uuid_is_valid(t->customer_id), "customer id %s",
                   t->customer_id);
    } else if (t->kind == TRANSITION_COMMAND_PAYMENT) {
        const struct payment_attempt *a = t->payment;
        FUZZ_CHECK(a != NULL, "no attempt");
        FUZZ_CHECK(uuid_is_valid(a->id) && uuid_is_valid(a->organization_id), "attempt ids");
        FUZZ_CHECK(a->amount == a->amount_subtotal - a->amount_discount && a->amount >= 0,
                   "amount %lld of %lld - %lld", (long long)a->amount,
                   (long long)a->amount_subtotal, (long long)a->amount_discount);
        FUZZ_CHECK(strlen(a->account_last4) <= 4, "account_last4 %s", a->account_last4);
        FUZZ_CHECK(!a->refund_required, "a command never flags a refund");
    } else {
        FUZZ_CHECK(uuid_is_valid(t->organization_id), "organization id %s", t->organization_id);
        FUZZ_CHECK(strcmp(t->environment, "test") == 0 || strcmp(t->environment, "live") == 0,
                   "environment %s", t->environment);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *cmd = json_loadb((const char *)data, size, 0, NULL);
    if (!json_is_object(cmd)) {
        json_decref(cmd);
        return 0;
    }
    const char *type = json_string_value(json_object_get(cmd, "type"));
    const json_t *payload = json_object_get(cmd, "data");
    struct error err = ERROR_INIT;
    enum transition_command_kind kind;
    if (type != NULL && strcmp(type, SESSION_COMMAND_CREATE) == 0) {
        struct session s;
        if (session_from_json(payload, &s, &err) == C_OK) {
            check_session_round_trip(&s);
            session_free(&s);
        } else {
            FUZZ_CHECK(err.message[0] != '\0', "a refused session without a reason");
        }
    } else if (transition_command_kind_parse(type, &kind) == C_OK) {
        struct transition_command t;
        memset(&t, 0xa5, sizeof(t));
        if (transition_command_decode(kind, payload, &t, &err) == C_OK) {
            FUZZ_CHECK(t.kind == kind, "kind");
            check_transition(&t);
            transition_command_free(&t);
        } else {
            FUZZ_CHECK(err.message[0] != '\0', "a refused transition without a reason");
        }
    } else {
        FUZZ_CHECK(transition_command_kind_parse(type, &kind) == C_ERR, "kind of %s",
                   type ? type : "");
    }
    json_decref(cmd);
    return 0;
}
