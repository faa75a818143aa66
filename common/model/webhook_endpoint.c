#include "webhook_endpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"
#include "model/price.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/product.h"
#include "model/session.h"
#include "model/subscription.h"

const char *const webhook_endpoint_event_types[] = {
    SESSION_EVENT_CREATED,
    SESSION_EVENT_COMPLETED,
    SESSION_EVENT_EXPIRED,
    PRODUCT_EVENT_CREATED,
    PRODUCT_EVENT_UPDATED,
    PRICE_EVENT_CREATED,
    PRICE_EVENT_UPDATED,
    COUPON_EVENT_CREATED,
    COUPON_EVENT_UPDATED,
    CUSTOMER_EVENT_CREATED,
    CUSTOMER_EVENT_UPDATED,
    CUSTOMER_EVENT_DELETED,
    SUBSCRIPTION_EVENT_CREATED,
    SUBSCRIPTION_EVENT_RENEWED,
    SUBSCRIPTION_EVENT_CANCELED,
    SUBSCRIPTION_EVENT_PAST_DUE,
    SESSION_EVENT_PAYMENT_FAILED,
    SESSION_EVENT_PAYMENT_REFUND_REQUIRED,
    NULL,
};

bool webhook_endpoint_event_type_is_valid(const char *name)
{
    if (strcmp(name, WEBHOOK_EVENT_ANY) == 0)
        return true;
    for (size_t i = 0; webhook_endpoint_event_types[i] != NULL; i++) {
        if (strcmp(name, webhook_endpoint_event_types[i]) == 0)
            return true;
    }
    return false;
}

void webhook_endpoint_event_types_text(char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; webhook_endpoint_event_types[i] != NULL && len < outlen; i++) {
        int w = snprintf(out + len, outlen - len, "%s%s", i > 0 ? ", " : "",
                         webhook_endpoint_event_types[i]);
        if (w < 0)
            return;
        len += (size_t)w;
    }
}

void webhook_endpoint_free(struct webhook_endpoint *e)
{
    free(e->url);
    free(e->description);
    free(e->disabled_reason);
    json_decref(e->enabled_events);
    json_decref(e->metadata);
    memset(e, 0, sizeof(*e));
}

void webhook_endpoint_array_free(struct webhook_endpoint *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        webhook_endpoint_free(&arr[i]);
    free(arr);
}

void webhook_endpoint_input_free(struct webhook_endpoint_input *in)
{
    free(in->url);
    free(in->description);
    json_decref(in->enabled_events);
    json_decref(in->metadata);
    memset(in, 0, sizeof(*in));
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *webhook_endpoint_json_string_or_null(const char *s)
{
    return s != NULL ? json_string(s) : json_null();
}

json_t *webhook_endpoint_to_json(const struct webhook_endpoint *e)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_string(e->id));
    rc |= json_object_set_new(o, "url", webhook_endpoint_json_string_or_null(e->url));
    rc |= json_object_set_new(o, "enabled_events",
                              e->enabled_events != NULL ? json_deep_copy(e->enabled_events)
                                                        : json_array());
    rc |=
        json_object_set_new(o, "description", webhook_endpoint_json_string_or_null(e->description));
    rc |= json_object_set_new(o, "metadata",
                              e->metadata != NULL ? json_deep_copy(e->metadata) : json_object());
    rc |= json_object_set_new(o, "status", json_string(e->disabled ? "disabled" : "enabled"));
    rc |= json_object_set_new(o, "disabled_reason",
                              webhook_endpoint_json_string_or_null(e->disabled_reason));
    rc |= json_object_set_new(o, "environment", json_string(e->environment));
    rc |= json_object_set_new(o, "created_at", rfc3339_to_json(e->created_at));
    rc |= json_object_set_new(o, "updated_at", rfc3339_to_json(e->updated_at));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- SQL -------------------------------------------------------------- */

