/* Applying a batch of commands, against a fake store: how the messages are
 * decoded (creates, transitions, catalog commands, malformed ones), how
 * replays within the batch are told apart, what the transaction sends and in
 * which order (the inserts, the transitions, the catalog commands, the events,
 * the outcomes, the notifications), and what happens when PostgreSQL refuses
 * a command or fails. The same against the
 * real PostgreSQL is tests/integration (create, idempotency, lifecycle, crash). */
#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json_writer.h"
#include "core/result.h"
#include "infra/notify.h"
#include "model/outbox.h"
#include "model/product.h"
#include "model/subscription.h"
#include "model/session.h"
#include "../../../session-worker/apply.h"
#include "../leak_check.h"

#define BASE_URL "https://pay.example"
#define S1 "0190a6e4-6b2c-7d3e-8f41-000000000001"
#define S2 "0190a6e4-6b2c-7d3e-8f41-000000000002"
#define S3 "0190a6e4-6b2c-7d3e-8f41-000000000003"
#define ORG_ID "789e0123-e89b-12d3-a456-426614174000"
#define CREATOR_ID "456e7890-e89b-12d3-a456-426614174000"

/* The workers' logs of malformed and refused commands go to the test's
 * redirected stderr rather than the report. */
static void apply_test_init(void)
{
    cr_redirect_stderr();
}

TestSuite(apply, .init = apply_test_init, .fini = unit_leak_check);

/* ---- messages ----------------------------------------------------------------- */

static char *dump_and_free(json_t *j)
{
    cr_assert_not_null(j);
    char *text = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    cr_assert_not_null(text);
    return text;
}

static void make_session(struct session *s, const char *id)
{
    cr_assert_eq(session_init(s), C_OK);
    snprintf(s->id, sizeof(s->id), "%s", id);
    snprintf(s->organization_id, sizeof(s->organization_id), "%s", ORG_ID);
    snprintf(s->environment, sizeof(s->environment), "test");
    s->amount = 500;
    snprintf(s->currency_code, sizeof(s->currency_code), "XOF");
    s->customer_email = strdup("buyer@example.com");
    s->title = strdup("Order \"42\"");
    s->expires_at = 1705318200;
    s->created_at = 1705314600;
    s->updated_at = 1705314600;
    snprintf(s->created_by, sizeof(s->created_by), "%s", CREATOR_ID);
}

/* A create command as the gateway writes it. */
static char *create_command(const char *id, const char *idempotency_key)
{
    struct session s;
    make_session(&s, id);
    if (idempotency_key != NULL) {
        s.idempotency_key = strdup(idempotency_key);
        memset(s.request_hash, 'a', 64);
    }
    char *text = dump_and_free(session_command_create(&s, BASE_URL, "cmd"));
    session_free(&s);
    return text;
}

static char *complete_command(const char *id)
{
    return dump_and_free(session_command_complete(id, "pay_1", NULL, 1000, "EUR", "cmd"));
}

static char *expire_command(const char *id)
{
    return dump_and_free(session_command_expire(id, ORG_ID, "test", "cmd"));
}

/* Adds text (freed) as the message at offset to b. */
static void add(struct apply_batch *b, char *text, int64_t offset)
{
    struct apply_origin o = {"checkout.session.commands", 2, offset};
    cr_assert_eq(apply_batch_add(b, text, strlen(text), &o), C_OK);
    free(text);
}

/* ---- the fake store --------------------------------------------------------------- */

#define FAKE_ROWS 32
#define FAKE_LINES 64

struct fake_row {
    char id[UUID_STR_LEN];
    bool open;
};

struct fake_table {
    struct fake_row rows[FAKE_ROWS];
    size_t n;
};

struct fake {
    struct fake_table table, at_begin, at_savepoint;
    char journal[FAKE_LINES][600];
    size_t lines;
    /* what to refuse or fail */
    const char *refuse_insert_of;     /* an insert holding this id: 23514 */
    const char *refuse_transition_of; /* a transition of this id: 22P02 */
    bool event_before_refusal;        /* ...after adding an event (a completion's customer) */
    bool fail_commit;                 /* COMMIT: 08006 (connection lost) */
    char sqlstate[6];
    char error[128];
    /* every event line written, for the ids */
    char events[FAKE_LINES][200];
    size_t nevents;
    /* the catalog: objects that exist, command ids whose outcome is recorded */
    char objects[FAKE_ROWS][UUID_STR_LEN];
    size_t nobjects;
    char recorded[FAKE_ROWS][UUID_STR_LEN];
    size_t nrecorded;
    const char *refuse_stored_of;               /* a catalog command on this object: 23514 */
    struct command_outcome outcomes[FAKE_ROWS]; /* every outcome written */
    size_t noutcomes;
};

