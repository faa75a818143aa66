#include "closing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline.h"
#include "core/result.h"
#include "core/utf8.h"
#include "model/command_outcome.h"
#include "model/session.h"
#include "validate.h"

static const char *closing_base_url;

void closing_init(const char *public_base_url)
{
    closing_base_url = public_base_url;
}

struct closing_ctx {
    char organization_id[UUID_STR_LEN]; /* expire: the tenant; complete: "" */
    char environment[SESSION_ENV_LEN];
    char *payment_reference; /* complete only */
    /* complete: the command, whose outcome says when the worker refused it
     * (its coupon used up, its reference or amount); "" otherwise */
    char command_id[UUID_STR_LEN];
};

static void closing_ctx_free(void *p)
{
    struct closing_ctx *ctx = p;
    if (ctx != NULL)
        free(ctx->payment_reference);
    free(ctx);
}

/* Body of an expire or complete request: a JSON object; expire may also have none. */
static enum MHD_Result closing_parse_body(struct http_request *req, bool required, json_t **out)
{
    if (req->body_len == 0 && !req->body_too_large && !required) {
        *out = json_object();
        return *out != NULL ? MHD_YES : http_respond_unavailable(req);
    }
    return http_read_json_object(req, out);
}

/* 400 for any field but the allowed ones; NULL-terminated list. */
static const char *closing_unknown_field(const json_t *body, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach((json_t *)body, key, value)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] != NULL; i++)
            ok = ok || strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

static bool closing_parse_id(struct http_request *req, const char *id, char out[UUID_STR_LEN])
{
    struct uuid u;
    if (uuid_parse(id, &u) != C_OK) {
        http_respond_error(req, 400, "validation_error", "id",
                           "Checkout session id must be a UUID");
        return false;
    }
    uuid_format(&u, out);
    return true;
}

/* ---- manual expiry ----------------------------------------------------------- */

static unsigned closing_expire_outcome(struct pipeline_op *op, const struct session *s)
{
    switch (s->status) {
    case SESSION_EXPIRED:
        pipeline_op_set_body(op, session_to_json(s, closing_base_url));
        return 200;
    case SESSION_COMPLETE:
        pipeline_op_set_error(op, "invalid_state", "id",
                              "Checkout session %s is complete and cannot be expired", s->id);
        return 409;
    case SESSION_OPEN:
        break;
    }
    return 0;
}

static unsigned closing_expire_decide(struct pipeline_op *op, struct db *db,
                                      enum pipeline_reason why)
{
    bool deadline = why == PIPELINE_DEADLINE;
    struct closing_ctx *ctx = op->ctx;
    struct session s;
    bool found = false;
    if (session_store_get(db, ctx->organization_id, ctx->environment, op->object_id, &s, &found) !=
            C_OK ||
        !found)
        return 0;
    unsigned status = closing_expire_outcome(op, &s);
    if (status == 0 && deadline)
        pipeline_op_set_body(op, session_to_json(&s, closing_base_url));
    session_free(&s);
    return status;
}

enum MHD_Result closing_expire(struct http_request *req, struct db *db)
{
    const char *raw_id = req->route.params[0];
    char id[UUID_STR_LEN];
    if (!closing_parse_id(req, raw_id, id))
        return MHD_YES;
    json_t *body;
    enum MHD_Result rc = closing_parse_body(req, false, &body);
    if (body == NULL)
        return rc;
    static const char *const allowed[] = {NULL};
    const char *unknown = closing_unknown_field(body, allowed);
    if (unknown != NULL) {
        char shown[64];
        utf8_truncate(unknown, shown, sizeof(shown));
        rc =
            http_respond_error(req, 400, "validation_error", shown, "Unknown parameter: %s", shown);
        json_decref(body);
        return rc;
    }
    json_decref(body);

