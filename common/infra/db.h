/* PostgreSQL connections that heal themselves: every call checks the
 * connection and reconnects once if the server went away (restart, failover).
 * All SQL goes through db_exec with parameters; there is no string-built SQL. */
#ifndef CAISSE_DB_H
#define CAISSE_DB_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

/* How a connection's data statements are planned (db_exec_as).
 * DB_PLAN_CACHED: prepared once per connection, so a statement run thousands
 * of times a second (the gateway's reads) is not planned each time; its plan
 * must then not depend on the tables' sizes or statistics, as PostgreSQL's
 * generic plan is made once, at the sixth call, and a new database has no
 * statistics whose ANALYZE would invalidate it: a plan made on an empty table
 * (a sequential scan, a hash of the whole table) stays while the table grows.
 * DB_PLAN_EVERY_CALL: planned at each call with the tables' sizes of the
 * moment, which the planner knows without statistics; for the workers, whose
 * statements each handle a batch, so planning is a small part of a call
 * (issue 17: on a new database the webhook claim hashed every delivery ever
 * made, 35 ms a call, and the relay's fetch scanned the whole outbox). */
enum db_planning { DB_PLAN_CACHED, DB_PLAN_EVERY_CALL };

struct db {
    PGconn *conn; /* owned; NULL while disconnected */
    enum db_planning planning;
    char *conninfo; /* owned copy */
    char last_error[256];
    char sqlstate[6]; /* of the last failed statement, or "" */
    /* Counts connections made. Session state (LISTEN, advisory locks) lives
     * and dies with one connection, and db_exec may reconnect on its own: a
     * holder of such state notes this after setting it up and compares it
     * after each call to know whether the session is still the same. */
    unsigned long connects;
    /* Statements prepared on the current connection (see db_exec_as): owned
     * copies of their SQL text; valid while connects == prepared_for. */
    char **prepared;
    size_t nprepared;
    unsigned long prepared_for;
    /* statement_timeout of every connection made, in ms; 0: the server's. */
    long statement_timeout_ms;
};

/* Copies conninfo; connects lazily on first use, so a service can start before
 * PostgreSQL is up and report itself unready meanwhile. Every connection is
 * made with these libpq parameters unless conninfo sets them itself:
 * connect_timeout=5 (a bounded connect), keepalives=1 keepalives_idle=30
 * keepalives_interval=10 keepalives_count=3 tcp_user_timeout=30000 (a peer
 * that vanished, a failover or a cut network, is noticed within about a
 * minute instead of waited on forever). */
int db_init(struct db *db, const char *conninfo);
/* The planning of every struct db db_init sets up from now on (default
 * DB_PLAN_CACHED): a program's choice, made in main before any thread. */
void db_set_planning(enum db_planning planning);
/* Sets statement_timeout on this connection and every one it makes later:
 * for statements on a request's path, which must fail (and answer 503) rather
 * than hold a thread. 0: the server's setting. Call before the first use. */
void db_set_statement_timeout(struct db *db, long ms);
void db_close(struct db *db);
/* Connects if needed (or the connection broke). C_ERR: unreachable now. */
int db_ensure(struct db *db);
bool db_is_connected(const struct db *db);
/* Closes the connection (the next call reconnects): ends its session state
 * (LISTENs, advisory locks) on purpose, e.g. after it was found broken. */
void db_disconnect(struct db *db);
/* Writes "user@host:port/dbname" for conninfo (URI or key=value) into out,
 * never the password, so a service can log where it connects. */
void db_describe_target(const char *conninfo, char *out, size_t outlen);

/* Runs one parameterized statement (text parameters; NULL = SQL NULL).
 * Returns the result when it is COMMAND_OK or TUPLES_OK (caller PQclear()s it),
 * else NULL with the error logged and kept in db->last_error; a broken
 * connection is dropped so the next call reconnects.
 *
 * Data statements (SELECT, WITH, INSERT, UPDATE, DELETE) are prepared once per
 * connection, keyed by their text, and executed by name afterwards: the
 * server parses and plans them once instead of on every call. Behind
 * PgBouncer in transaction mode this needs max_prepared_statements (1.21+).
 *
 * Every statement is measured under the name statement (/metrics:
 * caisse_db_statement_duration_seconds and caisse_db_errors_total, label
 * statement). db_exec names it after the calling function, which the
 * project's naming makes unique and stable (session_store_get, outbox_insert)
 * and whose number is bounded, unlike the SQL text. */
PGresult *db_exec_as(struct db *db, const char *statement, const char *sql, int nparams,
                     const char *const *params);
/* db_exec_as for statements whose result is not needed. */
int db_exec_command_as(struct db *db, const char *statement, const char *sql, int nparams,
                       const char *const *params);