static void fake_log(struct fake *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fake_log(struct fake *f, const char *fmt, ...)
{
    cr_assert_lt(f->lines, FAKE_LINES);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->journal[f->lines++], sizeof(f->journal[0]), fmt, ap);
    va_end(ap);
}

static int fake_fail(struct fake *f, const char *sqlstate, const char *message)
{
    snprintf(f->sqlstate, sizeof(f->sqlstate), "%s", sqlstate);
    snprintf(f->error, sizeof(f->error), "%s", message);
    return C_ERR;
}

static struct fake_row *fake_find(struct fake *f, const char *id)
{
    for (size_t i = 0; i < f->table.n; i++)
        if (strcasecmp(f->table.rows[i].id, id) == 0)
            return &f->table.rows[i];
    return NULL;
}

static void fake_put(struct fake *f, const char *id, bool open)
{
    cr_assert_lt(f->table.n, FAKE_ROWS);
    struct fake_row *r = &f->table.rows[f->table.n++];
    snprintf(r->id, sizeof(r->id), "%s", id);
    r->open = open;
}

static int fake_step(void *ctx, enum apply_step step)
{
    struct fake *f = ctx;
    f->sqlstate[0] = '\0';
    switch (step) {
    case APPLY_BEGIN:
        fake_log(f, "BEGIN");
        f->at_begin = f->table;
        return C_OK;
    case APPLY_COMMIT:
        fake_log(f, "COMMIT");
        if (f->fail_commit) {
            f->table = f->at_begin;
            return fake_fail(f, "08006", "connection lost");
        }
        return C_OK;
    case APPLY_ROLLBACK:
        fake_log(f, "ROLLBACK");
        f->table = f->at_begin;
        return C_OK;
    case APPLY_SAVEPOINT:
        fake_log(f, "SAVEPOINT");
        f->at_savepoint = f->table;
        return C_OK;
    case APPLY_ROLLBACK_TO:
        fake_log(f, "ROLLBACK TO");
        f->table = f->at_savepoint;
        return C_OK;
    }
    return C_ERR;
}

static int fake_insert(void *ctx, const struct session *const *sessions, size_t n, bool *inserted)
{
    struct fake *f = ctx;
    char line[600] = "INSERT";
    for (size_t i = 0; i < n; i++) {
        strncat(line, i == 0 ? " " : ",", sizeof(line) - strlen(line) - 1);
        strncat(line, sessions[i]->id, sizeof(line) - strlen(line) - 1);
    }
    fake_log(f, "%s", line);
    f->sqlstate[0] = '\0';
    for (size_t i = 0; i < n; i++)
        if (f->refuse_insert_of != NULL && strcmp(sessions[i]->id, f->refuse_insert_of) == 0)
            return fake_fail(f, "23514", "new row violates check constraint");
    for (size_t i = 0; i < n; i++) {
        inserted[i] = fake_find(f, sessions[i]->id) == NULL;
        if (inserted[i])
            fake_put(f, sessions[i]->id, true);
    }
    return C_OK;
}

static int fake_transition(void *ctx, const struct transition_command *t,
                           const char *public_base_url, struct outbox_batch *events, bool *applied)
{
    struct fake *f = ctx;
    bool complete = t->kind == TRANSITION_COMMAND_COMPLETE;
    fake_log(f, "%s %s", complete ? "complete" : "expire", t->session_id);
    cr_assert_str_eq(public_base_url, BASE_URL);
    f->sqlstate[0] = '\0';
    if (f->refuse_transition_of != NULL && strcmp(t->session_id, f->refuse_transition_of) == 0) {
        struct outbox_event customer = {t->event_id, t->session_id,      ORG_ID,
                                        "test",      "customer.created", "{}"};
        if (f->event_before_refusal)
            cr_assert_eq(outbox_batch_add(events, &customer), C_OK);
        return fake_fail(f, "22P02", "invalid input syntax");
    }
    struct fake_row *r = fake_find(f, t->session_id);
    *applied = r != NULL && r->open;
    if (!*applied)
        return C_OK;
    r->open = false;
    struct outbox_event ev = {t->event_id,
                              t->session_id,
                              ORG_ID,
                              "test",
                              complete ? SESSION_EVENT_COMPLETED : SESSION_EVENT_EXPIRED,
                              "{}"};
    return outbox_batch_add(events, &ev);
}

