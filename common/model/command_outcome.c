#include "command_outcome.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "core/utf8.h"

void command_outcome_applied(struct command_outcome *o, const char *command_id,
                             const char *object_id)
{
    memset(o, 0, sizeof(*o));
    snprintf(o->command_id, sizeof(o->command_id), "%s", command_id);
    snprintf(o->object_id, sizeof(o->object_id), "%s", object_id);
}

void command_outcome_refused(struct command_outcome *o, const char *command_id,
                             const char *object_id, const char *code, const char *fmt, ...)
{
    command_outcome_applied(o, command_id, object_id);
    o->refused = true;
    snprintf(o->code, sizeof(o->code), "%s", code);
    char message[COMMAND_OUTCOME_MESSAGE_MAX * 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    utf8_truncate(message, o->message, sizeof(o->message));
}

/* A PostgreSQL array literal of UUIDs, "{a,b}": UUIDs need no quoting. NULL:
 * out of memory. */
static char *command_outcome_uuid_array(const char *const *ids, size_t n)
{
    size_t cap = n * UUID_STR_LEN + 3;
    char *list = malloc(cap);
    if (list == NULL)
        return NULL;
    size_t len = 0;
    list[len++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(list + len, cap - len, "%s%s", i > 0 ? "," : "", ids[i]);
        if (w < 0 || (size_t)w >= cap - len) {
            free(list);
            return NULL;
        }
        len += (size_t)w;
    }
    list[len++] = '}';
    list[len] = '\0';
    return list;
}

int command_outcome_find_recorded(struct db *db, const char *const *command_ids, size_t n,
                                  bool *recorded)
{
    for (size_t i = 0; i < n; i++)
        recorded[i] = false;
    if (n == 0)
        return C_OK;
    char *list = command_outcome_uuid_array(command_ids, n);
    if (list == NULL)
        return C_ERR;
    const char *params[1] = {list};
    PGresult *r = db_exec(db,
                          "SELECT command_id::text FROM command_outcomes"
                          " WHERE command_id = ANY ($1::uuid[])",
                          1, params);
    free(list);
    if (r == NULL)
        return C_ERR;
    for (int row = 0; row < PQntuples(r); row++) {
        const char *id = PQgetvalue(r, row, 0);
        for (size_t i = 0; i < n; i++) {
            if (strcasecmp(command_ids[i], id) == 0)
                recorded[i] = true;
        }
    }
    PQclear(r);
    return C_OK;
}

int command_outcome_insert(struct db *db, const struct command_outcome *outcomes, size_t n)
{
    if (n == 0)
        return C_OK;
    struct json_writer w = JSON_WRITER_INIT;
    size_t mark = json_writer_begin(&w);
    json_writer_literal(&w, "[");
    for (size_t i = 0; i < n; i++) {
        const struct command_outcome *o = &outcomes[i];
        if (i > 0)
            json_writer_literal(&w, ",");
        json_writer_literal(&w, "{\"command_id\":");
        json_writer_string(&w, o->command_id);
        json_writer_literal(&w, ",\"object_id\":");
        json_writer_string(&w, o->object_id);
        json_writer_literal(&w, ",\"outcome\":");
        json_writer_string(&w, o->refused ? "refused" : "applied");
        json_writer_literal(&w, ",\"code\":");
        json_writer_string(&w, o->refused ? o->code : NULL);
        json_writer_literal(&w, ",\"message\":");
        json_writer_string(&w, o->refused ? o->message : NULL);
        json_writer_literal(&w, "}");
    }
    json_writer_literal(&w, "]");
    if (json_writer_end(&w, mark) != C_OK) {
        json_writer_free(&w);
        return C_ERR;
    }
    const char *params[1] = {w.buf};
    int rc = db_exec_command(
        db,
        "INSERT INTO command_outcomes (command_id, object_id, outcome, code, message)"
        " SELECT command_id, object_id, outcome, code, message FROM jsonb_to_recordset($1::jsonb)"
        "   AS x(command_id uuid, object_id uuid, outcome text, code text, message text)"
        " ON CONFLICT (command_id) DO NOTHING",
        1, params);
    json_writer_free(&w);
    return rc;
}

int command_outcome_get(struct db *db, const char *command_id, struct command_outcome *out,
                        bool *found)
{
    const char *params[1] = {command_id};
    PGresult *r = db_exec(db,
                          "SELECT object_id::text, outcome, code, message FROM command_outcomes"
                          " WHERE command_id = $1",
                          1, params);
    if (r == NULL)
        return C_ERR;
    *found = PQntuples(r) > 0;
    if (*found) {
        if (strcmp(PQgetvalue(r, 0, 1), "refused") == 0)
            command_outcome_refused(out, command_id, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 2), "%s",
                                    PQgetvalue(r, 0, 3));
        else
            command_outcome_applied(out, command_id, PQgetvalue(r, 0, 0));
    }
    PQclear(r);
    return C_OK;
}

int command_outcome_purge_older_than(struct db *db, long days, long limit, long *deleted)
{
    static const char sql[] = "DELETE FROM command_outcomes WHERE command_id IN ("
                              "  SELECT command_id FROM command_outcomes"
                              "  WHERE created_at < now() - make_interval(days => $1::int)"
                              "  ORDER BY created_at LIMIT $2)";
    char days_text[24], limit_text[24];
    snprintf(days_text, sizeof(days_text), "%ld", days);
    snprintf(limit_text, sizeof(limit_text), "%ld", limit);
    const char *params[2] = {days_text, limit_text};
    return db_exec_affected(db, sql, 2, params, deleted);
}