    struct session s;
    bool found = false;
    if (session_store_get(db, req->identity.organization_id, req->identity.environment, id, &s,
                          &found) != C_OK)
        return http_respond_unavailable(req);
    if (!found)
        return http_respond_error(req, 404, "not_found", "id",
                                  "Checkout session with ID %s not found or access denied", raw_id);
    enum session_status status = s.status;
    session_free(&s);
    if (status != SESSION_OPEN)
        return http_respond_error(req, 409, "invalid_state", "id",
                                  "Checkout session %s is %s; only an open session can be expired",
                                  id, session_status_name(status));

    char command_id[UUID_STR_LEN];
    struct closing_ctx *ctx = calloc(1, sizeof(*ctx));
    struct pipeline_op *op = pipeline_op_new(id, closing_expire_decide);
    json_t *command = NULL;
    if (ctx != NULL && uuid_v7_string(command_id) == C_OK)
        command = session_command_expire(id, req->identity.organization_id,
                                         req->identity.environment, command_id);
    if (ctx == NULL || op == NULL || command == NULL) {
        free(ctx);
        pipeline_op_free(op);
        json_decref(command);
        return http_respond_unavailable(req);
    }
    memcpy(ctx->organization_id, req->identity.organization_id, UUID_STR_LEN);
    memcpy(ctx->environment, req->identity.environment, sizeof(ctx->environment));
    op->ctx = ctx;
    op->ctx_free = closing_ctx_free;
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}

/* ---- completion ---------------------------------------------------------------- */

/* The answer for a session as it stands, seen by a completion with reference. */
static unsigned closing_complete_outcome(struct pipeline_op *op, const struct session *s,
                                         const char *reference)
{
    switch (s->status) {
    case SESSION_COMPLETE:
        if (s->payment_reference != NULL && strcmp(s->payment_reference, reference) == 0) {
            pipeline_op_set_body(op, session_to_json(s, closing_base_url));
            return 200;
        }
        pipeline_op_set_error(op, "invalid_state", "id",
                              "Checkout session %s was already completed by another payment",
                              s->id);
        return 409;
    case SESSION_EXPIRED:
        pipeline_op_set_error(op, "invalid_state", "id",
                              "Checkout session %s has expired and cannot be completed", s->id);
        return 409;
    case SESSION_OPEN:
        break;
    }
    return 0;
}

/* Still open after the worker applied the command: refused if its coupon was
 * used up meanwhile (model/coupon.h: coupon_redeem_for_completion records
 * why), or its reference or amount did not pass the worker's checks
 * (transition_command.c), else 0 (not applied yet). */
static unsigned closing_complete_refused(struct pipeline_op *op, struct db *db,
                                         const char *command_id)
{
    struct command_outcome o;
    bool found = false;
    if (command_outcome_get(db, command_id, &o, &found) != C_OK || !found || !o.refused)
        return 0;
    pipeline_op_set_error(
        op, o.code, strcmp(o.code, COMMAND_OUTCOME_CONFLICT) == 0 ? "payment_reference" : "id",
        "%s", o.message);
    return 409;
}

static unsigned closing_complete_decide(struct pipeline_op *op, struct db *db,
                                        enum pipeline_reason why)
{
    bool deadline = why == PIPELINE_DEADLINE;
    struct closing_ctx *ctx = op->ctx;
    struct session s;
    bool found = false;
    if (session_store_get_any(db, op->object_id, &s, &found) != C_OK || !found)
        return 0;
    unsigned status = closing_complete_outcome(op, &s, ctx->payment_reference);
    if (status == 0 && ctx->command_id[0] != '\0')
        status = closing_complete_refused(op, db, ctx->command_id);
    if (status == 0 && deadline)
        pipeline_op_set_body(op, session_to_json(&s, closing_base_url));
    session_free(&s);
    return status;
}

/* The completion request's fields: reference, amount and currency (required)
 * and customer id. */
struct closing_complete_body {
    const char *reference;
    int64_t amount;
    char currency_code[SESSION_CURRENCY_LEN];
    char customer_id[UUID_STR_LEN];
};