/* Times are whole seconds like every time of the API (floor, not rounding). */
#define WEBHOOK_ENDPOINT_COLUMNS                                                                   \
    "id, environment, url, array_to_json(enabled_events)::text, description, metadata::text,"      \
    " disabled, disabled_reason, floor(extract(epoch FROM created_at))::bigint,"                   \
    " floor(extract(epoch FROM updated_at))::bigint"

/* Tenant and liveness conditions shared by every merchant statement ($1, $2, $3 = id). */
#define WEBHOOK_ENDPOINT_MINE                                                                      \
    " WHERE id = $3 AND organization_id = $1 AND environment = $2 AND deleted_at IS NULL"

static char *webhook_endpoint_row_string(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? NULL : strdup(PQgetvalue(r, row, col));
}

static int webhook_endpoint_from_row(const PGresult *r, int row, struct webhook_endpoint *out)
{
    struct webhook_endpoint e;
    memset(&e, 0, sizeof(e));
    snprintf(e.id, sizeof(e.id), "%s", PQgetvalue(r, row, 0));
    snprintf(e.environment, sizeof(e.environment), "%s", PQgetvalue(r, row, 1));
    e.url = webhook_endpoint_row_string(r, row, 2);
    e.enabled_events = json_loads(PQgetvalue(r, row, 3), 0, NULL);
    e.description = webhook_endpoint_row_string(r, row, 4);
    e.metadata = db_json_value(PQgetvalue(r, row, 5));
    e.disabled = PQgetvalue(r, row, 6)[0] == 't';
    e.disabled_reason = webhook_endpoint_row_string(r, row, 7);
    e.created_at = strtoll(PQgetvalue(r, row, 8), NULL, 10);
    e.updated_at = strtoll(PQgetvalue(r, row, 9), NULL, 10);
    if (e.url == NULL || !json_is_array(e.enabled_events) || !json_is_object(e.metadata)) {
        webhook_endpoint_free(&e);
        return C_ERR;
    }
    *out = e;
    return C_OK;
}