/* "COPY created:S1 completed:S1": the events in the order sent. */
static int fake_write_events(void *ctx, const struct outbox_batch *events)
{
    struct fake *f = ctx;
    char line[600] = "COPY";
    const char *p = events->copy != NULL ? events->copy : "";
    for (size_t i = 0; i < events->count; i++) {
        /* id \t session \t org \t env \t type \t payload \n */
        char id[64], session[64], org[64], env[8], type[64];
        cr_assert_eq(sscanf(p, "%63[^\t]\t%63[^\t]\t%63[^\t]\t%7[^\t]\t%63[^\t]\t", id, session,
                            org, env, type),
                     5);
        const char *short_type = strrchr(type, '.') + 1;
        char item[160];
        snprintf(item, sizeof(item), " %s:%s", short_type, session);
        strncat(line, item, sizeof(line) - strlen(line) - 1);
        cr_assert_lt(f->nevents, FAKE_LINES);
        snprintf(f->events[f->nevents++], sizeof(f->events[0]), "%s %s %s", type, session, id);
        p = strchr(p, '\n');
        cr_assert_not_null(p);
        p++;
    }
    cr_assert_eq(*p, '\0', "count and rows agree");
    fake_log(f, "%s", line);
    return C_OK;
}

static int fake_notify(void *ctx, const json_t *ids, bool wake_relay)
{
    struct fake *f = ctx;
    char line[600] = "NOTIFY";
    size_t i;
    json_t *id;
    json_array_foreach(ids, i, id)
    {
        strncat(line, i == 0 ? " " : ",", sizeof(line) - strlen(line) - 1);
        strncat(line, json_string_value(id), sizeof(line) - strlen(line) - 1);
    }
    if (wake_relay)
        strncat(line, " +wake", sizeof(line) - strlen(line) - 1);
    fake_log(f, "%s", line);
    return C_OK;
}

static const char *fake_sqlstate(void *ctx)
{
    return ((struct fake *)ctx)->sqlstate;
}

static const char *fake_error(void *ctx)
{
    return ((struct fake *)ctx)->error;
}

static bool fake_object_exists(const struct fake *f, const char *id)
{
    for (size_t i = 0; i < f->nobjects; i++)
        if (strcasecmp(f->objects[i], id) == 0)
            return true;
    return false;
}

static int fake_recorded(void *ctx, const char *const *command_ids, size_t n, bool *recorded)
{
    struct fake *f = ctx;
    fake_log(f, "RECORDED? %zu", n);
    for (size_t i = 0; i < n; i++) {
        recorded[i] = false;
        for (size_t k = 0; k < f->nrecorded; k++)
            recorded[i] = recorded[i] || strcasecmp(f->recorded[k], command_ids[i]) == 0;
    }
    return C_OK;
}

/* "product.create P1": creates the object unless it exists, updates it if it
 * does; each change writes its event as the real store does. */
static int fake_stored(void *ctx, const struct resource_store_command *c, const char *event_id,
                       struct outbox_batch *events, struct command_outcome *outcome, bool *inserted)
{
    struct fake *f = ctx;
    bool create = c->op == RESOURCE_STORE_CREATE;
    fake_log(f, "%s %s", create ? c->store->command_create : c->store->command_update, c->id);
    f->sqlstate[0] = '\0';
    *inserted = false;
    if (f->refuse_stored_of != NULL && strcmp(c->id, f->refuse_stored_of) == 0)
        return fake_fail(f, "23514", "new row violates check constraint");
    bool exists = fake_object_exists(f, c->id);
    if (create && exists) {
        command_outcome_applied(outcome, c->command_id, c->id);
        return C_OK;
    }
    if (!create && !exists) {
        command_outcome_refused(outcome, c->command_id, c->id, COMMAND_OUTCOME_NOT_FOUND,
                                "not found");
        return C_OK;
    }
    if (create) {
        cr_assert_lt(f->nobjects, FAKE_ROWS);
        snprintf(f->objects[f->nobjects++], UUID_STR_LEN, "%s", c->id);
        *inserted = true;
    }
    struct outbox_event ev = {
        event_id, c->id, ORG_ID, "test", create ? c->store->event_created : c->store->event_updated,
        "{}"};
    command_outcome_applied(outcome, c->command_id, c->id);
    return outbox_batch_add(events, &ev);
}

/* "OUTCOMES applied:P1 refused(not_found):P2" */
static int fake_write_outcomes(void *ctx, const struct command_outcome *outcomes, size_t n)
{
    struct fake *f = ctx;
    char line[600] = "OUTCOMES";
    for (size_t i = 0; i < n; i++) {
        char item[160];
        if (outcomes[i].refused)
            snprintf(item, sizeof(item), " refused(%s):%s", outcomes[i].code,
                     outcomes[i].object_id);
        else
            snprintf(item, sizeof(item), " applied:%s", outcomes[i].object_id);
        strncat(line, item, sizeof(line) - strlen(line) - 1);
        cr_assert_lt(f->nrecorded, FAKE_ROWS);
        snprintf(f->recorded[f->nrecorded++], UUID_STR_LEN, "%s", outcomes[i].command_id);
        cr_assert_lt(f->noutcomes, FAKE_ROWS);
        f->outcomes[f->noutcomes++] = outcomes[i];
    }
    fake_log(f, "%s", line);
    return C_OK;
}