#define db_exec(db, sql, nparams, params) db_exec_as((db), __func__, (sql), (nparams), (params))
/* db_exec_as for a write whose result is the number of rows it touched
 * (*affected, e.g. a DELETE of one batch of old rows). */
int db_exec_affected_as(struct db *db, const char *statement, const char *sql, int nparams,
                        const char *const *params, long *affected);
#define db_exec_affected(db, sql, nparams, params, affected)                                       \
    db_exec_affected_as((db), __func__, (sql), (nparams), (params), (affected))
#define db_exec_command(db, sql, nparams, params)                                                  \
    db_exec_command_as((db), __func__, (sql), (nparams), (params))

/* Parses a json or jsonb value PostgreSQL returned as text (NULL if it does
 * not parse). PostgreSQL prints a number with no fraction as its digits,
 * however large (1e77 comes back as 78 digits), and jansson refuses integers
 * past int64: those are read as reals, so one such value cannot make a whole
 * row, or a tenant's whole list, unreadable. */
json_t *db_json_value(const char *text);

/* For a statement that aggregates its rows into one JSON array in SQL
 * (coalesce(json_agg(...), '[]')): runs it and parses that single cell.
 * C_ERR if the statement failed or the cell is not an array; on C_OK *out is
 * a new reference. Measured like db_exec, under the calling function's name. */
int db_query_json_array_as(struct db *db, const char *statement, const char *sql, int nparams,
                           const char *const *params, json_t **out);
#define db_query_json_array(db, sql, nparams, params, out)                                         \
    db_query_json_array_as((db), __func__, (sql), (nparams), (params), (out))

/* Whether a COPY may meet a row that exists already as part of its caller's
 * plan (a redelivered batch) rather than as a failure. */
enum db_copy_conflicts { DB_COPY_CONFLICT_FAILS, DB_COPY_CONFLICT_EXPECTED };

/* Streams rows into a table with "COPY ... FROM STDIN" (copy_sql) inside the
 * caller's transaction: data is len bytes of COPY text format, each row one
 * line, fields escaped with db_copy_append_text. Bulk writes go this way
 * because it skips the parse of one big parameter on both sides. copy_sql
 * may begin with other statements ("SAVEPOINT s; COPY ..."): one round trip.
 * A unique violation sets DB_UNIQUE_VIOLATION in db_last_sqlstate; with
 * DB_COPY_CONFLICT_EXPECTED it is logged at debug level and not counted in
 * caisse_db_errors_total, otherwise it is an error like any other. */
int db_copy_in_as(struct db *db, const char *statement, const char *copy_sql, const char *data,
                  size_t len, enum db_copy_conflicts conflicts);
/* Measured like db_exec, under the calling function's name. */
#define db_copy_in(db, copy_sql, data, len, conflicts)                                             \
    db_copy_in_as((db), __func__, (copy_sql), (data), (len), (conflicts))
/* Appends text to the COPY row being built in *buf (of *len bytes, *cap
 * allocated; the buffer is the caller's, grown with realloc), escaped for the
 * COPY text format, then sep ('\t' between fields, '\n' after the last).
 * On C_ERR (out of memory) *buf, *len and *cap are unchanged. */
int db_copy_append_text(char **buf, size_t *len, size_t *cap, const char *text, char sep);

int db_begin(struct db *db);
int db_commit(struct db *db);
/* Best effort; a failed rollback drops the connection. */
void db_rollback(struct db *db);

/* A row with that key exists already: what a caller expecting it looks for. */
#define DB_UNIQUE_VIOLATION "23505"
/* SQLSTATE of the last failed db_exec, or "" (e.g. "23505" unique violation). */
const char *db_last_sqlstate(const struct db *db);

/* Whether a failure with this SQLSTATE may heal by itself, so the work is
 * retried as it is rather than given up on: "" (no answer: connection lost,
 * server down, out of memory), 08 (connection), 25 (transaction state), 40
 * (serialization failure, deadlock), 42 (the schema or privileges do not
 * fit the statement: a deployment to fix, not a record to park), 53
 * (insufficient resources), 55 (lock not available), 57 (shutdown, statement
 * timeout), 58 (system error), F0 (configuration). Anything else (22 data,
 * 23 constraint, 54 limits, P0 raised by a trigger...) is the data's. */
bool db_error_is_transient(const char *sqlstate);

/* Reads every row of r into a new array (*out, *count elements of elem_size,
 * zeroed first) with from_row. If a row cannot be read, the rows already read
 * are released with free_elem, the array is freed and C_ERR returned. r
 * itself stays the caller's. */
int db_rows_to_array(const PGresult *r, size_t elem_size,
                     int (*from_row)(const PGresult *r, int row, void *out),
                     void (*free_elem)(void *elem), void **out, size_t *count);

#endif
