#include "resource_store.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"

const char *const resource_store_environments[] = {"test", "live", NULL};

/* ---- the declaration ------------------------------------------------------------- */

/* The fields every stored resource has, by column, with their kind and
 * whether they are nullable and part of the REST object. */
static const struct {
    const char *column;
    enum resource_kind kind;
    bool nullable;
    bool in_json;
} resource_store_required[] = {
    {"id", RESOURCE_UUID, false, true},           {"organization_id", RESOURCE_UUID, false, true},
    {"environment", RESOURCE_CODE, false, true},  {"created_at", RESOURCE_TIME, false, true},
    {"updated_at", RESOURCE_TIME, false, true},   {"idempotency_key", RESOURCE_STRING, true, false},
    {"request_hash", RESOURCE_CODE, true, false},
};

int resource_store_check(const struct resource_store *store, struct error *err)
{
    const struct resource *r = store->resource;
    if (r->nfields == 0 || strcmp(r->fields[0].column, "id") != 0)
        return error_set(err, NULL, "%s: the first field must be id", store->table);
    for (size_t i = 0; i < sizeof(resource_store_required) / sizeof(resource_store_required[0]);
         i++) {
        const char *column = resource_store_required[i].column;
        const struct resource_field *f = resource_field_by_column(r, column);
        if (f == NULL)
            return error_set(err, NULL, "%s: no field %s", store->table, column);
        if (f->kind != resource_store_required[i].kind ||
            ((f->flags & RESOURCE_NULLABLE) != 0) != resource_store_required[i].nullable ||
            (f->json != NULL) != resource_store_required[i].in_json)
            return error_set(err, NULL, "%s: field %s is not declared as the store needs it",
                             store->table, column);
        if ((f->flags & RESOURCE_UPDATABLE) != 0)
            return error_set(err, NULL, "%s: field %s cannot be updatable", store->table, column);
    }
    if (resource_field_by_column(r, "environment")->size != RESOURCE_STORE_ENV_LEN ||
        resource_field_by_column(r, "request_hash")->size != RESOURCE_STORE_REQUEST_HASH_LEN)
        return error_set(err, NULL, "%s: environment or request_hash has the wrong size",
                         store->table);
    if (store->nfilters > RESOURCE_STORE_FILTERS_MAX)
        return error_set(err, NULL, "%s: more than %d filters", store->table,
                         RESOURCE_STORE_FILTERS_MAX);
    size_t keyed = 0;
    for (size_t i = 0; i < store->nfilters; i++) {
        const struct resource_field *f = resource_field_by_json(r, store->filters[i].name);
        if (f == NULL || f->kind == RESOURCE_TIME || f->kind == RESOURCE_OBJECT)
            return error_set(err, NULL, "%s: filter %s is not a field that can be compared",
                             store->table, store->filters[i].name);
        if ((store->filters[i].flags & RESOURCE_FILTER_INDEXED) == 0)
            continue;
        if (f->kind != RESOURCE_STRING && f->kind != RESOURCE_CODE)
            return error_set(err, NULL, "%s: filter %s is indexed but not text", store->table,
                             store->filters[i].name);
        if (++keyed > 1)
            return error_set(err, NULL, "%s: more than one indexed filter", store->table);
    }
    if (store->unique != NULL) {
        const struct resource_field *f = resource_field_by_json(r, store->unique);
        if (f == NULL || f->kind != RESOURCE_STRING || (f->flags & RESOURCE_NULLABLE) != 0)
            return error_set(err, NULL, "%s: the unique field %s is not a required string",
                             store->table, store->unique);
    }
    if ((store->update_guard == NULL) != (store->update_refusal == NULL))
        return error_set(err, NULL, "%s: an update guard needs its refusal, and only it",
                         store->table);
    if (store->noun == NULL || store->plural == NULL || store->path == NULL ||
        (store->command_create != NULL && store->event_created == NULL) ||
        (store->command_update != NULL && store->event_updated == NULL))
        return error_set(err, NULL, "%s: a name is missing", store->table);
    if (store->nactions > RESOURCE_STORE_ACTIONS_MAX)
        return error_set(err, NULL, "%s: more than %d actions", store->table,
                         RESOURCE_STORE_ACTIONS_MAX);
    for (size_t i = 0; i < store->nactions; i++) {
        const struct resource_store_action *a = &store->actions[i];
        if (a->name == NULL || a->command == NULL || a->event == NULL || a->set_sql == NULL ||
            a->guard_sql == NULL || a->refusal == NULL)
            return error_set(err, NULL, "%s: action %zu lacks a name, a statement or a message",
                             store->table, i);
    }
    if ((store->command_delete == NULL) != (store->event_deleted == NULL))
        return error_set(err, NULL, "%s: a delete needs both its command and its event",
                         store->table);
    if (store->nreferences > 0 && store->command_delete == NULL)
        return error_set(err, NULL, "%s: references hold only what may be deleted", store->table);
    for (size_t i = 0; i < store->nreferences; i++) {
        const struct resource_reference *ref = &store->references[i];
        if (ref->table == NULL || ref->column == NULL || ref->noun == NULL)
            return error_set(err, NULL, "%s: reference %zu has a name missing", store->table, i);
    }
    return C_OK;
}

static const struct resource_field *resource_store_field(const struct resource_store *store,
                                                         const char *column)
{
    const struct resource_field *f = resource_field_by_column(store->resource, column);
    assert(f != NULL); /* resource_store_check */
    return f;
}

static const char *resource_store_text(const struct resource_store *store, const void *obj,
                                       const char *column)
{
    return (const char *)obj + resource_store_field(store, column)->offset;
}

static char *resource_store_text_at(const struct resource_store *store, void *obj,
                                    const char *column)
{
    return (char *)obj + resource_store_field(store, column)->offset;
}

static int64_t resource_store_time(const struct resource_store *store, const void *obj,
                                   const char *column)
{
    int64_t t;
    memcpy(&t, (const char *)obj + resource_store_field(store, column)->offset, sizeof(t));
    return t;
}

const char *resource_store_id(const struct resource_store *store, const void *obj)
{
    return resource_store_text(store, obj, "id");
}

const char *resource_store_organization_id(const struct resource_store *store, const void *obj)
{
    return resource_store_text(store, obj, "organization_id");
}

const char *resource_store_environment(const struct resource_store *store, const void *obj)
{
    return resource_store_text(store, obj, "environment");
}

int64_t resource_store_created_at(const struct resource_store *store, const void *obj)
{
    return resource_store_time(store, obj, "created_at");
}