static enum MHD_Result closing_complete_fields(struct http_request *req, const json_t *body,
                                               struct closing_complete_body *out, bool *ok)
{
    *ok = false;
    static const char *const allowed[] = {"payment_reference", "amount", "currency_code",
                                          "customer_id", NULL};
    const char *unknown = closing_unknown_field(body, allowed);
    if (unknown != NULL) {
        char shown[64];
        utf8_truncate(unknown, shown, sizeof(shown));
        return http_respond_error(req, 400, "validation_error", shown, "Unknown parameter: %s",
                                  shown);
    }
    const json_t *ref = json_object_get(body, "payment_reference");
    if (ref == NULL || json_is_null(ref))
        return http_respond_error(req, 400, "validation_error", "payment_reference",
                                  "payment_reference is required");
    if (!json_is_string(ref) || json_string_length(ref) == 0 ||
        json_string_length(ref) > SESSION_PAYMENT_REFERENCE_MAX ||
        strlen(json_string_value(ref)) != json_string_length(ref))
        return http_respond_error(req, 400, "validation_error", "payment_reference",
                                  "payment_reference must be a string of 1 to %d characters",
                                  SESSION_PAYMENT_REFERENCE_MAX);
    /* What the payment took: checked against the session's total, so that a
     * payment of another amount or currency never completes it. */
    const json_t *amount = json_object_get(body, "amount");
    if (amount == NULL || json_is_null(amount))
        return http_respond_error(req, 400, "validation_error", "amount",
                                  "amount is required: the amount the payment took, in the"
                                  " currency's minor unit (the session's amount_total)");
    long long amount_value;
    if (!json_is_number(amount) || validate_whole_number(amount, &amount_value) != C_OK ||
        amount_value < 0)
        return http_respond_error(req, 400, "validation_error", "amount",
                                  "amount must be a non-negative integer");
    const json_t *currency = json_object_get(body, "currency_code");
    if (currency == NULL || json_is_null(currency))
        return http_respond_error(req, 400, "validation_error", "currency_code",
                                  "currency_code is required: the currency the payment took"
                                  " (the session's currency_code)");
    const char *code = json_string_value(currency);
    if (code == NULL || json_string_length(currency) != SESSION_CURRENCY_LEN - 1 ||
        strspn(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != SESSION_CURRENCY_LEN - 1)
        return http_respond_error(
            req, 400, "validation_error", "currency_code",
            "currency_code must be a three-letter ISO 4217 code in upper case");
    out->customer_id[0] = '\0';
    const json_t *cust = json_object_get(body, "customer_id");
    if (cust != NULL && !json_is_null(cust)) {
        struct uuid u;
        if (!json_is_string(cust) || uuid_parse(json_string_value(cust), &u) != C_OK)
            return http_respond_error(req, 400, "validation_error", "customer_id",
                                      "customer_id must be a UUID");
        uuid_format(&u, out->customer_id);
    }
    out->reference = json_string_value(ref);
    out->amount = (int64_t)amount_value;
    memcpy(out->currency_code, code, SESSION_CURRENCY_LEN);
    *ok = true;
    return MHD_YES;
}

/* The completion's amount and currency against the session's: 409 (set on
 * op) when they differ, whatever its status; else 0. */
static unsigned closing_complete_amount(struct pipeline_op *op, const struct session *s,
                                        const struct closing_complete_body *b)
{
    int64_t due = session_amount_due(s);
    if (strcmp(b->currency_code, s->currency_code) != 0) {
        pipeline_op_set_error(op, "invalid_state", "currency_code",
                              "currency_code %s does not match checkout session %s's currency_code"
                              " %s: it was not completed",
                              b->currency_code, s->id, s->currency_code);
        return 409;
    }
    if (b->amount != due) {
        pipeline_op_set_error(op, "invalid_state", "amount",
                              "amount %lld does not match checkout session %s's amount_total %lld:"
                              " it was not completed",
                              (long long)b->amount, s->id, (long long)due);
        return 409;
    }
    return 0;
}

/* An open session whose reference already completed another session of its
 * tenant: 409 (set on op); else 0. The worker checks it again under the
 * unique index, which settles two completions racing. */
static unsigned closing_complete_reference(struct pipeline_op *op, struct db *db,
                                           const struct session *s, const char *reference,
                                           bool *failed)
{
    char owner[UUID_STR_LEN];
    bool taken = false;
    *failed = session_store_payment_reference_owner(db, s->organization_id, s->environment,
                                                    reference, s->id, owner, &taken) != C_OK;
    if (*failed || !taken)
        return 0;
    pipeline_op_set_error(op, "resource_conflict", "payment_reference",
                          "payment_reference has already completed checkout session %s: one"
                          " payment completes one session",
                          owner);
    return 409;
}

enum MHD_Result closing_complete(struct http_request *req, struct db *db)
{
    const char *raw_id = req->route.params[0];
    char id[UUID_STR_LEN];
    if (!closing_parse_id(req, raw_id, id))
        return MHD_YES;
    json_t *body;
    enum MHD_Result rc = closing_parse_body(req, true, &body);
    if (body == NULL)
        return rc;
    struct closing_complete_body fields;
    bool ok;
    rc = closing_complete_fields(req, body, &fields, &ok);
    if (!ok) {
        json_decref(body);
        return rc;
    }
    struct closing_ctx *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL || (ctx->payment_reference = strdup(fields.reference)) == NULL) {
        closing_ctx_free(ctx);
        json_decref(body);
        return http_respond_unavailable(req);
    }
    json_decref(body);

