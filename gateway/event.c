#include "event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/result.h"

/* Rows past the retention count as gone everywhere, so the same condition
 * guards the cursor, the list and the single read. */
#define EVENT_RETAINED "created_at > now() - make_interval(days => $3::int)"

int event_store_list(struct db *db, const char *organization_id, const char *environment,
                     const struct event_list_query *q, json_t **out, bool *cursor_found)
{
    /* The payloads are aggregated into one JSON array by PostgreSQL: each is
     * already the CloudEvent text, nothing to rebuild. Served by the
     * (organization_id, environment, seq DESC) index; the type is a filter. */
    static const char sql[] =
        "WITH cursor AS (SELECT seq FROM outbox WHERE id = $5::uuid AND organization_id = $1"
        "                 AND environment = $2 AND " EVENT_RETAINED "),"
        " page AS (SELECT seq, payload FROM outbox"
        "   WHERE organization_id = $1 AND environment = $2 AND " EVENT_RETAINED
        "   AND ($4::text IS NULL OR type = $4)"
        "   AND ($5::uuid IS NULL OR seq < (SELECT seq FROM cursor))"
        "   ORDER BY seq DESC LIMIT $6)"
        " SELECT coalesce(json_agg(payload::json ORDER BY seq DESC), '[]')::text FROM page";
    static const char cursor_sql[] = "SELECT 1 FROM outbox WHERE id = $4 AND organization_id = $1"
                                     " AND environment = $2 AND " EVENT_RETAINED;
    char days[24], limit[24];
    snprintf(days, sizeof(days), "%ld", q->retention_days);
    snprintf(limit, sizeof(limit), "%ld", q->limit);
    *out = NULL;
    *cursor_found = true;
    if (q->starting_after != NULL) {
        const char *cp[4] = {organization_id, environment, days, q->starting_after};
        PGresult *cr = db_exec(db, cursor_sql, 4, cp);
        if (cr == NULL)
            return C_ERR;
        *cursor_found = PQntuples(cr) > 0;
        PQclear(cr);
        if (!*cursor_found)
            return C_OK;
    }
    const char *params[6] = {organization_id, environment, days, q->type, q->starting_after, limit};
    return db_query_json_array(db, sql, 6, params, out);
}

int event_store_get(struct db *db, const char *organization_id, const char *environment,
                    const char *id, long retention_days, char **payload, bool *found)
{
    static const char sql[] = "SELECT payload FROM outbox WHERE id = $4 AND organization_id = $1"
                              " AND environment = $2 AND " EVENT_RETAINED;
    char days[24];
    snprintf(days, sizeof(days), "%ld", retention_days);
    const char *params[4] = {organization_id, environment, days, id};
    *payload = NULL;
    PGresult *r = db_exec(db, sql, 4, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    int rc = C_OK;
    if (*found) {
        *payload = strdup(PQgetvalue(r, 0, 0));
        if (*payload == NULL)
            rc = C_ERR;
    }
    PQclear(r);
    return rc;
}