int64_t resource_store_updated_at(const struct resource_store *store, const void *obj)
{
    return resource_store_time(store, obj, "updated_at");
}

const char *resource_store_request_hash(const struct resource_store *store, const void *obj)
{
    return resource_store_text(store, obj, "request_hash");
}

const char *resource_store_idempotency_key(const struct resource_store *store, const void *obj)
{
    const char *key;
    memcpy(&key, resource_store_text(store, obj, "idempotency_key"), sizeof(key));
    return key;
}

/* Sets the idempotency key (a copy; NULL: none) and the request hash. */
static int resource_store_set_key(const struct resource_store *store, void *obj, const char *key,
                                  const char *request_hash)
{
    char *copy = NULL;
    if (key != NULL && (copy = strdup(key)) == NULL)
        return C_ERR;
    char **member = (char **)(void *)resource_store_text_at(store, obj, "idempotency_key");
    free(*member);
    *member = copy;
    snprintf(resource_store_text_at(store, obj, "request_hash"), RESOURCE_STORE_REQUEST_HASH_LEN,
             "%s", request_hash != NULL ? request_hash : "");
    return C_OK;
}

int resource_store_prepare_new(const struct resource_store *store, void *obj, const char *id,
                               const char *organization_id, const char *environment, int64_t now,
                               const char *idempotency_key, const char *request_hash)
{
    if (resource_store_set_key(store, obj, idempotency_key, request_hash) != C_OK)
        return C_ERR;
    snprintf(resource_store_text_at(store, obj, "id"), UUID_STR_LEN, "%s", id);
    snprintf(resource_store_text_at(store, obj, "organization_id"), UUID_STR_LEN, "%s",
             organization_id);
    snprintf(resource_store_text_at(store, obj, "environment"), RESOURCE_STORE_ENV_LEN, "%s",
             environment);
    memcpy(resource_store_text_at(store, obj, "created_at"), &now, sizeof(now));
    memcpy(resource_store_text_at(store, obj, "updated_at"), &now, sizeof(now));
    return C_OK;
}

/* ---- the statements -------------------------------------------------------------- */

/* An object by id, of the tenant: FROM the row the primary key finds, the
 * tenant checked on it, as SESSION_BY_ID (model/session.c): the OFFSET 0 keeps
 * the tenant's conditions out of the index choice, so a database without
 * statistics never reads a tenant's rows through another index per lookup. */
#define RESOURCE_STORE_BY_ID "(SELECT * FROM %s WHERE id = %s OFFSET 0)"

static const char *const resource_store_templates[RESOURCE_STORE_SQL_COUNT] = {
    [RESOURCE_STORE_SQL_GET] = "SELECT {select} FROM " RESOURCE_STORE_BY_ID
                               " s WHERE organization_id = $1 AND environment = $2",
    [RESOURCE_STORE_SQL_FIND_BY_KEY] = "SELECT {select} FROM %s"
                                       " WHERE organization_id = $1 AND environment = $2"
                                       " AND idempotency_key = $3",
    /* One statement for every combination of filters, so the plan is stable:
     * a NULL parameter switches its condition off. The cursor is the
     * (created_at, id) of the named object, the list index's order. */
    [RESOURCE_STORE_SQL_LIST] = "WITH cursor AS (SELECT created_at, id FROM " RESOURCE_STORE_BY_ID
                                " s WHERE organization_id = $1 AND environment = $2)"
                                " SELECT {select} FROM %s"
                                " WHERE organization_id = $1 AND environment = $2"
                                " AND ($3::uuid IS NULL OR (created_at, id) <"
                                " (SELECT created_at, id FROM cursor))%s"
                                " ORDER BY created_at DESC, id DESC LIMIT $4",
    /* ON CONFLICT DO NOTHING: a replayed command (same id), or another object
     * holding the same Idempotency-Key or unique value. */
    [RESOURCE_STORE_SQL_INSERT] = "WITH input AS ("
                                  " SELECT * FROM jsonb_to_recordset($1::jsonb) AS x({recordset}))"
                                  " INSERT INTO %s ({columns}) SELECT {columns} FROM input"
                                  " ON CONFLICT DO NOTHING RETURNING id",
    [RESOURCE_STORE_SQL_EXISTS] = "SELECT 1 FROM %s WHERE id = $1",
    /* Each updatable column takes the change's value when the change names
     * it ($4: {column: value}). The target is the id the subquery returns,
     * which finds the row by its primary key and checks the tenant on it, as
     * GET does: with the tenant's conditions in the UPDATE's own WHERE, a
     * generic plan without statistics scans the tenant's rows through the
     * idempotency index (EXPLAIN on a new database showed it). The store's
     * update_guard, if any, is a condition of the UPDATE's own, so it is
     * checked again on the row version the UPDATE locks. */
    [RESOURCE_STORE_SQL_UPDATE] = "UPDATE %s SET %supdated_at = date_trunc('second', now())"
                                  " WHERE id = (SELECT s.id FROM " RESOURCE_STORE_BY_ID
                                  " s WHERE s.organization_id = $2 AND s.environment = $3)%s"
                                  " RETURNING {select}",
    /* The list when its indexed filter is given (RESOURCE_FILTER_INDEXED):
     * the tenant is compared within the key, whose index alone can serve it
     * (in order); the same parameters as the list's. */
    [RESOURCE_STORE_SQL_LIST_KEYED] =
        "WITH cursor AS (SELECT created_at, id FROM " RESOURCE_STORE_BY_ID
        " s WHERE organization_id = $1 AND environment = $2)"
        " SELECT {select} FROM %s WHERE %s"
        " AND ($3::uuid IS NULL OR (created_at, id) <"
        " (SELECT created_at, id FROM cursor))%s"
        " ORDER BY created_at DESC, id DESC LIMIT $4",
    /* A delete's first step: the tenant's object, locked until the commit, so
     * that a reference with a foreign key (which takes a share lock on it)
     * waits for the delete's decision. The row found as GET finds it. */
    [RESOURCE_STORE_SQL_LOCK] =
        "SELECT {select} FROM %s WHERE id = (SELECT s.id FROM " RESOURCE_STORE_BY_ID
        " s WHERE s.organization_id = $1 AND s.environment = $2)"
        " FOR UPDATE",
    /* Whether a row of the tenant names the object ($1), one boolean per
     * reference: each read by its column's index (OFFSET 0 keeps the tenant's
     * conditions out of the index choice, as for lookups by id). */
    [RESOURCE_STORE_SQL_REFERENCED] = "SELECT %s",
    [RESOURCE_STORE_SQL_DELETE] = "DELETE FROM %s WHERE id = $1 RETURNING {select}",
};

