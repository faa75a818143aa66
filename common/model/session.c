#include "session.h"

#include <assert.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "core/result.h"
#include "core/rfc3339.h"

/* ---- the declaration's values ---------------------------------------------- */

static const char *const session_status_names[] = {"open", "complete", "expired", NULL};
static const char *const session_environments[] = {"test", "live", NULL};

/* Three upper-case letters. */
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

#define SESSION_FIELD(k, m, j, f, a, s) RESOURCE_FIELD(struct session, k, m, j, f, s)
static const struct resource_field session_fields[] = {SESSION_FIELDS(SESSION_FIELD)};
static const struct resource session_resource = {"session", session_fields,
                                                 sizeof(session_fields) / sizeof(session_fields[0]),
                                                 sizeof(struct session)};

int session_init(struct session *s)
{
    if (resource_init(&session_resource, s) != C_OK)
        return C_ERR;
    s->quantity = 1;
    return C_OK;
}

void session_free(struct session *s)
{
    resource_free(&session_resource, s);
}

int session_page_secret_generate(char out[SESSION_PAGE_SECRET_LEN])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char bytes[SESSION_PAGE_SECRET_BYTES];
    if (getrandom(bytes, sizeof(bytes), 0) != (ssize_t)sizeof(bytes))
        return C_ERR;
    /* 24 bytes are 8 groups of 3, each 4 characters: no padding. */
    for (size_t g = 0; g < sizeof(bytes) / 3; g++) {
        uint32_t v = (uint32_t)bytes[3 * g] << 16 | (uint32_t)bytes[3 * g + 1] << 8 |
                     (uint32_t)bytes[3 * g + 2];
        for (size_t k = 0; k < 4; k++)
            out[4 * g + k] = alphabet[(v >> (18 - 6 * k)) & 0x3F];
    }
    out[SESSION_PAGE_SECRET_LEN - 1] = '\0';
    return C_OK;
}

bool session_page_secret_is_valid(const char *text)
{
    size_t n = 0;
    for (; text[n] != '\0'; n++) {
        char c = text[n];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_';
        if (!ok || n >= SESSION_PAGE_SECRET_LEN - 1)
            return false;
    }
    return n == SESSION_PAGE_SECRET_LEN - 1;
}

bool session_page_secret_matches(const struct session *s, const char *secret)
{
    if (secret == NULL || s->page_secret[0] == '\0')
        return false;
    /* Every byte of the stored secret is compared whatever the given one is,
     * so the time depends on neither. */
    const size_t n = SESSION_PAGE_SECRET_LEN - 1;
    unsigned char diff = 0;
    bool ended = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char given = ended ? 0 : (unsigned char)secret[i];
        ended = ended || given == 0;
        diff |= (unsigned char)(given ^ (unsigned char)s->page_secret[i]);
    }
    diff |= (unsigned char)(ended ? 1 : (unsigned char)secret[n]);
    return diff == 0;
}

const char *session_status_name(enum session_status status)
{
    return session_status_names[status];
}

int session_status_parse(const char *name, enum session_status *out)
{
    for (int i = 0; session_status_names[i] != NULL; i++) {
        if (name != NULL && strcmp(name, session_status_names[i]) == 0) {
            *out = (enum session_status)i;
            return C_OK;
        }
    }
    return C_ERR;
}

/* ---- JSON ------------------------------------------------------------------ */

/* The url member: <public_base_url>/checkout/<id>/<page_secret> (without a
 * secret, /checkout/<id>), cut at this size as it always was. */
#define SESSION_URL_SIZE 2600

static void session_url(const struct session *s, const char *public_base_url,
                        char url[SESSION_URL_SIZE])
{
    if (s->page_secret[0] != '\0')
        snprintf(url, SESSION_URL_SIZE, "%s/checkout/%s/%s", public_base_url, s->id,
                 s->page_secret);
    else
        snprintf(url, SESSION_URL_SIZE, "%s/checkout/%s", public_base_url, s->id);
}

