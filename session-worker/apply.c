#include "apply.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "infra/notify.h"
#include "model/outbox.h"
#include "core/result.h"
#include "model/session.h"
#include "core/uuid.h"

/* What decoding one message gave. */
enum apply_decoded { APPLY_RECORD, APPLY_TRANSITION, APPLY_MALFORMED, APPLY_FAILED };

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

/* A create command: its session, into an insert record. */
static enum apply_decoded apply_decode_create(const json_t *cmd, const struct apply_origin *o,
                                              const char *public_base_url, json_t **out)
{
    const char *idempotency_key, *request_hash;
    char err[256];
    struct session s;
    if (apply_optional_string(cmd, "idempotencykey", &idempotency_key) != C_OK ||
        apply_optional_string(cmd, "requesthash", &request_hash) != C_OK) {
        apply_log_malformed(o, "idempotencykey or requesthash is not a string");
        return APPLY_MALFORMED;
    }
    if (session_from_json(json_object_get(cmd, "data"), &s, err, sizeof(err)) != C_OK) {
        char reason[300];
        snprintf(reason, sizeof(reason), "data is not a session: %s", err);
        apply_log_malformed(o, reason);
        return APPLY_MALFORMED;
    }
    *out = apply_record(&s, public_base_url, idempotency_key, request_hash);
    session_free(&s);
    /* The command's own id, for the commit notification (apply_notify);
     * the insert reads only the record's declared columns. */
    const char *command_id = json_string_value(json_object_get(cmd, "id"));
    if (*out != NULL && command_id != NULL &&
        json_object_set_new(*out, "command_id", json_string(command_id)) != 0) {
        json_decref(*out);
        *out = NULL;
    }
    return *out != NULL ? APPLY_RECORD : APPLY_FAILED;
}

/* A complete or expire command, with the event id its transition will write
 * (made once here so that every retry of the batch writes the same one). */
static enum apply_decoded apply_decode_transition(const json_t *cmd, enum transition_kind kind,
                                                  const struct apply_origin *o,
                                                  struct transition *out)
{
    char err[256];
    if (transition_decode(kind, json_object_get(cmd, "data"), out, err, sizeof(err)) != C_OK) {
        char reason[300];
        snprintf(reason, sizeof(reason), "invalid %s command: %s",
                 kind == TRANSITION_COMPLETE ? "complete" : "expire", err);
        apply_log_malformed(o, reason);
        return APPLY_MALFORMED;
    }
    if (uuid_v7_string(out->event_id) != C_OK) {
        transition_free(out);
        return APPLY_FAILED;
    }
    return APPLY_TRANSITION;
}

static enum apply_decoded apply_decode(const rd_kafka_message_t *m, const struct apply_origin *o,
                                       const char *public_base_url, json_t **record,
                                       struct transition *transition)
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
    enum apply_decoded result;
    enum transition_kind kind;
    const char *type = json_string_value(json_object_get(cmd, "type"));
    if (type != NULL && strcmp(type, SESSION_COMMAND_CREATE) == 0) {
        result = apply_decode_create(cmd, o, public_base_url, record);
    } else if (transition_kind_parse(type, &kind) == C_OK) {
        result = apply_decode_transition(cmd, kind, o, transition);
    } else {
        char reason[160];
        snprintf(reason, sizeof(reason), "unknown command type \"%.100s\"", type ? type : "(none)");
        apply_log_malformed(o, reason);
        result = APPLY_MALFORMED;
    }
    json_decref(cmd);
    return result;
}

