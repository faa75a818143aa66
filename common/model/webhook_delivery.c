#include "webhook_delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"
#include "core/rfc3339.h"

void webhook_delivery_free(struct webhook_delivery *d)
{
    free(d->event_type);
    free(d->last_error);
    memset(d, 0, sizeof(*d));
}

void webhook_delivery_array_free(struct webhook_delivery *arr, size_t count)
{
    for (size_t i = 0; i < count; i++)
        webhook_delivery_free(&arr[i]);
    free(arr);
}

json_t *webhook_delivery_to_json(const struct webhook_delivery *d)
{
    json_t *o = json_object();
    if (o == NULL)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_string(d->id));
    rc |= json_object_set_new(o, "endpoint_id", json_string(d->endpoint_id));
    rc |= json_object_set_new(o, "event_id", json_string(d->event_id));
    rc |= json_object_set_new(o, "event_type", json_string(d->event_type));
    rc |= json_object_set_new(o, "status", json_string(d->status));
    rc |= json_object_set_new(o, "attempt_count", json_integer(d->attempt_count));
    rc |= json_object_set_new(o, "last_status_code",
                              d->has_last_status_code ? json_integer(d->last_status_code)
                                                      : json_null());
    rc |= json_object_set_new(o, "last_error",
                              d->last_error != NULL ? json_string(d->last_error) : json_null());
    rc |= json_object_set_new(o, "next_attempt_at",
                              d->has_next_attempt_at ? rfc3339_to_json(d->next_attempt_at)
                                                     : json_null());
    rc |= json_object_set_new(o, "created_at", rfc3339_to_json(d->created_at));
    rc |= json_object_set_new(o, "updated_at", rfc3339_to_json(d->updated_at));
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- SQL -------------------------------------------------------------- */

/* d. is the delivery; every statement joins its endpoint e. so that a
 * deleted endpoint takes its deliveries out of the API with it. A pending
 * delivery shows when it is due; a finished one has no next attempt. */
#define WEBHOOK_DELIVERY_COLUMNS                                                                   \
    "d.id, d.event_id, d.endpoint_id, d.event_type, d.status, d.attempt_count,"                    \
    " d.last_status_code, d.last_error,"                                                           \
    " CASE WHEN d.status = 'pending' THEN floor(extract(epoch FROM d.next_attempt_at))::bigint"    \
    " END,"                                                                                        \
    " floor(extract(epoch FROM d.created_at))::bigint,"                                            \
    " floor(extract(epoch FROM d.updated_at))::bigint"

enum {
    WD_COL_ID,
    WD_COL_EVENT_ID,
    WD_COL_ENDPOINT_ID,
    WD_COL_EVENT_TYPE,
    WD_COL_STATUS,
    WD_COL_ATTEMPT_COUNT,
    WD_COL_LAST_STATUS_CODE,
    WD_COL_LAST_ERROR,
    WD_COL_NEXT_ATTEMPT_AT,
    WD_COL_CREATED_AT,
    WD_COL_UPDATED_AT,
};