    struct session s;
    bool found = false;
    if (session_store_get_any(db, id, &s, &found) != C_OK) {
        closing_ctx_free(ctx);
        return http_respond_unavailable(req);
    }
    if (!found) {
        closing_ctx_free(ctx);
        return http_respond_error(req, 404, "not_found", "id",
                                  "Checkout session with ID %s not found", raw_id);
    }
    char coupon_id[UUID_STR_LEN];
    memcpy(coupon_id, s.coupon_id, sizeof(coupon_id));
    struct pipeline_op *op = pipeline_op_new(id, closing_complete_decide);
    if (op == NULL) {
        session_free(&s);
        closing_ctx_free(ctx);
        return http_respond_unavailable(req);
    }
    op->ctx = ctx;
    op->ctx_free = closing_ctx_free;
    /* Already decided (a repeated completion, or too late), or refused (an
     * amount or currency not the session's, a reference that completed
     * another session): answer now, without a command, so a retry never
     * produces a second event. */
    bool failed = false;
    unsigned status = closing_complete_amount(op, &s, &fields);
    if (status == 0)
        status = closing_complete_outcome(op, &s, ctx->payment_reference);
    if (status == 0)
        status = closing_complete_reference(op, db, &s, ctx->payment_reference, &failed);
    session_free(&s);
    if (failed) {
        pipeline_op_free(op);
        return http_respond_unavailable(req);
    }
    if (status != 0) {
        req->op = op;
        op->req = req;
        op->status = status;
        return pipeline_answer(req);
    }
    char command_id[UUID_STR_LEN] = "";
    json_t *command = NULL;
    if (uuid_v7_string(command_id) == C_OK)
        command = session_command_complete(
            id, ctx->payment_reference, fields.customer_id[0] != '\0' ? fields.customer_id : NULL,
            fields.amount, fields.currency_code, command_id);
    /* The worker records its refusal under the command's id. */
    memcpy(ctx->command_id, command_id, sizeof(ctx->command_id));
    /* A session made with a coupon: the worker counts its redemption with the
     * completion (and may refuse it); the others cost it nothing. */
    if (command != NULL && coupon_id[0] != '\0' &&
        json_object_set_new(json_object_get(command, "data"), "coupon_id",
                            json_string(coupon_id)) != 0) {
        json_decref(command);
        command = NULL;
    }
    if (command == NULL) {
        pipeline_op_free(op);
        return http_respond_unavailable(req);
    }
    rc = pipeline_submit(req, op, command);
    json_decref(command);
    return rc;
}
