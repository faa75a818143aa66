#include "payment_attempt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"

static const char *const payment_attempt_status_names[] = {"pending", "succeeded", "failed", NULL};

void payment_attempt_init(struct payment_attempt *a)
{
    memset(a, 0, sizeof(*a));
    a->quantity = 1;
}

void payment_attempt_free(struct payment_attempt *a)
{
    json_decref(a->customer_details);
    json_decref(a->billing_address);
    a->customer_details = NULL;
    a->billing_address = NULL;
}

const char *payment_attempt_status_name(enum payment_attempt_status st)
{
    return payment_attempt_status_names[st];
}

int payment_attempt_status_parse(const char *name, enum payment_attempt_status *out)
{
    for (int i = 0; payment_attempt_status_names[i] != NULL; i++) {
        if (name != NULL && strcmp(name, payment_attempt_status_names[i]) == 0) {
            *out = (enum payment_attempt_status)i;
            return C_OK;
        }
    }
    return C_ERR;
}

void payment_attempt_last4(const char *account, char out[PAYMENT_ATTEMPT_LAST4_LEN])
{
    char digits[PAYMENT_ATTEMPT_LAST4_LEN] = "";
    size_t n = 0;
    /* The last four digits, whatever separates them ("+221 70 000 00 01"). */
    for (const char *p = account != NULL ? account : ""; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            continue;
        if (n == PAYMENT_ATTEMPT_LAST4_LEN - 1) {
            memmove(digits, digits + 1, n - 1);
            n--;
        }
        digits[n++] = *p;
    }
    digits[n] = '\0';
    memcpy(out, digits, n + 1);
}

/* ---- JSON ------------------------------------------------------------------ */

static void payment_attempt_time_ms(struct json_writer *w, int64_t ms)
{
    if (ms <= 0) {
        json_writer_literal(w, "null");
        return;
    }
    char when[RFC3339_LEN];
    rfc3339_format(ms / 1000, when);
    json_writer_string(w, when);
}

static void payment_attempt_nullable_string(struct json_writer *w, const char *s)
{
    if (s[0] == '\0')
        json_writer_literal(w, "null");
    else
        json_writer_string(w, s);
}

int payment_attempt_write_json(struct json_writer *w, const struct payment_attempt *a)
{
    size_t mark = json_writer_begin(w);
    json_writer_literal(w, "{\"payment_attempt_id\":");
    json_writer_string(w, a->id);
    json_writer_literal(w, ",\"provider\":");
    json_writer_string(w, a->provider);
    json_writer_literal(w, ",\"method\":");
    json_writer_string(w, a->method);
    json_writer_literal(w, ",\"account_last4\":");
    json_writer_string(w, a->account_last4);
    json_writer_literal(w, ",\"reference\":");
    payment_attempt_nullable_string(w, a->reference);
    json_writer_literal(w, ",\"status\":");
    json_writer_string(w, payment_attempt_status_name(a->status));
    json_writer_literal(w, ",\"failure_code\":");
    payment_attempt_nullable_string(w, a->failure_code);
    json_writer_literal(w, ",\"failure_message\":");
    payment_attempt_nullable_string(w, a->failure_message);
    json_writer_literal(w, ",\"amount\":");
    json_writer_int(w, a->amount);
    json_writer_literal(w, ",\"currency_code\":");
    json_writer_string(w, a->currency_code);
    json_writer_literal(w, ",\"quantity\":");
    json_writer_int(w, a->quantity);
    json_writer_literal(w, ",\"amount_subtotal\":");
    json_writer_int(w, a->amount_subtotal);
    json_writer_literal(w, ",\"amount_discount\":");
    json_writer_int(w, a->amount_discount);
    json_writer_literal(w, ",\"coupon\":");
    if (a->coupon_id[0] == '\0') {
        json_writer_literal(w, "null");
    } else {
        json_writer_literal(w, "{\"id\":");
        json_writer_string(w, a->coupon_id);
        json_writer_literal(w, ",\"code\":");
        json_writer_string(w, a->coupon_code);
        json_writer_literal(w, "}");
    }
    json_writer_literal(w, ",\"refund_required\":");
    json_writer_bool(w, a->refund_required);
    json_writer_literal(w, ",\"refund_reason\":");
    payment_attempt_nullable_string(w, a->refund_reason);
    json_writer_literal(w, ",\"started_at\":");
    payment_attempt_time_ms(w, a->started_at_ms);
    json_writer_literal(w, ",\"settled_at\":");
    payment_attempt_time_ms(w, a->settled_at_ms);
    json_writer_literal(w, "}");
    return json_writer_end(w, mark);
}