int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url)
{
    size_t slots = n > 0 ? n : 1;
    struct apply_batch nb = {.records = json_array(),
                             .origins = calloc(slots, sizeof(struct apply_origin)),
                             .transitions = calloc(slots, sizeof(struct transition)),
                             .transition_origins = calloc(slots, sizeof(struct apply_origin)),
                             .public_base_url = public_base_url};
    if (nb.records == NULL || nb.origins == NULL || nb.transitions == NULL ||
        nb.transition_origins == NULL)
        goto fail;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        struct apply_origin o = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
        json_t *rec = NULL;
        switch (apply_decode(m, &o, public_base_url, &rec, &nb.transitions[nb.transition_count])) {
        case APPLY_RECORD:
            if (json_array_append_new(nb.records, rec) != 0)
                goto fail;
            nb.origins[nb.count++] = o;
            break;
        case APPLY_TRANSITION:
            nb.transition_origins[nb.transition_count++] = o;
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
    apply_batch_free(&nb);
    return C_ERR;
}

void apply_batch_free(struct apply_batch *b)
{
    json_decref(b->records);
    free(b->origins);
    for (size_t i = 0; i < b->transition_count; i++)
        transition_free(&b->transitions[i]);
    free(b->transitions);
    free(b->transition_origins);
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

/* Why PostgreSQL refused one command. */
struct apply_refusal {
    bool skipped;
    char sqlstate[6];
    char message[256];
};

/* What one attempt at the batch did. refused is NULL on the fast path, else
 * it has a slot per command: the creates (b->count) then the transitions. */
struct apply_run {
    json_t *inserted_ids; /* set of the created sessions' ids */
    long inserted;
    long completed;
    long expired;
    long ignored;
    struct apply_refusal *refused;
};

static bool apply_is_refused(const struct apply_run *run, size_t slot)
{
    return run->refused != NULL && run->refused[slot].skipped;
}

/* Adds id to ids unless seen: a replayed command may be in the batch twice,
 * and a create and its completion name the same session. */
static int apply_add_id(json_t *ids, json_t *seen, json_t *id)
{
    const char *text = json_string_value(id);
    if (text == NULL || json_object_get(seen, text) != NULL)
        return C_OK;
    if (json_object_set_new(seen, text, json_true()) != 0 || json_array_append(ids, id) != 0)
        return C_ERR;
    return C_OK;
}

/* NOTIFY for the applied creates (refused ones left out: there is no row to
 * read) and for every transition, applied or not (the waiting gateway reads
 * the row to learn the outcome); wake the relay if events were written. */
static int apply_notify(struct db *db, const struct apply_batch *b, const struct apply_run *run)
{
    json_t *ids = json_array();
    json_t *seen = json_object();
    json_t *creates = json_object(); /* session id -> create commands in the batch */
    int rc = ids != NULL && seen != NULL && creates != NULL ? C_OK : C_ERR;
    for (size_t i = 0; rc == C_OK && i < b->count; i++) {
        const char *text = json_string_value(
            json_object_get(json_array_get(b->records, i), "checkout_session_id"));
        if (text == NULL || apply_is_refused(run, i))
            continue;
        json_int_t n = json_integer_value(json_object_get(creates, text));
        rc = json_object_set_new(creates, text, json_integer(n + 1)) == 0 ? C_OK : C_ERR;
    }
    for (size_t i = 0; rc == C_OK && i < b->count; i++) {
        if (apply_is_refused(run, i))
            continue;
        json_t *record = json_array_get(b->records, i);
        json_t *id = json_object_get(record, "checkout_session_id");
        const char *text = json_string_value(id);
        if (text != NULL && json_object_get(run->inserted_ids, text) != NULL) {
            /* The gateway then answers 201 without reading the row back. With
             * several creates for the id in the batch (a key's retries, a
             * redelivery), which one the insert kept is not known here: no
             * command is named, and a waiting keyed request reads the row. */
            const char *command_id = json_string_value(json_object_get(record, "command_id"));
            bool one = json_integer_value(json_object_get(creates, text)) == 1;
            char marked[UUID_STR_LEN + 1 + UUID_STR_LEN];
            if (one && command_id != NULL && strlen(command_id) < UUID_STR_LEN)
                snprintf(marked, sizeof(marked), "%c%s%c%s", NOTIFY_INSERTED_MARK, text,
                         NOTIFY_COMMAND_SEPARATOR, command_id);
            else
                snprintf(marked, sizeof(marked), "%c%s", NOTIFY_INSERTED_MARK, text);
            json_t *m = json_string(marked);
            rc = m != NULL ? apply_add_id(ids, seen, m) : C_ERR;
            json_decref(m);
        } else {
            rc = apply_add_id(ids, seen, id);
        }
    }
    for (size_t i = 0; rc == C_OK && i < b->transition_count; i++) {
        json_t *id = json_string(b->transitions[i].session_id);
        rc = id != NULL ? apply_add_id(ids, seen, id) : C_ERR;
        json_decref(id);
    }
    if (rc == C_OK)
        rc = notify_send_list(db, NOTIFY_SESSION_APPLIED, ids);
    json_decref(creates);
    json_decref(seen);
    json_decref(ids);
    /* Replays and transitions whose guard failed write no events: nothing for
     * the relay to do. */
    if (rc == C_OK && run->inserted + run->completed + run->expired > 0)
        rc = outbox_wake(db);
    return rc;
}

/* Keeps why PostgreSQL refused the command in slot, if it is a data error.
 * C_ERR: some other failure, for the whole batch to be retried. */
static int apply_refuse(struct db *db, struct apply_run *run, size_t slot)
{
    if (!apply_is_data_error(db_last_sqlstate(db)))
        return C_ERR;
    struct apply_refusal *r = &run->refused[slot];
    r->skipped = true;
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", db_last_sqlstate(db));
    snprintf(r->message, sizeof(r->message), "%s", db->last_error);
    return db_exec_command(db, "ROLLBACK TO SAVEPOINT apply_record", 0, NULL);
}

/* The transitions, one by one in batch order, after the creates so that a
 * session created and completed in the same batch exists when its
 * completion runs. With run->refused, each under its own savepoint. */
static int apply_transitions(struct db *db, const struct apply_batch *b, struct apply_run *run)
{
    for (size_t i = 0; i < b->transition_count; i++) {
        const struct transition *t = &b->transitions[i];
        if (run->refused != NULL && db_exec_command(db, "SAVEPOINT apply_record", 0, NULL) != C_OK)
            return C_ERR;
        bool applied = false;
        if (transition_apply(db, t, b->public_base_url, &applied) != C_OK) {
            if (run->refused == NULL || apply_refuse(db, run, b->count + i) != C_OK)
                return C_ERR;
            continue;
        }
        if (!applied)
            run->ignored++;
        else if (t->kind == TRANSITION_COMPLETE)
            run->completed++;
        else
            run->expired++;
    }
    return C_OK;
}

/* The common case: all creates in one statement, then the transitions.
 * data_error (6 bytes) gets the SQLSTATE of a refusal caused by some
 * command, "" for a failure to retry as is. */
static int apply_commit_all(struct db *db, const struct apply_batch *b, struct apply_run *run,
                            char *data_error)
{
    data_error[0] = '\0';
    if (db_begin(db) != C_OK)
        return C_ERR;
    if ((b->count > 0 &&
         session_store_insert_batch(db, b->records, &run->inserted, run->inserted_ids) != C_OK) ||
        apply_transitions(db, b, run) != C_OK) {
        if (apply_is_data_error(db_last_sqlstate(db)))
            snprintf(data_error, 6, "%s", db_last_sqlstate(db));
        db_rollback(db);
        return C_ERR;
    }
    if (apply_notify(db, b, run) != C_OK || db_commit(db) != C_OK) {
        db_rollback(db);
        return C_ERR;
    }
    return C_OK;
}

/* After a data error: each command under its own savepoint, still one
 * transaction and the same order, so the bad ones can be left out. */
static int apply_commit_each(struct db *db, const struct apply_batch *b, struct apply_run *run)
{
    if (db_begin(db) != C_OK)
        return C_ERR;
    for (size_t i = 0; i < b->count; i++) {
        json_t *one = json_array();
        if (one == NULL || json_array_append(one, json_array_get(b->records, i)) != 0 ||
            db_exec_command(db, "SAVEPOINT apply_record", 0, NULL) != C_OK) {
            json_decref(one);
            goto fail;
        }
        long n = 0;
        int rc = session_store_insert_batch(db, one, &n, run->inserted_ids);
        json_decref(one);
        if (rc == C_OK)
            run->inserted += n;
        else if (apply_refuse(db, run, i) != C_OK)
            goto fail;
    }
    if (apply_transitions(db, b, run) != C_OK || apply_notify(db, b, run) != C_OK ||
        db_commit(db) != C_OK)
        goto fail;
    return C_OK;
fail:
    db_rollback(db);
    return C_ERR;
}

/* Logged only once the skip is committed, so a retried batch logs it once. */
static void apply_log_refusals(const struct apply_batch *b, const struct apply_run *run)
{
    for (size_t slot = 0; slot < b->count + b->transition_count; slot++) {
        if (!apply_is_refused(run, slot))
            continue;
        const struct apply_refusal *r = &run->refused[slot];
        const struct apply_origin *o;
        const char *id;
        if (slot < b->count) {
            o = &b->origins[slot];
            id = json_string_value(
                json_object_get(json_array_get(b->records, slot), "checkout_session_id"));
        } else {
            o = &b->transition_origins[slot - b->count];
            id = b->transitions[slot - b->count].session_id;
        }
        log_fields(LOG_ERROR,
                   json_pack("{ss si sI ss ss}", "topic", o->topic, "partition", (int)o->partition,
                             "offset", (json_int_t)o->offset, "session_id", id ? id : "",
                             "sqlstate", r->sqlstate),
                   "skipping command refused by postgres as invalid data: %s", r->message);
    }
}

int apply_commit(struct db *db, const struct apply_batch *b, struct apply_stats *stats)
{
    *stats = (struct apply_stats){0, 0, 0, 0, 0, 0};
    if (b->count == 0 && b->transition_count == 0)
        return C_OK;
    struct apply_run run = {json_object(), 0, 0, 0, 0, NULL};
    if (run.inserted_ids == NULL)
        return C_ERR;
    char data_error[6];
    if (apply_commit_all(db, b, &run, data_error) != C_OK) {
        json_decref(run.inserted_ids);
        if (data_error[0] == '\0')
            return C_ERR;
        log_warn("a command in the batch was refused by postgres (sqlstate %s); applying command "
                 "by command",
                 data_error);
        run = (struct apply_run){json_object(), 0, 0, 0, 0, NULL};
        run.refused = calloc(b->count + b->transition_count, sizeof(*run.refused));
        if (run.inserted_ids == NULL || run.refused == NULL ||
            apply_commit_each(db, b, &run) != C_OK) {
            json_decref(run.inserted_ids);
            free(run.refused);
            return C_ERR;
        }
        apply_log_refusals(b, &run);
    }
    json_decref(run.inserted_ids);
    long rejected_creates = 0, rejected = 0;
    for (size_t slot = 0; slot < b->count + b->transition_count; slot++) {
        if (apply_is_refused(&run, slot)) {
            rejected++;
            rejected_creates += slot < b->count;
        }
    }
    free(run.refused);
    *stats = (struct apply_stats){.inserted = run.inserted,
                                  .existing = (long)b->count - run.inserted - rejected_creates,
                                  .completed = run.completed,
                                  .expired = run.expired,
                                  .ignored = run.ignored,
                                  .rejected = rejected};
    return C_OK;
}