json_t *session_to_json(const struct session *s, const char *public_base_url)
{
    char url[SESSION_URL_SIZE];
    session_url(s, public_base_url, url);
    json_t *o = resource_to_json(&session_resource, s);
    if (o == NULL || json_object_set_new(o, "url", json_string(url)) != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* The REST object as text: what json_dumps(session_to_json(s), JSON_COMPACT)
 * prints; with member, one more after url ("<member>":<member_json>). */
static void session_write_json(struct json_writer *w, const struct session *s,
                               const char *public_base_url, const char *member,
                               const char *member_json)
{
    char url[SESSION_URL_SIZE];
    session_url(s, public_base_url, url);
    json_writer_literal(w, "{");
    resource_write_members(w, &session_resource, s);
    json_writer_literal(w, ",\"url\":");
    json_writer_string(w, url);
    if (member != NULL) {
        json_writer_literal(w, ",");
        json_writer_string(w, member);
        json_writer_literal(w, ":");
        json_writer_raw(w, member_json, strlen(member_json));
    }
    json_writer_literal(w, "}");
}

char *session_to_json_text(const struct session *s, const char *public_base_url)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    session_write_json(&w, s, public_base_url, NULL, NULL);
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return NULL;
    }
    return w.buf; /* the writer's buffer is the caller's now */
}

int session_from_json(const json_t *obj, struct session *out, struct error *err)
{
    if (!json_is_object(obj))
        return error_set(err, NULL, "session is not a JSON object");
    struct session s;
    if (session_init(&s) != C_OK)
        return error_set(err, NULL, "out of memory");
    if (resource_read_json(&session_resource, obj, &s, err) != C_OK) {
        session_free(&s);
        return C_ERR;
    }
    if (s.customer_id[0] == '\0' && s.customer_email == NULL) {
        session_free(&s);
        return error_set(err, "customer_email",
                         "one of customer_id and customer_email is required");
    }
    /* A command written before the totals existed: nothing was taken off. */
    if (s.amount_subtotal == RESOURCE_NULL_INT64)
        s.amount_subtotal = s.amount;
    if (s.amount_discount == RESOURCE_NULL_INT64)
        s.amount_discount = 0;
    if (s.amount_total == RESOURCE_NULL_INT64)
        s.amount_total = s.amount_subtotal - s.amount_discount;
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
    if (s->page_secret[0] != '\0' &&
        json_object_set_new(cmd, "pagesecret", json_string(s->page_secret)) != 0) {
        json_decref(cmd);
        return NULL;
    }
    return cmd;
}

int session_event_write(struct json_writer *w, const struct session *s, const char *public_base_url,
                        const char *type, const char *event_id, int64_t time)
{
    return session_event_write_with(w, s, public_base_url, type, event_id, time, NULL, NULL);
}

