#include "migrate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/result.h"

/* Any constant works; it only has to be the same for every runner. */
#define MIGRATE_LOCK_KEY "727361736900"

static int migrate_apply_one(struct db *db, const struct migration *m, int *applied)
{
    char version[16];
    snprintf(version, sizeof(version), "%d", m->version);
    const char *params[2] = {version, m->name};
    if (db_begin(db) != C_OK)
        return C_ERR;
    PGresult *r = db_exec(db, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, params);
    if (r == NULL)
        goto fail;
    int done = PQntuples(r) > 0;
    PQclear(r);
    if (done) {
        db_rollback(db);
        return C_OK;
    }
    /* Migration files are trusted, parameterless scripts of several statements:
     * the simple query protocol is the one that runs them. */
    r = PQexec(db->conn, m->sql);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        const char *message = r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn);
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        log_error("migration %s failed: %.*s", m->name, (int)strcspn(message, "\n"), message);
        /* Like db_exec, leave the cause where callers look for it. */
        snprintf(db->last_error, sizeof(db->last_error), "%s: %.*s", m->name,
                 (int)strcspn(message, "\n"), message);
        snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
        PQclear(r);
        goto fail;
    }
    PQclear(r);
    if (db_exec_command(db, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                        params) != C_OK ||
        db_commit(db) != C_OK)
        goto fail;
    log_info("applied migration %s", m->name);
    (*applied)++;
    return C_OK;
fail:
    db_rollback(db);
    return C_ERR;
}

int migrate_run(struct db *db, int *applied)
{
    *applied = 0;
    if (db_exec_command(db, "SELECT pg_advisory_lock(" MIGRATE_LOCK_KEY ")", 0, NULL) != C_OK)
        return C_ERR;
    int rc = db_exec_command(db,
                             "CREATE TABLE IF NOT EXISTS schema_migrations ("
                             " version integer PRIMARY KEY, name text NOT NULL,"
                             " applied_at timestamptz NOT NULL DEFAULT now())",
                             0, NULL);
    for (int i = 0; rc == C_OK && i < migrate_file_count; i++)
        rc = migrate_apply_one(db, &migrate_files[i], applied);
    /* A lost connection releases the lock by itself. */
    db_exec_command(db, "SELECT pg_advisory_unlock(" MIGRATE_LOCK_KEY ")", 0, NULL);
    return rc;
}