json_t *payment_attempt_to_json(const struct payment_attempt *a)
{
    struct json_writer w = JSON_WRITER_INIT;
    json_t *o = NULL;
    if (payment_attempt_write_json(&w, a) == C_OK)
        o = json_loads(w.buf, 0, NULL);
    json_writer_free(&w);
    return o;
}

json_t *payment_attempt_command_json(const struct payment_attempt *a)
{
    json_t *o = payment_attempt_to_json(a);
    if (o == NULL)
        return NULL;
    json_t *details =
        a->customer_details != NULL ? json_deep_copy(a->customer_details) : json_null();
    json_t *billing = a->billing_address != NULL ? json_deep_copy(a->billing_address) : json_null();
    if (json_object_set_new(o, "checkout_session_id", json_string(a->session_id)) != 0 ||
        json_object_set_new(o, "organization_id", json_string(a->organization_id)) != 0 ||
        json_object_set_new(o, "environment", json_string(a->environment)) != 0 ||
        json_object_set_new(o, "customer_details", details) != 0 ||
        json_object_set_new(o, "billing_address", billing) != 0 ||
        json_object_set_new(o, "started_at_ms", json_integer(a->started_at_ms)) != 0 ||
        json_object_set_new(o, "settled_at_ms", json_integer(a->settled_at_ms)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *payment_attempt_command(const struct payment_attempt *a, const char *command_id)
{
    json_t *data = payment_attempt_command_json(a);
    if (data == NULL)
        return NULL;
    char now[RFC3339_LEN];
    rfc3339_format(rfc3339_now(), now);
    return json_pack("{ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", command_id, "source",
                     "/caisse/gateway", "type", SESSION_COMMAND_PAYMENT, "subject", a->session_id,
                     "time", now, "datacontenttype", "application/json", "data", data);
}

/* A string member into out (outlen bytes, "" for null or absent when
 * nullable): refused when missing, not a string, with a NUL, or too long. */
static int payment_attempt_read_string(const json_t *obj, const char *name, bool nullable,
                                       char *out, size_t outlen, struct error *err)
{
    const json_t *v = json_object_get(obj, name);
    if (v == NULL || json_is_null(v)) {
        out[0] = '\0';
        return nullable ? C_OK : error_set(err, name, "field %s is missing", name);
    }
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)))
        return error_set(err, name, "field %s is not a string", name);
    if (json_string_length(v) >= outlen)
        return error_set(err, name, "field %s is longer than %zu bytes", name, outlen - 1);
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return C_OK;
}

static int payment_attempt_read_int(const json_t *obj, const char *name, int64_t min, int64_t max,
                                    int64_t *out, struct error *err)
{
    const json_t *v = json_object_get(obj, name);
    if (!json_is_integer(v))
        return error_set(err, name, "field %s is not an integer", name);
    json_int_t n = json_integer_value(v);
    if (n < min || n > max)
        return error_set(err, name, "field %s is out of range", name);
    *out = (int64_t)n;
    return C_OK;
}

/* An object member (its strings without NUL), or NULL for null/absent. */
static int payment_attempt_read_object(const json_t *obj, const char *name, json_t **out,
                                       struct error *err)
{
    const json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return C_OK;
    if (!json_is_object(v))
        return error_set(err, name, "field %s is not an object", name);
    const char *key;
    const json_t *member;
    json_object_foreach((json_t *)v, key, member)
    {
        if (!json_is_null(member) &&
            (!json_is_string(member) ||
             json_string_length(member) != strlen(json_string_value(member))))
            return error_set(err, name, "field %s.%s is not a string", name, key);
    }
    *out = json_deep_copy(v);
    return *out != NULL ? C_OK : error_set(err, NULL, "out of memory");
}