static struct apply_store fake_store(struct fake *f)
{
    return (struct apply_store){.ctx = f,
                                .step = fake_step,
                                .insert = fake_insert,
                                .transition = fake_transition,
                                .write_events = fake_write_events,
                                .notify = fake_notify,
                                .sqlstate = fake_sqlstate,
                                .error = fake_error,
                                .recorded = fake_recorded,
                                .stored = fake_stored,
                                .write_outcomes = fake_write_outcomes};
}

static void assert_journal(const struct fake *f, const char *const *expected, size_t n)
{
    for (size_t i = 0; i < n && i < f->lines; i++)
        cr_assert_str_eq(f->journal[i], expected[i], "step %zu: \"%s\", expected \"%s\"", i,
                         f->journal[i], expected[i]);
    cr_assert_eq(f->lines, n, "%zu steps, expected %zu", f->lines, n);
}

#define ASSERT_JOURNAL(f, ...)                                                                     \
    do {                                                                                           \
        const char *const expected_[] = {__VA_ARGS__};                                             \
        assert_journal((f), expected_, sizeof(expected_) / sizeof(expected_[0]));                  \
    } while (0)

static struct apply_stats commit_ok(struct fake *f, const struct apply_batch *b)
{
    struct apply_store store = fake_store(f);
    struct apply_stats stats;
    cr_assert_eq(apply_commit(&store, b, &stats), C_OK);
    return stats;
}

/* ---- decoding --------------------------------------------------------------------- */

Test(apply, creates_and_transitions_are_told_apart_in_message_order)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 4, BASE_URL), C_OK);
    add(&b, create_command(S1, "order-1"), 10);
    add(&b, complete_command(S1), 11);
    add(&b, create_command(S2, NULL), 12);
    add(&b, expire_command(S3), 13);
    cr_assert_eq(b.create_count, 2);
    cr_assert_eq(b.transition_count, 2);
    cr_assert_eq(b.malformed, 0);
    cr_assert_str_eq(b.creates[0].session.id, S1);
    cr_assert_eq(b.creates[0].origin.offset, 10);
    cr_assert_str_eq(b.creates[0].session.idempotency_key, "order-1");
    cr_assert_eq(strspn(b.creates[0].session.request_hash, "a"), 64);
    cr_assert_null(b.creates[1].session.idempotency_key);
    cr_assert_str_eq(b.creates[1].session.request_hash, "");
    cr_assert_eq(b.transitions[0].kind, TRANSITION_COMMAND_COMPLETE);
    cr_assert_str_eq(b.transitions[0].session_id, S1);
    cr_assert_eq(b.transition_origins[0].offset, 11);
    cr_assert_eq(b.transitions[1].kind, TRANSITION_COMMAND_EXPIRE);
    cr_assert_eq(b.transition_origins[1].offset, 13);
    cr_assert(uuid_is_valid(b.transitions[0].event_id));
    cr_assert(uuid_is_valid(b.transitions[1].event_id));
    cr_assert_str_neq(b.transitions[0].event_id, b.transitions[1].event_id);
    apply_batch_free(&b);
}

Test(apply, each_create_carries_its_created_event_written_once)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 2, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, create_command(S2, NULL), 2);
    for (size_t i = 0; i < 2; i++) {
        const struct apply_create *c = &b.creates[i];
        cr_assert(uuid_is_valid(c->event_id));
        /* The same text the event writer gives for the session, at its
         * creation time. */
        struct json_writer w = JSON_WRITER_INIT;
        cr_assert_eq(session_event_write(&w, &c->session, BASE_URL, SESSION_EVENT_CREATED,
                                         c->event_id, c->session.created_at),
                     C_OK);
        cr_assert_str_eq(b.events.buf + c->event, w.buf);
        json_writer_free(&w);
    }
    cr_assert_str_neq(b.creates[0].event_id, b.creates[1].event_id);
    apply_batch_free(&b);
}

