#include "outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"
#include "result.h"

/* Any constant distinct from the other advisory locks of the project
 * (migrate.c uses 727361736900); the same in every replica. */
#define OUTBOX_RELAY_LOCK_KEY "727361736901"

int outbox_wake(struct db *db)
{
    return notify_send(db, OUTBOX_CHANNEL, "");
}

int outbox_try_lock_relay(struct db *db, bool *acquired)
{
    PGresult *r = db_exec(db, "SELECT pg_try_advisory_lock(" OUTBOX_RELAY_LOCK_KEY ")", 0, NULL);
    if (r == NULL)
        return C_ERR;
    *acquired = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return C_OK;
}

void outbox_rows_free(struct outbox_row *rows, size_t count)
{
    for (size_t i = 0; i < count; i++)
        free(rows[i].payload);
    free(rows);
}

int outbox_fetch_pending(struct db *db, long limit, struct outbox_row **rows, size_t *count)
{
    /* Served by the partial index outbox_unpublished. */
    static const char sql[] = "SELECT seq, id, session_id, payload FROM outbox"
                              " WHERE published_at IS NULL ORDER BY seq LIMIT $1";
    char limit_text[24];
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[1] = {limit_text};
    PGresult *r = db_exec(db, sql, 1, params);
    if (r == NULL)
        return C_ERR;
    size_t n = (size_t)PQntuples(r);
    struct outbox_row *arr = NULL;
    if (n > 0) {
        arr = calloc(n, sizeof(*arr));
        if (arr == NULL) {
            PQclear(r);
            return C_ERR;
        }
    }
    for (size_t i = 0; i < n; i++) {
        int row = (int)i;
        arr[i].seq = strtoll(PQgetvalue(r, row, 0), NULL, 10);
        snprintf(arr[i].id, sizeof(arr[i].id), "%s", PQgetvalue(r, row, 1));
        snprintf(arr[i].session_id, sizeof(arr[i].session_id), "%s", PQgetvalue(r, row, 2));
        arr[i].payload_len = (size_t)PQgetlength(r, row, 3);
        arr[i].payload = malloc(arr[i].payload_len + 1);
        if (arr[i].payload == NULL) {
            outbox_rows_free(arr, i);
            PQclear(r);
            return C_ERR;
        }
        memcpy(arr[i].payload, PQgetvalue(r, row, 3), arr[i].payload_len + 1);
    }
    PQclear(r);
    *rows = arr;
    *count = n;
    return C_OK;
}

int outbox_mark_published(struct db *db, const struct outbox_row *rows, size_t count)
{
    if (count == 0)
        return C_OK;
    /* An array literal "{1,2,3}": seqs are integers, so no quoting is needed. */
    size_t cap = count * 21 + 3;
    char *list = malloc(cap);
    if (list == NULL)
        return C_ERR;
    size_t len = 0;
    list[len++] = '{';
    for (size_t i = 0; i < count; i++) {
        int w = snprintf(list + len, cap - len, "%s%lld", i > 0 ? "," : "", (long long)rows[i].seq);
        if (w < 0 || (size_t)w >= cap - len) {
            free(list);
            return C_ERR;
        }
        len += (size_t)w;
    }
    list[len++] = '}';
    list[len] = '\0';
    const char *params[1] = {list};
    int rc = db_exec_command(
        db, "UPDATE outbox SET published_at = now() WHERE seq = ANY($1::bigint[])", 1, params);
    free(list);
    return rc;
}

int outbox_insert(struct db *db, const json_t *events)
{
    /* One statement for the whole set; WITH ORDINALITY keeps the array order,
     * so seq follows it. */
    static const char sql[] =
        "INSERT INTO outbox (id, session_id, organization_id, environment, type, payload)"
        " SELECT (e->>'id')::uuid, (e->>'session_id')::uuid, (e->>'organization_id')::uuid,"
        "        e->>'environment', e->>'type', e->>'payload'"
        " FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS t(e, n) ORDER BY n";
    if (json_array_size(events) == 0)
        return C_OK;
    char *text = json_dumps(events, JSON_COMPACT);
    if (text == NULL)
        return C_ERR;
    const char *params[1] = {text};
    int rc = db_exec_command(db, sql, 1, params);
    free(text);
    return rc;
}