#define RESOURCE_STORE_SQL_MAX 8192
#define RESOURCE_STORE_MAX 16

struct resource_store_statements {
    const struct resource_store *store;
    char *text[RESOURCE_STORE_SQL_COUNT];
    char *action_text[RESOURCE_STORE_ACTIONS_MAX]; /* by index in store->actions */
};

/* Built once per store and process, never freed: the same text every call,
 * so db_exec prepares each once per connection. */
static struct resource_store_statements resource_store_built[RESOURCE_STORE_MAX];
static size_t resource_store_nbuilt;
static pthread_mutex_t resource_store_lock = PTHREAD_MUTEX_INITIALIZER;

/* Appends to out; asserts it fits (the statements are bounded by the
 * declarations, which the unit tests build). */
static void resource_store_append(char *out, size_t *len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void resource_store_append(char *out, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(out + *len, RESOURCE_STORE_SQL_MAX - *len, fmt, ap);
    va_end(ap);
    assert(w >= 0 && (size_t)w < RESOURCE_STORE_SQL_MAX - *len);
    *len += (size_t)w;
}

static const char *resource_store_sql_type(enum resource_kind kind)
{
    switch (kind) {
    case RESOURCE_UUID:
        return "uuid";
    case RESOURCE_BOOL:
        return "boolean";
    case RESOURCE_INT64:
        return "bigint";
    case RESOURCE_INT32:
    case RESOURCE_HUNDREDTHS:
        return "integer";
    case RESOURCE_TIME:
        return "timestamptz";
    default:
        return "text";
    }
}

/* " AND ($5::boolean IS NULL OR active = $5::boolean)"... one per filter;
 * but the indexed filter when keyed (the list by its index compares it). */
static void resource_store_filters_sql(const struct resource_store *store, bool keyed, char *out)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < store->nfilters; i++) {
        const struct resource_field *f =
            resource_field_by_json(store->resource, store->filters[i].name);
        int n = 5 + (int)i;
        if (keyed && (store->filters[i].flags & RESOURCE_FILTER_INDEXED) != 0)
            continue;
        const char *type = resource_store_sql_type(f->kind);
        if (f->read_sql != NULL)
            /* The value reads show (a status computed from other columns). */
            resource_store_append(out, &len, " AND ($%d::text IS NULL OR (%s) = $%d::text)", n,
                                  f->read_sql, n);
        else if ((store->filters[i].flags & RESOURCE_FILTER_CASELESS) != 0)
            resource_store_append(out, &len,
                                  " AND ($%d::text IS NULL OR lower(%s) = lower($%d::text))", n,
                                  f->column, n);
        else
            resource_store_append(out, &len, " AND ($%d::%s IS NULL OR %s = $%d::%s)", n, type,
                                  f->column, n, type);
    }
}

/* The index of the store's indexed filter, or -1. */
static int resource_store_keyed_filter(const struct resource_store *store)
{
    for (size_t i = 0; i < store->nfilters; i++) {
        if ((store->filters[i].flags & RESOURCE_FILTER_INDEXED) != 0)
            return (int)i;
    }
    return -1;
}

/* The indexed filter's condition: its index's key equal to the tenant's and
 * the filter's value, "(organization_id::text || environment || lower(email))
 * = ($1::uuid::text || $2::text || lower($5::text))". */
static void resource_store_key_sql(const struct resource_store *store, char *out)
{
    size_t len = 0;
    int i = resource_store_keyed_filter(store);
    assert(i >= 0); /* only built for a store that has one */
    const struct resource_filter *filter = &store->filters[i];
    const char *column = resource_field_by_json(store->resource, filter->name)->column;
    bool caseless = (filter->flags & RESOURCE_FILTER_CASELESS) != 0;
    char value[32];
    snprintf(value, sizeof(value), "$%d::text", 5 + i);
    resource_store_append(out, &len, "(organization_id::text || environment || %s%s%s) =",
                          caseless ? "lower(" : "", column, caseless ? ")" : "");
    resource_store_append(out, &len, " ($1::uuid::text || $2::text || %s%s%s)",
                          caseless ? "lower(" : "", value, caseless ? ")" : "");
}

/* "EXISTS (SELECT 1 FROM (SELECT organization_id, environment FROM checkout_sessions
 * WHERE customer_id = $1 OFFSET 0) r WHERE r.organization_id = $2 AND r.environment =
 * $3), ..." one per reference: each read by its column's index alone (OFFSET 0 keeps
 * the tenant's conditions out of the index choice, as for lookups by id). */
static void resource_store_references_sql(const struct resource_store *store, char *out)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < store->nreferences; i++) {
        const struct resource_reference *ref = &store->references[i];
        resource_store_append(out, &len,
                              "%sEXISTS (SELECT 1 FROM (SELECT organization_id, environment"
                              " FROM %s WHERE %s = $1 OFFSET 0) r"
                              " WHERE r.organization_id = $2 AND r.environment = $3)",
                              i > 0 ? ", " : "", ref->table, ref->column);
    }
}

/* "name = CASE WHEN $4::jsonb ? 'name' THEN $4::jsonb->>'name' ELSE name END, " ... */
static void resource_store_sets_sql(const struct resource_store *store, char *out)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < store->resource->nfields; i++) {
        const struct resource_field *f = &store->resource->fields[i];
        if ((f->flags & RESOURCE_UPDATABLE) == 0)
            continue;
        const char *c = f->column;
        resource_store_append(out, &len, "%s = CASE WHEN $4::jsonb ? '%s' THEN ", c, c);
        if (f->kind == RESOURCE_OBJECT)
            resource_store_append(out, &len, "nullif($4::jsonb->'%s', 'null'::jsonb)", c);
        else if (strcmp(resource_store_sql_type(f->kind), "text") == 0)
            resource_store_append(out, &len, "$4::jsonb->>'%s'", c);
        else
            resource_store_append(out, &len, "($4::jsonb->>'%s')::%s", c,
                                  resource_store_sql_type(f->kind));
        resource_store_append(out, &len, " ELSE %s END, ", c);
    }
}

/* The template of st with the table (and the filters or sets) put in, then
 * the field lists (resource_sql_format). A new string. */
