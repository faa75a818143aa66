#include "apply.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "core/log.h"
#include "core/result.h"
#include "infra/notify.h"
#include "model/price.h"
#include "model/coupon.h"
#include "model/customer.h"
#include "model/product.h"
#include "model/subscription.h"

/* ---- decoding -------------------------------------------------------------- */

/* What decoding one message gave. */
enum apply_decoded { APPLY_TAKEN, APPLY_MALFORMED, APPLY_FAILED };

static enum apply_decoded apply_malformed(struct apply_batch *b, const struct apply_origin *o,
                                          const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs why, and keeps it in b->malformed_reason for the dead letter. */
static enum apply_decoded apply_malformed(struct apply_batch *b, const struct apply_origin *o,
                                          const char *fmt, ...)
{
    char *reason = b->malformed_reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reason, sizeof(b->malformed_reason), fmt, ap);
    va_end(ap);
    log_fields(LOG_ERROR,
               json_pack("{ss si sI}", "topic", o->topic, "partition", (int)o->partition, "offset",
                         (json_int_t)o->offset),
               "skipping malformed command: %s", reason);
    return APPLY_MALFORMED;
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

/* Spreads the random tail of a UUIDv7 over the table's bits. */
static size_t apply_key_hash(const struct uuid *key)
{
    uint64_t a, b;
    memcpy(&a, key->bytes, sizeof(a));
    memcpy(&b, key->bytes + 8, sizeof(b));
    uint64_t h = a ^ b;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return (size_t)h;
}

/* The first create of the session key in b, or SIZE_MAX; *slot is where it
 * is in the index, or where it would go. */
static size_t apply_find_create(const struct apply_batch *b, const struct uuid *key, size_t *slot)
{
    size_t i = apply_key_hash(key) & b->index_mask;
    while (b->index[i] != 0) {
        size_t c = b->index[i] - 1;
        if (memcmp(b->creates[c].key.bytes, key->bytes, sizeof(key->bytes)) == 0) {
            *slot = i;
            return c;
        }
        i = (i + 1) & b->index_mask;
    }
    *slot = i;
    return SIZE_MAX;
}

/* The created event of c (a first create) at the end of b->events, then a
 * NUL. C_ERR: b->events as it was. */
static int apply_write_created_event(struct apply_batch *b, struct apply_create *c)
{
    if (uuid_v7_string(c->event_id) != C_OK)
        return C_ERR;
    size_t mark = json_writer_begin(&b->events);
    /* The event time is the creation time: the event describes the session as
     * created, whenever this worker gets to apply it. */
    if (session_event_write(&b->events, &c->session, b->public_base_url, SESSION_EVENT_CREATED,
                            c->event_id, c->session.created_at) != C_OK)
        return C_ERR;
    json_writer_raw(&b->events, "", 1);
    if (json_writer_end(&b->events, mark) != C_OK)
        return C_ERR;
    c->event = mark;
    return C_OK;
}

/* A create command: its session, with what the command carries besides. */
static enum apply_decoded apply_decode_create(struct apply_batch *b, const json_t *cmd,
                                              const struct apply_origin *o)
{
    const char *idempotency_key, *request_hash, *page_secret;
    if (apply_optional_string(cmd, "idempotencykey", &idempotency_key) != C_OK ||
        apply_optional_string(cmd, "requesthash", &request_hash) != C_OK ||
        apply_optional_string(cmd, "pagesecret", &page_secret) != C_OK)
        return apply_malformed(b, o, "idempotencykey, requesthash or pagesecret is not a string");
    if (page_secret != NULL && !session_page_secret_is_valid(page_secret))
        return apply_malformed(b, o, "pagesecret is not a page secret");
    if (request_hash != NULL && strlen(request_hash) >= SESSION_REQUEST_HASH_LEN)
        return apply_malformed(b, o, "requesthash is longer than %d characters",
                               SESSION_REQUEST_HASH_LEN - 1);
    struct apply_create c;
    memset(&c, 0, sizeof(c));
    struct error err = ERROR_INIT;
    if (session_from_json(json_object_get(cmd, "data"), &c.session, &err) != C_OK)
        return apply_malformed(b, o, "data is not a session: %s", err.message);
    int parsed = uuid_parse(c.session.id, &c.key);
    assert(parsed == C_OK); /* session_from_json checked it */
    (void)parsed;
    c.origin = *o;
    if (request_hash != NULL)
        snprintf(c.session.request_hash, sizeof(c.session.request_hash), "%s", request_hash);
    if (page_secret != NULL)
        snprintf(c.session.page_secret, sizeof(c.session.page_secret), "%s", page_secret);
    if (idempotency_key != NULL) {
        c.session.idempotency_key = strdup(idempotency_key);
        if (c.session.idempotency_key == NULL)
            goto fail;
    }
    size_t slot;
    c.first = apply_find_create(b, &c.key, &slot);
    if (c.first == SIZE_MAX) {
        c.first = b->create_count;
        if (apply_write_created_event(b, &c) != C_OK)
            goto fail;
        b->index[slot] = b->create_count + 1;
    }
    /* The command's own id, for the commit notification (apply_notified_ids). */
    const char *command_id = json_string_value(json_object_get(cmd, "id"));
    if (command_id != NULL && strlen(command_id) < sizeof(c.command_id))
        memcpy(c.command_id, command_id, strlen(command_id) + 1);
    b->creates[b->create_count++] = c;
    return APPLY_TAKEN;
fail:
    session_free(&c.session);
    return APPLY_FAILED;
}

/* A complete or expire command, with the event id its transition will write
 * (made once here so that every retry of the batch writes the same one). */
static enum apply_decoded apply_decode_transition(struct apply_batch *b, const json_t *cmd,
                                                  enum transition_command_kind kind,
                                                  const struct apply_origin *o)
{
    struct transition_command t;
    struct error err = ERROR_INIT;
    if (transition_command_decode(kind, json_object_get(cmd, "data"), &t, &err) != C_OK)
        return apply_malformed(b, o, "invalid %s command: %s",
                               kind == TRANSITION_COMMAND_COMPLETE ? "complete"
                               : kind == TRANSITION_COMMAND_EXPIRE ? "expire"
                                                                   : "payment",
                               err.message);
    if (uuid_v7_string(t.event_id) != C_OK || uuid_v7_string(t.payment_event_id) != C_OK) {
        transition_command_free(&t);
        return APPLY_FAILED;
    }
    const char *command_id = json_string_value(json_object_get(cmd, "id"));
    if (command_id != NULL && uuid_is_valid(command_id))
        snprintf(t.command_id, sizeof(t.command_id), "%s", command_id);
    b->transitions[b->transition_count] = t;
    b->transition_origins[b->transition_count++] = *o;
    return APPLY_TAKEN;
}

/* A catalog command (a create, update or delete of a stored resource), with the id of
 * the event it will write, made once here like the transitions'. */
static enum apply_decoded apply_decode_stored(struct apply_batch *b, const json_t *cmd,
                                              const struct resource_store *store,
                                              enum resource_store_op op,
                                              const struct apply_origin *o)
{
    if (b->stored == NULL) {
        /* Only a batch that has catalog commands pays for their room. */
        b->stored = calloc(b->capacity > 0 ? b->capacity : 1, sizeof(*b->stored));
        if (b->stored == NULL)
            return APPLY_FAILED;
    }
    struct apply_stored c;
    memset(&c, 0, sizeof(c));
    struct error err = ERROR_INIT;
    if (resource_store_command_decode(store, op, cmd, &c.command, &err) != C_OK) {
        /* An action's type is its own (resource_store_command_type has none). */
        const char *type = op == RESOURCE_STORE_ACTION
                               ? json_string_value(json_object_get(cmd, "type"))
                               : resource_store_command_type(store, op);
        return apply_malformed(b, o, "invalid %s command: %s", type != NULL ? type : "(none)",
                               err.message);
    }
    if (uuid_v7_string(c.event_id) != C_OK) {
        resource_store_command_free(&c.command);
        return APPLY_FAILED;
    }
    c.origin = *o;
    for (size_t i = 0; i < b->stored_count && !c.replay; i++)
        c.replay = strcasecmp(b->stored[i].command.command_id, c.command.command_id) == 0;
    b->stored[b->stored_count++] = c;
    return APPLY_TAKEN;
}

/* ---- the command table ---------------------------------------------------------- */

enum apply_family {
    APPLY_SESSION_CREATE, /* inserted all at once, first in the transaction */
    APPLY_TRANSITION,     /* then one by one in message order */
    APPLY_STORED,         /* then one by one in message order, each with its outcome */
};

/* Every command the worker applies, by CloudEvents type: a type is one entry.
 * The family says how it is decoded and applied (the session's creates in one
 * insert, transitions by transition_command_apply, catalog commands by
 * resource_store_command_apply); the rest of an entry is its family's
 * argument. */
struct apply_command {
    const char *type;
    enum apply_family family;
    enum transition_command_kind transition; /* APPLY_TRANSITION */
    const struct resource_store *store;      /* APPLY_STORED */
    enum resource_store_op op;               /* APPLY_STORED */
};

static const struct apply_command apply_commands[] = {
    {.type = SESSION_COMMAND_CREATE, .family = APPLY_SESSION_CREATE},
    {.type = SESSION_COMMAND_COMPLETE,
     .family = APPLY_TRANSITION,
     .transition = TRANSITION_COMMAND_COMPLETE},
    {.type = SESSION_COMMAND_EXPIRE,
     .family = APPLY_TRANSITION,
     .transition = TRANSITION_COMMAND_EXPIRE},
    {.type = SESSION_COMMAND_PAYMENT,
     .family = APPLY_TRANSITION,
     .transition = TRANSITION_COMMAND_PAYMENT},
    {.type = PRODUCT_COMMAND_CREATE,
     .family = APPLY_STORED,
     .store = &product_store,
     .op = RESOURCE_STORE_CREATE},
    {.type = PRODUCT_COMMAND_UPDATE,
     .family = APPLY_STORED,
     .store = &product_store,
     .op = RESOURCE_STORE_UPDATE},
    {.type = PRICE_COMMAND_CREATE,
     .family = APPLY_STORED,
     .store = &price_store,
     .op = RESOURCE_STORE_CREATE},
    {.type = PRICE_COMMAND_UPDATE,
     .family = APPLY_STORED,
     .store = &price_store,
     .op = RESOURCE_STORE_UPDATE},
    {.type = COUPON_COMMAND_CREATE,
     .family = APPLY_STORED,
     .store = &coupon_store,
     .op = RESOURCE_STORE_CREATE},
    {.type = COUPON_COMMAND_UPDATE,
     .family = APPLY_STORED,
     .store = &coupon_store,
     .op = RESOURCE_STORE_UPDATE},
    {.type = SUBSCRIPTION_COMMAND_CANCEL,
     .family = APPLY_STORED,
     .store = &subscription_store,
     .op = RESOURCE_STORE_ACTION},
    {.type = CUSTOMER_COMMAND_CREATE,
     .family = APPLY_STORED,
     .store = &customer_store,
     .op = RESOURCE_STORE_CREATE},
    {.type = CUSTOMER_COMMAND_UPDATE,
     .family = APPLY_STORED,
     .store = &customer_store,
     .op = RESOURCE_STORE_UPDATE},
    {.type = CUSTOMER_COMMAND_DELETE,
     .family = APPLY_STORED,
     .store = &customer_store,
     .op = RESOURCE_STORE_DELETE},
};

static const struct apply_command *apply_command_find(const char *type)
{
    for (size_t i = 0; type != NULL && i < sizeof(apply_commands) / sizeof(apply_commands[0]);
         i++) {
        if (strcmp(apply_commands[i].type, type) == 0)
            return &apply_commands[i];
    }
    return NULL;
}

static enum apply_decoded apply_decode(struct apply_batch *b, const void *payload, size_t len,
                                       const struct apply_origin *o)
{
    if (payload == NULL || len == 0)
        return apply_malformed(b, o, "empty message");
    json_error_t jerr;
    json_t *cmd = json_loadb(payload, len, 0, &jerr);
    if (!json_is_object(cmd)) {
        json_decref(cmd);
        return apply_malformed(b, o, "%s", cmd == NULL ? jerr.text : "not a JSON object");
    }
    enum apply_decoded result;
    const char *type = json_string_value(json_object_get(cmd, "type"));
    const struct apply_command *entry = apply_command_find(type);
    if (entry == NULL)
        result = apply_malformed(b, o, "unknown command type \"%.100s\"", type ? type : "(none)");
    else if (entry->family == APPLY_SESSION_CREATE)
        result = apply_decode_create(b, cmd, o);
    else if (entry->family == APPLY_TRANSITION)
        result = apply_decode_transition(b, cmd, entry->transition, o);
    else
        result = apply_decode_stored(b, cmd, entry->store, entry->op, o);
    json_decref(cmd);
    return result;
}

int apply_batch_init(struct apply_batch *b, size_t capacity, const char *public_base_url)
{
    size_t slots = capacity > 0 ? capacity : 1;
    size_t table = 2;
    while (table < 2 * slots)
        table *= 2;
    struct apply_batch nb = {.creates = calloc(slots, sizeof(struct apply_create)),
                             .transitions = calloc(slots, sizeof(struct transition_command)),
                             .transition_origins = calloc(slots, sizeof(struct apply_origin)),
                             .capacity = capacity,
                             .public_base_url = public_base_url,
                             .events = JSON_WRITER_INIT,
                             .index = calloc(table, sizeof(size_t)),
                             .index_mask = table - 1};
    if (nb.creates == NULL || nb.transitions == NULL || nb.transition_origins == NULL ||
        nb.index == NULL) {
        apply_batch_free(&nb);
        return C_ERR;
    }
    *b = nb;
    return C_OK;
}

int apply_batch_add(struct apply_batch *b, const void *payload, size_t len,
                    const struct apply_origin *origin)
{
    assert(b->create_count + b->transition_count + b->stored_count + b->malformed < b->capacity);
    switch (apply_decode(b, payload, len, origin)) {
    case APPLY_TAKEN:
        return C_OK;
    case APPLY_MALFORMED:
        b->malformed++;
        return C_OK;
    case APPLY_FAILED:
        break;
    }
    return C_ERR;
}

void apply_batch_free(struct apply_batch *b)
{
    for (size_t i = 0; i < b->create_count; i++)
        session_free(&b->creates[i].session);
    free(b->creates);
    for (size_t i = 0; i < b->transition_count; i++)
        transition_command_free(&b->transitions[i]);
    free(b->transitions);
    free(b->transition_origins);
    for (size_t i = 0; i < b->stored_count; i++)
        resource_store_command_free(&b->stored[i].command);
    free(b->stored);
    json_writer_free(&b->events);
    free(b->index);
    free(b->malformed_index);
    free(b->malformed_reasons);
    memset(b, 0, sizeof(*b));
}

int apply_prepare(struct apply_batch *b, rd_kafka_message_t *const *msgs, size_t n,
                  const char *public_base_url)
{
    struct apply_batch nb;
    if (apply_batch_init(&nb, n, public_base_url) != C_OK)
        return C_ERR;
    for (size_t i = 0; i < n; i++) {
        const rd_kafka_message_t *m = msgs[i];
        struct apply_origin o = {rd_kafka_topic_name(m->rkt), m->partition, m->offset};
        size_t malformed = nb.malformed;
        if (apply_batch_add(&nb, m->payload, m->len, &o) != C_OK) {
            apply_batch_free(&nb);
            return C_ERR;
        }
        if (nb.malformed == malformed)
            continue;
        if (nb.malformed_index == NULL) {
            nb.malformed_index = calloc(n, sizeof(*nb.malformed_index));
            nb.malformed_reasons = calloc(n, sizeof(*nb.malformed_reasons));
            if (nb.malformed_index == NULL || nb.malformed_reasons == NULL) {
                apply_batch_free(&nb);
                return C_ERR;
            }
        }
        nb.malformed_index[malformed] = i;
        memcpy(nb.malformed_reasons[malformed], nb.malformed_reason, sizeof(nb.malformed_reason));
    }
    *b = nb;
    return C_OK;
}

/* ---- committing ------------------------------------------------------------ */

/* Errors that the data of a command causes (data exceptions, integrity
 * constraint violations, program limits): retrying cannot fix them, so the
 * command is skipped. Anything else (connection lost, server shutting down,
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
 * it has a slot per command: the creates (b->create_count), the transitions,
 * then the catalog commands; a replayed create shares its first's slot. */
struct apply_run {
    bool *inserted; /* per create; set for first ones */
    long inserted_count;
    long completed;
    long expired;
    long payments;
    long ignored;
    struct apply_refusal *refused;
    struct outbox_batch events;
    /* Catalog commands: whether each inserted its object, and the outcomes
     * of those applied in this attempt (outcome_count of them). */
    bool *stored_inserted;
    struct command_outcome *outcomes;
    size_t outcome_count;
    long stored;
    long stored_refused;
};

static bool apply_is_refused(const struct apply_run *run, size_t slot)
{
    return run->refused != NULL && run->refused[slot].skipped;
}

static bool apply_create_refused(const struct apply_batch *b, const struct apply_run *run, size_t i)
{
    return apply_is_refused(run, b->creates[i].first);
}

/* Keeps why the store refused the command in slot, if it is a data error,
 * and goes back to the savepoint. C_ERR: some other failure, for the whole
 * batch to be retried. */
static int apply_refuse(const struct apply_store *store, struct apply_run *run, size_t slot)
{
    const char *sqlstate = store->sqlstate(store->ctx);
    if (!apply_is_data_error(sqlstate))
        return C_ERR;
    struct apply_refusal *r = &run->refused[slot];
    r->skipped = true;
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", sqlstate);
    snprintf(r->message, sizeof(r->message), "%s", store->error(store->ctx));
    return store->step(store->ctx, APPLY_ROLLBACK_TO);
}

/* The created events of the sessions this attempt inserted, in batch order. */
static int apply_add_created_events(const struct apply_batch *b, struct apply_run *run)
{
    for (size_t i = 0; i < b->create_count; i++) {
        const struct apply_create *c = &b->creates[i];
        if (c->first != i || !run->inserted[i])
            continue;
        struct outbox_event ev = {c->event_id,
                                  c->session.id,
                                  c->session.organization_id,
                                  c->session.environment,
                                  SESSION_EVENT_CREATED,
                                  b->events.buf + c->event};
        if (outbox_batch_add(&run->events, &ev) != C_OK)
            return C_ERR;
        run->inserted_count++;
    }
    return C_OK;
}

/* Every first create in one insert (the fast path). */
static int apply_insert_all(const struct apply_store *store, const struct apply_batch *b,
                            struct apply_run *run)
{
    if (b->create_count == 0)
        return C_OK;
    const struct session **sessions = calloc(b->create_count, sizeof(*sessions));
    size_t *which = calloc(b->create_count, sizeof(*which));
    bool *inserted = calloc(b->create_count, sizeof(*inserted));
    int rc = sessions != NULL && which != NULL && inserted != NULL ? C_OK : C_ERR;
    size_t n = 0;
    for (size_t i = 0; rc == C_OK && i < b->create_count; i++) {
        if (b->creates[i].first == i) {
            which[n] = i;
            sessions[n++] = &b->creates[i].session;
        }
    }
    if (rc == C_OK)
        rc = store->insert(store->ctx, sessions, n, inserted);
    for (size_t k = 0; rc == C_OK && k < n; k++)
        run->inserted[which[k]] = inserted[k];
    free(sessions);
    free(which);
    free(inserted);
    return rc;
}

/* Each first create in an insert of its own, under a savepoint, so that the
 * ones refused as invalid data can be left out. */
static int apply_insert_each(const struct apply_store *store, const struct apply_batch *b,
                             struct apply_run *run)
{
    for (size_t i = 0; i < b->create_count; i++) {
        if (b->creates[i].first != i)
            continue;
        const struct session *one = &b->creates[i].session;
        if (store->step(store->ctx, APPLY_SAVEPOINT) != C_OK)
            return C_ERR;
        if (store->insert(store->ctx, &one, 1, &run->inserted[i]) != C_OK &&
            apply_refuse(store, run, i) != C_OK)
            return C_ERR;
    }
    return C_OK;
}

/* The transitions, one by one in batch order, after the creates so that a
 * session created and completed in the same batch exists when its
 * completion runs. With run->refused, each under its own savepoint. */
static int apply_transitions(const struct apply_store *store, const struct apply_batch *b,
                             struct apply_run *run)
{
    for (size_t i = 0; i < b->transition_count; i++) {
        const struct transition_command *t = &b->transitions[i];
        if (run->refused != NULL && store->step(store->ctx, APPLY_SAVEPOINT) != C_OK)
            return C_ERR;
        bool applied = false;
        /* A transition may add several events (a completion's new customer's,
         * then its own): a refused one takes back those it added. */
        size_t events_len = run->events.len, events_count = run->events.count;
        if (store->transition(store->ctx, t, b->public_base_url, &run->events, &applied) != C_OK) {
            if (run->refused == NULL || apply_refuse(store, run, b->create_count + i) != C_OK)
                return C_ERR;
            run->events.len = events_len;
            run->events.count = events_count;
            continue;
        }
        if (!applied)
            run->ignored++;
        else if (t->kind == TRANSITION_COMMAND_COMPLETE)
            run->completed++;
        else if (t->kind == TRANSITION_COMMAND_EXPIRE)
            run->expired++;
        else
            run->payments++;
    }
    return C_OK;
}

/* The slot of the i-th catalog command in run->refused. */
static size_t apply_stored_slot(const struct apply_batch *b, size_t i)
{
    return b->create_count + b->transition_count + i;
}

/* The catalog commands, one by one in batch order after the transitions,
 * each with its outcome. A command whose outcome is recorded already (Kafka
 * delivered it again) and a replay within the batch are not applied again.
 * With run->refused, each under its own savepoint, and one that PostgreSQL
 * refuses as invalid data is recorded as refused (the gateway waiting for it
 * answers 400 instead of waiting in vain). */
static int apply_stored_commands(const struct apply_store *store, const struct apply_batch *b,
                                 struct apply_run *run)
{
    size_t n = b->stored_count;
    if (n == 0)
        return C_OK;
    const char **ids = calloc(n, sizeof(*ids));
    bool *recorded = calloc(n, sizeof(*recorded));
    int rc = ids != NULL && recorded != NULL ? C_OK : C_ERR;
    for (size_t i = 0; rc == C_OK && i < n; i++)
        ids[i] = b->stored[i].command.command_id;
    if (rc == C_OK)
        rc = store->recorded(store->ctx, ids, n, recorded);
    for (size_t i = 0; rc == C_OK && i < n; i++) {
        const struct apply_stored *c = &b->stored[i];
        if (c->replay || recorded[i])
            continue;
        if (run->refused != NULL && store->step(store->ctx, APPLY_SAVEPOINT) != C_OK) {
            rc = C_ERR;
            break;
        }
        struct command_outcome *o = &run->outcomes[run->outcome_count];
        bool inserted = false;
        if (store->stored(store->ctx, &c->command, c->event_id, &run->events, o, &inserted) !=
            C_OK) {
            if (run->refused == NULL || apply_refuse(store, run, apply_stored_slot(b, i)) != C_OK) {
                rc = C_ERR;
                break;
            }
            command_outcome_refused(
                o, c->command.command_id, c->command.id, COMMAND_OUTCOME_INVALID,
                "%s could not be saved: a value breaks one of its rules", c->command.store->noun);
        }
        run->stored_inserted[i] = inserted;
        run->outcome_count++;
        if (o->refused)
            run->stored_refused++;
        else
            run->stored++;
    }
    free(ids);
    free(recorded);
    return rc;
}

/* Adds text to ids unless seen: a replayed command may be in the batch twice,
 * and a create and its completion name the same session. */
static int apply_add_id(json_t *ids, json_t *seen, const char *text)
{
    if (json_object_get(seen, text) != NULL)
        return C_OK;
    if (json_object_set_new(seen, text, json_true()) != 0 ||
        json_array_append_new(ids, json_string(text)) != 0)
        return C_ERR;
    return C_OK;
}

/* Whether the batch holds one create command only for the session of creates[first]. */
static bool apply_single_create(const struct apply_batch *b, size_t first)
{
    size_t n = 0;
    for (size_t i = first; i < b->create_count && n < 2; i++)
        n += b->creates[i].first == first;
    return n == 1;
}

/* The ids to notify: each create not refused (there is no row to read
 * otherwise), as its command spelled it, marked when this batch inserted
 * its row (the gateway then answers 201 without reading it back); then
 * every transition, applied or not (the waiting gateway reads the row to
 * learn the outcome); then the object of every catalog command, marked
 * with its command when that command inserted it (the waiting gateway reads
 * its command's outcome otherwise). NULL when out of memory. */
static json_t *apply_notified_ids(const struct apply_batch *b, const struct apply_run *run)
{
    json_t *ids = json_array();
    json_t *seen = json_object();
    int rc = ids != NULL && seen != NULL ? C_OK : C_ERR;
    for (size_t i = 0; rc == C_OK && i < b->create_count; i++) {
        const struct apply_create *c = &b->creates[i];
        if (apply_create_refused(b, run, i))
            continue;
        char text[1 + UUID_STR_LEN + 1 + UUID_STR_LEN];
        if (run->inserted[c->first] && apply_single_create(b, c->first) &&
            b->creates[c->first].command_id[0] != '\0')
            /* The gateway then knows the row is its own request's, not a
             * retry's. With several creates for the id in the batch (a key's
             * retries, a redelivery) no command is named, and a waiting keyed
             * request reads the row. */
            snprintf(text, sizeof(text), "%c%s%c%s", NOTIFY_INSERTED_MARK, c->session.id,
                     NOTIFY_COMMAND_SEPARATOR, b->creates[c->first].command_id);
        else if (run->inserted[c->first])
            snprintf(text, sizeof(text), "%c%s", NOTIFY_INSERTED_MARK, c->session.id);
        else
            snprintf(text, sizeof(text), "%s", c->session.id);
        rc = apply_add_id(ids, seen, text);
    }
    for (size_t i = 0; rc == C_OK && i < b->transition_count; i++)
        rc = apply_add_id(ids, seen, b->transitions[i].session_id);
    for (size_t i = 0; rc == C_OK && i < b->stored_count; i++) {
        /* Catalog commands are applied one by one: an insert is always known
         * to be its command's, which the notification names. */
        char text[1 + UUID_STR_LEN + 1 + UUID_STR_LEN];
        const struct resource_store_command *c = &b->stored[i].command;
        if (run->stored_inserted[i])
            snprintf(text, sizeof(text), "%c%s%c%s", NOTIFY_INSERTED_MARK, c->id,
                     NOTIFY_COMMAND_SEPARATOR, c->command_id);
        else
            snprintf(text, sizeof(text), "%s", c->id);
        rc = apply_add_id(ids, seen, text);
    }
    json_decref(seen);
    if (rc != C_OK) {
        json_decref(ids);
        return NULL;
    }
    return ids;
}

/* The events, then the notifications, in the transaction. Replays and
 * transitions whose guard failed write no events: then there is nothing
 * for the relay to do. */
static int apply_finish(const struct apply_store *store, const struct apply_batch *b,
                        struct apply_run *run)
{
    if (store->write_events(store->ctx, &run->events) != C_OK)
        return C_ERR;
    if (run->outcome_count > 0 &&
        store->write_outcomes(store->ctx, run->outcomes, run->outcome_count) != C_OK)
        return C_ERR;
    json_t *ids = apply_notified_ids(b, run);
    int rc = ids != NULL ? store->notify(store->ctx, ids, run->events.count > 0) : C_ERR;
    json_decref(ids);
    return rc;
}

/* The common case: all creates in one statement, then the transitions.
 * data_error (6 bytes) gets the SQLSTATE of a refusal caused by some
 * command, "" for a failure to retry as is. */
static int apply_commit_all(const struct apply_store *store, const struct apply_batch *b,
                            struct apply_run *run, char *data_error)
{
    data_error[0] = '\0';
    if (store->step(store->ctx, APPLY_BEGIN) != C_OK)
        return C_ERR;
    if (apply_insert_all(store, b, run) != C_OK || apply_add_created_events(b, run) != C_OK ||
        apply_transitions(store, b, run) != C_OK || apply_stored_commands(store, b, run) != C_OK ||
        apply_finish(store, b, run) != C_OK) {
        const char *sqlstate = store->sqlstate(store->ctx);
        if (apply_is_data_error(sqlstate))
            snprintf(data_error, 6, "%s", sqlstate);
        store->step(store->ctx, APPLY_ROLLBACK);
        return C_ERR;
    }
    if (store->step(store->ctx, APPLY_COMMIT) != C_OK) {
        store->step(store->ctx, APPLY_ROLLBACK);
        return C_ERR;
    }
    return C_OK;
}

/* After a data error: each command under its own savepoint, still one
 * transaction and the same order, so the bad ones can be left out. The
 * events are written once at the end like on the fast path (none of the
 * refused commands has one). */
static int apply_commit_each(const struct apply_store *store, const struct apply_batch *b,
                             struct apply_run *run)
{
    if (store->step(store->ctx, APPLY_BEGIN) != C_OK)
        return C_ERR;
    if (apply_insert_each(store, b, run) != C_OK || apply_add_created_events(b, run) != C_OK ||
        apply_transitions(store, b, run) != C_OK || apply_stored_commands(store, b, run) != C_OK ||
        apply_finish(store, b, run) != C_OK || store->step(store->ctx, APPLY_COMMIT) != C_OK) {
        store->step(store->ctx, APPLY_ROLLBACK);
        return C_ERR;
    }
    return C_OK;
}

/* Logged only once the skip is committed, so a retried batch logs it once. */
static void apply_log_refusals(const struct apply_batch *b, const struct apply_run *run)
{
    size_t commands = b->create_count + b->transition_count + b->stored_count;
    for (size_t i = 0; i < commands; i++) {
        size_t slot = i < b->create_count ? b->creates[i].first : i;
        if (!apply_is_refused(run, slot))
            continue;
        const struct apply_refusal *r = &run->refused[slot];
        const struct apply_origin *o;
        const char *id;
        if (i < b->create_count) {
            o = &b->creates[i].origin;
            id = b->creates[i].session.id;
        } else if (i < b->create_count + b->transition_count) {
            o = &b->transition_origins[i - b->create_count];
            id = b->transitions[i - b->create_count].session_id;
        } else {
            o = &b->stored[i - b->create_count - b->transition_count].origin;
            id = b->stored[i - b->create_count - b->transition_count].command.id;
        }
        log_fields(LOG_ERROR,
                   json_pack("{ss si sI ss ss}", "topic", o->topic, "partition", (int)o->partition,
                             "offset", (json_int_t)o->offset, "session_id", id, "sqlstate",
                             r->sqlstate),
                   "skipping command refused by postgres as invalid data: %s", r->message);
    }
}

/* A fresh attempt: nothing inserted, counted or refused yet. */
static void apply_run_reset(struct apply_run *run, const struct apply_batch *b)
{
    memset(run->inserted, 0, b->create_count * sizeof(*run->inserted));
    if (run->stored_inserted != NULL)
        memset(run->stored_inserted, 0, b->stored_count * sizeof(*run->stored_inserted));
    run->inserted_count = 0;
    run->completed = 0;
    run->expired = 0;
    run->payments = 0;
    run->ignored = 0;
    run->outcome_count = 0;
    run->stored = 0;
    run->stored_refused = 0;
    outbox_batch_clear(&run->events);
}

int apply_commit(const struct apply_store *store, const struct apply_batch *b,
                 struct apply_stats *stats)
{
    *stats = (struct apply_stats){0};
    if (b->create_count == 0 && b->transition_count == 0 && b->stored_count == 0)
        return C_OK;
    size_t commands = b->create_count + b->transition_count + b->stored_count;
    struct apply_run run = {.events = OUTBOX_BATCH_INIT};
    run.inserted = calloc(b->create_count > 0 ? b->create_count : 1, sizeof(*run.inserted));
    if (b->stored_count > 0) {
        run.stored_inserted = calloc(b->stored_count, sizeof(*run.stored_inserted));
        run.outcomes = calloc(b->stored_count, sizeof(*run.outcomes));
    }
    int rc = run.inserted != NULL &&
                     (b->stored_count == 0 || (run.stored_inserted != NULL && run.outcomes != NULL))
                 ? C_OK
                 : C_ERR;
    char data_error[6] = "";
    if (rc == C_OK)
        rc = apply_commit_all(store, b, &run, data_error);
    if (rc != C_OK && data_error[0] != '\0') {
        log_warn("a command in the batch was refused by postgres (sqlstate %s); applying command "
                 "by command",
                 data_error);
        apply_run_reset(&run, b);
        run.refused = calloc(commands, sizeof(*run.refused));
        rc = run.refused != NULL ? apply_commit_each(store, b, &run) : C_ERR;
        if (rc == C_OK)
            apply_log_refusals(b, &run);
    }
    if (rc == C_OK) {
        long rejected_creates = 0, rejected_others = 0;
        for (size_t i = 0; i < b->create_count; i++)
            rejected_creates += apply_create_refused(b, &run, i);
        for (size_t i = b->create_count; i < commands; i++)
            rejected_others += apply_is_refused(&run, i);
        *stats = (struct apply_stats){.inserted = run.inserted_count,
                                      .existing = (long)b->create_count - run.inserted_count -
                                                  rejected_creates,
                                      .completed = run.completed,
                                      .expired = run.expired,
                                      .payments = run.payments,
                                      .ignored = run.ignored,
                                      .rejected = rejected_creates + rejected_others,
                                      .stored = run.stored,
                                      .refused = run.stored_refused};
    }
    free(run.inserted);
    free(run.refused);
    free(run.stored_inserted);
    free(run.outcomes);
    outbox_batch_free(&run.events);
    return rc;
}

/* ---- the worker's store: PostgreSQL ------------------------------------------ */

static int apply_pg_step(void *ctx, enum apply_step step)
{
    struct db *db = ctx;
    switch (step) {
    case APPLY_BEGIN:
        return db_begin(db);
    case APPLY_COMMIT:
        return db_commit(db);
    case APPLY_ROLLBACK:
        db_rollback(db);
        return C_OK;
    case APPLY_SAVEPOINT:
        return db_exec_command_as(db, "apply_savepoint", "SAVEPOINT apply_record", 0, NULL);
    case APPLY_ROLLBACK_TO:
        return db_exec_command_as(db, "apply_rollback_to_savepoint",
                                  "ROLLBACK TO SAVEPOINT apply_record", 0, NULL);
    }
    return C_ERR;
}

static int apply_pg_insert(void *ctx, const struct session *const *sessions, size_t n,
                           bool *inserted)
{
    return session_store_insert_batch(ctx, sessions, n, inserted);
}

static int apply_pg_transition(void *ctx, const struct transition_command *t,
                               const char *public_base_url, struct outbox_batch *events,
                               bool *applied)
{
    return transition_command_apply(ctx, t, public_base_url, events, applied);
}

static int apply_pg_write_events(void *ctx, const struct outbox_batch *events)
{
    return outbox_insert(ctx, events);
}

static int apply_pg_notify(void *ctx, const json_t *ids, bool wake_relay)
{
    struct db *db = ctx;
    if (notify_send_list(db, NOTIFY_SESSION_APPLIED, ids) != C_OK)
        return C_ERR;
    return wake_relay ? outbox_wake(db) : C_OK;
}

static const char *apply_pg_sqlstate(void *ctx)
{
    return db_last_sqlstate(ctx);
}

static const char *apply_pg_error(void *ctx)
{
    return ((struct db *)ctx)->last_error;
}

static int apply_pg_recorded(void *ctx, const char *const *command_ids, size_t n, bool *recorded)
{
    return command_outcome_find_recorded(ctx, command_ids, n, recorded);
}

static int apply_pg_stored(void *ctx, const struct resource_store_command *c, const char *event_id,
                           struct outbox_batch *events, struct command_outcome *outcome,
                           bool *inserted)
{
    return resource_store_command_apply(ctx, c, event_id, events, outcome, inserted);
}

static int apply_pg_write_outcomes(void *ctx, const struct command_outcome *outcomes, size_t n)
{
    return command_outcome_insert(ctx, outcomes, n);
}

struct apply_store apply_store_postgres(struct db *db)
{
    return (struct apply_store){.ctx = db,
                                .step = apply_pg_step,
                                .insert = apply_pg_insert,
                                .transition = apply_pg_transition,
                                .write_events = apply_pg_write_events,
                                .notify = apply_pg_notify,
                                .sqlstate = apply_pg_sqlstate,
                                .error = apply_pg_error,
                                .recorded = apply_pg_recorded,
                                .stored = apply_pg_stored,
                                .write_outcomes = apply_pg_write_outcomes};
}
