#include "apply.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "outbox.h"
#include "result.h"
#include "session.h"
#include "uuid.h"

/* What decoding one message gave. */
enum apply_decoded { APPLY_RECORD, APPLY_MALFORMED, APPLY_FAILED };

static void apply_log_malformed(const struct apply_origin *o, const char *reason)
{
    log_fields(LOG_ERROR,
               json_pack("{ss si sI}", "topic", o->topic, "partition", (int)o->partition, "offset",
                         (json_int_t)o->offset),
               "skipping malformed command: %s", reason);
}

/* An optional CloudEvents extension attribute: absent/null or a string. */
static int apply_optional_string(const json_t *cmd, const char *name, const char **out)
{
    const json_t *v = json_object_get(cmd, name);
    *out = NULL;
    if (v == NULL || json_is_null(v))
        return C_OK;
    if (!json_is_string(v))
        return C_ERR;
    *out = json_string_value(v);
    return C_OK;
}

/* Builds the insert record of a decoded session: its REST object plus what the
 * insert needs besides. NULL when out of memory. */
static json_t *apply_record(const struct session *s, const char *public_base_url,
                            const char *idempotency_key, const char *request_hash)
{
    char event_id[UUID_STR_LEN];
    if (uuid_v7_string(event_id) != C_OK)
        return NULL;
    /* The event time is the creation time: the event describes the session as
     * created, whenever this worker gets to apply it. */
    json_t *event =
        session_event(s, public_base_url, SESSION_EVENT_CREATED, event_id, s->created_at);
    char *event_text = event != NULL ? json_dumps(event, JSON_COMPACT) : NULL;
    json_decref(event);
    json_t *rec = event_text != NULL ? session_to_json(s, public_base_url) : NULL;
    if (rec == NULL ||
        json_object_set_new(rec, "idempotency_key",
                            idempotency_key != NULL ? json_string(idempotency_key) : json_null()) !=
            0 ||
        json_object_set_new(rec, "request_hash",
                            request_hash != NULL ? json_string(request_hash) : json_null()) != 0 ||
        json_object_set_new(rec, "event_id", json_string(event_id)) != 0 ||
        json_object_set_new(rec, "event", json_string(event_text)) != 0) {
        json_decref(rec);
        free(event_text);
        return NULL;
    }
    free(event_text);
    return rec;
}

static enum apply_decoded apply_decode(const rd_kafka_message_t *m, const struct apply_origin *o,
                                       const char *public_base_url, json_t **out)
{
    if (m->payload == NULL || m->len == 0) {
        apply_log_malformed(o, "empty message");
        return APPLY_MALFORMED;
    }
    json_error_t jerr;
    json_t *cmd = json_loadb(m->payload, m->len, 0, &jerr);
    if (!json_is_object(cmd)) {
        apply_log_malformed(o, cmd == NULL ? jerr.text : "not a JSON object");
        json_decref(cmd);
        return APPLY_MALFORMED;
    }
    enum apply_decoded result = APPLY_MALFORMED;
    const char *type = json_string_value(json_object_get(cmd, "type"));
    const char *idempotency_key, *request_hash;
    char err[256];
    struct session s;
    if (type == NULL || strcmp(type, SESSION_COMMAND_CREATE) != 0) {
        char reason[160];
        snprintf(reason, sizeof(reason), "unknown command type \"%.100s\"", type ? type : "(none)");
        apply_log_malformed(o, reason);
    } else if (apply_optional_string(cmd, "idempotencykey", &idempotency_key) != C_OK ||
               apply_optional_string(cmd, "requesthash", &request_hash) != C_OK) {
        apply_log_malformed(o, "idempotencykey or requesthash is not a string");
    } else if (session_from_json(json_object_get(cmd, "data"), &s, err, sizeof(err)) != C_OK) {
        char reason[300];
        snprintf(reason, sizeof(reason), "data is not a session: %s", err);
        apply_log_malformed(o, reason);
    } else {
        *out = apply_record(&s, public_base_url, idempotency_key, request_hash);
        result = *out != NULL ? APPLY_RECORD : APPLY_FAILED;
        session_free(&s);
    }
    json_decref(cmd);
    return result;
}

int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url)
{
    struct apply_batch nb = {json_array(), calloc(n > 0 ? n : 1, sizeof(struct apply_origin)), 0,
                             0};
    if (nb.records == NULL || nb.origins == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        struct apply_origin o = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
        json_t *rec = NULL;
        switch (apply_decode(m, &o, public_base_url, &rec)) {
        case APPLY_RECORD:
            if (json_array_append_new(nb.records, rec) != 0)
                goto fail;
            nb.origins[nb.count++] = o;
            break;
        case APPLY_MALFORMED:
            nb.malformed++;
            break;
        case APPLY_FAILED:
            goto fail;
        }
    }
    *b = nb;
    return C_OK;
fail:
    json_decref(nb.records);
    free(nb.origins);
    return C_ERR;
}

void apply_batch_free(struct apply_batch *b)
{
    json_decref(b->records);
    free(b->origins);
    memset(b, 0, sizeof(*b));
}

/* Errors that the data of a record causes (data exceptions, integrity
 * constraint violations, program limits): retrying cannot fix them, so the
 * record is skipped. Anything else (connection lost, server shutting down,
 * serialization failure) is retried with the whole batch. */
static bool apply_is_data_error(const char *sqlstate)
{
    return strncmp(sqlstate, "22", 2) == 0 || strncmp(sqlstate, "23", 2) == 0 ||
           strncmp(sqlstate, "54", 2) == 0;
}