static char *resource_store_build(const struct resource_store *store,
                                  enum resource_store_statement st)
{
    char *extra = malloc(RESOURCE_STORE_SQL_MAX);
    char *tmpl = malloc(RESOURCE_STORE_SQL_MAX);
    char *out = malloc(RESOURCE_STORE_SQL_MAX);
    if (extra == NULL || tmpl == NULL || out == NULL) {
        free(extra);
        free(tmpl);
        free(out);
        return NULL;
    }
    const char *t = store->table;
    const char *fmt = resource_store_templates[st];
    size_t len = 0;
    switch (st) {
    case RESOURCE_STORE_SQL_GET:
        resource_store_append(tmpl, &len, fmt, t, "$3");
        break;
    case RESOURCE_STORE_SQL_LIST:
        resource_store_filters_sql(store, false, extra);
        resource_store_append(tmpl, &len, fmt, t, "$3::uuid", t, extra);
        break;
    case RESOURCE_STORE_SQL_LIST_KEYED: {
        char key[512];
        resource_store_key_sql(store, key);
        resource_store_filters_sql(store, true, extra);
        resource_store_append(tmpl, &len, fmt, t, "$3::uuid", t, key, extra);
        break;
    }
    case RESOURCE_STORE_SQL_LOCK:
        resource_store_append(tmpl, &len, fmt, t, t, "$3");
        break;
    case RESOURCE_STORE_SQL_REFERENCED:
        resource_store_references_sql(store, extra);
        resource_store_append(tmpl, &len, fmt, extra);
        break;
    case RESOURCE_STORE_SQL_UPDATE: {
        resource_store_sets_sql(store, extra);
        char guard[1024] = "";
        if (store->update_guard != NULL) {
            int n = snprintf(guard, sizeof(guard), " AND (%s)", store->update_guard);
            assert(n > 0 && (size_t)n < sizeof(guard));
            (void)n;
        }
        resource_store_append(tmpl, &len, fmt, t, extra, t, "$1", guard);
        break;
    }
    default:
        resource_store_append(tmpl, &len, fmt, t);
        break;
    }
    int rc = resource_sql_format(store->resource, tmpl, out, RESOURCE_STORE_SQL_MAX);
    assert(rc == C_OK); /* the buffer fits every statement */
    (void)rc;
    free(extra);
    free(tmpl);
    return out;
}

/* An action's guarded update: the row found as GET finds it (the tenant
 * checked on the row the primary key gives), changed only where the guard
 * holds. A new string. */
#define RESOURCE_STORE_ACTION_TEMPLATE                                                             \
    "UPDATE %s SET %s, updated_at = date_trunc('second', now())"                                   \
    " WHERE id = (SELECT s.id FROM " RESOURCE_STORE_BY_ID                                          \
    " s WHERE s.organization_id = $2 AND s.environment = $3) AND (%s)"                             \
    " RETURNING {select}"

static char *resource_store_build_action(const struct resource_store *store,
                                         const struct resource_store_action *action)
{
    char *tmpl = malloc(RESOURCE_STORE_SQL_MAX);
    char *out = malloc(RESOURCE_STORE_SQL_MAX);
    if (tmpl == NULL || out == NULL) {
        free(tmpl);
        free(out);
        return NULL;
    }
    size_t len = 0;
    resource_store_append(tmpl, &len, RESOURCE_STORE_ACTION_TEMPLATE, store->table, action->set_sql,
                          store->table, "$1", action->guard_sql);
    int rc = resource_sql_format(store->resource, tmpl, out, RESOURCE_STORE_SQL_MAX);
    assert(rc == C_OK); /* the buffer fits every statement */
    (void)rc;
    free(tmpl);
    return out;
}

/* The statements of store, found or added; called with the lock held. */
static struct resource_store_statements *
resource_store_statements_of(const struct resource_store *store)
{
    for (size_t i = 0; i < resource_store_nbuilt; i++) {
        if (resource_store_built[i].store == store)
            return &resource_store_built[i];
    }
    assert(resource_store_nbuilt < RESOURCE_STORE_MAX);
    struct resource_store_statements *s = &resource_store_built[resource_store_nbuilt++];
    s->store = store;
    return s;
}

const char *resource_store_sql(const struct resource_store *store, enum resource_store_statement st)
{
    pthread_mutex_lock(&resource_store_lock);
    struct resource_store_statements *s = resource_store_statements_of(store);
    if (s->text[st] == NULL)
        s->text[st] = resource_store_build(store, st);
    const char *text = s->text[st];
    pthread_mutex_unlock(&resource_store_lock);
    return text;
}

const char *resource_store_action_sql(const struct resource_store *store,
                                      const struct resource_store_action *action)
{
    size_t i = (size_t)(action - store->actions);
    assert(store->actions != NULL && i < store->nactions); /* one of store's */
    pthread_mutex_lock(&resource_store_lock);
    struct resource_store_statements *s = resource_store_statements_of(store);
    if (s->action_text[i] == NULL)
        s->action_text[i] = resource_store_build_action(store, action);
    const char *text = s->action_text[i];
    pthread_mutex_unlock(&resource_store_lock);
    return text;
}

/* Runs st: NULL with the statement failed or out of memory. Measured under
 * "<table>_<what>" (resource_store_get on products: products_get). */
static PGresult *resource_store_exec(struct db *db, const struct resource_store *store,
                                     enum resource_store_statement st, int nparams,
                                     const char *const *params)
{
    static const char *const what[RESOURCE_STORE_SQL_COUNT] = {
        [RESOURCE_STORE_SQL_GET] = "get",
        [RESOURCE_STORE_SQL_FIND_BY_KEY] = "find_by_key",
        [RESOURCE_STORE_SQL_LIST] = "list",
        [RESOURCE_STORE_SQL_INSERT] = "insert",
        [RESOURCE_STORE_SQL_EXISTS] = "exists",
        [RESOURCE_STORE_SQL_UPDATE] = "update",
        [RESOURCE_STORE_SQL_LIST_KEYED] = "list_keyed",
        [RESOURCE_STORE_SQL_LOCK] = "lock",
        [RESOURCE_STORE_SQL_REFERENCED] = "referenced",
        [RESOURCE_STORE_SQL_DELETE] = "delete",
    };
    const char *sql = resource_store_sql(store, st);
    if (sql == NULL)
        return NULL;
    char label[64];
    snprintf(label, sizeof(label), "%s_%s", store->table, what[st]);
    return db_exec_as(db, label, sql, nparams, params);
}

/* ---- reads ----------------------------------------------------------------------- */

static int resource_store_from_row(const struct resource_store *store, const PGresult *r, int row,
                                   void *out)
{
    const struct resource *res = store->resource;
    char *obj = malloc(res->size);
    if (obj == NULL)
        return C_ERR;
    int rc = resource_init(res, obj);
    if (rc == C_OK && resource_read_row(res, r, row, obj) != C_OK) {
        resource_free(res, obj);
        rc = C_ERR;
    }
    if (rc == C_OK)
        memcpy(out, obj, res->size);
    free(obj);
    return rc;
}

