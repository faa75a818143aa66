#include "notify.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/result.h"

int notify_send(struct db *db, const char *channel, const char *payload)
{
    const char *params[2] = {channel, payload};
    return db_exec_command(db, "SELECT pg_notify($1, $2)", 2, params);
}

/* Appends chunk[0..len) to chunks as a JSON string. */
static int notify_push_chunk(json_t *chunks, const char *chunk, size_t len)
{
    return json_array_append_new(chunks, json_stringn(chunk, len)) == 0 ? C_OK : C_ERR;
}

int notify_send_list(struct db *db, const char *channel, const json_t *items)
{
    if (!json_is_array(items))
        return C_ERR;
    if (json_array_size(items) == 0)
        return C_OK;
    json_t *chunks = json_array();
    if (chunks == NULL)
        return C_ERR;
    char chunk[NOTIFY_PAYLOAD_MAX];
    size_t len = 0;
    size_t i;
    const json_t *item;
    int rc = C_OK;
    json_array_foreach(items, i, item)
    {
        const char *s = json_string_value(item);
        size_t n = s != NULL ? strlen(s) : 0;
        if (s == NULL || n == 0 || n > NOTIFY_PAYLOAD_MAX || strchr(s, ',') != NULL) {
            rc = C_ERR;
            break;
        }
        if (len > 0 && len + 1 + n > NOTIFY_PAYLOAD_MAX) {
            if (notify_push_chunk(chunks, chunk, len) != C_OK) {
                rc = C_ERR;
                break;
            }
            len = 0;
        }
        if (len > 0)
            chunk[len++] = ',';
        memcpy(chunk + len, s, n);
        len += n;
    }
    if (rc == C_OK && len > 0)
        rc = notify_push_chunk(chunks, chunk, len);
    char *text = rc == C_OK ? json_dumps(chunks, JSON_COMPACT) : NULL;
    json_decref(chunks);
    if (text == NULL)
        return C_ERR;
    /* One round trip whatever the number of chunks. */
    const char *params[2] = {channel, text};
    rc = db_exec_command(db, "SELECT pg_notify($1, c) FROM jsonb_array_elements_text($2::jsonb) c",
                         2, params);
    free(text);
    return rc;
}

int notify_listen(struct db *db, const char *channel)
{
    if (db_ensure(db) != C_OK)
        return C_ERR;
    /* LISTEN takes an identifier, not a parameter: quote it with libpq. */
    char *ident = PQescapeIdentifier(db->conn, channel, strlen(channel));
    if (ident == NULL)
        return C_ERR;
    size_t len = strlen("LISTEN ") + strlen(ident) + 1;
    char *sql = malloc(len);
    if (sql == NULL) {
        PQfreemem(ident);
        return C_ERR;
    }
    snprintf(sql, len, "LISTEN %s", ident);
    PQfreemem(ident);
    int rc = db_exec_command(db, sql, 0, NULL);
    free(sql);
    return rc;
}

static int notify_drain(struct db *db)
{
    int n = 0;
    PGnotify *note;
    while ((note = PQnotifies(db->conn)) != NULL) {
        PQfreemem(note);
        n++;
    }
    return n;
}

/* Drops a connection that broke while we waited on it. */
static int notify_fail(struct db *db, const char *what)
{
    log_warn("postgres connection lost while waiting for notifications: %s: %s", what,
             PQerrorMessage(db->conn));
    db_disconnect(db);
    return C_ERR;
}

int notify_wait(struct db *db, long timeout_ms, int *received)
{
    *received = 0;
    if (!db_is_connected(db))
        return C_ERR;
    /* Notifications read along with an earlier result wait in libpq's queue;
     * the socket would not show them. */
    int n = notify_drain(db);
    if (n > 0) {
        *received = n;
        return C_OK;
    }
    struct pollfd pfd = {.fd = PQsocket(db->conn), .events = POLLIN};
    if (pfd.fd < 0)
        return notify_fail(db, "no socket");
    int ready = poll(&pfd, 1, timeout_ms < 0 ? 0 : (int)timeout_ms);
    if (ready < 0)
        return errno == EINTR ? C_OK : notify_fail(db, "poll");
    if (ready == 0)
        return C_OK;
    /* Readable: notifications, or end of file when the server went away. */
    if (PQconsumeInput(db->conn) == 0 || PQstatus(db->conn) != CONNECTION_OK)
        return notify_fail(db, "read");
    *received = notify_drain(db);
    return C_OK;
}
