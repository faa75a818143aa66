#include "outbox.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infra/notify.h"
#include "core/result.h"

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

int outbox_fetch_pending(struct db *db, long limit, long max_bytes, struct outbox_row **rows,
                         size_t *count)
{
    /* The queued seqs first, as one array, then each row by its primary key:
     * no join for the planner to choose. As a join, it chose a merge join
     * whenever the statistics suggested it (a new database, a queue just
     * grown), and that walks the whole outbox (every event ever published, a
     * heap fetch each) in seq order up to the first queued one, every round:
     * make bench saw 5 ms a round at 100 000 events, growing with them.
     *
     * The byte budget is applied by the server: the running sum of the
     * payloads' sizes (octet_length of a text reads its stored size, not the
     * value), each looked up by primary key, keeps the prefix that fits, and
     * always the first row, so an event larger than the budget still moves.
     * Nothing past the budget is sent to this process. */
    static const char sql[] =
        "SELECT o.seq, o.id, o.session_id, o.payload FROM outbox o"
        " WHERE o.seq = ANY (ARRAY("
        "  SELECT q.seq FROM ("
        "   SELECT p.seq, row_number() OVER w AS n,"
        "    sum((SELECT octet_length(x.payload) FROM outbox x WHERE x.seq = p.seq)) OVER w AS upto"
        "   FROM (SELECT seq FROM outbox_pending ORDER BY seq LIMIT $1) p"
        "   WINDOW w AS (ORDER BY p.seq ROWS UNBOUNDED PRECEDING)) q"
        "  WHERE q.n = 1 OR q.upto <= $2::bigint))"
        " ORDER BY o.seq";
    char limit_text[24], bytes_text[24];
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    snprintf(bytes_text, sizeof(bytes_text), "%ld", max_bytes);
    const char *params[2] = {limit_text, bytes_text};
    PGresult *r = db_exec(db, sql, 2, params);
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
        snprintf(arr[i].subject_id, sizeof(arr[i].subject_id), "%s", PQgetvalue(r, row, 2));
        arr[i].payload_len = (size_t)PQgetlength(r, row, 3);
        arr[i].payload = malloc(arr[i].payload_len + 1);
        if (arr[i].payload == NULL) {
            outbox_rows_free(arr, i);
            PQclear(r);
            return C_ERR;
        }
        memcpy(arr[i].payload, PQgetvalue(r, row, 3), arr[i].payload_len + 1);
    }
    /* The result goes at once: the round holds each event once from here
     * (the producer borrows the rows' payloads, kafka_produce_borrowed). */
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
    int rc =
        db_exec_command(db, "DELETE FROM outbox_pending WHERE seq = ANY($1::bigint[])", 1, params);
    free(list);
    return rc;
}

int outbox_measure_backlog(struct db *db, long long *rows, double *oldest_age_s)
{
    static const char sql[] =
        "SELECT count(*), coalesce(extract(epoch FROM now() - (SELECT o.created_at FROM outbox o"
        "   WHERE o.seq = (SELECT min(seq) FROM outbox_pending))), 0)::float8"
        " FROM outbox_pending";
    PGresult *r = db_exec(db, sql, 0, NULL);
    if (r == NULL)
        return C_ERR;
    *rows = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    *oldest_age_s = strtod(PQgetvalue(r, 0, 1), NULL);
    PQclear(r);
    return C_OK;
}

int outbox_batch_add(struct outbox_batch *b, const struct outbox_event *ev)
{
    const char *fields[] = {ev->id,          ev->subject_id, ev->organization_id,
                            ev->environment, ev->type,       ev->payload};
    const size_t nfields = sizeof(fields) / sizeof(fields[0]);
    /* Room for the whole row first (every byte escaped at worst, a separator
     * each, the NUL), so that nothing can fail once the row is begun. */
    size_t need = b->len + 1;
    for (size_t f = 0; f < nfields; f++)
        need += 2 * strlen(fields[f]) + 1;
    if (need > b->cap) {
        size_t cap = b->cap > 0 ? b->cap : 4096;
        while (cap < need)
            cap *= 2;
        char *grown = b->grow != NULL ? b->grow(b->copy, cap) : realloc(b->copy, cap);
        if (grown == NULL)
            return C_ERR;
        b->copy = grown;
        b->cap = cap;
    }
    for (size_t f = 0; f < nfields; f++) {
        int rc = db_copy_append_text(&b->copy, &b->len, &b->cap, fields[f],
                                     f + 1 < nfields ? '\t' : '\n');
        assert(rc == C_OK); /* the room was made above */
        (void)rc;
    }
    b->count++;
    return C_OK;
}

void outbox_batch_clear(struct outbox_batch *b)
{
    b->len = 0;
    b->count = 0;
}

void outbox_batch_free(struct outbox_batch *b)
{
    free(b->copy);
    b->copy = NULL;
    b->len = 0;
    b->cap = 0;
    b->count = 0;
}

int outbox_insert(struct db *db, const struct outbox_batch *b)
{
    if (b->count == 0)
        return C_OK;
    return db_copy_in(db, OUTBOX_COPY_SQL, b->copy, b->len, DB_COPY_CONFLICT_FAILS);
}

int outbox_purge_older_than(struct db *db, long days, long limit, long *deleted)
{
    /* seq grows with created_at, so the old rows are the first ones of the
     * primary key: the window of the limit lowest seqs is all that is read,
     * instead of a scan of the whole outbox for a few matches. A row still
     * queued is never deleted (Kafka was down for the whole retention). */
    static const char sql[] =
        "DELETE FROM outbox WHERE seq IN ("
        "  SELECT o.seq FROM outbox o"
        "  WHERE o.seq < (SELECT min(seq) FROM outbox) + $2::bigint"
        "    AND o.created_at < now() - make_interval(days => $1::int)"
        "    AND NOT EXISTS (SELECT 1 FROM outbox_pending p WHERE p.seq = o.seq))";
    char days_text[24], limit_text[24];
    snprintf(days_text, sizeof(days_text), "%ld", days);
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[2] = {days_text, limit_text};
    return db_exec_affected(db, sql, 2, params, deleted);
}