static int webhook_delivery_from_row(const PGresult *r, int row, struct webhook_delivery *out)
{
    struct webhook_delivery d;
    memset(&d, 0, sizeof(d));
    snprintf(d.id, sizeof(d.id), "%s", PQgetvalue(r, row, WD_COL_ID));
    snprintf(d.event_id, sizeof(d.event_id), "%s", PQgetvalue(r, row, WD_COL_EVENT_ID));
    snprintf(d.endpoint_id, sizeof(d.endpoint_id), "%s", PQgetvalue(r, row, WD_COL_ENDPOINT_ID));
    snprintf(d.status, sizeof(d.status), "%s", PQgetvalue(r, row, WD_COL_STATUS));
    d.event_type = strdup(PQgetvalue(r, row, WD_COL_EVENT_TYPE));
    d.attempt_count = strtol(PQgetvalue(r, row, WD_COL_ATTEMPT_COUNT), NULL, 10);
    d.has_last_status_code = !PQgetisnull(r, row, WD_COL_LAST_STATUS_CODE);
    if (d.has_last_status_code)
        d.last_status_code = strtol(PQgetvalue(r, row, WD_COL_LAST_STATUS_CODE), NULL, 10);
    bool failed = d.event_type == NULL;
    if (!PQgetisnull(r, row, WD_COL_LAST_ERROR)) {
        d.last_error = strdup(PQgetvalue(r, row, WD_COL_LAST_ERROR));
        failed = failed || d.last_error == NULL;
    }
    d.has_next_attempt_at = !PQgetisnull(r, row, WD_COL_NEXT_ATTEMPT_AT);
    if (d.has_next_attempt_at)
        d.next_attempt_at = strtoll(PQgetvalue(r, row, WD_COL_NEXT_ATTEMPT_AT), NULL, 10);
    d.created_at = strtoll(PQgetvalue(r, row, WD_COL_CREATED_AT), NULL, 10);
    d.updated_at = strtoll(PQgetvalue(r, row, WD_COL_UPDATED_AT), NULL, 10);
    if (failed) {
        webhook_delivery_free(&d);
        return C_ERR;
    }
    *out = d;
    return C_OK;
}

/* Adapters for db_rows_to_array. */
static int webhook_delivery_row_cb(const PGresult *r, int row, void *out)
{
    return webhook_delivery_from_row(r, row, out);
}

static void webhook_delivery_free_cb(void *elem)
{
    webhook_delivery_free(elem);
}

int webhook_delivery_store_list(struct db *db, const char *organization_id, const char *environment,
                                const char *endpoint_id, long limit, const char *starting_after,
                                struct webhook_delivery **out, size_t *count, bool *cursor_found)
{
    /* Served by the (endpoint_id, created_at DESC, id DESC) index; the tenant
     * condition is a guard, the caller has already found the endpoint. */
    static const char sql[] =
        "WITH cursor AS (SELECT created_at, id FROM webhook_deliveries"
        "                 WHERE id = $4::uuid AND endpoint_id = $3)"
        " SELECT " WEBHOOK_DELIVERY_COLUMNS " FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL"
        " WHERE d.endpoint_id = $3 AND d.organization_id = $1 AND d.environment = $2"
        "   AND ($4::uuid IS NULL OR (d.created_at, d.id) < (SELECT created_at, id FROM cursor))"
        " ORDER BY d.created_at DESC, d.id DESC LIMIT $5";
    static const char cursor_sql[] = "SELECT 1 FROM webhook_deliveries"
                                     " WHERE id = $3 AND endpoint_id = $4 AND organization_id = $1"
                                     " AND environment = $2";
    *out = NULL;
    *count = 0;
    *cursor_found = true;
    if (starting_after != NULL) {
        const char *cp[4] = {organization_id, environment, starting_after, endpoint_id};
        PGresult *cr = db_exec(db, cursor_sql, 4, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found)
            return C_OK;
    }
    char lim[24];
    snprintf(lim, sizeof(lim), "%ld", limit);
    const char *params[5] = {organization_id, environment, endpoint_id, starting_after, lim};
    PGresult *r = db_exec(db, sql, 5, params);
    if (r == NULL)
        return C_ERR;
    void *arr = NULL;
    int rc = db_rows_to_array(r, sizeof(struct webhook_delivery), webhook_delivery_row_cb,
                              webhook_delivery_free_cb, &arr, count);
    PQclear(r);
    if (rc == C_OK)
        *out = arr;
    return rc;
}