static int resource_store_get_one(struct db *db, const struct resource_store *store,
                                  enum resource_store_statement st, const char *const *params,
                                  void *out, bool *found)
{
    PGresult *r = resource_store_exec(db, store, st, 3, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    bool any = PQntuples(r) > 0;
    if (any)
        rc = resource_store_from_row(store, r, 0, out);
    PQclear(r);
    if (rc == C_OK)
        *found = any;
    return rc;
}

int resource_store_get(struct db *db, const struct resource_store *store,
                       const char *organization_id, const char *environment, const char *id,
                       void *out, bool *found)
{
    const char *params[3] = {organization_id, environment, id};
    return resource_store_get_one(db, store, RESOURCE_STORE_SQL_GET, params, out, found);
}

int resource_store_find_by_idempotency_key(struct db *db, const struct resource_store *store,
                                           const char *organization_id, const char *environment,
                                           const char *key, void *out, bool *found)
{
    const char *params[3] = {organization_id, environment, key};
    return resource_store_get_one(db, store, RESOURCE_STORE_SQL_FIND_BY_KEY, params, out, found);
}

void resource_store_array_free(const struct resource_store *store, void *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        resource_free(store->resource, (char *)arr + i * store->resource->size);
    free(arr);
}

int resource_store_list(struct db *db, const struct resource_store *store,
                        const char *organization_id, const char *environment,
                        const struct resource_store_list_query *q, void **out, size_t *count,
                        bool *cursor_found)
{
    *out = NULL;
    *count = 0;
    *cursor_found = true;
    if (q->starting_after[0] != '\0') {
        const char *cp[3] = {organization_id, environment, q->starting_after};
        PGresult *cr = resource_store_exec(db, store, RESOURCE_STORE_SQL_GET, 3, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found)
            return C_OK;
    }
    char limit[24];
    snprintf(limit, sizeof(limit), "%ld", q->limit);
    const char *params[4 + RESOURCE_STORE_FILTERS_MAX] = {
        organization_id, environment, q->starting_after[0] != '\0' ? q->starting_after : NULL,
        limit};
    for (size_t i = 0; i < store->nfilters; i++)
        params[4 + i] = q->filters[i];
    int keyed = resource_store_keyed_filter(store);
    enum resource_store_statement st = keyed >= 0 && q->filters[keyed] != NULL
                                           ? RESOURCE_STORE_SQL_LIST_KEYED
                                           : RESOURCE_STORE_SQL_LIST;
    PGresult *r = resource_store_exec(db, store, st, 4 + (int)store->nfilters, params);
    if (r == NULL)
        return C_ERR;
    size_t n = (size_t)PQntuples(r);
    char *arr = n > 0 ? calloc(n, store->resource->size) : NULL;
    int rc = n == 0 || arr != NULL ? C_OK : C_ERR;
    size_t done = 0;
    for (; rc == C_OK && done < n; done++)
        rc = resource_store_from_row(store, r, (int)done, arr + done * store->resource->size);
    PQclear(r);
    if (rc != C_OK) {
        resource_store_array_free(store, arr, done > 0 ? done - 1 : 0);
        return C_ERR;
    }
    *out = arr;
    *count = n;
    return C_OK;
}

/* ---- events ------------------------------------------------------------------------ */

int resource_store_event_write(struct json_writer *w, const struct resource_store *store,
                               const void *obj, const char *type, const char *event_id,
                               int64_t time)
{
    char when[RFC3339_LEN];
    rfc3339_format(time, when);
    size_t mark = json_writer_begin(w);
    json_writer_literal(w, "{\"specversion\":\"1.0\",\"id\":");
    json_writer_string(w, event_id);
    json_writer_literal(w, ",\"source\":\"/caisse");
    json_writer_raw(w, store->path, strlen(store->path));
    json_writer_literal(w, "\",\"type\":");
    json_writer_string(w, type);
    json_writer_literal(w, ",\"subject\":");
    json_writer_string(w, resource_store_id(store, obj));
    json_writer_literal(w, ",\"time\":");
    json_writer_string(w, when);
    json_writer_literal(w, ",\"datacontenttype\":\"application/json\",\"organizationid\":");
    json_writer_string(w, resource_store_organization_id(store, obj));
    json_writer_literal(w, ",\"environment\":");
    json_writer_string(w, resource_store_environment(store, obj));
    json_writer_literal(w, ",\"data\":{");
    resource_write_members(w, store->resource, obj);
    json_writer_literal(w, "}}");
    return json_writer_end(w, mark);
}

int resource_store_add_event(struct outbox_batch *events, struct json_writer *w,
                             const struct resource_store *store, const void *obj, const char *type,
                             const char *event_id, int64_t time)
{
    json_writer_clear(w);
    if (resource_store_event_write(w, store, obj, type, event_id, time) != C_OK)
        return C_ERR;
    struct outbox_event ev = {event_id,
                              resource_store_id(store, obj),
                              resource_store_organization_id(store, obj),
                              resource_store_environment(store, obj),
                              type,
                              w->buf};
    return outbox_batch_add(events, &ev);
}

/* ---- commands ---------------------------------------------------------------------- */

static json_t *resource_store_command(const char *type, const char *subject, const char *command_id,
                                      json_t *data)
{
    char now[RFC3339_LEN];
    rfc3339_format(rfc3339_now(), now);
    return json_pack("{ss ss ss ss ss ss ss so}", "specversion", "1.0", "id", command_id, "source",
                     RESOURCE_STORE_COMMAND_SOURCE, "type", type, "subject", subject, "time", now,
                     "datacontenttype", "application/json", "data", data);
}

char *resource_store_command_create_text(const struct resource_store *store, const void *obj,
                                         const char *command_id)
{
    char now[RFC3339_LEN];
    rfc3339_format(rfc3339_now(), now);
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "{\"specversion\":\"1.0\",\"id\":");
    json_writer_string(&w, command_id);
    json_writer_literal(&w, ",\"source\":\"" RESOURCE_STORE_COMMAND_SOURCE "\",\"type\":");
    json_writer_string(&w, store->command_create);
    json_writer_literal(&w, ",\"subject\":");
    json_writer_string(&w, resource_store_id(store, obj));
    json_writer_literal(&w, ",\"time\":");
    json_writer_string(&w, now);
    json_writer_literal(&w, ",\"datacontenttype\":\"application/json\",\"data\":{");
    resource_write_members(&w, store->resource, obj);
    json_writer_literal(&w, "}");
    const char *key = resource_store_idempotency_key(store, obj);
    if (key != NULL) {
        json_writer_literal(&w, ",\"idempotencykey\":");
        json_writer_string(&w, key);
        json_writer_literal(&w, ",\"requesthash\":");
        json_writer_string(&w, resource_store_request_hash(store, obj));
    }
    json_writer_literal(&w, "}");
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return NULL;
    }
    return w.buf; /* taken */
}