static bool payment_attempt_is_digits(const char *s, size_t max)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        if (s[n] < '0' || s[n] > '9')
            return false;
    }
    return n <= max;
}

int payment_attempt_from_command_json(const json_t *obj, struct payment_attempt *out,
                                      struct error *err)
{
    if (!json_is_object(obj))
        return error_set(err, NULL, "attempt is not a JSON object");
    struct payment_attempt a;
    payment_attempt_init(&a);
    char status[16], coupon_id[UUID_STR_LEN] = "";
    int64_t n;
    const json_t *coupon = json_object_get(obj, "coupon");
    int rc = payment_attempt_read_string(obj, "payment_attempt_id", false, a.id, sizeof(a.id), err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "checkout_session_id", false, a.session_id,
                                         sizeof(a.session_id), err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "organization_id", false, a.organization_id,
                                         sizeof(a.organization_id), err);
    if (rc == C_OK &&
        (!uuid_is_valid(a.id) || !uuid_is_valid(a.session_id) || !uuid_is_valid(a.organization_id)))
        rc = error_set(err, "payment_attempt_id", "an id is not a UUID");
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "environment", false, a.environment,
                                         sizeof(a.environment), err);
    if (rc == C_OK && strcmp(a.environment, "test") != 0 && strcmp(a.environment, "live") != 0)
        rc = error_set(err, "environment", "field environment must be test or live");
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "provider", false, a.provider, sizeof(a.provider),
                                         err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "method", false, a.method, sizeof(a.method), err);
    if (rc == C_OK && strcmp(a.method, "mobile_money") != 0 && strcmp(a.method, "card") != 0)
        rc = error_set(err, "method", "field method must be mobile_money or card");
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "account_last4", false, a.account_last4,
                                         sizeof(a.account_last4), err);
    if (rc == C_OK && !payment_attempt_is_digits(a.account_last4, 4))
        rc = error_set(err, "account_last4", "field account_last4 must be up to 4 digits");
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "reference", true, a.reference, sizeof(a.reference),
                                         err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "status", false, status, sizeof(status), err);
    if (rc == C_OK && payment_attempt_status_parse(status, &a.status) != C_OK)
        rc = error_set(err, "status", "field status must be pending, succeeded or failed");
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "failure_code", true, a.failure_code,
                                         sizeof(a.failure_code), err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "failure_message", true, a.failure_message,
                                         sizeof(a.failure_message), err);
    if (rc == C_OK)
        rc = payment_attempt_read_int(obj, "amount", 0, SESSION_MAX_AMOUNT, &a.amount, err);
    if (rc == C_OK)
        rc = payment_attempt_read_string(obj, "currency_code", false, a.currency_code,
                                         sizeof(a.currency_code), err);
    if (rc == C_OK &&
        payment_attempt_read_int(obj, "quantity", 1, SESSION_MAX_QUANTITY, &n, err) == C_OK)
        a.quantity = (int32_t)n;
    else if (rc == C_OK)
        rc = C_ERR;
    if (rc == C_OK)
        rc = payment_attempt_read_int(obj, "amount_subtotal", 1, SESSION_MAX_AMOUNT,
                                      &a.amount_subtotal, err);
    if (rc == C_OK)
        rc = payment_attempt_read_int(obj, "amount_discount", 0, a.amount_subtotal,
                                      &a.amount_discount, err);
    if (rc == C_OK && a.amount != a.amount_subtotal - a.amount_discount)
        rc = error_set(err, "amount", "field amount must be amount_subtotal - amount_discount");
    if (rc == C_OK && coupon != NULL && !json_is_null(coupon)) {
        rc = payment_attempt_read_string(coupon, "id", false, coupon_id, sizeof(coupon_id), err);
        if (rc == C_OK && !uuid_is_valid(coupon_id))
            rc = error_set(err, "coupon", "field coupon.id is not a UUID");
        if (rc == C_OK)
            rc = payment_attempt_read_string(coupon, "code", false, a.coupon_code,
                                             sizeof(a.coupon_code), err);
        if (rc == C_OK)
            memcpy(a.coupon_id, coupon_id, sizeof(a.coupon_id));
    }
    if (rc == C_OK)
        rc = payment_attempt_read_object(obj, "customer_details", &a.customer_details, err);
    if (rc == C_OK)
        rc = payment_attempt_read_object(obj, "billing_address", &a.billing_address, err);
    if (rc == C_OK)
        rc =
            payment_attempt_read_int(obj, "started_at_ms", 1, INT64_MAX / 2, &a.started_at_ms, err);
    if (rc == C_OK)
        rc =
            payment_attempt_read_int(obj, "settled_at_ms", 0, INT64_MAX / 2, &a.settled_at_ms, err);
    if (rc == C_OK && (a.status == PAYMENT_ATTEMPT_PENDING) != (a.settled_at_ms == 0))
        rc = error_set(err, "settled_at_ms", "a pending attempt has no settled_at_ms, others one");
    if (rc != C_OK) {
        payment_attempt_free(&a);
        return C_ERR;
    }
    /* The worker flags refunds itself; a command never does. */
    a.refund_required = false;
    a.refund_reason[0] = '\0';
    *out = a;
    return C_OK;
}