Test(apply, malformed_messages_are_counted_and_left_out)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 16, BASE_URL), C_OK);
    struct apply_origin o = {"checkout.session.commands", 0, 1};
    cr_assert_eq(apply_batch_add(&b, NULL, 0, &o), C_OK);
    add(&b, strdup("not json"), 2);
    add(&b, strdup("[1,2]"), 3);
    add(&b, strdup("{\"type\":\"checkout.session.delete\",\"data\":{}}"), 4);
    add(&b, strdup("{\"data\":{}}"), 5);
    add(&b, strdup("{\"type\":\"checkout.session.create\",\"data\":{\"amount\":1}}"), 6);
    add(&b, strdup("{\"type\":\"checkout.session.complete\",\"data\":{}}"), 7);
    /* Extension attributes of the wrong type, a hash that does not fit. */
    char *text = create_command(S1, "k");
    json_t *cmd = json_loads(text, 0, NULL);
    free(text);
    cr_assert_eq(json_object_set_new(cmd, "idempotencykey", json_integer(5)), 0);
    add(&b, dump_and_free(json_incref(cmd)), 8);
    cr_assert_eq(json_object_set_new(cmd, "idempotencykey", json_string("k")), 0);
    char hash[100];
    memset(hash, 'a', 65);
    hash[65] = '\0';
    cr_assert_eq(json_object_set_new(cmd, "requesthash", json_string(hash)), 0);
    add(&b, dump_and_free(cmd), 9);
    cr_assert_eq(b.malformed, 9);
    cr_assert_eq(b.create_count, 0);
    cr_assert_eq(b.transition_count, 0);
    cr_assert_eq(b.events.len, 0);
    apply_batch_free(&b);
}

Test(apply, a_create_replayed_in_the_batch_is_applied_once)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 4, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, create_command(S2, NULL), 2);
    add(&b, create_command(S1, NULL), 3);
    /* The same session whatever the case of its id. */
    char upper[UUID_STR_LEN];
    snprintf(upper, sizeof(upper), "%s", S1);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    add(&b, create_command(upper, NULL), 4);
    cr_assert_eq(b.create_count, 4);
    cr_assert_eq(b.creates[0].first, 0);
    cr_assert_eq(b.creates[1].first, 1);
    cr_assert_eq(b.creates[2].first, 0);
    cr_assert_eq(b.creates[3].first, 0);
    size_t events_len = b.events.len;

    struct fake f = {0};
    struct apply_stats st = commit_ok(&f, &b);
    /* One insert of each session, one created event each; every spelling named. */
    char notify[300];
    /* S1 had several creates: no command is named for it (a waiting keyed
     * request reads the row); S2 had one, "cmd", named after its id. */
    snprintf(notify, sizeof(notify), "NOTIFY +%s,+%s:cmd,+%s +wake", S1, S2, upper);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1 "," S2, "COPY created:" S1 " created:" S2, notify,
                   "COMMIT");
    cr_assert_eq(st.inserted, 2);
    cr_assert_eq(st.existing, 2, "the replays count as existing");
    cr_assert_eq(b.events.len, events_len, "no event written for a replay");
    apply_batch_free(&b);
}

/* ---- committing --------------------------------------------------------------------- */

Test(apply, a_batch_inserts_then_transitions_then_writes_every_event_in_order)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 5, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, complete_command(S1), 2);
    add(&b, create_command(S2, NULL), 3);
    add(&b, expire_command(S2), 4);
    add(&b, expire_command(S1), 5); /* already completed: the guard fails */
    struct fake f = {0};
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1 "," S2, "complete " S1, "expire " S2, "expire " S1,
                   "COPY created:" S1 " created:" S2 " completed:" S1 " expired:" S2,
                   "NOTIFY +" S1 ":cmd,+" S2 ":cmd," S1 "," S2 " +wake", "COMMIT");
    cr_assert_eq(st.inserted, 2);
    cr_assert_eq(st.existing, 0);
    cr_assert_eq(st.completed, 1);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.ignored, 1);
    cr_assert_eq(st.rejected, 0);
    /* The events are the ones made when decoding. */
    char expected[200];
    snprintf(expected, sizeof(expected), "%s %s %s", SESSION_EVENT_CREATED, S1,
             b.creates[0].event_id);
    cr_assert_str_eq(f.events[0], expected);
    snprintf(expected, sizeof(expected), "%s %s %s", SESSION_EVENT_COMPLETED, S1,
             b.transitions[0].event_id);
    cr_assert_str_eq(f.events[2], expected);
    apply_batch_free(&b);
}

Test(apply, sessions_already_there_get_no_event_and_no_mark)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 2, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, complete_command(S3), 2); /* no such session */
    struct fake f = {0};
    fake_put(&f, S1, true);
    struct apply_stats st = commit_ok(&f, &b);
    /* Nothing changed: no event, no wake of the relay; still named, so the
     * waiting gateway reads the rows. */
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "complete " S3, "COPY", "NOTIFY " S1 "," S3,
                   "COMMIT");
    cr_assert_eq(st.inserted, 0);
    cr_assert_eq(st.existing, 1);
    cr_assert_eq(st.ignored, 1);
    apply_batch_free(&b);
}