json_t *resource_store_command_create(const struct resource_store *store, const void *obj,
                                      const char *command_id)
{
    assert(store->command_create != NULL); /* no create route for a store without one */
    char *text = resource_store_command_create_text(store, obj, command_id);
    json_t *cmd = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    return cmd;
}

json_t *resource_store_command_update(const struct resource_store *store, const char *id,
                                      const char *organization_id, const char *environment,
                                      const json_t *changes, const char *command_id)
{
    assert(store->command_update != NULL); /* no update route for a store without one */
    json_t *data =
        json_pack("{ss ss ss sO}", store->resource->fields[0].json, id, "organization_id",
                  organization_id, "environment", environment, "changes", changes);
    if (data == NULL)
        return NULL;
    return resource_store_command(store->command_update, id, command_id, data);
}

json_t *resource_store_command_delete(const struct resource_store *store, const char *id,
                                      const char *organization_id, const char *environment,
                                      const char *command_id)
{
    assert(store->command_delete != NULL); /* only a store whose objects may be deleted */
    json_t *data = json_pack("{ss ss ss}", store->resource->fields[0].json, id, "organization_id",
                             organization_id, "environment", environment);
    if (data == NULL)
        return NULL;
    return resource_store_command(store->command_delete, id, command_id, data);
}

const char *resource_store_command_type(const struct resource_store *store,
                                        enum resource_store_op op)
{
    switch (op) {
    case RESOURCE_STORE_CREATE:
        return store->command_create;
    case RESOURCE_STORE_UPDATE:
        return store->command_update;
    case RESOURCE_STORE_DELETE:
        return store->command_delete;
    case RESOURCE_STORE_ACTION:
        break; /* an action's type is the action's */
    }
    return NULL;
}

json_t *resource_store_command_action(const struct resource_store *store,
                                      const struct resource_store_action *action, const char *id,
                                      const char *organization_id, const char *environment,
                                      const char *command_id)
{
    json_t *data = json_pack("{ss ss ss}", store->resource->fields[0].json, id, "organization_id",
                             organization_id, "environment", environment);
    if (data == NULL)
        return NULL;
    return resource_store_command(action->command, id, command_id, data);
}

const struct resource_store_action *resource_store_action_find(const struct resource_store *store,
                                                               const char *text, bool by_name)
{
    for (size_t i = 0; text != NULL && i < store->nactions; i++) {
        const struct resource_store_action *a = &store->actions[i];
        if (strcmp(by_name ? a->name : a->command, text) == 0)
            return a;
    }
    return NULL;
}

/* An extension attribute that is absent, null or a string. */
static int resource_store_optional_string(const json_t *cmd, const char *name, const char **out)
{
    const json_t *v = json_object_get(cmd, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return C_OK;
    if (!json_is_string(v))
        return C_ERR;
    *out = json_string_value(v);
    return C_OK;
}

/* A UUID member of obj into out. */
static int resource_store_uuid_member(const json_t *obj, const char *name, char out[UUID_STR_LEN],
                                      struct error *err)
{
    const char *s = json_string_value(json_object_get(obj, name));
    if (s == NULL || !uuid_is_valid(s))
        return error_set(err, name, "field %s is missing or not a UUID", name);
    snprintf(out, UUID_STR_LEN, "%s", s);
    return C_OK;
}

static int resource_store_decode_create(const struct resource_store *store, const json_t *cmd,
                                        struct resource_store_command *c, struct error *err)
{
    const char *key, *hash;
    if (resource_store_optional_string(cmd, "idempotencykey", &key) != C_OK ||
        resource_store_optional_string(cmd, "requesthash", &hash) != C_OK)
        return error_set(err, NULL, "idempotencykey or requesthash is not a string");
    if (hash != NULL && strlen(hash) >= RESOURCE_STORE_REQUEST_HASH_LEN)
        return error_set(err, "requesthash", "requesthash is longer than %d characters",
                         RESOURCE_STORE_REQUEST_HASH_LEN - 1);
    const json_t *data = json_object_get(cmd, "data");
    if (!json_is_object(data))
        return error_set(err, NULL, "data is not a JSON object");
    const struct resource *r = store->resource;
    c->object = malloc(r->size);
    if (c->object == NULL || resource_init(r, c->object) != C_OK) {
        free(c->object);
        c->object = NULL;
        return error_set(err, NULL, "out of memory");
    }
    if (resource_read_json(r, data, c->object, err) != C_OK)
        return C_ERR;
    if (resource_store_set_key(store, c->object, key, hash) != C_OK)
        return error_set(err, NULL, "out of memory");
    snprintf(c->id, sizeof(c->id), "%s", resource_store_id(store, c->object));
    return C_OK;
}

/* The object an update, a delete or an action names: its id and tenant,
 * from data (an object). */
static int resource_store_decode_target(const struct resource_store *store, const json_t *data,
                                        struct resource_store_command *c, struct error *err)
{
    if (resource_store_uuid_member(data, store->resource->fields[0].json, c->id, err) != C_OK ||
        resource_store_uuid_member(data, "organization_id", c->organization_id, err) != C_OK)
        return C_ERR;
    const char *env = json_string_value(json_object_get(data, "environment"));
    if (env == NULL || (strcmp(env, "test") != 0 && strcmp(env, "live") != 0))
        return error_set(err, "environment", "field environment must be test or live");
    snprintf(c->environment, sizeof(c->environment), "%s", env);
    return C_OK;
}

static int resource_store_decode_action(const struct resource_store *store, const json_t *cmd,
                                        struct resource_store_command *c, struct error *err)
{
    const char *type = json_string_value(json_object_get(cmd, "type"));
    c->action = resource_store_action_find(store, type, false);
    if (c->action == NULL)
        return error_set(err, "type", "%.100s is no action of %s", type != NULL ? type : "(none)",
                         store->plural);
    const json_t *data = json_object_get(cmd, "data");
    if (!json_is_object(data))
        return error_set(err, NULL, "data is not a JSON object");
    return resource_store_decode_target(store, data, c, err);
}

static int resource_store_decode_delete(const struct resource_store *store, const json_t *cmd,
                                        struct resource_store_command *c, struct error *err)
{
    if (store->command_delete == NULL)
        return error_set(err, NULL, "%s are never deleted", store->plural);
    const json_t *data = json_object_get(cmd, "data");
    if (!json_is_object(data))
        return error_set(err, NULL, "data is not a JSON object");
    return resource_store_decode_target(store, data, c, err);
}

static int resource_store_decode_update(const struct resource_store *store, const json_t *cmd,
                                        struct resource_store_command *c, struct error *err)
{
    const json_t *data = json_object_get(cmd, "data");
    if (!json_is_object(data))
        return error_set(err, NULL, "data is not a JSON object");
    if (resource_store_decode_target(store, data, c, err) != C_OK)
        return C_ERR;
    const json_t *changes = json_object_get(data, "changes");
    if (!json_is_object(changes))
        return error_set(err, "changes", "field changes is missing or not an object");
    /* Each change read as its field would be (its checks), then written as
     * the column's value for the update statement. */
    const struct resource *r = store->resource;
    char *scratch = malloc(r->size);
    if (scratch == NULL || resource_init(r, scratch) != C_OK) {
        free(scratch);
        return error_set(err, NULL, "out of memory");
    }
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "{");
    int rc = C_OK;
    bool first = true;
    const char *name;
    const json_t *value;
    json_object_foreach((json_t *)changes, name, value)
    {
        const struct resource_field *f = resource_field_by_json(r, name);
        if (f == NULL || (f->flags & RESOURCE_UPDATABLE) == 0) {
            rc = error_set(err, name, "field %.64s cannot be changed", name);
            break;
        }
        if (resource_read_value(f, value, scratch, err) != C_OK) {
            rc = C_ERR;
            break;
        }
        if (!first)
            json_writer_literal(&w, ",");
        json_writer_literal(&w, "\"");
        json_writer_raw(&w, f->column, strlen(f->column));
        json_writer_literal(&w, "\":");
        resource_write_column_value(&w, f, scratch);
        first = false;
    }
    json_writer_literal(&w, "}");
    if (json_writer_end(&w, mark) != C_OK && rc == C_OK)
        rc = error_set(err, NULL, "out of memory");
    resource_free(r, scratch);
    free(scratch);
    if (rc == C_OK) {
        c->changes = w.buf; /* taken */
        return C_OK;
    }
    json_writer_free(&w);
    return C_ERR;
}