/* Why PostgreSQL refused one record. */
struct apply_refusal {
    bool skipped;
    char sqlstate[6];
    char message[256];
};

/* NOTIFY for the applied records (refused ones left out), and wake the relay
 * if events were written. */
static int apply_notify(struct db *db, const struct apply_batch *b,
                        const struct apply_refusal *refused, long inserted)
{
    json_t *ids = json_array();
    json_t *seen = json_object(); /* a replayed command may be in the batch twice */
    int rc = ids != NULL && seen != NULL ? C_OK : C_ERR;
    for (size_t i = 0; rc == C_OK && i < b->count; i++) {
        if (refused != NULL && refused[i].skipped)
            continue;
        json_t *id = json_object_get(json_array_get(b->records, i), "checkout_session_id");
        const char *text = json_string_value(id);
        if (text == NULL || json_object_get(seen, text) != NULL)
            continue;
        if (json_object_set_new(seen, text, json_true()) != 0 || json_array_append(ids, id) != 0)
            rc = C_ERR;
    }
    if (rc == C_OK)
        rc = notify_send_list(db, NOTIFY_SESSION_APPLIED, ids);
    json_decref(seen);
    json_decref(ids);
    /* Replays insert no events: nothing for the relay to do. */
    if (rc == C_OK && inserted > 0)
        rc = outbox_wake(db);
    return rc;
}

/* The common case: the whole batch in one statement. data_error (6 bytes)
 * gets the SQLSTATE of a refusal caused by some record, "" for a failure to
 * retry as is. */
static int apply_commit_all(struct db *db, const struct apply_batch *b, long *inserted,
                            char *data_error)
{
    data_error[0] = '\0';
    if (db_begin(db) != C_OK)
        return C_ERR;
    long n = 0;
    if (session_store_insert_batch(db, b->records, &n) != C_OK) {
        if (apply_is_data_error(db_last_sqlstate(db)))
            snprintf(data_error, 6, "%s", db_last_sqlstate(db));
        db_rollback(db);
        return C_ERR;
    }
    if (apply_notify(db, b, NULL, n) != C_OK || db_commit(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    *inserted = n;
    return C_OK;
}

/* After a data error: each record under its own savepoint, still one
 * transaction, so the bad ones can be left out. refused has b->count slots. */
static int apply_commit_each(struct db *db, const struct apply_batch *b,
                             struct apply_refusal *refused, long *inserted)
{
    if (db_begin(db) != C_OK)
        return C_ERR;
    long total = 0;
    for (size_t i = 0; i < b->count; i++) {
        json_t *one = json_array();
        if (one == NULL || json_array_append(one, json_array_get(b->records, i)) != 0 ||
            db_exec_command(db, "SAVEPOINT apply_record", 0, NULL) != C_OK) {
            json_decref(one);
            goto fail;
        }
        long n = 0;
        int rc = session_store_insert_batch(db, one, &n);
        json_decref(one);
        if (rc == C_OK) {
            total += n;
            continue;
        }
        if (!apply_is_data_error(db_last_sqlstate(db)))
            goto fail;
        refused[i].skipped = true;
        snprintf(refused[i].sqlstate, sizeof(refused[i].sqlstate), "%s", db_last_sqlstate(db));
        snprintf(refused[i].message, sizeof(refused[i].message), "%s", db->last_error);
        if (db_exec_command(db, "ROLLBACK TO SAVEPOINT apply_record", 0, NULL) != C_OK)
            goto fail;
    }
    if (apply_notify(db, b, refused, total) != C_OK || db_commit(db) != C_OK)
        goto fail;
    *inserted = total;
    return C_OK;
fail:
    db_rollback(db);
    return C_ERR;
}

int apply_commit(struct db *db, const struct apply_batch *b, struct apply_stats *stats)
{
    if (b->count == 0) {
        *stats = (struct apply_stats){0, 0, 0};
        return C_OK;
    }
    long inserted = 0;
    char data_error[6];
    if (apply_commit_all(db, b, &inserted, data_error) == C_OK) {
        *stats = (struct apply_stats){inserted, (long)b->count - inserted, 0};
        return C_OK;
    }
    if (data_error[0] == '\0')
        return C_ERR;
    log_warn(
        "a command in the batch was refused by postgres (sqlstate %s); applying record by record",
        data_error);
    struct apply_refusal *refused = calloc(b->count, sizeof(*refused));
    if (refused == NULL)
        return C_ERR;
    if (apply_commit_each(db, b, refused, &inserted) != C_OK) {
        free(refused);
        return C_ERR;
    }
    long rejected = 0;
    for (size_t i = 0; i < b->count; i++) {
        if (!refused[i].skipped)
            continue;
        rejected++;
        const struct apply_origin *o = &b->origins[i];
        const char *id = json_string_value(
            json_object_get(json_array_get(b->records, i), "checkout_session_id"));
        /* Logged only now that the skip is committed, so a retried batch logs it once. */
        log_fields(LOG_ERROR,
                   json_pack("{ss si sI ss ss}", "topic", o->topic, "partition", (int)o->partition,
                             "offset", (json_int_t)o->offset, "session_id", id ? id : "",
                             "sqlstate", refused[i].sqlstate),
                   "skipping command refused by postgres as invalid data: %s", refused[i].message);
    }
    free(refused);
    *stats = (struct apply_stats){inserted, (long)b->count - inserted - rejected, rejected};
    return C_OK;
}