Test(apply, the_same_batch_applied_twice_changes_nothing_the_second_time)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 2, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, complete_command(S1), 2);
    struct fake f = {0};
    commit_ok(&f, &b);
    f.lines = 0;
    f.nevents = 0;
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "complete " S1, "COPY", "NOTIFY " S1, "COMMIT");
    cr_assert_eq(st.existing, 1);
    cr_assert_eq(st.ignored, 1);
    cr_assert_eq(f.nevents, 0);
    apply_batch_free(&b);
}

Test(apply, an_empty_batch_touches_nothing)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 1, BASE_URL), C_OK);
    add(&b, strdup("garbage"), 1);
    struct fake f = {0};
    struct apply_stats st = commit_ok(&f, &b);
    cr_assert_eq(f.lines, 0);
    cr_assert_eq(st.inserted + st.existing + st.rejected, 0);
    apply_batch_free(&b);
}

Test(apply, a_failure_that_is_not_the_data_is_retried_with_the_same_events)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 2, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, expire_command(S1), 2);
    struct fake f = {0};
    f.fail_commit = true;
    struct apply_store store = fake_store(&f);
    struct apply_stats st;
    cr_assert_eq(apply_commit(&store, &b, &st), C_ERR);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "expire " S1, "COPY created:" S1 " expired:" S1,
                   "NOTIFY +" S1 ":cmd," S1 " +wake", "COMMIT", "ROLLBACK");
    cr_assert_eq(f.table.n, 0, "nothing committed");
    char first[2][200];
    memcpy(first, f.events, sizeof(first));
    /* The retry of the same batch writes the same events, ids included. */
    f.fail_commit = false;
    f.lines = 0;
    f.nevents = 0;
    st = commit_ok(&f, &b);
    cr_assert_eq(st.inserted, 1);
    cr_assert_eq(st.expired, 1);
    cr_assert_str_eq(f.events[0], first[0]);
    cr_assert_str_eq(f.events[1], first[1]);
    apply_batch_free(&b);
}

Test(apply, a_create_refused_as_invalid_data_is_skipped_and_the_rest_applied)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 4, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, create_command(S2, NULL), 2);
    add(&b, complete_command(S1), 3);
    add(&b, create_command(S2, NULL), 4); /* a replay of the refused one */
    struct fake f = {0};
    f.refuse_insert_of = S2;
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1 "," S2, "ROLLBACK",
                   /* again, command by command */
                   "BEGIN", "SAVEPOINT", "INSERT " S1, "SAVEPOINT", "INSERT " S2, "ROLLBACK TO",
                   "SAVEPOINT", "complete " S1, "COPY created:" S1 " completed:" S1,
                   "NOTIFY +" S1 ":cmd," S1 " +wake", "COMMIT");
    cr_assert_eq(st.inserted, 1);
    cr_assert_eq(st.existing, 0);
    cr_assert_eq(st.completed, 1);
    cr_assert_eq(st.rejected, 2, "the refused create and its replay");
    apply_batch_free(&b);
}

Test(apply, a_transition_refused_as_invalid_data_is_skipped_and_the_rest_applied)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 3, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    add(&b, complete_command(S2), 2);
    add(&b, expire_command(S1), 3);
    struct fake f = {0};
    fake_put(&f, S2, true);
    f.refuse_transition_of = S2;
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "complete " S2, "ROLLBACK", "BEGIN", "SAVEPOINT",
                   "INSERT " S1, "SAVEPOINT", "complete " S2, "ROLLBACK TO", "SAVEPOINT",
                   "expire " S1, "COPY created:" S1 " expired:" S1,
                   "NOTIFY +" S1 ":cmd," S2 "," S1 " +wake", "COMMIT");
    cr_assert_eq(st.inserted, 1);
    cr_assert_eq(st.expired, 1);
    cr_assert_eq(st.rejected, 1);
    cr_assert(fake_find(&f, S2)->open, "the refused completion changed nothing");
    apply_batch_free(&b);
}

Test(apply, a_refused_transition_takes_back_the_events_it_added)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 2, BASE_URL), C_OK);
    add(&b, complete_command(S2), 1);
    add(&b, complete_command(S1), 2);
    struct fake f = {0};
    fake_put(&f, S1, true);
    fake_put(&f, S2, true);
    f.refuse_transition_of = S2;
    f.event_before_refusal = true;
    struct apply_stats st = commit_ok(&f, &b);
    /* The refused completion's customer event is not written; the other's is. */
    ASSERT_JOURNAL(&f, "BEGIN", "complete " S2, "ROLLBACK", "BEGIN", "SAVEPOINT", "complete " S2,
                   "ROLLBACK TO", "SAVEPOINT", "complete " S1, "COPY completed:" S1,
                   "NOTIFY " S2 "," S1 " +wake", "COMMIT");
    cr_assert_eq(st.completed, 1);
    cr_assert_eq(st.rejected, 1);
    apply_batch_free(&b);
}