int resource_store_command_decode(const struct resource_store *store, enum resource_store_op op,
                                  const json_t *cmd, struct resource_store_command *out,
                                  struct error *err)
{
    struct resource_store_command c;
    memset(&c, 0, sizeof(c));
    c.store = store;
    c.op = op;
    const char *command_id = json_string_value(json_object_get(cmd, "id"));
    if (command_id == NULL || !uuid_is_valid(command_id))
        return error_set(err, "id", "the command id is missing or not a UUID");
    snprintf(c.command_id, sizeof(c.command_id), "%s", command_id);
    int rc = C_ERR;
    switch (op) {
    case RESOURCE_STORE_CREATE:
        rc = resource_store_decode_create(store, cmd, &c, err);
        break;
    case RESOURCE_STORE_UPDATE:
        rc = resource_store_decode_update(store, cmd, &c, err);
        break;
    case RESOURCE_STORE_DELETE:
        rc = resource_store_decode_delete(store, cmd, &c, err);
        break;
    case RESOURCE_STORE_ACTION:
        rc = resource_store_decode_action(store, cmd, &c, err);
        break;
    }
    if (rc != C_OK) {
        resource_store_command_free(&c);
        return C_ERR;
    }
    *out = c;
    return C_OK;
}

void resource_store_command_free(struct resource_store_command *c)
{
    if (c->object != NULL) {
        resource_free(c->store->resource, c->object);
        free(c->object);
        c->object = NULL;
    }
    free(c->changes);
    c->changes = NULL;
}

static int resource_store_insert_one(struct db *db, const struct resource_store *store,
                                     const void *obj, bool *inserted)
{
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "[{");
    resource_write_columns(&w, store->resource, obj);
    json_writer_literal(&w, "}]");
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return C_ERR;
    }
    const char *params[1] = {w.buf};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_INSERT, 1, params);
    json_writer_free(&w);
    if (r == NULL)
        return C_ERR;
    *inserted = PQntuples(r) > 0;
    PQclear(r);
    return C_OK;
}

int resource_store_insert(struct db *db, const struct resource_store *store, const void *obj,
                          const char *event_id, struct outbox_batch *events, bool *inserted)
{
    *inserted = false;
    bool done = false;
    if (resource_store_insert_one(db, store, obj, &done) != C_OK)
        return C_ERR;
    if (done) {
        struct json_writer w = JSON_WRITER_INIT;
        /* The event time is the creation time: the event describes the object
         * as created, whenever the worker gets to apply it. */
        int rc = resource_store_add_event(events, &w, store, obj, store->event_created, event_id,
                                          resource_store_created_at(store, obj));
        json_writer_free(&w);
        if (rc != C_OK)
            return C_ERR;
    }
    *inserted = done;
    return C_OK;
}

static int resource_store_apply_create(struct db *db, const struct resource_store_command *c,
                                       const char *event_id, struct outbox_batch *events,
                                       struct command_outcome *outcome, bool *inserted)
{
    const struct resource_store *store = c->store;
    if (resource_store_insert(db, store, c->object, event_id, events, inserted) != C_OK)
        return C_ERR;
    if (*inserted) {
        command_outcome_applied(outcome, c->command_id, c->id);
        return C_OK;
    }
    const char *params[1] = {c->id};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_EXISTS, 1, params);
    if (r == NULL)
        return C_ERR;
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    const struct resource_field *unique =
        store->unique != NULL ? resource_field_by_json(store->resource, store->unique) : NULL;
    const char *value = NULL;
    if (unique != NULL) {
        assert(unique->kind == RESOURCE_STRING); /* resource_store_check */
        memcpy(&value, (const char *)c->object + unique->offset, sizeof(value));
    }
    if (exists)
        command_outcome_applied(outcome, c->command_id, c->id);
    else if (value != NULL)
        /* The Idempotency-Key cannot be the conflict: a keyed create's id is
         * derived from its key, so the same key finds its own row (exists). */
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_CONFLICT,
                                "%s with %s %s already exists", store->noun, store->unique, value);
    else
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_CONFLICT,
                                "%s could not be created: it conflicts with an existing one",
                                store->noun);
    return C_OK;
}