/* ---- SQL ------------------------------------------------------------------- */

/* The select list every read uses, in payment_attempt_from_row's order. */
#define PAYMENT_ATTEMPT_SELECT                                                                     \
    "id, session_id, organization_id, environment, provider, method, account_last4,"               \
    " reference, status, failure_code, failure_message, amount, currency_code, quantity,"          \
    " amount_subtotal, amount_discount, coupon_id, coupon_code, customer_details,"                 \
    " billing_address, refund_required, refund_reason,"                                            \
    " (extract(epoch FROM started_at) * 1000)::bigint,"                                            \
    " coalesce((extract(epoch FROM settled_at) * 1000)::bigint, 0)"

static void payment_attempt_copy(const PGresult *r, int row, int col, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s", PQgetisnull(r, row, col) ? "" : PQgetvalue(r, row, col));
}

static int64_t payment_attempt_int(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static int payment_attempt_from_row(const PGresult *r, int row, void *dst)
{
    struct payment_attempt a;
    payment_attempt_init(&a);
    payment_attempt_copy(r, row, 0, a.id, sizeof(a.id));
    payment_attempt_copy(r, row, 1, a.session_id, sizeof(a.session_id));
    payment_attempt_copy(r, row, 2, a.organization_id, sizeof(a.organization_id));
    payment_attempt_copy(r, row, 3, a.environment, sizeof(a.environment));
    payment_attempt_copy(r, row, 4, a.provider, sizeof(a.provider));
    payment_attempt_copy(r, row, 5, a.method, sizeof(a.method));
    payment_attempt_copy(r, row, 6, a.account_last4, sizeof(a.account_last4));
    payment_attempt_copy(r, row, 7, a.reference, sizeof(a.reference));
    if (payment_attempt_status_parse(PQgetvalue(r, row, 8), &a.status) != C_OK)
        return C_ERR;
    payment_attempt_copy(r, row, 9, a.failure_code, sizeof(a.failure_code));
    payment_attempt_copy(r, row, 10, a.failure_message, sizeof(a.failure_message));
    a.amount = payment_attempt_int(r, row, 11);
    payment_attempt_copy(r, row, 12, a.currency_code, sizeof(a.currency_code));
    a.quantity = (int32_t)payment_attempt_int(r, row, 13);
    a.amount_subtotal = payment_attempt_int(r, row, 14);
    a.amount_discount = payment_attempt_int(r, row, 15);
    payment_attempt_copy(r, row, 16, a.coupon_id, sizeof(a.coupon_id));
    payment_attempt_copy(r, row, 17, a.coupon_code, sizeof(a.coupon_code));
    if (!PQgetisnull(r, row, 18) &&
        (a.customer_details = db_json_value(PQgetvalue(r, row, 18))) == NULL)
        return C_ERR;
    if (!PQgetisnull(r, row, 19) &&
        (a.billing_address = db_json_value(PQgetvalue(r, row, 19))) == NULL) {
        payment_attempt_free(&a);
        return C_ERR;
    }
    a.refund_required = strcmp(PQgetvalue(r, row, 20), "t") == 0;
    payment_attempt_copy(r, row, 21, a.refund_reason, sizeof(a.refund_reason));
    a.started_at_ms = payment_attempt_int(r, row, 22);
    a.settled_at_ms = payment_attempt_int(r, row, 23);
    memcpy(dst, &a, sizeof(a));
    return C_OK;
}

static void payment_attempt_free_cb(void *elem)
{
    payment_attempt_free(elem);
}

/* A statement answering at most one attempt. */
static int payment_attempt_one(struct db *db, const char *statement, const char *sql, int nparams,
                               const char *const *params, struct payment_attempt *out, bool *found)
{
    PGresult *r = db_exec_as(db, statement, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    bool any = PQntuples(r) > 0;
    if (any)
        rc = payment_attempt_from_row(r, 0, out);
    PQclear(r);
    if (rc == C_OK)
        *found = any;
    return rc;
}

static char *payment_attempt_json_text(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
}

int payment_attempt_upsert(struct db *db, const struct payment_attempt *a, bool *changed,
                           struct payment_attempt *stored)
{
    /* The insert, or the settling of a pending row: xmax = 0 tells an insert
     * from an update; a settled row is left alone and read back as it is. A
     * pending attempt's next poll comes 2 s after it is known. */
    static const char sql[] =
        "WITH up AS ("
        " INSERT INTO payment_attempts (id, session_id, organization_id, environment, provider,"
        "  method, account_last4, reference, status, failure_code, failure_message, amount,"
        "  currency_code, quantity, amount_subtotal, amount_discount, coupon_id, coupon_code,"
        "  customer_details, billing_address, started_at, settled_at, next_poll_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17,"
        "  $18, $19::jsonb, $20::jsonb, to_timestamp($21::bigint / 1000.0),"
        "  CASE WHEN $9 = 'pending' THEN NULL ELSE to_timestamp($22::bigint / 1000.0) END,"
        "  CASE WHEN $9 = 'pending' THEN now() + interval '2 seconds' END)"
        " ON CONFLICT (id) DO UPDATE SET status = excluded.status,"
        "  reference = coalesce(excluded.reference, payment_attempts.reference),"
        "  failure_code = excluded.failure_code, failure_message = excluded.failure_message,"
        "  settled_at = excluded.settled_at, next_poll_at = excluded.next_poll_at,"
        "  updated_at = now()"
        " WHERE payment_attempts.status = 'pending' AND excluded.status <> 'pending'"
        " RETURNING payment_attempts.*)"
        " SELECT " PAYMENT_ATTEMPT_SELECT ", true FROM up"
        " UNION ALL"
        " SELECT " PAYMENT_ATTEMPT_SELECT ", false FROM payment_attempts"
        "  WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM up)";
    char amount[24], quantity[16], subtotal[24], discount[24], started[24], settled[24];
    snprintf(amount, sizeof(amount), "%lld", (long long)a->amount);
    snprintf(quantity, sizeof(quantity), "%d", (int)a->quantity);
    snprintf(subtotal, sizeof(subtotal), "%lld", (long long)a->amount_subtotal);
    snprintf(discount, sizeof(discount), "%lld", (long long)a->amount_discount);
    snprintf(started, sizeof(started), "%lld", (long long)a->started_at_ms);
    snprintf(settled, sizeof(settled), "%lld",
             (long long)(a->settled_at_ms > 0 ? a->settled_at_ms : a->started_at_ms));
    char *details = payment_attempt_json_text(a->customer_details);
    char *billing = payment_attempt_json_text(a->billing_address);
    if ((a->customer_details != NULL && details == NULL) ||
        (a->billing_address != NULL && billing == NULL)) {
        free(details);
        free(billing);
        return C_ERR;
    }
#define PA_OPT(s) ((s)[0] != '\0' ? (s) : NULL)
    const char *params[22] = {a->id,
                              a->session_id,
                              a->organization_id,
                              a->environment,
                              a->provider,
                              a->method,
                              a->account_last4,
                              PA_OPT(a->reference),
                              payment_attempt_status_name(a->status),
                              PA_OPT(a->failure_code),
                              PA_OPT(a->failure_message),
                              amount,
                              a->currency_code,
                              quantity,
                              subtotal,
                              discount,
                              PA_OPT(a->coupon_id),
                              PA_OPT(a->coupon_code),
                              details,
                              billing,
                              started,
                              settled};
#undef PA_OPT
    PGresult *r = db_exec(db, sql, 22, params);
    free(details);
    free(billing);
    if (r == NULL)
        return C_ERR;
    int rc = PQntuples(r) == 1 ? C_OK : C_ERR;
    struct payment_attempt s;
    if (rc == C_OK)
        rc = payment_attempt_from_row(r, 0, &s);
    if (rc == C_OK) {
        *changed = strcmp(PQgetvalue(r, 0, 24), "t") == 0;
        *stored = s;
    }
    PQclear(r);
    return rc;
}

int payment_attempt_flag_refund(struct db *db, const char *id, const char *reason)
{
    static const char sql[] = "UPDATE payment_attempts SET refund_required = true,"
                              " refund_reason = $2, updated_at = now() WHERE id = $1";
    const char *params[2] = {id, reason};
    return db_exec_command(db, sql, 2, params);
}

int payment_attempt_latest(struct db *db, const char *session_id, struct payment_attempt *out,
                           bool *found)
{
    static const char sql[] = "SELECT " PAYMENT_ATTEMPT_SELECT " FROM payment_attempts"
                              " WHERE session_id = $1 ORDER BY started_at DESC, id DESC LIMIT 1";
    const char *params[1] = {session_id};
    return payment_attempt_one(db, __func__, sql, 1, params, out, found);
}

int payment_attempt_get(struct db *db, const char *id, struct payment_attempt *out, bool *found)
{
    static const char sql[] =
        "SELECT " PAYMENT_ATTEMPT_SELECT " FROM payment_attempts WHERE id = $1";
    const char *params[1] = {id};
    return payment_attempt_one(db, __func__, sql, 1, params, out, found);
}

static int payment_attempt_rows(PGresult *r, struct payment_attempt **out, size_t *count)
{
    void *arr = NULL;
    int rc = db_rows_to_array(r, sizeof(struct payment_attempt), payment_attempt_from_row,
                              payment_attempt_free_cb, &arr, count);
    PQclear(r);
    if (rc == C_OK)
        *out = arr;
    return rc;
}

int payment_attempt_list(struct db *db, const char *session_id, long limit,
                         struct payment_attempt **out, size_t *count)
{
    static const char sql[] = "SELECT " PAYMENT_ATTEMPT_SELECT " FROM payment_attempts"
                              " WHERE session_id = $1 ORDER BY started_at, id LIMIT $2";
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[2] = {session_id, lim};
    PGresult *r = db_exec(db, sql, 2, params);
    if (r == NULL)
        return C_ERR;
    return payment_attempt_rows(r, out, count);
}

void payment_attempt_array_free(struct payment_attempt *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        payment_attempt_free(&arr[i]);
    free(arr);
}

int payment_attempt_claim_due(struct db *db, long limit, long retry_ms,
                              struct payment_attempt **out, size_t *count)
{
    /* MATERIALIZED keeps the claim (with its row locks) a step of its own, as
     * the expiry worker's claim does. */
    static const char sql[] =
        "WITH due AS MATERIALIZED ("
        "  SELECT id AS due_id FROM payment_attempts"
        "  WHERE status = 'pending' AND next_poll_at <= now()"
        "  ORDER BY next_poll_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE payment_attempts SET next_poll_at = now() + $2::bigint * interval '1 millisecond'"
        " FROM due WHERE id = due.due_id AND status = 'pending'"
        " RETURNING " PAYMENT_ATTEMPT_SELECT;
    char lim[24], retry[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    snprintf(retry, sizeof(retry), "%ld", retry_ms);
    const char *params[2] = {lim, retry};
    PGresult *r = db_exec(db, sql, 2, params);
    if (r == NULL)
        return C_ERR;
    return payment_attempt_rows(r, out, count);
}