/* ---- catalog commands ------------------------------------------------------------- */

#define P1 "0190a6e4-6b2c-7d3e-8f41-0000000000a1"
#define P2 "0190a6e4-6b2c-7d3e-8f41-0000000000a2"
#define C1 "0190a6e4-6b2c-7d3e-8f41-0000000000c1"
#define C2 "0190a6e4-6b2c-7d3e-8f41-0000000000c2"
#define C3 "0190a6e4-6b2c-7d3e-8f41-0000000000c3"

/* A product create command as the gateway writes it, with command id cmd. */
static char *product_create_command(const char *id, const char *cmd)
{
    struct product p;
    cr_assert_eq(product_init(&p), C_OK);
    cr_assert_eq(
        resource_store_prepare_new(&product_store, &p, id, ORG_ID, "test", 1705314600, NULL, NULL),
        C_OK);
    p.name = strdup("Premium plan");
    char *text = dump_and_free(resource_store_command_create(&product_store, &p, cmd));
    product_free(&p);
    return text;
}

static char *product_update_command(const char *id, const char *cmd, const char *changes)
{
    json_t *c = json_loads(changes, 0, NULL);
    cr_assert_not_null(c, "%s", changes);
    char *text =
        dump_and_free(resource_store_command_update(&product_store, id, ORG_ID, "test", c, cmd));
    json_decref(c);
    return text;
}

Test(apply, catalog_commands_are_decoded_by_the_command_table)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 8, BASE_URL), C_OK);
    add(&b, product_create_command(P1, C1), 1);
    add(&b, product_update_command(P1, C2, "{\"active\": false, \"description\": null}"), 2);
    add(&b, create_command(S1, NULL), 3);
    cr_assert_eq(b.stored_count, 2);
    cr_assert_eq(b.create_count, 1);
    cr_assert_eq(b.stored[0].command.op, RESOURCE_STORE_CREATE);
    cr_assert_eq(b.stored[0].command.store, &product_store);
    cr_assert_str_eq(b.stored[0].command.id, P1);
    cr_assert_str_eq(b.stored[0].command.command_id, C1);
    cr_assert_str_eq(((struct product *)b.stored[0].command.object)->name, "Premium plan");
    cr_assert_eq(b.stored[0].origin.offset, 1);
    cr_assert_eq(b.stored[1].command.op, RESOURCE_STORE_UPDATE);
    cr_assert_str_eq(b.stored[1].command.changes, "{\"active\":false,\"description\":null}");
    cr_assert_str_eq(b.stored[1].command.organization_id, ORG_ID);
    cr_assert(uuid_is_valid(b.stored[0].event_id));
    cr_assert_str_neq(b.stored[0].event_id, b.stored[1].event_id);
    cr_assert(!b.stored[0].replay && !b.stored[1].replay);
    /* Malformed: not updatable, of the wrong kind, a command id that is no UUID. */
    add(&b, product_update_command(P1, C3, "{\"created_at\": \"2024-01-15T10:30:00Z\"}"), 4);
    add(&b, product_update_command(P1, C3, "{\"active\": \"no\"}"), 5);
    add(&b, product_create_command(P2, "not-a-uuid"), 6);
    cr_assert_eq(b.malformed, 3);
    cr_assert_eq(b.stored_count, 2);
    apply_batch_free(&b);
}

Test(apply, a_subscription_cancel_is_an_action_of_the_command_table)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 4, BASE_URL), C_OK);
    add(&b,
        dump_and_free(resource_store_command_action(&subscription_store, &subscription_cancel, P1,
                                                    ORG_ID, "live", C1)),
        1);
    cr_assert_eq(b.stored_count, 1);
    cr_assert_eq(b.malformed, 0);
    const struct resource_store_command *c = &b.stored[0].command;
    cr_assert_eq(c->op, RESOURCE_STORE_ACTION);
    cr_assert_eq(c->store, &subscription_store);
    cr_assert_eq(c->action, &subscription_cancel);
    cr_assert_str_eq(c->id, P1);
    cr_assert_str_eq(c->organization_id, ORG_ID);
    cr_assert_str_eq(c->environment, "live");
    cr_assert(uuid_is_valid(b.stored[0].event_id));
    /* Without its tenant it is malformed, reported under its own type. */
    add(&b,
        dump_and_free(json_pack("{ss ss ss s{ss}}", "id", C2, "type", "subscription.cancel",
                                "subject", P1, "data", "subscription_id", P1)),
        2);
    cr_assert_eq(b.malformed, 1);
    cr_assert_eq(b.stored_count, 1);
    apply_batch_free(&b);
}