static int resource_store_apply_update(struct db *db, const struct resource_store_command *c,
                                       const char *event_id, struct outbox_batch *events,
                                       struct command_outcome *outcome)
{
    const struct resource_store *store = c->store;
    const char *params[4] = {c->id, c->organization_id, c->environment, c->changes};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_UPDATE, 4, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        bool exists = false;
        if (store->update_guard != NULL) {
            /* Nothing updated: no such object, or the guard refused it. */
            const char *gp[3] = {c->organization_id, c->environment, c->id};
            PGresult *g = resource_store_exec(db, store, RESOURCE_STORE_SQL_GET, 3, gp);
            if (g == NULL)
                return C_ERR;
            exists = PQntuples(g) > 0;
            PQclear(g);
        }
        if (exists)
            command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_INVALID, "%s",
                                    store->update_refusal);
        else
            command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_NOT_FOUND,
                                    "%s with ID %s not found or access denied", store->noun, c->id);
        return C_OK;
    }
    const struct resource *res = store->resource;
    char *obj = malloc(res->size);
    int rc = obj != NULL ? resource_store_from_row(store, r, 0, obj) : C_ERR;
    PQclear(r);
    if (rc == C_OK) {
        struct json_writer w = JSON_WRITER_INIT;
        rc = resource_store_add_event(events, &w, store, obj, store->event_updated, event_id,
                                      resource_store_updated_at(store, obj));
        json_writer_free(&w);
        resource_free(res, obj);
    }
    free(obj);
    if (rc == C_OK)
        command_outcome_applied(outcome, c->command_id, c->id);
    return rc;
}

/* The guard did not hold, or there is no such object: which one, read as
 * GET reads it. */
static int resource_store_refuse_action(struct db *db, const struct resource_store_command *c,
                                        struct command_outcome *outcome)
{
    const struct resource_store *store = c->store;
    const char *params[3] = {c->organization_id, c->environment, c->id};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_GET, 3, params);
    if (r == NULL)
        return C_ERR;
    bool exists = PQntuples(r) > 0;
    PQclear(r);
    if (exists)
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_INVALID_STATE,
                                "%s %s %s", store->noun, c->id, c->action->refusal);
    else
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_NOT_FOUND,
                                "%s with ID %s not found or access denied", store->noun, c->id);
    return C_OK;
}

static int resource_store_apply_action(struct db *db, const struct resource_store_command *c,
                                       const char *event_id, struct outbox_batch *events,
                                       struct command_outcome *outcome)
{
    const struct resource_store *store = c->store;
    const char *sql = resource_store_action_sql(store, c->action);
    if (sql == NULL)
        return C_ERR;
    char label[64];
    snprintf(label, sizeof(label), "%s_%s", store->table, c->action->name);
    const char *params[3] = {c->id, c->organization_id, c->environment};
    PGresult *r = db_exec_as(db, label, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    if (PQntuples(r) == 0) {
        PQclear(r);
        return resource_store_refuse_action(db, c, outcome);
    }
    const struct resource *res = store->resource;
    char *obj = malloc(res->size);
    int rc = obj != NULL ? resource_store_from_row(store, r, 0, obj) : C_ERR;
    PQclear(r);
    if (rc == C_OK) {
        struct json_writer w = JSON_WRITER_INIT;
        rc = resource_store_add_event(events, &w, store, obj, c->action->event, event_id,
                                      resource_store_updated_at(store, obj));
        json_writer_free(&w);
        resource_free(res, obj);
    }
    free(obj);
    if (rc == C_OK)
        command_outcome_applied(outcome, c->command_id, c->id);
    return rc;
}

/* The first of the store's references that holds c's object (NULL: none). */
static int resource_store_holder(struct db *db, const struct resource_store_command *c,
                                 const struct resource_reference **holder)
{
    const struct resource_store *store = c->store;
    *holder = NULL;
    if (store->nreferences == 0)
        return C_OK;
    const char *params[3] = {c->id, c->organization_id, c->environment};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_REFERENCED, 3, params);
    if (r == NULL)
        return C_ERR;
    for (size_t i = 0; i < store->nreferences && *holder == NULL; i++) {
        if (strcmp(PQgetvalue(r, 0, (int)i), "t") == 0)
            *holder = &store->references[i];
    }
    PQclear(r);
    return C_OK;
}

static int resource_store_apply_delete(struct db *db, const struct resource_store_command *c,
                                       const char *event_id, struct outbox_batch *events,
                                       struct command_outcome *outcome)
{
    const struct resource_store *store = c->store;
    const char *params[3] = {c->organization_id, c->environment, c->id};
    PGresult *r = resource_store_exec(db, store, RESOURCE_STORE_SQL_LOCK, 3, params);
    if (r == NULL)
        return C_ERR;
    bool found = PQntuples(r) > 0;
    PQclear(r);
    if (!found) {
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_NOT_FOUND,
                                "%s with ID %s not found or access denied", store->noun, c->id);
        return C_OK;
    }
    const struct resource_reference *holder;
    if (resource_store_holder(db, c, &holder) != C_OK)
        return C_ERR;
    if (holder != NULL) {
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_CONFLICT,
                                "%s %s cannot be deleted while %s refers to it", store->noun, c->id,
                                holder->noun);
        return C_OK;
    }
    const char *id[1] = {c->id};
    r = resource_store_exec(db, store, RESOURCE_STORE_SQL_DELETE, 1, id);
    if (r == NULL)
        return C_ERR;
    const struct resource *res = store->resource;
    char *obj = malloc(res->size);
    /* Locked above: the row is there to delete. */
    int rc = obj != NULL && PQntuples(r) == 1 ? resource_store_from_row(store, r, 0, obj) : C_ERR;
    PQclear(r);
    if (rc == C_OK) {
        struct json_writer w = JSON_WRITER_INIT;
        rc = resource_store_add_event(events, &w, store, obj, store->event_deleted, event_id,
                                      rfc3339_now());
        json_writer_free(&w);
        resource_free(res, obj);
    }
    free(obj);
    if (rc == C_OK)
        command_outcome_applied(outcome, c->command_id, c->id);
    return rc;
}

int resource_store_command_apply(struct db *db, const struct resource_store_command *c,
                                 const char *event_id, struct outbox_batch *events,
                                 struct command_outcome *outcome, bool *inserted)
{
    *inserted = false;
    switch (c->op) {
    case RESOURCE_STORE_CREATE:
        return resource_store_apply_create(db, c, event_id, events, outcome, inserted);
    case RESOURCE_STORE_UPDATE:
        return resource_store_apply_update(db, c, event_id, events, outcome);
    case RESOURCE_STORE_DELETE:
        return resource_store_apply_delete(db, c, event_id, events, outcome);
    case RESOURCE_STORE_ACTION:
        return resource_store_apply_action(db, c, event_id, events, outcome);
    }
    return C_ERR;
}
