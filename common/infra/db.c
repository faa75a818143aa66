#include "db.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/result.h"

/* ---- statement metrics ------------------------------------------------------ */

static struct metrics_family *db_duration_family, *db_errors_family;
static pthread_once_t db_metrics_once = PTHREAD_ONCE_INIT;

static void db_metrics_init(void)
{
    static const char *const labels[] = {"statement", NULL};
    /* From half a millisecond (a primary-key read) to 10 s (a statement
     * waiting on a lock or a frozen server). */
    static const double bounds[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    struct metrics_registry *r = metrics_default();
    db_duration_family = metrics_histogram(
        r, "caisse_db_statement_duration_seconds",
        "PostgreSQL statement round trips by statement (the function that runs it)", labels, bounds,
        sizeof(bounds) / sizeof(bounds[0]));
    db_errors_family = metrics_counter(
        r, "caisse_db_errors_total",
        "PostgreSQL statements that failed (error or server unreachable), by statement", labels);
}

static void db_observe(const char *statement, double started)
{
    pthread_once(&db_metrics_once, db_metrics_init);
    const char *values[] = {statement};
    metrics_histogram_observe(metrics_series(db_duration_family, values),
                              clock_now_seconds() - started);
}

static void db_count_error(const char *statement)
{
    pthread_once(&db_metrics_once, db_metrics_init);
    const char *values[] = {statement};
    metrics_counter_add(metrics_series(db_errors_family, values), 1);
}

/* ---- connections ------------------------------------------------------------- */

/* Set once in main before any thread starts, read by db_init afterwards. */
static enum db_planning db_default_planning = DB_PLAN_CACHED;

void db_set_planning(enum db_planning planning)
{
    db_default_planning = planning;
}

int db_init(struct db *db, const char *conninfo)
{
    char *copy = strdup(conninfo);
    if (copy == NULL)
        return C_ERR;
    db->conn = NULL;
    db->planning = db_default_planning;
    db->conninfo = copy;
    db->connects = 0;
    db->prepared = NULL;
    db->nprepared = 0;
    db->prepared_for = 0;
    db->statement_timeout_ms = 0;
    db->last_error[0] = '\0';
    db->sqlstate[0] = '\0';
    return C_OK;
}

/* Forgets the statements prepared on a connection that is gone. */
static void db_prepared_clear(struct db *db)
{
    for (size_t i = 0; i < db->nprepared; i++)
        free(db->prepared[i]);
    free(db->prepared);
    db->prepared = NULL;
    db->nprepared = 0;
}

void db_close(struct db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
    db_prepared_clear(db);
    free(db->conninfo);
    db->conninfo = NULL;
}

void db_set_statement_timeout(struct db *db, long ms)
{
    db->statement_timeout_ms = ms;
}

bool db_is_connected(const struct db *db)
{
    return db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK;
}

static void db_drop(struct db *db)
{
    if (db->conn != NULL)
        PQfinish(db->conn);
    db->conn = NULL;
}

void db_disconnect(struct db *db)
{
    db_drop(db);
}

void db_describe_target(const char *conninfo, char *out, size_t outlen)
{
    const char *user = "", *host = "", *port = "", *dbname = "";
    PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
    if (opts == NULL) {
        snprintf(out, outlen, "(unparseable connection string)");
        return;
    }
    for (PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (o->val == NULL)
            continue;
        if (strcmp(o->keyword, "user") == 0)
            user = o->val;
        else if (strcmp(o->keyword, "host") == 0 ||
                 (strcmp(o->keyword, "hostaddr") == 0 && host[0] == '\0'))
            host = o->val;
        else if (strcmp(o->keyword, "port") == 0)
            port = o->val;
        else if (strcmp(o->keyword, "dbname") == 0)
            dbname = o->val;
    }
    /* Empty parts are libpq defaults (local socket, 5432, user name). */
    snprintf(out, outlen, "%s@%s:%s/%s", user, host, port, dbname);
    PQconninfoFree(opts);
}

/* Keep only the first line: libpq messages end with newlines and may carry
 * a DETAIL that is fine for the log but not needed twice. */
static void db_set_error(struct db *db, const char *message)
{
    snprintf(db->last_error, sizeof(db->last_error), "%s", message ? message : "unknown error");
    char *nl = strchr(db->last_error, '\n');
    if (nl != NULL)
        *nl = '\0';
}

/* libpq prints notices ("relation ... already exists, skipping") raw on
 * stderr by default, which breaks the one-JSON-object-per-line log. */
static void db_on_notice(void *arg, const char *message)
{
    (void)arg;
    size_t len = strlen(message);
    while (len > 0 && message[len - 1] == '\n')
        len--;
    /* NOTICE and below are routine (IF NOT EXISTS); a WARNING is worth seeing. */
    enum log_level level = strncmp(message, "WARNING", 7) == 0 ? LOG_WARN : LOG_DEBUG;
    log_fields(level, NULL, "postgres: %.*s", (int)len, message);
}

int db_ensure(struct db *db)
{
    if (db->conn != NULL && PQstatus(db->conn) == CONNECTION_OK)
        return C_OK;
    db_drop(db);
    /* Keywords before dbname are defaults: the expanded conninfo overrides
     * them with its own values. */
    static const char *const keywords[] = {
        "connect_timeout",  "keepalives",       "keepalives_idle", "keepalives_interval",
        "keepalives_count", "tcp_user_timeout", "dbname",          NULL};
    const char *values[] = {"5", "1", "30", "10", "3", "30000", db->conninfo, NULL};
    PGconn *conn = PQconnectdbParams(keywords, values, 1);
    if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
        db_set_error(db, conn ? PQerrorMessage(conn) : "out of memory");
        if (conn != NULL)
            PQfinish(conn);
        return C_ERR;
    }
    PQsetNoticeProcessor(conn, db_on_notice, NULL);
    /* Times are read as epoch seconds, but keep the session in UTC so any text
     * rendering in logs or psql matches the API. */
    PGresult *r = PQexec(conn, "SET TIME ZONE 'UTC'");
    PQclear(r);
    if (db->statement_timeout_ms > 0) {
        /* A number, not text from anywhere: nothing to escape. */
        char set[64];
        snprintf(set, sizeof(set), "SET statement_timeout = %ld", db->statement_timeout_ms);
        r = PQexec(conn, set);
        bool ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;
        PQclear(r);
        if (!ok) {
            db_set_error(db, PQerrorMessage(conn));
            PQfinish(conn);
            return C_ERR;
        }
    }
    db->conn = conn;
    db->connects++;
    return C_OK;
}

