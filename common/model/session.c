#include "session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/outbox.h"
#include "core/rfc3339.h"
#include "core/result.h"

static const char *const session_status_names[] = {"open", "complete", "expired"};

int session_init(struct session *s)
{
    memset(s, 0, sizeof(*s));
    s->quantity = 1;
    s->metadata = json_object();
    return s->metadata != NULL ? C_OK : C_ERR;
}

void session_free(struct session *s)
{
    free(s->title);
    free(s->description);
    free(s->customer_email);
    free(s->customer_name);
    free(s->customer_phone);
    free(s->success_url);
    free(s->cancel_url);
    free(s->idempotency_key);
    free(s->payment_reference);
    json_decref(s->metadata);
    memset(s, 0, sizeof(*s));
}

const char *session_status_name(enum session_status status)
{
    return session_status_names[status];
}

int session_status_parse(const char *name, enum session_status *out)
{
    for (int i = 0; i < 3; i++) {
        if (name != NULL && strcmp(name, session_status_names[i]) == 0) {
            *out = (enum session_status)i;
            return C_OK;
        }
    }
    return C_ERR;
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *session_json_string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

static json_t *session_json_uuid_or_null(const char *s)
{
    return s[0] != '\0' ? json_string(s) : json_null();
}

json_t *session_to_json(const struct session *s, const char *public_base_url)
{
    char url[2600];
    snprintf(url, sizeof(url), "%s/checkout/%s", public_base_url, s->id);
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "checkout_session_id", json_string(s->id));
    rc |= json_object_set_new(o, "organization_id", json_string(s->organization_id));
    rc |= json_object_set_new(o, "amount", json_integer(s->amount));
    rc |= json_object_set_new(o, "currency_code", json_string(s->currency_code));
    rc |= json_object_set_new(o, "status", json_string(session_status_name(s->status)));
    rc |= json_object_set_new(o, "title", session_json_string_or_null(s->title));
    rc |= json_object_set_new(o, "description", session_json_string_or_null(s->description));
    rc |= json_object_set_new(o, "customer_id", session_json_uuid_or_null(s->customer_id));
    rc |= json_object_set_new(o, "customer_email", session_json_string_or_null(s->customer_email));
    rc |= json_object_set_new(o, "customer_name", session_json_string_or_null(s->customer_name));
    rc |= json_object_set_new(o, "customer_phone", session_json_string_or_null(s->customer_phone));
    rc |= json_object_set_new(o, "product_id", session_json_uuid_or_null(s->product_id));
    rc |= json_object_set_new(o, "price_id", session_json_uuid_or_null(s->price_id));
    rc |= json_object_set_new(o, "subscription_id", session_json_uuid_or_null(s->subscription_id));
    rc |= json_object_set_new(o, "allow_quantity", json_boolean(s->allow_quantity));
    rc |= json_object_set_new(o, "quantity", json_integer(s->quantity));
    rc |= json_object_set_new(o, "success_url", session_json_string_or_null(s->success_url));
    rc |= json_object_set_new(o, "cancel_url", session_json_string_or_null(s->cancel_url));
    rc |= json_object_set_new(o, "allow_coupon_code", json_boolean(s->allow_coupon_code));
    rc |=
        json_object_set_new(o, "require_billing_address", json_boolean(s->require_billing_address));
    rc |= json_object_set_new(o, "payment_link_id", session_json_uuid_or_null(s->payment_link_id));
    rc |= json_object_set_new(o, "is_spi", json_boolean(s->is_spi));
    rc |= json_object_set_new(o, "is_pos", json_boolean(s->is_pos));
    rc |= json_object_set_new(o, "expires_at", rfc3339_to_json(s->expires_at));
    rc |= json_object_set(o, "metadata", s->metadata);
    rc |= json_object_set_new(o, "environment", json_string(s->environment));
    rc |= json_object_set_new(o, "created_at", rfc3339_to_json(s->created_at));
    rc |= json_object_set_new(o, "created_by", json_string(s->created_by));
    rc |= json_object_set_new(o, "updated_at", rfc3339_to_json(s->updated_at));
    rc |= json_object_set_new(o, "url", json_string(url));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

struct session_reader {
    const json_t *obj;
    char *err;
    size_t errlen;
    int failed;
};

/* Keeps the first failure's message: it names the field to look at. */
static void session_reader_fail(struct session_reader *r, const char *fmt, const char *name)
    __attribute__((format(printf, 2, 0)));

static void session_reader_fail(struct session_reader *r, const char *fmt, const char *name)
{
    if (!r->failed)
        snprintf(r->err, r->errlen, fmt, name);
    r->failed = 1;
}

static const json_t *session_reader_field(struct session_reader *r, const char *name,
                                          json_type type, bool nullable)
{
    const json_t *v = json_object_get(r->obj, name);
    if (nullable && (v == NULL || json_is_null(v)))
        return NULL;
    if (v == NULL || json_typeof(v) != type) {
        if (!r->failed)
            snprintf(r->err, r->errlen, "field %s is missing or has the wrong type", name);
        r->failed = 1;
        return NULL;
    }
    return v;
}

static void session_read_uuid(struct session_reader *r, const char *name, char out[UUID_STR_LEN],
                              bool nullable)
{
    const json_t *v = session_reader_field(r, name, JSON_STRING, nullable);
    out[0] = '\0';
    if (v == NULL)
        return;
    if (!uuid_is_valid(json_string_value(v))) {
        if (!r->failed)
            snprintf(r->err, r->errlen, "field %s is not a UUID", name);
        r->failed = 1;
        return;
    }
    snprintf(out, UUID_STR_LEN, "%s", json_string_value(v));
}

static char *session_read_string(struct session_reader *r, const char *name)
{
    const json_t *v = session_reader_field(r, name, JSON_STRING, true);
    if (v == NULL)
        return NULL;
    char *copy = strdup(json_string_value(v));
    if (copy == NULL)
        session_reader_fail(r, "out of memory reading %s", name);
    return copy;
}

static bool session_read_bool(struct session_reader *r, const char *name)
{
    const json_t *v = json_object_get(r->obj, name);
    if (v == NULL || !json_is_boolean(v)) {
        if (!r->failed)
            snprintf(r->err, r->errlen, "field %s is missing or not a boolean", name);
        r->failed = 1;
        return false;
    }
    return json_is_true(v);
}

static int64_t session_read_time(struct session_reader *r, const char *name)
{
    const json_t *v = session_reader_field(r, name, JSON_STRING, false);
    int64_t t = 0;
    if (v != NULL && rfc3339_parse(json_string_value(v), &t) != C_OK) {
        if (!r->failed)
            snprintf(r->err, r->errlen, "field %s is not an RFC 3339 time", name);
        r->failed = 1;
    }
    return t;
}

/* The bounds of the checkout_sessions CHECK constraints. */
#define SESSION_MAX_AMOUNT 1000000000000LL
#define SESSION_MAX_QUANTITY 10000

/* Only the shape (three upper-case letters): an event written while a code
 * was supported must stay readable if the table later drops it. */
static bool session_is_currency_code(const char *code)
{
    if (strlen(code) != 3)
        return false;
    for (int i = 0; i < 3; i++) {
        if (code[i] < 'A' || code[i] > 'Z')
            return false;
    }
    return true;
}

int session_from_json(const json_t *obj, struct session *out, char *err, size_t errlen)
{
    struct session s;
    struct session_reader r = {obj, err, errlen, 0};
    if (!json_is_object(obj)) {
        snprintf(err, errlen, "session is not a JSON object");
        return C_ERR;
    }
    if (session_init(&s) != C_OK) {
        snprintf(err, errlen, "out of memory");
        return C_ERR;
    }
    session_read_uuid(&r, "checkout_session_id", s.id, false);
    session_read_uuid(&r, "organization_id", s.organization_id, false);
    /* Values the fixed-size fields would silently truncate ("production" to
     * "prod") or that the table's CHECKs reject are refused here, so a bad
     * message is reported as such instead of failing a whole batch's INSERT. */
    const json_t *v = session_reader_field(&r, "environment", JSON_STRING, false);
    if (v != NULL && strcmp(json_string_value(v), "test") != 0 &&
        strcmp(json_string_value(v), "live") != 0)
        session_reader_fail(&r, "field %s must be test or live", "environment");
    else if (v != NULL)
        snprintf(s.environment, sizeof(s.environment), "%s", json_string_value(v));
    v = session_reader_field(&r, "amount", JSON_INTEGER, false);
    if (v != NULL && (json_integer_value(v) < 1 || json_integer_value(v) > SESSION_MAX_AMOUNT))
        session_reader_fail(&r, "field %s is out of range", "amount");
    else if (v != NULL)
        s.amount = json_integer_value(v);
    v = session_reader_field(&r, "currency_code", JSON_STRING, false);
    if (v != NULL && !session_is_currency_code(json_string_value(v)))
        session_reader_fail(&r, "field %s is not a currency code", "currency_code");
    else if (v != NULL)
        snprintf(s.currency_code, sizeof(s.currency_code), "%s", json_string_value(v));
    v = session_reader_field(&r, "status", JSON_STRING, false);
    if (v != NULL && session_status_parse(json_string_value(v), &s.status) != C_OK && !r.failed) {
        snprintf(err, errlen, "field status has an unknown value");
        r.failed = 1;
    }
    s.title = session_read_string(&r, "title");
    s.description = session_read_string(&r, "description");
    session_read_uuid(&r, "customer_id", s.customer_id, true);
    s.customer_email = session_read_string(&r, "customer_email");
    s.customer_name = session_read_string(&r, "customer_name");
    s.customer_phone = session_read_string(&r, "customer_phone");
    session_read_uuid(&r, "product_id", s.product_id, true);
    session_read_uuid(&r, "price_id", s.price_id, true);
    session_read_uuid(&r, "subscription_id", s.subscription_id, true);
    s.allow_quantity = session_read_bool(&r, "allow_quantity");
    v = session_reader_field(&r, "quantity", JSON_INTEGER, false);
    if (v != NULL && (json_integer_value(v) < 1 || json_integer_value(v) > SESSION_MAX_QUANTITY))
        session_reader_fail(&r, "field %s is out of range", "quantity");
    else if (v != NULL)
        s.quantity = (int32_t)json_integer_value(v);
    s.success_url = session_read_string(&r, "success_url");
    s.cancel_url = session_read_string(&r, "cancel_url");
    s.allow_coupon_code = session_read_bool(&r, "allow_coupon_code");
    s.require_billing_address = session_read_bool(&r, "require_billing_address");
    session_read_uuid(&r, "payment_link_id", s.payment_link_id, true);
    s.is_spi = session_read_bool(&r, "is_spi");
    s.is_pos = session_read_bool(&r, "is_pos");
    s.expires_at = session_read_time(&r, "expires_at");
    v = session_reader_field(&r, "metadata", JSON_OBJECT, false);
    if (v != NULL) {
        json_decref(s.metadata);
        s.metadata = json_deep_copy(v);
        if (s.metadata == NULL)
            session_reader_fail(&r, "out of memory reading %s", "metadata");
    }
    s.created_at = session_read_time(&r, "created_at");
    session_read_uuid(&r, "created_by", s.created_by, false);
    s.updated_at = session_read_time(&r, "updated_at");
    if (s.customer_id[0] == '\0' && s.customer_email == NULL)
        session_reader_fail(&r, "one of customer_id and %s is required", "customer_email");
    if (r.failed) {
        session_free(&s);
        return C_ERR;
    }
    *out = s;
    return C_OK;
}

json_t *session_command_create(const struct session *s, const char *public_base_url,
                               const char *command_id)
{
    json_t *data = session_to_json(s, public_base_url);
    if (data == NULL)
        return NULL;
    char now[RFC3339_LEN];
    rfc3339_format(rfc3339_now(), now);
    json_t *cmd =
        json_pack("{ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", command_id, "source",
                  "/caisse/gateway", "type", SESSION_COMMAND_CREATE, "subject", s->id, "time", now,
                  "datacontenttype", "application/json", "data", data);
    if (cmd == NULL)
        return NULL;
    if (s->idempotency_key != NULL &&
        (json_object_set_new(cmd, "idempotencykey", json_string(s->idempotency_key)) != 0 ||
         json_object_set_new(cmd, "requesthash", json_string(s->request_hash)) != 0)) {
        json_decref(cmd);
        return NULL;
    }
    return cmd;
}

json_t *session_event(const struct session *s, const char *public_base_url, const char *type,
                      const char *event_id, int64_t time)
{
    json_t *data = session_to_json(s, public_base_url);
    if (data == NULL)
        return NULL;
    char when[RFC3339_LEN];
    rfc3339_format(time, when);
    /* organizationid and environment are CloudEvents extension attributes so
     * consumers can route on tenant without parsing data. */
    return json_pack("{ss ss ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", event_id,
                     "source", "/caisse/checkout-sessions", "type", type, "subject", s->id, "time",
                     when, "datacontenttype", "application/json", "organizationid",
                     s->organization_id, "environment", s->environment, "data", data);
}

static json_t *session_command(const char *type, const char *subject, const char *command_id,
                               json_t *data)
{
    char now[RFC3339_LEN];
    rfc3339_format(rfc3339_now(), now);
    return json_pack("{ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", command_id, "source",
                     "/caisse/gateway", "type", type, "subject", subject, "time", now,
                     "datacontenttype", "application/json", "data", data);
}

json_t *session_command_complete(const char *session_id, const char *payment_reference,
                                 const char *customer_id, const char *command_id)
{
    json_t *data = json_pack("{ss ss so}", "checkout_session_id", session_id, "payment_reference",
                             payment_reference, "customer_id",
                             customer_id != NULL ? json_string(customer_id) : json_null());
    return data != NULL ? session_command(SESSION_COMMAND_COMPLETE, session_id, command_id, data)
                        : NULL;
}

json_t *session_command_expire(const char *session_id, const char *organization_id,
                               const char *environment, const char *command_id)
{
    json_t *data = json_pack("{ss ss ss}", "checkout_session_id", session_id, "organization_id",
                             organization_id, "environment", environment);
    return data != NULL ? session_command(SESSION_COMMAND_EXPIRE, session_id, command_id, data)
                        : NULL;
}

/* ---- SQL -------------------------------------------------------------- */

/* Reads never show "open" once expires_at has passed, even before the expiry
 * worker ran: the effective status is computed here, in the one select list. */
#define SESSION_SELECT_COLUMNS                                                                     \
    "id, organization_id, environment, amount, currency_code,"                                     \
    " CASE WHEN status = 'open' AND expires_at <= now() THEN 'expired' ELSE status END,"           \
    " title, description, customer_id, customer_email, customer_name, customer_phone,"             \
    " product_id, price_id, subscription_id, allow_quantity, quantity, success_url, cancel_url,"   \
    " allow_coupon_code, require_billing_address, payment_link_id, is_spi, is_pos,"                \
    " floor(extract(epoch FROM expires_at))::bigint, metadata::text,"                              \
    " floor(extract(epoch FROM created_at))::bigint, created_by,"                                  \
    " floor(extract(epoch FROM updated_at))::bigint, idempotency_key, request_hash, "              \
    "payment_reference"

enum {
    COL_ID,
    COL_ORG,
    COL_ENV,
    COL_AMOUNT,
    COL_CURRENCY,
    COL_STATUS,
    COL_TITLE,
    COL_DESCRIPTION,
    COL_CUSTOMER_ID,
    COL_CUSTOMER_EMAIL,
    COL_CUSTOMER_NAME,
    COL_CUSTOMER_PHONE,
    COL_PRODUCT_ID,
    COL_PRICE_ID,
    COL_SUBSCRIPTION_ID,
    COL_ALLOW_QUANTITY,
    COL_QUANTITY,
    COL_SUCCESS_URL,
    COL_CANCEL_URL,
    COL_ALLOW_COUPON,
    COL_REQUIRE_BILLING,
    COL_PAYMENT_LINK_ID,
    COL_IS_SPI,
    COL_IS_POS,
    COL_EXPIRES_AT,
    COL_METADATA,
    COL_CREATED_AT,
    COL_CREATED_BY,
    COL_UPDATED_AT,
    COL_IDEMPOTENCY_KEY,
    COL_REQUEST_HASH,
    COL_PAYMENT_REFERENCE,
    SESSION_COLUMN_COUNT
};

static char *session_row_string(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    return strdup(PQgetvalue(r, row, col));
}

static void session_row_uuid(const PGresult *r, int row, int col, char out[UUID_STR_LEN])
{
    out[0] = '\0';
    if (!PQgetisnull(r, row, col))
        snprintf(out, UUID_STR_LEN, "%s", PQgetvalue(r, row, col));
}

static int64_t session_row_int(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

static bool session_row_bool(const PGresult *r, int row, int col)
{
    return PQgetvalue(r, row, col)[0] == 't';
}

static int session_from_row(const PGresult *r, int row, struct session *out)
{
    struct session s;
    if (PQnfields(r) != SESSION_COLUMN_COUNT || session_init(&s) != C_OK)
        return C_ERR;
    session_row_uuid(r, row, COL_ID, s.id);
    session_row_uuid(r, row, COL_ORG, s.organization_id);
    snprintf(s.environment, sizeof(s.environment), "%s", PQgetvalue(r, row, COL_ENV));
    s.amount = session_row_int(r, row, COL_AMOUNT);
    snprintf(s.currency_code, sizeof(s.currency_code), "%s", PQgetvalue(r, row, COL_CURRENCY));
    if (session_status_parse(PQgetvalue(r, row, COL_STATUS), &s.status) != C_OK)
        goto fail;
    s.title = session_row_string(r, row, COL_TITLE);
    s.description = session_row_string(r, row, COL_DESCRIPTION);
    session_row_uuid(r, row, COL_CUSTOMER_ID, s.customer_id);
    s.customer_email = session_row_string(r, row, COL_CUSTOMER_EMAIL);
    s.customer_name = session_row_string(r, row, COL_CUSTOMER_NAME);
    s.customer_phone = session_row_string(r, row, COL_CUSTOMER_PHONE);
    session_row_uuid(r, row, COL_PRODUCT_ID, s.product_id);
    session_row_uuid(r, row, COL_PRICE_ID, s.price_id);
    session_row_uuid(r, row, COL_SUBSCRIPTION_ID, s.subscription_id);
    s.allow_quantity = session_row_bool(r, row, COL_ALLOW_QUANTITY);
    s.quantity = (int32_t)session_row_int(r, row, COL_QUANTITY);
    s.success_url = session_row_string(r, row, COL_SUCCESS_URL);
    s.cancel_url = session_row_string(r, row, COL_CANCEL_URL);
    s.allow_coupon_code = session_row_bool(r, row, COL_ALLOW_COUPON);
    s.require_billing_address = session_row_bool(r, row, COL_REQUIRE_BILLING);
    session_row_uuid(r, row, COL_PAYMENT_LINK_ID, s.payment_link_id);
    s.is_spi = session_row_bool(r, row, COL_IS_SPI);
    s.is_pos = session_row_bool(r, row, COL_IS_POS);
    s.expires_at = session_row_int(r, row, COL_EXPIRES_AT);
    json_decref(s.metadata);
    s.metadata = db_jsonb_load(PQgetvalue(r, row, COL_METADATA));
    if (!json_is_object(s.metadata))
        goto fail;
    s.created_at = session_row_int(r, row, COL_CREATED_AT);
    session_row_uuid(r, row, COL_CREATED_BY, s.created_by);
    s.updated_at = session_row_int(r, row, COL_UPDATED_AT);
    s.idempotency_key = session_row_string(r, row, COL_IDEMPOTENCY_KEY);
    if (!PQgetisnull(r, row, COL_REQUEST_HASH))
        snprintf(s.request_hash, sizeof(s.request_hash), "%s",
                 PQgetvalue(r, row, COL_REQUEST_HASH));
    s.payment_reference = session_row_string(r, row, COL_PAYMENT_REFERENCE);
    *out = s;
    return C_OK;
fail:
    session_free(&s);
    return C_ERR;
}

static int session_store_get_one(struct db *db, const char *sql, int nparams,
                                 const char *const *params, struct session *out, bool *found)
{
    PGresult *r = db_exec(db, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    *found = PQntuples(r) > 0;
    if (*found)
        rc = session_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

/* A session by id, of the tenant: FROM the row the primary key finds, the
 * tenant checked on it. The OFFSET 0 keeps the tenant's conditions out of
 * the index choice: without statistics (a new database under load, before
 * autovacuum's first ANALYZE) the planner took the tenant's idempotency
 * index instead and read every session of the tenant per lookup; make bench
 * saw GETs fall from 3,500/s to 430/s as the tenant grew. */
#define SESSION_BY_ID(id_param)                                                                    \
    "(SELECT * FROM checkout_sessions WHERE id = " id_param " OFFSET 0) s"

int session_store_get(struct db *db, const char *organization_id, const char *environment,
                      const char *id, struct session *out, bool *found)
{
    static const char sql[] =
        "SELECT " SESSION_SELECT_COLUMNS
        " FROM " SESSION_BY_ID("$3") " WHERE organization_id = $1 AND environment = $2";
    const char *params[3] = {organization_id, environment, id};
    return session_store_get_one(db, sql, 3, params, out, found);
}

int session_store_find_by_idempotency_key(struct db *db, const char *organization_id,
                                          const char *environment, const char *key,
                                          struct session *out, bool *found)
{
    static const char sql[] = "SELECT " SESSION_SELECT_COLUMNS " FROM checkout_sessions"
                              " WHERE organization_id = $1 AND environment = $2"
                              " AND idempotency_key = $3";
    const char *params[3] = {organization_id, environment, key};
    return session_store_get_one(db, sql, 3, params, out, found);
}

void session_array_free(struct session *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        session_free(&arr[i]);
    free(arr);
}

/* Adapters for db_rows_to_array. */
static int session_row_cb(const PGresult *r, int row, void *out)
{
    return session_from_row(r, row, out);
}

static void session_free_cb(void *elem)
{
    session_free(elem);
}

int session_store_list(struct db *db, const char *organization_id, const char *environment,
                       const struct session_list_query *q, struct session **out, size_t *count,
                       bool *cursor_found)
{
    /* One statement for every filter combination, so the plan is stable: NULL
     * parameters switch a condition off. The cursor is the (created_at, id) of
     * the named session, matching the list index order. */
    static const char sql[] = "WITH cursor AS (SELECT created_at, id FROM " SESSION_BY_ID(
        "$4::uuid") "                 WHERE organization_id = $1 AND environment = $2)"
                    " SELECT " SESSION_SELECT_COLUMNS " FROM checkout_sessions"
                    " WHERE organization_id = $1 AND environment = $2"
                    "   AND ($3::text IS NULL"
                    "        OR ($3 = 'open' AND status = 'open' AND expires_at > now())"
                    "        OR ($3 = 'complete' AND status = 'complete')"
                    "        OR ($3 = 'expired' AND (status = 'expired'"
                    "            OR (status = 'open' AND expires_at <= now()))))"
                    "   AND ($4::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM "
                    "cursor))"
                    " ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6";
    static const char cursor_sql[] =
        "SELECT 1 FROM " SESSION_BY_ID("$3") " WHERE organization_id = $1 AND environment = $2";
    *cursor_found = true;
    if (q->starting_after[0] != '\0') {
        const char *cp[3] = {organization_id, environment, q->starting_after};
        PGresult *cr = db_exec(db, cursor_sql, 3, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found) {
            *out = NULL;
            *count = 0;
            return C_OK;
        }
    }
    char limit[24], offset[24];
    snprintf(limit, sizeof(limit), "%ld", q->limit);
    snprintf(offset, sizeof(offset), "%ld", q->offset);
    const char *params[6] = {organization_id,
                             environment,
                             q->has_status ? session_status_name(q->status) : NULL,
                             q->starting_after[0] != '\0' ? q->starting_after : NULL,
                             limit,
                             offset};
    PGresult *r = db_exec(db, sql, 6, params);
    if (r == NULL)
        return C_ERR;
    void *arr = NULL;
    int rc =
        db_rows_to_array(r, sizeof(struct session), session_row_cb, session_free_cb, &arr, count);
    PQclear(r);
    if (rc == C_OK)
        *out = arr;
    return rc;
}

int session_store_insert_batch(struct db *db, json_t *records, long *inserted, json_t *inserted_ids)
{
    /* The whole batch is one statement: the records travel as one JSON
     * parameter. DISTINCT ON drops a command replayed inside the same batch, and
     * ON CONFLICT DO NOTHING one applied before (same id) or a concurrent retry
     * with the same Idempotency-Key; only rows really inserted get an event. */
    static const char sql[] =
        "WITH input AS ("
        "  SELECT DISTINCT ON (checkout_session_id) * FROM jsonb_to_recordset($1::jsonb) AS x("
        "    checkout_session_id uuid, organization_id uuid, environment text, amount bigint,"
        "    currency_code text, status text, title text, description text, customer_id uuid,"
        "    customer_email text, customer_name text, customer_phone text, product_id uuid,"
        "    price_id uuid, subscription_id uuid, allow_quantity boolean, quantity integer,"
        "    success_url text, cancel_url text, allow_coupon_code boolean,"
        "    require_billing_address boolean, payment_link_id uuid, is_spi boolean,"
        "    is_pos boolean, expires_at timestamptz, metadata jsonb, created_at timestamptz,"
        "    created_by uuid, updated_at timestamptz, idempotency_key text, request_hash text,"
        "    event_id uuid, event text)"
        "  ORDER BY checkout_session_id),"
        " ins AS ("
        "  INSERT INTO checkout_sessions (id, organization_id, environment, amount, currency_code,"
        "    status, title, description, customer_id, customer_email, customer_name,"
        "    customer_phone, product_id, price_id, subscription_id, allow_quantity, quantity,"
        "    success_url, cancel_url, allow_coupon_code, require_billing_address,"
        "    payment_link_id, is_spi, is_pos, expires_at, metadata, created_at, created_by,"
        "    updated_at, idempotency_key, request_hash)"
        "  SELECT checkout_session_id, organization_id, environment, amount, currency_code,"
        "    status, title, description, customer_id, customer_email, customer_name,"
        "    customer_phone, product_id, price_id, subscription_id, allow_quantity, quantity,"
        "    success_url, cancel_url, allow_coupon_code, require_billing_address,"
        "    payment_link_id, is_spi, is_pos, expires_at, metadata, created_at, created_by,"
        "    updated_at, idempotency_key, request_hash FROM input"
        "  ON CONFLICT DO NOTHING RETURNING id),"
        " ev AS ("
        "  INSERT INTO outbox (id, session_id, organization_id, environment, type, payload)"
        "  SELECT i.event_id, i.checkout_session_id, i.organization_id, i.environment,"
        "    'checkout.session.created', i.event FROM input i JOIN ins ON ins.id = "
        "i.checkout_session_id"
        "  RETURNING 1)"
        " SELECT (SELECT count(*) FROM ins), (SELECT count(*) FROM ev),"
        "  (SELECT coalesce(string_agg(id::text, ','), '') FROM ins)";
    char *text = json_dumps(records, JSON_COMPACT);
    if (text == NULL)
        return C_ERR;
    const char *params[1] = {text};
    PGresult *r = db_exec(db, sql, 1, params);
    free(text);
    if (r == NULL)
        return C_ERR;
    /* Into a copy first: on failure the caller's set stays as it was. */
    json_t *ids = json_object();
    char *list = strdup(PQgetvalue(r, 0, 2));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    int rc = ids != NULL && list != NULL ? C_OK : C_ERR;
    char *save = NULL;
    for (char *id = rc == C_OK ? strtok_r(list, ",", &save) : NULL; id != NULL && rc == C_OK;
         id = strtok_r(NULL, ",", &save))
        rc = json_object_set_new(ids, id, json_true()) == 0 ? C_OK : C_ERR;
    free(list);
    if (rc == C_OK && json_object_update(inserted_ids, ids) != 0)
        rc = C_ERR;
    json_decref(ids);
    if (rc == C_OK)
        *inserted = n;
    return rc;
}

int session_store_existing_ids(struct db *db, json_t *ids, json_t **existing)
{
    static const char sql[] = "SELECT coalesce(json_agg(id), '[]')::text FROM checkout_sessions"
                              " WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid)";
    char *text = json_dumps(ids, JSON_COMPACT);
    if (text == NULL)
        return C_ERR;
    const char *params[1] = {text};
    PGresult *r = db_exec(db, sql, 1, params);
    free(text);
    if (r == NULL)
        return C_ERR;
    json_t *arr = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return C_ERR;
    }
    *existing = arr;
    return C_OK;
}

int session_store_get_any(struct db *db, const char *id, struct session *out, bool *found)
{
    static const char sql[] = "SELECT " SESSION_SELECT_COLUMNS " FROM checkout_sessions"
                              " WHERE id = $1";
    const char *params[1] = {id};
    return session_store_get_one(db, sql, 1, params, out, found);
}

/* Appends the event of a transition of s to events (see outbox_insert). */
static int session_append_event(json_t *events, const struct session *s, const char *type,
                                const char *event_id, const char *public_base_url)
{
    char generated[UUID_STR_LEN];
    if (event_id == NULL) {
        if (uuid_v7_string(generated) != C_OK)
            return C_ERR;
        event_id = generated;
    }
    json_t *ev = session_event(s, public_base_url, type, event_id, s->updated_at);
    char *payload = ev != NULL ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);
    if (payload == NULL)
        return C_ERR;
    json_t *row = json_pack("{ss ss ss ss ss ss}", "id", event_id, "session_id", s->id,
                            "organization_id", s->organization_id, "environment", s->environment,
                            "type", type, "payload", payload);
    free(payload);
    if (row == NULL || json_array_append_new(events, row) != 0)
        return C_ERR;
    return C_OK;
}

/* Runs a guarded single-row UPDATE ... RETURNING and, if it changed the row,
 * writes the transition's event. */
static int session_store_transition(struct db *db, const char *sql, int nparams,
                                    const char *const *params, const char *type,
                                    const char *event_id, const char *public_base_url,
                                    struct session *out, bool *applied)
{
    PGresult *r = db_exec(db, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        *applied = false;
        return C_OK;
    }
    struct session s;
    int rc = session_from_row(r, 0, &s);
    PQclear(r);
    if (rc != C_OK)
        return C_ERR;
    json_t *events = json_array();
    if (events == NULL ||
        session_append_event(events, &s, type, event_id, public_base_url) != C_OK ||
        outbox_insert(db, events) != C_OK) {
        json_decref(events);
        session_free(&s);
        return C_ERR;
    }
    json_decref(events);
    *out = s;
    *applied = true;
    return C_OK;
}

/* Transition times are whole seconds like every time of the model. */
#define SESSION_NOW_SECONDS "date_trunc('second', now())"

int session_store_complete(struct db *db, const char *id, const char *payment_reference,
                           const char *customer_id, const char *event_id,
                           const char *public_base_url, struct session *out, bool *applied)
{
    static const char sql[] =
        "UPDATE checkout_sessions SET status = 'complete', payment_reference = $2,"
        " customer_id = coalesce($3::uuid, customer_id), completed_at = now(),"
        " updated_at = " SESSION_NOW_SECONDS
        " WHERE id = $1 AND status = 'open' AND expires_at > now()"
        " RETURNING " SESSION_SELECT_COLUMNS;
    const char *params[3] = {id, payment_reference, customer_id};
    return session_store_transition(db, sql, 3, params, SESSION_EVENT_COMPLETED, event_id,
                                    public_base_url, out, applied);
}

int session_store_expire(struct db *db, const char *id, const char *organization_id,
                         const char *environment, const char *event_id, const char *public_base_url,
                         struct session *out, bool *applied)
{
    static const char sql[] =
        "UPDATE checkout_sessions SET status = 'expired', updated_at = " SESSION_NOW_SECONDS
        " WHERE id = $1 AND organization_id = $2 AND environment = $3 AND status = 'open'"
        " RETURNING " SESSION_SELECT_COLUMNS;
    const char *params[3] = {id, organization_id, environment};
    return session_store_transition(db, sql, 3, params, SESSION_EVENT_EXPIRED, event_id,
                                    public_base_url, out, applied);
}

int session_store_expire_due(struct db *db, long limit, const char *public_base_url, long *expired)
{
    /* MATERIALIZED keeps the claim (with its row locks) a separate step, so the
     * planner cannot fold the LIMIT into the UPDATE; SKIP LOCKED lets replicas
     * take disjoint batches; the status guard makes a repeat a no-op. */
    static const char sql[] =
        "WITH due AS MATERIALIZED ("
        "  SELECT id AS due_id FROM checkout_sessions"
        "  WHERE status = 'open' AND expires_at <= now()"
        "  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE checkout_sessions SET status = 'expired', updated_at = " SESSION_NOW_SECONDS
        " FROM due WHERE id = due.due_id AND status = 'open'"
        " RETURNING " SESSION_SELECT_COLUMNS;
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[1] = {lim};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    int n = PQntuples(r);
    json_t *events = json_array();
    int rc = events != NULL ? C_OK : C_ERR;
    for (int i = 0; rc == C_OK && i < n; i++) {
        struct session s;
        rc = session_from_row(r, i, &s);
        if (rc == C_OK) {
            rc = session_append_event(events, &s, SESSION_EVENT_EXPIRED, NULL, public_base_url);
            session_free(&s);
        }
    }
    PQclear(r);
    if (rc == C_OK)
        rc = outbox_insert(db, events);
    json_decref(events);
    if (rc == C_OK)
        *expired = n;
    return rc;
}

int session_store_expiry_lag(struct db *db, double *seconds)
{
    static const char sql[] =
        "SELECT coalesce(extract(epoch FROM now() - min(expires_at)), 0)::float8"
        " FROM checkout_sessions WHERE status = 'open' AND expires_at <= now()";
    PGresult *r = db_exec(db, sql, 0, NULL);
    if (r == NULL)
        return C_ERR;
    *seconds = strtod(PQgetvalue(r, 0, 0), NULL);
    PQclear(r);
    return C_OK;
}