int session_event_write_with(struct json_writer *w, const struct session *s,
                             const char *public_base_url, const char *type, const char *event_id,
                             int64_t time, const char *member, const char *member_json)
{
    char when[RFC3339_LEN];
    rfc3339_format(time, when);
    size_t mark = json_writer_begin(w);
    json_writer_literal(w, "{\"specversion\":\"1.0\",\"id\":");
    json_writer_string(w, event_id);
    json_writer_literal(w, ",\"source\":\"/caisse/checkout-sessions\",\"type\":");
    json_writer_string(w, type);
    json_writer_literal(w, ",\"subject\":");
    json_writer_string(w, s->id);
    json_writer_literal(w, ",\"time\":");
    json_writer_string(w, when);
    json_writer_literal(w, ",\"datacontenttype\":\"application/json\",\"organizationid\":");
    json_writer_string(w, s->organization_id);
    json_writer_literal(w, ",\"environment\":");
    json_writer_string(w, s->environment);
    json_writer_literal(w, ",\"data\":");
    session_write_json(w, s, public_base_url, member, member_json);
    json_writer_literal(w, "}");
    return json_writer_end(w, mark);
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
                                 const char *customer_id, int64_t amount, const char *currency_code,
                                 const char *command_id)
{
    json_t *data = json_pack("{ss ss so sI ss}", "checkout_session_id", session_id,
                             "payment_reference", payment_reference, "customer_id",
                             customer_id != NULL ? json_string(customer_id) : json_null(), "amount",
                             (json_int_t)amount, "currency_code", currency_code);
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

/* ---- SQL ------------------------------------------------------------------- */

/* A session by id, of the tenant: FROM the row the primary key finds, the
 * tenant checked on it. The OFFSET 0 keeps the tenant's conditions out of
 * the index choice: without statistics (a new database under load, before
 * autovacuum's first ANALYZE) the planner took the tenant's idempotency
 * index instead and read every session of the tenant per lookup; make bench
 * saw GETs fall from 3,500/s to 430/s as the tenant grew. */
#define SESSION_BY_ID(id_param)                                                                    \
    "(SELECT * FROM checkout_sessions WHERE id = " id_param " OFFSET 0) s"

/* Transition times are whole seconds like every time of the model. */
#define SESSION_NOW_SECONDS "date_trunc('second', now())"

/* The statements, as templates of resource_sql_format ({select} is the
 * select list of every field, which session_from_row reads). */
enum session_statement {
    SESSION_SQL_GET,
    SESSION_SQL_FIND_BY_IDEMPOTENCY_KEY,
    SESSION_SQL_LIST,
    SESSION_SQL_GET_ANY,
    SESSION_SQL_COPY,
    SESSION_SQL_GET_MANY,
    SESSION_SQL_INSERT_BATCH,
    SESSION_SQL_COMPLETE,
    SESSION_SQL_EXPIRE,
    SESSION_SQL_EXPIRE_DUE,
    SESSION_SQL_LOCK,
    SESSION_SQL_COMPLETE_PAYMENT,
    SESSION_SQL_COUNT
};

static const char *const session_sql_templates[SESSION_SQL_COUNT] = {
    [SESSION_SQL_GET] = "SELECT {select} FROM " SESSION_BY_ID(
        "$3") " WHERE organization_id = $1 AND environment = $2",
    /* The session by its key, the tenant checked on the row: the OFFSET 0 keeps
     * the tenant's conditions out of the index choice, so the only index the
     * lookup can use is checkout_sessions_idempotency_key (migration 0015, the
     * key first), whatever the statistics. With the tenant's conditions in the
     * scan, a new database (no ANALYZE yet, or a VACUUM without one) planned it
     * on the tenant's list index and read every session of the tenant per
     * create: creates fell from ~650/s to ~80/s (deploy/OPERATIONS.md). */
    [SESSION_SQL_FIND_BY_IDEMPOTENCY_KEY] =
        "SELECT {select} FROM (SELECT * FROM checkout_sessions WHERE idempotency_key = $3"
        " OFFSET 0) s WHERE organization_id = $1 AND environment = $2",
    /* One statement for every filter combination, so the plan is stable: NULL
     * parameters switch a condition off. The cursor is the (created_at, id) of
     * the named session, matching the list index order. */
    [SESSION_SQL_LIST] = "WITH cursor AS (SELECT created_at, id FROM " SESSION_BY_ID(
        "$4::uuid") "                 WHERE organization_id = $1 AND environment = $2)"
                    " SELECT {select} FROM checkout_sessions"
                    " WHERE organization_id = $1 AND environment = $2"
                    "   AND ($3::text IS NULL"
                    "        OR ($3 = 'open' AND status = 'open' AND expires_at > now())"
                    "        OR ($3 = 'complete' AND status = 'complete')"
                    "        OR ($3 = 'expired' AND (status = 'expired'"
                    "            OR (status = 'open' AND expires_at <= now()))))"
                    "   AND ($4::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM "
                    "cursor))"
                    " ORDER BY created_at DESC, id DESC LIMIT $5 OFFSET $6",
    [SESSION_SQL_GET_ANY] = "SELECT {select} FROM checkout_sessions WHERE id = $1",
    /* The fast way in: COPY, under a savepoint so that a batch meeting a row
     * that exists (a redelivered batch, a concurrent retry: unique_violation)
     * can go back and take the insert below instead. One round trip for both
     * statements (the simple query protocol). */
    [SESSION_SQL_COPY] = "SAVEPOINT session_copy; COPY checkout_sessions ({columns}) FROM STDIN",
    /* Coalesced GETs: each id looked up by primary key alone, one index probe
     * per id whatever the statistics (the tenant is checked on each row by
     * session_store_get_many). Not "WHERE id = ANY($1)": on a new table (no
     * ANALYZE yet, a few pages) that was planned as a sequential scan, and a
     * connection's cached plan could keep it while the table grew. */
    [SESSION_SQL_GET_MANY] =
        "SELECT s.* FROM unnest($1::uuid[]) AS k(id) CROSS JOIN LATERAL"
        " (SELECT {select} FROM checkout_sessions WHERE checkout_sessions.id = k.id OFFSET 0) s",
    /* The whole batch is one statement: the rows travel as one JSON parameter,
     * each with its index in the batch (ord). ON CONFLICT DO NOTHING skips a
     * session applied before (same id) or a concurrent retry with the same
     * Idempotency-Key; the ords of the rows really inserted come back. Rows go
     * in id order, the same in every worker. */
    [SESSION_SQL_INSERT_BATCH] =
        "WITH input AS ("
        "  SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(ord integer, {recordset})),"
        " ins AS ("
        "  INSERT INTO checkout_sessions ({columns})"
        "  SELECT {columns} FROM input ORDER BY id"
        "  ON CONFLICT DO NOTHING RETURNING id)"
        " SELECT input.ord FROM input JOIN ins ON ins.id = input.id",
    [SESSION_SQL_COMPLETE] =
        "UPDATE checkout_sessions SET status = 'complete', payment_reference = $2,"
        " customer_id = coalesce($3::uuid, customer_id), completed_at = now(),"
        " updated_at = " SESSION_NOW_SECONDS
        " WHERE id = $1 AND status = 'open' AND expires_at > now()"
        " RETURNING {select}",
    [SESSION_SQL_EXPIRE] =
        "UPDATE checkout_sessions SET status = 'expired', updated_at = " SESSION_NOW_SECONDS
        " WHERE id = $1 AND organization_id = $2 AND environment = $3 AND status = 'open'"
        " RETURNING {select}",
    /* MATERIALIZED keeps the claim (with its row locks) a separate step, so the
     * planner cannot fold the LIMIT into the UPDATE; SKIP LOCKED lets replicas
     * take disjoint batches; the status guard makes a repeat a no-op. */
    [SESSION_SQL_EXPIRE_DUE] =
        "WITH due AS MATERIALIZED ("
        "  SELECT id AS due_id FROM checkout_sessions"
        "  WHERE status = 'open' AND expires_at <= now()"
        "  ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
        " UPDATE checkout_sessions SET status = 'expired', updated_at = " SESSION_NOW_SECONDS
        " FROM due WHERE id = due.due_id AND status = 'open'"
        " RETURNING {select}",
    [SESSION_SQL_LOCK] = "SELECT {select} FROM checkout_sessions WHERE id = $1 FOR UPDATE",
    /* The page's payment: the totals, coupon and details the customer paid
     * for, under the same guard as a completion. amount is the subtotal, as
     * at creation. */
    [SESSION_SQL_COMPLETE_PAYMENT] =
        "UPDATE checkout_sessions SET status = 'complete', payment_reference = $2,"
        " customer_id = coalesce($3::uuid, customer_id), completed_at = now(),"
        " updated_at = " SESSION_NOW_SECONDS ", quantity = $4::integer,"
        " amount = $5::bigint, amount_subtotal = $5::bigint, amount_discount = $6::bigint,"
        " amount_total = $5::bigint - $6::bigint, coupon_id = $7::uuid, coupon_code = $8,"
        " billing_address = $9::jsonb, customer_details = $10::jsonb, payment = $11::jsonb"
        " WHERE id = $1 AND status = 'open' AND expires_at > now()"
        " RETURNING {select}",
};

/* Built once per process from the templates; the same text every call, so
 * db_exec prepares each once per connection. */
static char session_sql_text[SESSION_SQL_COUNT][3072];
static pthread_once_t session_sql_once = PTHREAD_ONCE_INIT;

static void session_sql_build(void)
{
    for (int i = 0; i < SESSION_SQL_COUNT; i++) {
        int rc = resource_sql_format(&session_resource, session_sql_templates[i],
                                     session_sql_text[i], sizeof(session_sql_text[i]));
        assert(rc == C_OK); /* the buffers fit every statement */
        (void)rc;
    }
}

static const char *session_sql(enum session_statement st)
{
    pthread_once(&session_sql_once, session_sql_build);
    return session_sql_text[st];
}

static int session_from_row(const PGresult *r, int row, struct session *out)
{
    struct session s;
    if (session_init(&s) != C_OK)
        return C_ERR;
    if (resource_read_row(&session_resource, r, row, &s) != C_OK) {
        session_free(&s);
        return C_ERR;
    }
    *out = s;
    return C_OK;
}

static int session_store_get_one(struct db *db, const char *sql, int nparams,
                                 const char *const *params, struct session *out, bool *found)
{
    PGresult *r = db_exec(db, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    bool any = PQntuples(r) > 0;
    if (any)
        rc = session_from_row(r, 0, out);
    PQclear(r);
    if (rc == C_OK)
        *found = any;
    return rc;
}

int session_store_get(struct db *db, const char *organization_id, const char *environment,
                      const char *id, struct session *out, bool *found)
{
    const char *params[3] = {organization_id, environment, id};
    return session_store_get_one(db, session_sql(SESSION_SQL_GET), 3, params, out, found);
}

/* A key's index, sorted by id to find a row's keys by binary search. */
struct session_key_ref {
    const char *id;
    size_t index;
};

static int session_key_ref_cmp(const void *a, const void *b)
{
    const struct session_key_ref *x = a, *y = b;
    int c = strcmp(x->id, y->id);
    return c != 0 ? c : (x->index > y->index) - (x->index < y->index);
}

/* The first ref whose id is id, or NULL. */
static const struct session_key_ref *session_key_ref_find(const struct session_key_ref *refs,
                                                          size_t n, const char *id)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(refs[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && strcmp(refs[lo].id, id) == 0 ? &refs[lo] : NULL;
}

const char *session_store_get_many_sql(void)
{
    return session_sql(SESSION_SQL_GET_MANY);
}

/* Reads each row into the keys that ask for it and are of its tenant. */
static int session_rows_to_keys(const PGresult *r, const struct session_key *keys,
                                const struct session_key_ref *refs, size_t n, struct session *out,
                                bool *found)
{
    int col_id = PQfnumber(r, "id");
    int col_org = PQfnumber(r, "organization_id");
    int col_env = PQfnumber(r, "environment");
    if (col_id < 0 || col_org < 0 || col_env < 0)
        return C_ERR;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *id = PQgetvalue(r, row, col_id);
        const char *org = PQgetvalue(r, row, col_org);
        const char *env = PQgetvalue(r, row, col_env);
        const struct session_key_ref *ref = session_key_ref_find(refs, n, id);
        for (; ref != NULL && ref < refs + n && strcmp(ref->id, id) == 0; ref++) {
            const struct session_key *k = &keys[ref->index];
            if (found[ref->index] || strcasecmp(k->organization_id, org) != 0 ||
                strcmp(k->environment, env) != 0)
                continue;
            if (session_from_row(r, row, &out[ref->index]) != C_OK)
                return C_ERR;
            found[ref->index] = true;
        }
    }
    return C_OK;
}

int session_store_get_many(struct db *db, const struct session_key *keys, size_t n,
                           struct session *out, bool *found)
{
    for (size_t i = 0; i < n; i++)
        found[i] = false;
    if (n == 0)
        return C_OK;
    /* The ids as one array literal, "{id,id,...}": canonical UUIDs need no quoting. */
    size_t cap = n * UUID_STR_LEN + 3;
    char *ids = malloc(cap);
    struct session_key_ref *refs = malloc(n * sizeof(*refs));
    if (ids == NULL || refs == NULL) {
        free(ids);
        free(refs);
        return C_ERR;
    }
    size_t len = 0;
    ids[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        size_t idlen = strnlen(keys[i].id, UUID_STR_LEN);
        if (idlen >= UUID_STR_LEN) {
            free(ids);
            free(refs);
            return C_ERR;
        }
        if (i > 0)
            ids[len++] = ',';
        memcpy(ids + len, keys[i].id, idlen);
        len += idlen;
        refs[i] = (struct session_key_ref){keys[i].id, i};
    }
    ids[len++] = '}';
    ids[len] = '\0';
    qsort(refs, n, sizeof(*refs), session_key_ref_cmp);
    const char *params[1] = {ids};
    PGresult *r = db_exec(db, session_sql(SESSION_SQL_GET_MANY), 1, params);
    free(ids);
    int rc = r != NULL ? session_rows_to_keys(r, keys, refs, n, out, found) : C_ERR;
    PQclear(r);
    free(refs);
    if (rc != C_OK) {
        for (size_t i = 0; i < n; i++) {
            if (found[i])
                session_free(&out[i]);
            found[i] = false;
        }
    }
    return rc;
}

const char *session_store_idempotency_sql(void)
{
    return session_sql(SESSION_SQL_FIND_BY_IDEMPOTENCY_KEY);
}

int session_store_find_by_idempotency_key(struct db *db, const char *organization_id,
                                          const char *environment, const char *key,
                                          struct session *out, bool *found)
{
    const char *params[3] = {organization_id, environment, key};
    return session_store_get_one(db, session_sql(SESSION_SQL_FIND_BY_IDEMPOTENCY_KEY), 3, params,
                                 out, found);
}

int session_store_get_any(struct db *db, const char *id, struct session *out, bool *found)
{
    const char *params[1] = {id};
    return session_store_get_one(db, session_sql(SESSION_SQL_GET_ANY), 1, params, out, found);
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
    PGresult *r = db_exec(db, session_sql(SESSION_SQL_LIST), 6, params);
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

int session_write_insert_rows(struct json_writer *w, const struct session *const *sessions,
                              size_t n)
{
    size_t mark = json_writer_begin(w);
    json_writer_literal(w, "[");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            json_writer_literal(w, ",");
        json_writer_literal(w, "{\"ord\":");
        json_writer_int(w, (int64_t)i);
        json_writer_literal(w, ",");
        resource_write_columns(w, &session_resource, sessions[i]);
        json_writer_literal(w, "}");
    }
    json_writer_literal(w, "]");
    return json_writer_end(w, mark);
}

static int session_compare_ids(const void *a, const void *b)
{
    const struct session *const *x = a, *const *y = b;
    return strcasecmp((*x)->id, (*y)->id);
}

int session_write_copy_rows(const struct session *const *sessions, size_t n, char **buf,
                            size_t *len, size_t *cap)
{
    /* In id order, like the insert: two workers that ever hold the same rows
     * (a zombie after a rebalance) wait for each other in one order. */
    const struct session **sorted = malloc((n > 0 ? n : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return C_ERR;
    memcpy(sorted, sessions, n * sizeof(*sorted));
    qsort(sorted, n, sizeof(*sorted), session_compare_ids);
    struct json_writer scratch = JSON_WRITER_INIT;
    size_t start = *len;
    int rc = C_OK;
    for (size_t i = 0; rc == C_OK && i < n; i++)
        rc = resource_write_copy_row(&session_resource, sorted[i], &scratch, buf, len, cap);
    if (rc != C_OK)
        *len = start;
    json_writer_free(&scratch);
    free(sorted);
    return rc;
}

/* Every row by COPY: C_OK and *conflict false when all went in; *conflict
 * when one of them exists already (nothing went in, the savepoint is undone). */
static int session_store_copy_batch(struct db *db, const struct session *const *sessions, size_t n,
                                    bool *conflict)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    *conflict = false;
    if (session_write_copy_rows(sessions, n, &buf, &len, &cap) != C_OK) {
        free(buf);
        return C_ERR;
    }
    /* A redelivered batch meets its own rows: the ON CONFLICT insert below
     * sorts it out, so that is no error. */
    int rc = db_copy_in(db, session_sql(SESSION_SQL_COPY), buf, len, DB_COPY_CONFLICT_EXPECTED);
    free(buf);
    if (rc == C_OK || strcmp(db_last_sqlstate(db), DB_UNIQUE_VIOLATION) != 0)
        return rc;
    *conflict = true;
    return db_exec_command(db, "ROLLBACK TO SAVEPOINT session_copy", 0, NULL);
}

int session_store_insert_batch(struct db *db, const struct session *const *sessions, size_t n,
                               bool *inserted)
{
    if (n == 0)
        return C_OK;
    /* A batch of new sessions (all but a redelivered or retried one) goes in
     * by COPY: no JSON for PostgreSQL to parse and turn into a recordset. 500
     * rows took about half the server's time of the insert below (psql), and
     * creates about 17 % less of PostgreSQL's CPU (interleaved A/B, issue 17). */
    bool conflict;
    if (session_store_copy_batch(db, sessions, n, &conflict) != C_OK)
        return C_ERR;
    if (!conflict) {
        for (size_t i = 0; i < n; i++)
            inserted[i] = true;
        return C_OK;
    }
    struct json_writer w = JSON_WRITER_INIT;
    if (session_write_insert_rows(&w, sessions, n) != C_OK) {
        json_writer_free(&w);
        return C_ERR;
    }
    const char *params[1] = {w.buf};
    PGresult *r = db_exec(db, session_sql(SESSION_SQL_INSERT_BATCH), 1, params);
    json_writer_free(&w);
    if (r == NULL)
        return C_ERR;
    for (size_t i = 0; i < n; i++)
        inserted[i] = false;
    for (int row = 0; row < PQntuples(r); row++) {
        long ord = strtol(PQgetvalue(r, row, 0), NULL, 10);
        assert(ord >= 0 && (size_t)ord < n); /* the ords are the ones sent */
        inserted[ord] = true;
    }
    PQclear(r);
    return C_OK;
}

/* Adds the event of a change of s to events, written in w (scratch). */
static int session_add_event(struct outbox_batch *events, struct json_writer *w,
                             const struct session *s, const char *type, const char *event_id,
                             const char *public_base_url)
{
    json_writer_clear(w);
    if (session_event_write(w, s, public_base_url, type, event_id, s->updated_at) != C_OK)
        return C_ERR;
    struct outbox_event ev = {event_id, s->id, s->organization_id, s->environment, type, w->buf};
    return outbox_batch_add(events, &ev);
}

/* Runs a guarded single-row UPDATE ... RETURNING and, if it changed the row,
 * adds the transition's event to events. */
static int session_store_transition(struct db *db, const char *sql, int nparams,
                                    const char *const *params, const char *type,
                                    const char *event_id, const char *public_base_url,
                                    struct outbox_batch *events, bool *applied)
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
    struct json_writer w = JSON_WRITER_INIT;
    rc = session_add_event(events, &w, &s, type, event_id, public_base_url);
    json_writer_free(&w);
    session_free(&s);
    if (rc == C_OK)
        *applied = true;
    return rc;
}

int session_store_complete(struct db *db, const char *id, const char *payment_reference,
                           const char *customer_id, const char *event_id,
                           const char *public_base_url, struct outbox_batch *events, bool *applied)
{
    const char *params[3] = {id, payment_reference, customer_id};
    return session_store_transition(db, session_sql(SESSION_SQL_COMPLETE), 3, params,
                                    SESSION_EVENT_COMPLETED, event_id, public_base_url, events,
                                    applied);
}

int64_t session_amount_due(const struct session *s)
{
    if (s->amount_total != RESOURCE_NULL_INT64)
        return s->amount_total;
    int64_t subtotal = s->amount_subtotal != RESOURCE_NULL_INT64 ? s->amount_subtotal : s->amount;
    return subtotal - (s->amount_discount != RESOURCE_NULL_INT64 ? s->amount_discount : 0);
}

int session_store_payment_reference_owner(struct db *db, const char *organization_id,
                                          const char *environment, const char *payment_reference,
                                          const char *exclude_id, char owner[UUID_STR_LEN],
                                          bool *found)
{
    /* The predicate of the unique index (0012), so that index answers. */
    static const char sql[] =
        "SELECT id FROM checkout_sessions WHERE organization_id = $1 AND environment = $2"
        " AND payment_reference = $3 AND NOT payment_reference_duplicate AND id <> $4 LIMIT 1";
    const char *params[4] = {organization_id, environment, payment_reference, exclude_id};
    PGresult *r = db_exec(db, sql, 4, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    if (*found)
        snprintf(owner, UUID_STR_LEN, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return C_OK;
}

int session_store_lock(struct db *db, const char *id, struct session *out, bool *found)
{
    const char *params[1] = {id};
    return session_store_get_one(db, session_sql(SESSION_SQL_LOCK), 1, params, out, found);
}

/* JSON text of an object member, NULL for none (SQL NULL). */
static char *session_object_text(const json_t *o)
{
    return o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
}

int session_store_complete_payment(struct db *db, const char *id,
                                   const struct session_payment_completion *c, const char *event_id,
                                   const char *public_base_url, struct outbox_batch *events,
                                   bool *applied)
{
    char quantity[16], subtotal[24], discount[24];
    snprintf(quantity, sizeof(quantity), "%d", (int)c->quantity);
    snprintf(subtotal, sizeof(subtotal), "%lld", (long long)c->amount_subtotal);
    snprintf(discount, sizeof(discount), "%lld", (long long)c->amount_discount);
    char *billing = session_object_text(c->billing_address);
    char *details = session_object_text(c->customer_details);
    char *payment = session_object_text(c->payment);
    int rc = C_ERR;
    if ((c->billing_address == NULL || billing != NULL) &&
        (c->customer_details == NULL || details != NULL) && payment != NULL) {
        const char *params[11] = {
            id,
            c->payment_reference,
            c->customer_id != NULL && c->customer_id[0] != '\0' ? c->customer_id : NULL,
            quantity,
            subtotal,
            discount,
            c->coupon_id != NULL && c->coupon_id[0] != '\0' ? c->coupon_id : NULL,
            c->coupon_id != NULL && c->coupon_id[0] != '\0' ? c->coupon_code : NULL,
            billing,
            details,
            payment};
        rc = session_store_transition(db, session_sql(SESSION_SQL_COMPLETE_PAYMENT), 11, params,
                                      SESSION_EVENT_COMPLETED, event_id, public_base_url, events,
                                      applied);
    }
    free(billing);
    free(details);
    free(payment);
    return rc;
}

int session_store_expire(struct db *db, const char *id, const char *organization_id,
                         const char *environment, const char *event_id, const char *public_base_url,
                         struct outbox_batch *events, bool *applied)
{
    const char *params[3] = {id, organization_id, environment};
    return session_store_transition(db, session_sql(SESSION_SQL_EXPIRE), 3, params,
                                    SESSION_EVENT_EXPIRED, event_id, public_base_url, events,
                                    applied);
}

int session_store_expire_due(struct db *db, long limit, const char *public_base_url, long *expired)
{
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[1] = {lim};
    PGresult *r = db_exec(db, session_sql(SESSION_SQL_EXPIRE_DUE), 1, params);
    if (r == NULL)
        return C_ERR;
    int n = PQntuples(r);
    struct outbox_batch events = OUTBOX_BATCH_INIT;
    struct json_writer w = JSON_WRITER_INIT;
    int rc = C_OK;
    for (int i = 0; rc == C_OK && i < n; i++) {
        struct session s;
        char event_id[UUID_STR_LEN];
        rc = uuid_v7_string(event_id);
        if (rc == C_OK)
            rc = session_from_row(r, i, &s);
        if (rc == C_OK) {
            rc = session_add_event(&events, &w, &s, SESSION_EVENT_EXPIRED, event_id,
                                   public_base_url);
            session_free(&s);
        }
    }
    PQclear(r);
    json_writer_free(&w);
    if (rc == C_OK)
        rc = outbox_insert(db, &events);
    outbox_batch_free(&events);
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