/* A statement outside the cache and the metrics (DEALLOCATE). */
static int db_exec_plain(struct db *db, const char *sql)
{
    PGresult *r = PQexec(db->conn, sql);
    int rc = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK ? C_OK : C_ERR;
    PQclear(r);
    return rc;
}

/* Beyond this many distinct texts on one connection, statements run
 * unprepared: the project's SQL is a bounded set of constants, so reaching it
 * would mean text built at run time, not worth a server-side plan each. */
#define DB_PREPARED_MAX 256

static bool db_is_data_statement(const char *sql)
{
    while (*sql == ' ' || *sql == '\n' || *sql == '\t' || *sql == '(')
        sql++;
    static const char *const verbs[] = {"SELECT", "WITH", "INSERT", "UPDATE", "DELETE"};
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
        size_t n = strlen(verbs[i]);
        if (strncasecmp(sql, verbs[i], n) == 0 && !isalnum((unsigned char)sql[n]))
            return true;
    }
    return false;
}

/* Runs sql prepared on the current connection, preparing it the first time;
 * unprepared if it is not a data statement or the cache is full. When the
 * PREPARE fails, its result is returned (the statement's own error). */
static PGresult *db_exec_prepared(struct db *db, const char *sql, int nparams,
                                  const char *const *params)
{
    if (db->prepared_for != db->connects) {
        db_prepared_clear(db);
        db->prepared_for = db->connects;
    }
    if (db->planning == DB_PLAN_EVERY_CALL || !db_is_data_statement(sql))
        return PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    char name[32];
    for (size_t i = 0; i < db->nprepared; i++) {
        if (strcmp(db->prepared[i], sql) == 0) {
            snprintf(name, sizeof(name), "caisse_%zu", i);
            return PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
        }
    }
    if (db->nprepared >= DB_PREPARED_MAX)
        return PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    char *copy = strdup(sql);
    char **grown =
        copy != NULL ? realloc(db->prepared, (db->nprepared + 1) * sizeof(*grown)) : NULL;
    if (grown == NULL) {
        free(copy);
        return PQexecParams(db->conn, sql, nparams, NULL, params, NULL, NULL, 0);
    }
    db->prepared = grown;
    snprintf(name, sizeof(name), "caisse_%zu", db->nprepared);
    PGresult *p = PQprepare(db->conn, name, sql, nparams, NULL);
    if (p == NULL || PQresultStatus(p) != PGRES_COMMAND_OK) {
        free(copy);
        return p;
    }
    PQclear(p);
    db->prepared[db->nprepared++] = copy;
    return PQexecPrepared(db->conn, name, nparams, params, NULL, NULL, 0);
}