Test(apply, catalog_commands_apply_after_the_transitions_with_their_events_and_outcomes)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 5, BASE_URL), C_OK);
    add(&b, product_create_command(P1, C1), 1);
    add(&b, create_command(S1, NULL), 2);
    add(&b, product_update_command(P1, C2, "{\"active\": false}"), 3);
    add(&b, complete_command(S1), 4);
    add(&b, product_update_command(P2, C3, "{\"active\": false}"), 5); /* no such product */
    struct fake f = {0};
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "complete " S1, "RECORDED? 3", "product.create " P1,
                   "product.update " P1, "product.update " P2,
                   "COPY created:" S1 " completed:" S1 " created:" P1 " updated:" P1,
                   "OUTCOMES applied:" P1 " applied:" P1 " refused(not_found):" P2,
                   "NOTIFY +" S1 ":cmd," S1 ",+" P1 ":" C1 "," P1 "," P2 " +wake", "COMMIT");
    cr_assert_eq(st.stored, 2);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(st.inserted, 1);
    cr_assert_eq(st.completed, 1);
    /* The outcomes name their commands; the events are the ones made when decoding. */
    cr_assert_str_eq(f.outcomes[0].command_id, C1);
    cr_assert_str_eq(f.outcomes[2].command_id, C3);
    char expected[200];
    snprintf(expected, sizeof(expected), "%s %s %s", PRODUCT_EVENT_CREATED, P1,
             b.stored[0].event_id);
    cr_assert_str_eq(f.events[2], expected);
    apply_batch_free(&b);
}

Test(apply, a_catalog_command_whose_outcome_is_recorded_is_not_applied_again)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 3, BASE_URL), C_OK);
    add(&b, product_create_command(P1, C1), 1);
    add(&b, product_update_command(P1, C2, "{\"name\": \"Gold\"}"), 2);
    add(&b, product_update_command(P1, C2, "{\"name\": \"Gold\"}"), 3); /* replay in the batch */
    cr_assert(b.stored[2].replay);
    struct fake f = {0};
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "RECORDED? 3", "product.create " P1, "product.update " P1,
                   "COPY created:" P1 " updated:" P1, "OUTCOMES applied:" P1 " applied:" P1,
                   "NOTIFY +" P1 ":" C1 "," P1 " +wake", "COMMIT");
    cr_assert_eq(st.stored, 2);
    /* Kafka delivers the batch again: nothing is applied, nothing written,
     * the objects are still named for whoever waits. */
    f.lines = 0;
    f.nevents = 0;
    st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "RECORDED? 3", "COPY", "NOTIFY " P1, "COMMIT");
    cr_assert_eq(st.stored, 0);
    cr_assert_eq(f.nevents, 0);
    apply_batch_free(&b);
}

Test(apply, a_catalog_command_refused_as_invalid_data_is_recorded_as_refused)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 3, BASE_URL), C_OK);
    add(&b, product_create_command(P1, C1), 1);
    add(&b, product_create_command(P2, C2), 2);
    add(&b, create_command(S1, NULL), 3);
    struct fake f = {0};
    f.refuse_stored_of = P1;
    struct apply_stats st = commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "RECORDED? 2", "product.create " P1, "ROLLBACK",
                   "BEGIN", "SAVEPOINT", "INSERT " S1, "RECORDED? 2", "SAVEPOINT",
                   "product.create " P1, "ROLLBACK TO", "SAVEPOINT", "product.create " P2,
                   "COPY created:" S1 " created:" P2,
                   "OUTCOMES refused(validation_error):" P1 " applied:" P2,
                   "NOTIFY +" S1 ":cmd," P1 ",+" P2 ":" C2 " +wake", "COMMIT");
    cr_assert_eq(st.stored, 1);
    cr_assert_eq(st.refused, 1);
    cr_assert_eq(st.rejected, 1);
    cr_assert_str_eq(f.outcomes[0].message, "Product could not be saved: a value breaks one of"
                                            " its rules");
    apply_batch_free(&b);
}

Test(apply, a_batch_without_catalog_commands_makes_no_catalog_statement)
{
    struct apply_batch b;
    cr_assert_eq(apply_batch_init(&b, 1, BASE_URL), C_OK);
    add(&b, create_command(S1, NULL), 1);
    cr_assert_null(b.stored, "no room taken for catalog commands");
    struct fake f = {0};
    commit_ok(&f, &b);
    ASSERT_JOURNAL(&f, "BEGIN", "INSERT " S1, "COPY created:" S1, "NOTIFY +" S1 ":cmd +wake",
                   "COMMIT");
    apply_batch_free(&b);
}