/* Runs a statement returning at most one endpoint. */
static int webhook_endpoint_store_one(struct db *db, const char *sql, int nparams,
                                      const char *const *params, struct webhook_endpoint *out,
                                      bool *found)
{
    PGresult *r = db_exec(db, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    bool any = PQntuples(r) > 0;
    if (any)
        rc = webhook_endpoint_from_row(r, 0, out);
    PQclear(r);
    if (found != NULL)
        *found = any;
    return rc;
}

/* JSON text of a JSON value for a parameter; NULL stays SQL NULL. Caller frees. */
static char *webhook_endpoint_json_param(const json_t *v)
{
    return v != NULL ? json_dumps(v, JSON_COMPACT) : NULL;
}

int webhook_endpoint_store_create(struct db *db, const char *organization_id,
                                  const char *environment, const struct webhook_endpoint_input *in,
                                  const char *secret, struct webhook_endpoint *out)
{
    static const char sql[] =
        "INSERT INTO webhook_endpoints (id, organization_id, environment, url, enabled_events,"
        " description, metadata, secret)"
        " VALUES ($1, $2, $3, $4, ARRAY(SELECT jsonb_array_elements_text($5::jsonb)), $6,"
        " coalesce($7::jsonb, '{}'), $8)"
        " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    char id[UUID_STR_LEN];
    if (uuid_v7_string(id) != C_OK)
        return C_ERR;
    char *events = webhook_endpoint_json_param(in->enabled_events);
    char *metadata = in->has_metadata ? webhook_endpoint_json_param(in->metadata) : NULL;
    int rc = C_ERR;
    if (events != NULL && (!in->has_metadata || in->metadata == NULL || metadata != NULL)) {
        const char *params[8] = {id,     organization_id, environment, in->url,
                                 events, in->description, metadata,    secret};
        bool found;
        rc = webhook_endpoint_store_one(db, sql, 8, params, out, &found);
        if (rc == C_OK && !found)
            rc = C_ERR;
    }
    free(events);
    free(metadata);
    return rc;
}

int webhook_endpoint_store_get(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct webhook_endpoint *out, bool *found)
{
    static const char sql[] =
        "SELECT " WEBHOOK_ENDPOINT_COLUMNS " FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE;
    const char *params[3] = {organization_id, environment, id};
    return webhook_endpoint_store_one(db, sql, 3, params, out, found);
}

/* Adapters for db_rows_to_array. */
static int webhook_endpoint_row_cb(const PGresult *r, int row, void *out)
{
    return webhook_endpoint_from_row(r, row, out);
}

static void webhook_endpoint_free_cb(void *elem)
{
    webhook_endpoint_free(elem);
}

int webhook_endpoint_store_list(struct db *db, const char *organization_id, const char *environment,
                                long limit, const char *starting_after,
                                struct webhook_endpoint **out, size_t *count, bool *cursor_found)
{
    static const char cursor_sql[] = "SELECT 1 FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE;
    static const char sql[] =
        "WITH cursor AS (SELECT created_at, id FROM webhook_endpoints" WEBHOOK_ENDPOINT_MINE ")"
        " SELECT " WEBHOOK_ENDPOINT_COLUMNS " FROM webhook_endpoints"
        " WHERE organization_id = $1 AND environment = $2 AND deleted_at IS NULL"
        "   AND ($3::uuid IS NULL OR (created_at, id) < (SELECT created_at, id FROM cursor))"
        " ORDER BY created_at DESC, id DESC LIMIT $4";
    *cursor_found = true;
    *out = NULL;
    *count = 0;
    if (starting_after != NULL) {
        const char *cp[3] = {organization_id, environment, starting_after};
        PGresult *cr = db_exec(db, cursor_sql, 3, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found)
            return C_OK;
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[4] = {organization_id, environment, starting_after, lim};
    PGresult *r = db_exec(db, sql, 4, params);
    if (r == NULL)
        return C_ERR;
    void *arr = NULL;
    int rc = db_rows_to_array(r, sizeof(struct webhook_endpoint), webhook_endpoint_row_cb,
                              webhook_endpoint_free_cb, &arr, count);
    PQclear(r);
    if (rc == C_OK)
        *out = arr;
    return rc;
}

int webhook_endpoint_store_update(struct db *db, const char *organization_id,
                                  const char *environment, const char *id,
                                  const struct webhook_endpoint_input *in,
                                  struct webhook_endpoint *out, bool *found)
{
    /* One statement for any subset of fields: each $flag switches its field
     * on. SET expressions see the row as it was, which is what the disabled
     * rules need: disabling keeps a reason the worker already recorded;
     * re-enabling a disabled endpoint clears the reason and the failure clock. */
    static const char sql[] =
        "UPDATE webhook_endpoints SET"
        " url = CASE WHEN $4::bool THEN $5 ELSE url END,"
        " enabled_events = CASE WHEN $6::bool"
        "   THEN ARRAY(SELECT jsonb_array_elements_text($7::jsonb)) ELSE enabled_events END,"
        " description = CASE WHEN $8::bool THEN $9 ELSE description END,"
        " metadata = CASE WHEN $10::bool THEN coalesce($11::jsonb, '{}') ELSE metadata END,"
        " disabled = CASE WHEN $12::bool THEN $13::bool ELSE disabled END,"
        " disabled_reason = CASE"
        "   WHEN $12::bool AND $13::bool THEN"
        "     CASE WHEN disabled THEN coalesce(disabled_reason, '" WEBHOOK_ENDPOINT_DISABLED_MANUAL
        "')"
        "     ELSE '" WEBHOOK_ENDPOINT_DISABLED_MANUAL "' END"
        "   WHEN $12::bool AND NOT $13::bool THEN NULL"
        "   ELSE disabled_reason END,"
        " failing_since = CASE WHEN $12::bool AND NOT $13::bool AND disabled THEN NULL"
        "   ELSE failing_since END,"
        " updated_at = now()" WEBHOOK_ENDPOINT_MINE " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    char *events = in->has_enabled_events ? webhook_endpoint_json_param(in->enabled_events) : NULL;
    char *metadata = in->has_metadata ? webhook_endpoint_json_param(in->metadata) : NULL;
    if ((in->has_enabled_events && events == NULL) ||
        (in->has_metadata && in->metadata != NULL && metadata == NULL)) {
        free(events);
        free(metadata);
        return C_ERR;
    }
    const char *params[13] = {organization_id,
                              environment,
                              id,
                              in->has_url ? "t" : "f",
                              in->url,
                              in->has_enabled_events ? "t" : "f",
                              events,
                              in->has_description ? "t" : "f",
                              in->description,
                              in->has_metadata ? "t" : "f",
                              metadata,
                              in->has_disabled ? "t" : "f",
                              in->disabled ? "t" : "f"};
    int rc = webhook_endpoint_store_one(db, sql, 13, params, out, found);
    free(events);
    free(metadata);
    return rc;
}

int webhook_endpoint_store_delete(struct db *db, const char *organization_id,
                                  const char *environment, const char *id, bool *found)
{
    static const char sql[] =
        "UPDATE webhook_endpoints SET deleted_at = now(), updated_at = now()" WEBHOOK_ENDPOINT_MINE;
    const char *params[3] = {organization_id, environment, id};
    PGresult *r = db_exec(db, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    *found = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    return C_OK;
}

int webhook_endpoint_store_rotate_secret(struct db *db, const char *organization_id,
                                         const char *environment, const char *id,
                                         const char *new_secret, struct webhook_endpoint *out,
                                         bool *found)
{
    static const char sql[] =
        "UPDATE webhook_endpoints SET previous_secret = secret,"
        " previous_secret_expires_at = now() + interval '" WEBHOOK_ENDPOINT_ROTATION_OVERLAP "',"
        " secret = $4, updated_at = now()" WEBHOOK_ENDPOINT_MINE
        " RETURNING " WEBHOOK_ENDPOINT_COLUMNS;
    const char *params[4] = {organization_id, environment, id, new_secret};
    return webhook_endpoint_store_one(db, sql, 4, params, out, found);
}

int webhook_endpoint_count_disabled(struct db *db, long long *count)
{
    PGresult *r =
        db_exec(db, "SELECT count(*) FROM webhook_endpoints WHERE disabled AND deleted_at IS NULL",
                0, NULL);
    if (r == NULL)
        return C_ERR;
    *count = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}

/* The first key of the advisory locks of endpoint creates ("whep"); the
 * two-key space never meets the one-key locks (outbox.c's relay lock). */
#define WEBHOOK_ENDPOINT_CREATE_LOCK_CLASS "1919248752"

int webhook_endpoint_store_lock_tenant(struct db *db, const char *organization_id,
                                       const char *environment, long *count)
{
    /* Two statements: the count's snapshot must be taken after the lock is
     * held, so that it sees what the previous holder committed. */
    static const char lock_sql[] =
        "SELECT pg_advisory_xact_lock(" WEBHOOK_ENDPOINT_CREATE_LOCK_CLASS
        ", hashtext($1::text || '/' || $2::text))";
    static const char count_sql[] = "SELECT count(*) FROM webhook_endpoints"
                                    " WHERE organization_id = $1 AND environment = $2"
                                    " AND deleted_at IS NULL";
    const char *params[2] = {organization_id, environment};
    if (db_exec_command(db, lock_sql, 2, params) != C_OK)
        return C_ERR;
    PGresult *r = db_exec(db, count_sql, 2, params);
    if (r == NULL)
        return C_ERR;
    *count = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return C_OK;
}