PGresult *db_exec_as(struct db *db, const char *statement, const char *sql, int nparams,
                     const char *const *params)
{
    db->sqlstate[0] = '\0';
    /* Outside a transaction, a statement that meets a connection the server
     * dropped (restart, failover) is retried once on a fresh one; inside a
     * transaction the caller must redo the whole transaction instead. */
    for (int attempt = 0;; attempt++) {
        if (db_ensure(db) != C_OK) {
            log_warn("postgres unreachable: %s", db->last_error);
            db_count_error(statement);
            return NULL;
        }
        bool idle = PQtransactionStatus(db->conn) == PQTRANS_IDLE;
        double started = clock_now_seconds();
        PGresult *r = db_exec_prepared(db, sql, nparams, params);
        db_observe(statement, started);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            return r;
        bool broken = PQstatus(db->conn) != CONNECTION_OK;
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
        db_set_error(db, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
        PQclear(r);
        if (broken)
            db_drop(db);
        if (broken && idle && attempt == 0) {
            log_warn("postgres connection was lost, reconnecting: %s", db->last_error);
            continue;
        }
        /* A prepared statement the server no longer has (a pooler reset the
         * session) or whose plan a migration changed: prepare anew, once. */
        if (!broken && idle && attempt == 0 &&
            (strcmp(db->sqlstate, "26000") == 0 || strcmp(db->sqlstate, "0A000") == 0)) {
            db_prepared_clear(db);
            if (db_exec_plain(db, "DEALLOCATE ALL") == C_OK) {
                log_warn("prepared statements were reset: %s", db->last_error);
                continue;
            }
        }
        log_fields(LOG_ERROR,
                   json_pack("{ss ss}", "sqlstate", db->sqlstate, "statement", statement),
                   "postgres statement failed: %s", db->last_error);
        db_count_error(statement);
        return NULL;
    }
}

int db_exec_affected_as(struct db *db, const char *statement, const char *sql, int nparams,
                        const char *const *params, long *affected)
{
    PGresult *r = db_exec_as(db, statement, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    *affected = strtol(PQcmdTuples(r), NULL, 10);
    PQclear(r);
    return C_OK;
}

int db_exec_command_as(struct db *db, const char *statement, const char *sql, int nparams,
                       const char *const *params)
{
    PGresult *r = db_exec_as(db, statement, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    PQclear(r);
    return C_OK;
}

json_t *db_json_value(const char *text)
{
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        v = json_loads(text, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, NULL);
    return v;
}

int db_query_json_array_as(struct db *db, const char *statement, const char *sql, int nparams,
                           const char *const *params, json_t **out)
{
    PGresult *r = db_exec_as(db, statement, sql, nparams, params);
    if (r == NULL)
        return C_ERR;
    json_t *arr = PQntuples(r) == 1 && PQnfields(r) == 1 && !PQgetisnull(r, 0, 0)
                      ? json_loads(PQgetvalue(r, 0, 0), 0, NULL)
                      : NULL;
    PQclear(r);
    if (!json_is_array(arr)) {
        json_decref(arr);
        return C_ERR;
    }
    *out = arr;
    return C_OK;
}

static int db_copy_in_now(struct db *db, const char *copy_sql, const char *data, size_t len);

int db_copy_in_as(struct db *db, const char *statement, const char *copy_sql, const char *data,
                  size_t len, enum db_copy_conflicts conflicts)
{
    db->sqlstate[0] = '\0';
    /* Never retried here: COPY only runs inside a transaction, which the
     * caller redoes as a whole after a failure. */
    if (db_ensure(db) != C_OK) {
        log_warn("postgres unreachable: %s", db->last_error);
        db_count_error(statement);
        return C_ERR;
    }
    double started_at = clock_now_seconds();
    int rc = db_copy_in_now(db, copy_sql, data, len);
    db_observe(statement, started_at);
    if (rc == C_OK)
        return C_OK;
    /* The one place that decides: an existing row its caller plans for is no
     * error (session.c: a redelivered batch), anything else is. */
    bool expected =
        conflicts == DB_COPY_CONFLICT_EXPECTED && strcmp(db->sqlstate, DB_UNIQUE_VIOLATION) == 0;
    log_fields(expected ? LOG_DEBUG : LOG_ERROR, json_pack("{ss}", "sqlstate", db->sqlstate),
               "postgres COPY failed: %s", db->last_error);
    if (!expected)
        db_count_error(statement);
    return C_ERR;
}

/* The COPY itself, on a connection that is up; on failure, db's error and
 * sqlstate say why (its caller logs it). */
static int db_copy_in_now(struct db *db, const char *copy_sql, const char *data, size_t len)
{
    PGresult *r = PQexec(db->conn, copy_sql);
    bool started = r != NULL && PQresultStatus(r) == PGRES_COPY_IN;
    if (!started) {
        const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
        snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
        db_set_error(db, r ? PQresultErrorMessage(r) : PQerrorMessage(db->conn));
        PQclear(r);
        if (PQstatus(db->conn) != CONNECTION_OK)
            db_drop(db);
        return C_ERR;
    }
    PQclear(r);
    /* PQputCopyData takes an int length: hand over the data in slices. */
    const size_t slice = 1u << 20;
    int ok = 1;
    for (size_t off = 0; ok == 1 && off < len; off += slice) {
        size_t n = len - off < slice ? len - off : slice;
        ok = PQputCopyData(db->conn, data + off, (int)n);
    }
    if (ok == 1)
        ok = PQputCopyEnd(db->conn, NULL);
    int rc = ok == 1 ? C_OK : C_ERR;
    if (rc != C_OK)
        db_set_error(db, PQerrorMessage(db->conn));
    /* Read every result so the connection is ready for the next statement. */
    while ((r = PQgetResult(db->conn)) != NULL) {
        if (PQresultStatus(r) != PGRES_COMMAND_OK && rc == C_OK) {
            const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
            snprintf(db->sqlstate, sizeof(db->sqlstate), "%s", state ? state : "");
            db_set_error(db, PQresultErrorMessage(r));
            rc = C_ERR;
        }
        PQclear(r);
    }
    if (rc != C_OK && PQstatus(db->conn) != CONNECTION_OK)
        db_drop(db);
    return rc;
}

int db_copy_append_text(char **buf, size_t *len, size_t *cap, const char *text, char sep)
{
    /* Worst case every byte doubles, plus the separator and a NUL. */
    size_t tlen = strlen(text);
    size_t need = *len + 2 * tlen + 2;
    if (need > *cap) {
        size_t ncap = *cap > 0 ? *cap : 4096;
        while (ncap < need)
            ncap *= 2;
        char *nbuf = realloc(*buf, ncap);
        if (nbuf == NULL)
            return C_ERR;
        *buf = nbuf;
        *cap = ncap;
    }
    char *out = *buf + *len;
    /* Runs without a byte to escape go in one copy: in JSON text (the outbox
     * payloads) backslashes are rare and the other three never occur. */
    const char *p = text, *end = text + tlen;
    while (p < end) {
        size_t run = strcspn(p, "\\\n\r\t");
        memcpy(out, p, run);
        out += run;
        p += run;
        if (p == end)
            break;
        *out++ = '\\';
        *out++ = *p == '\\' ? '\\' : *p == '\n' ? 'n' : *p == '\r' ? 'r' : 't';
        p++;
    }
    *out++ = sep;
    *out = '\0';
    *len = (size_t)(out - *buf);
    return C_OK;
}

int db_begin(struct db *db)
{
    return db_exec_command_as(db, "begin", "BEGIN", 0, NULL);
}

int db_commit(struct db *db)
{
    return db_exec_command_as(db, "commit", "COMMIT", 0, NULL);
}

void db_rollback(struct db *db)
{
    if (db->conn == NULL)
        return;
    double started = clock_now_seconds();
    PGresult *r = PQexec(db->conn, "ROLLBACK");
    db_observe("rollback", started);
    if (r == NULL || PQresultStatus(r) != PGRES_COMMAND_OK) {
        db_count_error("rollback");
        db_drop(db);
    }
    PQclear(r);
}

bool db_error_is_transient(const char *sqlstate)
{
    static const char *const classes[] = {"08", "25", "40", "42", "53", "55", "57", "58", "F0"};
    if (sqlstate == NULL || strlen(sqlstate) < 2)
        return true;
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        if (strncmp(sqlstate, classes[i], 2) == 0)
            return true;
    }
    return false;
}

const char *db_last_sqlstate(const struct db *db)
{
    return db->sqlstate;
}

int db_rows_to_array(const PGresult *r, size_t elem_size,
                     int (*from_row)(const PGresult *r, int row, void *out),
                     void (*free_elem)(void *elem), void **out, size_t *count)
{
    size_t n = (size_t)PQntuples(r);
    /* One element even for no rows: callers free what they get. */
    unsigned char *arr = calloc(n > 0 ? n : 1, elem_size);
    if (arr == NULL)
        return C_ERR;
    for (size_t i = 0; i < n; i++) {
        if (from_row(r, (int)i, arr + i * elem_size) != C_OK) {
            for (size_t j = 0; j < i; j++)
                free_elem(arr + j * elem_size);
            free(arr);
            return C_ERR;
        }
    }
    *out = arr;
    *count = n;
    return C_OK;
}