int webhook_delivery_store_get(struct db *db, const char *organization_id, const char *environment,
                               const char *id, struct webhook_delivery *out, bool *found)
{
    static const char sql[] =
        "SELECT " WEBHOOK_DELIVERY_COLUMNS " FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL"
        " WHERE d.id = $3 AND d.organization_id = $1 AND d.environment = $2";
    const char *params[3] = {organization_id, environment, id};
    PGresult *r = db_exec(db, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    *found = PQntuples(r) > 0;
    if (*found)
        rc = webhook_delivery_from_row(r, 0, out);
    PQclear(r);
    return rc;
}

int webhook_delivery_store_attempts(struct db *db, const char *delivery_id, json_t **out)
{
    /* Built by PostgreSQL in one value: the attempt log is small and already
     * cut to 20,000 bytes of body per attempt by the worker. */
    static const char sql[] =
        "SELECT coalesce(json_agg(json_build_object("
        "  'attempted_at', to_char(date_trunc('second', attempted_at) AT TIME ZONE 'UTC',"
        "                          'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        "  'duration_ms', duration_ms, 'status_code', status_code,"
        "  'response_body', response_body, 'error', error) ORDER BY id), '[]')::text"
        " FROM webhook_attempts WHERE delivery_id = $1";
    const char *params[1] = {delivery_id};
    return db_query_json_array(db, sql, 1, params, out);
}

int webhook_delivery_store_retry(struct db *db, const char *organization_id,
                                 const char *environment, const char *id,
                                 struct webhook_delivery *out, bool *found, bool *endpoint_disabled)
{
    /* The first statement tells "no such delivery" from "endpoint disabled";
     * the update re-checks both, so a concurrent change makes it a no-op
     * (answered as the state it then finds) rather than a wrong write. */
    static const char check_sql[] =
        "SELECT e.disabled FROM webhook_deliveries d"
        " JOIN webhook_endpoints e ON e.id = d.endpoint_id AND e.deleted_at IS NULL"
        " WHERE d.id = $3 AND d.organization_id = $1 AND d.environment = $2";
    static const char sql[] =
        "UPDATE webhook_deliveries d SET status = 'pending', next_attempt_at = now(),"
        " lease_until = NULL, leased_by = NULL, updated_at = now()"
        " FROM webhook_endpoints e"
        " WHERE d.id = $3 AND d.organization_id = $1 AND d.environment = $2"
        "   AND e.id = d.endpoint_id AND e.deleted_at IS NULL AND NOT e.disabled"
        " RETURNING " WEBHOOK_DELIVERY_COLUMNS;
    const char *params[3] = {organization_id, environment, id};
    *found = false;
    *endpoint_disabled = false;
    PGresult *r = db_exec(db, check_sql, 3, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    *endpoint_disabled = *found && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!*found || *endpoint_disabled)
        return C_OK;
    r = db_exec(db, sql, 3, params);
    if (r == NULL)
        return C_ERR;
    int rc = C_OK;
    if (PQntuples(r) > 0)
        rc = webhook_delivery_from_row(r, 0, out);
    else
        *endpoint_disabled = true; /* disabled (or deleted) in between */
    PQclear(r);
    return rc;
}

int webhook_delivery_purge_older_than(struct db *db, long days, long limit, long *deleted)
{
    /* One statement: the attempts' foreign key is checked at its end, when
     * both deletes are done. SKIP LOCKED leaves a row a worker holds. */
    static const char sql[] =
        "WITH old AS ("
        "  SELECT id FROM webhook_deliveries"
        "  WHERE created_at < now() - make_interval(days => $1::int) AND status <> 'pending'"
        "  ORDER BY created_at LIMIT $2::bigint FOR UPDATE SKIP LOCKED),"
        " attempts AS (DELETE FROM webhook_attempts WHERE delivery_id IN (SELECT id FROM old))"
        " DELETE FROM webhook_deliveries WHERE id IN (SELECT id FROM old)";
    char days_text[24], limit_text[24];
    snprintf(days_text, sizeof(days_text), "%ld", days);
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[2] = {days_text, limit_text};
    return db_exec_affected(db, sql, 2, params, deleted);
}
