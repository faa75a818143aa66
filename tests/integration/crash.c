/* Crash safety: the session worker and the expiry worker killed with SIGKILL
 * in the middle of their work (PostgreSQL's and Kafka's restarts under traffic are
 * the chaos ledger's, chaos.c). Whatever was acknowledged exists exactly once, and every state
 * change has exactly one event id on Kafka (a redelivery repeats the same id;
 * those duplicates are allowed only where a fault touched the relay, and
 * asserted: each event at most once more per such fault, none otherwise). Suite "faults": it runs
 * alone, after the others (tests/integration/run.sh), and every test puts the
 * stack back in its .fini. */
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"
#include "core/clock.h"
#include "core/uuid.h"

/* Until the gateway is ready, through refused connections while it restarts. */
static long wait_for_ready(int seconds)
{
    return test_wait_readyz(test_env("CAISSE_TEST_URL"), 200, seconds, NULL, 0);
}

static void ensure_service(const char *name, const char *repo)
{
    if (test_service_pid(name) != 0)
        return;
    char path[1024];
    snprintf(path, sizeof(path), "%s/run/%s.pid", test_env("CAISSE_STACK_DIR"), name);
    unlink(path);
    test_shell("bash %s/deploy/stack.sh start-service %s >/dev/null 2>&1", repo, name);
}

/* Whatever a test asserted, the next one starts with the whole stack up. */
static void restore_stack(void)
{
    const char *repo = test_env("CAISSE_TEST_REPO");
    test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", repo);
    test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", repo);
    ensure_service("session-worker", repo);
    ensure_service("expiry-worker", repo);
}

/* The expiry test runs its worker with small batches: back to the stack's settings. */
static void restore_stack_and_expiry_worker(void)
{
    restore_stack();
    const char *repo = test_env("CAISSE_TEST_REPO");
    test_shell("bash %s/deploy/stack.sh stop-service expiry-worker >/dev/null 2>&1", repo);
    ensure_service("expiry-worker", repo);
}

/* Until the traffic has had at_least creates answered with status; false if
 * it ended or the time ran out first. */
static bool wait_traffic(struct test_traffic *t, long status, long at_least, long timeout_ms)
{
    for (long deadline = clock_now_ms() + timeout_ms; clock_now_ms() < deadline;
         test_sleep_ms(50)) {
        if (test_traffic_count(t, status) >= at_least)
            return true;
        if (test_traffic_done(t))
            return false;
    }
    return false;
}

/* ---- kills inside a transaction ------------------------------------------------------- */

static PGconn *connect_db(void)
{
    PGconn *c = PQconnectdb(test_env("CAISSE_DATABASE_URL"));
    cr_assert(PQstatus(c) == CONNECTION_OK, "cannot connect: %s", PQerrorMessage(c));
    return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK, "%s: %s", sql, PQerrorMessage(c));
    PQclear(r);
}

/* SHARE on the outbox: every writer of it (the session worker's apply, the
 * expiry worker's sweep) then waits
 * inside its transaction, where a kill -9 is sure to land mid-transaction.
 * Readers (the relay's fetch, the gateway) are not blocked. */
static PGconn *lock_outbox(void)
{
    PGconn *c = connect_db();
    exec_ok(c, "SET lock_timeout = '20s'");
    exec_ok(c, "BEGIN");
    exec_ok(c, "LOCK TABLE outbox IN SHARE MODE");
    return c;
}

static void unlock_outbox(PGconn *c)
{
    exec_ok(c, "ROLLBACK");
    PQfinish(c);
}

/* Until another backend waits for the outbox lock to write new events (the
 * relay only reads the outbox; it takes rows off outbox_pending). watch is
 * not the locking connection: a transaction sees a frozen pg_stat_activity. */
static bool wait_blocked_on_outbox(PGconn *watch, long timeout_ms)
{
    for (long deadline = clock_now_ms() + timeout_ms; clock_now_ms() < deadline;
         test_sleep_ms(20)) {
        PGresult *r =
            PQexec(watch, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                          " WHERE NOT l.granted AND l.relation = 'outbox'::regclass");
        cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(watch));
        bool blocked = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
        PQclear(r);
        if (blocked)
            return true;
    }
    return false;
}

/* ---- what PostgreSQL and Kafka hold ------------------------------------------------ */

/* The sessions whose metadata.traffic is marker, with their outbox rows:
 * id -> {"status", "payment_reference", "outbox": {type -> [event ids]}};
 * *unpublished counts the outbox rows the relay has not published yet. */
static json_t *load_sessions(const char *marker, long *unpublished)
{
    json_t *rows =
        test_sql_rows("SELECT s.id::text, s.status, s.payment_reference, o.type, o.id::text,"
                      " EXISTS (SELECT 1 FROM outbox_pending p WHERE p.seq = o.seq)::text"
                      " FROM checkout_sessions s LEFT JOIN outbox o ON o.session_id = s.id"
                      " WHERE s.metadata->>'traffic' = $1 ORDER BY s.id, o.seq",
                      marker);
    json_t *sessions = json_object();
    *unpublished = 0;
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row)
    {
        const char *id = json_string_value(json_array_get(row, 0));
        json_t *s = json_object_get(sessions, id);
        if (s == NULL) {
            s = json_pack("{sO sO s{}}", "status", json_array_get(row, 1), "payment_reference",
                          json_array_get(row, 2), "outbox");
            json_object_set_new(sessions, id, s);
        }
        const char *type = json_string_value(json_array_get(row, 3));
        if (type != NULL) {
            json_t *ids = json_object_get(json_object_get(s, "outbox"), type);
            if (ids == NULL) {
                ids = json_array();
                json_object_set_new(json_object_get(s, "outbox"), type, ids);
            }
            json_array_append(ids, json_array_get(row, 4));
        }
        if (strcmp(json_string_value(json_array_get(row, 5)), "true") == 0)
            (*unpublished)++;
    }
    json_decref(rows);
    return sessions;
}

static const char *status_of(json_t *sessions, const char *id)
{
    return json_string_value(json_object_get(json_object_get(sessions, id), "status"));
}

struct verdict {
    long problems;   /* broken expectations */
    long missing;    /* outbox events not (yet) on Kafka */
    long deliveries; /* events of these sessions on Kafka */
    long duplicates; /* deliveries repeating an event id already seen */
    long most;       /* the most deliveries of one event id */
    char first[1536];
};

static void problem(struct verdict *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct verdict *v, const char *fmt, ...)
{
    if (v->problems++ < 4) {
        size_t used = strlen(v->first);
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->first + used, sizeof(v->first) - used, fmt, ap);
        va_end(ap);
        used = strlen(v->first);
        snprintf(v->first + used, sizeof(v->first) - used, "; ");
    }
}

/* The outbox follows the state machine: one created event per session (when
 * the session came through the API), one completed event iff it is complete,
 * one expired event iff it is expired, nothing else. */
static void check_outbox(json_t *sessions, bool created_expected, struct verdict *v)
{
    const char *id;
    json_t *s;
    json_object_foreach(sessions, id, s)
    {
        const char *status = json_string_value(json_object_get(s, "status"));
        json_t *outbox = json_object_get(s, "outbox");
        struct {
            const char *type;
            size_t want;
        } expect[] = {
            {"checkout.session.created", created_expected ? 1 : 0},
            {"checkout.session.completed", strcmp(status, "complete") == 0 ? 1 : 0},
            {"checkout.session.expired", strcmp(status, "expired") == 0 ? 1 : 0},
        };
        size_t accounted = 0;
        for (size_t k = 0; k < sizeof(expect) / sizeof(expect[0]); k++) {
            size_t have = json_array_size(json_object_get(outbox, expect[k].type));
            accounted += json_object_get(outbox, expect[k].type) != NULL ? 1 : 0;
            if (have != expect[k].want)
                problem(v, "session %s (%s) has %zu outbox rows of %s, expected %zu", id, status,
                        have, expect[k].type, expect[k].want);
        }
        if (accounted != json_object_size(outbox))
            problem(v, "session %s has outbox rows of another type", id);
    }
}

/* On Kafka, each session's events are exactly its outbox events: for every
 * type, one distinct event id, the outbox row's. Repeats of it are counted. */
static void check_kafka(json_t *sessions, json_t *tally, struct verdict *v)
{
    const char *id;
    json_t *s;
    json_object_foreach(sessions, id, s)
    {
        json_t *outbox = json_object_get(s, "outbox");
        json_t *on_kafka = json_object_get(tally, id);
        const char *type;
        json_t *ids;
        json_object_foreach(on_kafka, type, ids)
        {
            const char *event_id;
            json_t *count;
            json_object_foreach(ids, event_id, count)
            {
                v->deliveries += (long)json_integer_value(count);
                v->duplicates += (long)json_integer_value(count) - 1;
                if ((long)json_integer_value(count) > v->most)
                    v->most = (long)json_integer_value(count);
            }
            json_t *expected = json_object_get(outbox, type);
            if (expected == NULL)
                problem(v, "session %s has a %s event on Kafka but no such outbox row", id, type);
            else if (json_object_size(ids) > 1)
                problem(v, "session %s has %zu distinct %s event ids on Kafka", id,
                        json_object_size(ids), type);
        }
        json_t *expected;
        json_object_foreach(outbox, type, expected)
        {
            const char *event_id = json_string_value(json_array_get(expected, 0));
            json_t *seen = json_object_get(on_kafka, type);
            if (seen == NULL || json_object_get(seen, event_id) == NULL) {
                v->missing++;
                if (seen != NULL)
                    problem(v, "session %s: the %s event on Kafka is not the outbox row %s", id,
                            type, event_id);
            }
        }
    }
}

static json_t *subjects_of(json_t *sessions)
{
    json_t *set = json_object();
    const char *id;
    json_t *s;
    json_object_foreach(sessions, id, s)
    {
        json_object_set_new(set, id, json_true());
    }
    return set;
}

static void report_duplicates(const char *test, const struct verdict *v)
{
    fprintf(stderr, "%s: %ld events of these sessions on Kafka, duplicate deliveries: %ld\n", test,
            v->deliveries, v->duplicates);
    cr_log_info("%s: duplicate deliveries: %ld", test, v->duplicates);
}

/* The outbox of these sessions against the state machine, Kafka against the
 * outbox: every event once with its outbox id, none missing. Redeliveries of an
 * id happen only when a fault cut a relay round short (its publication done, its
 * acknowledgement lost): each event at most once more per relay_faults, and none
 * at all without one. Returns the duplicate deliveries. */
static long verify_outbox_and_kafka(const char *test, json_t *sessions, bool created_expected,
                                    long relay_faults)
{
    struct verdict v = {0};
    check_outbox(sessions, created_expected, &v);
    cr_assert_eq(v.problems, 0, "outbox: %ld problems: %s", v.problems, v.first);
    json_t *subjects = subjects_of(sessions);
    json_t *tally = test_kafka_tally(subjects);
    check_kafka(sessions, tally, &v);
    report_duplicates(test, &v);
    cr_assert_eq(v.problems, 0, "Kafka: %ld problems: %s", v.problems, v.first);
    cr_assert_eq(v.missing, 0, "%ld outbox events never reached Kafka", v.missing);
    cr_assert_leq(v.most, 1 + relay_faults,
                  "%s: an event reached Kafka %ld times, after %ld faults that could repeat it",
                  test, v.most, relay_faults);
    if (relay_faults == 0)
        cr_assert_eq(v.duplicates, 0, "%s: %ld events were published twice without a relay fault",
                     test, v.duplicates);
    json_decref(tally);
    json_decref(subjects);
    return v.duplicates;
}

/* ---- what the clients saw --------------------------------------------------------------- */

struct acked {
    json_t *ids;         /* acknowledged session id -> index of its create */
    long unacknowledged; /* creates answered 503 (may still exist) */
    long completions;    /* acknowledged completions (200/202) */
};

/* Only 201/202/503 for creates, only 200/202/503 for completions; every
 * acknowledged create returned an id, no id twice. */
static struct acked check_answers(struct test_traffic *t)
{
    struct acked a = {json_object(), 0, 0};
    size_t n;
    const struct test_traffic_op *ops = test_traffic_ops(t, &n);
    for (size_t i = 0; i < n; i++) {
        long st = ops[i].create_status;
        cr_assert(st == 201 || st == 202 || st == 503,
                  "create #%zu was answered %ld (0: no answer); only 201, 202 and 503 may be", i,
                  st);
        if (st == 503) {
            a.unacknowledged++;
            continue;
        }
        cr_assert(ops[i].id[0] != '\0', "create #%zu answered %ld without an id", i, st);
        cr_assert(json_object_get(a.ids, ops[i].id) == NULL, "two creates returned the id %s",
                  ops[i].id);
        json_object_set_new(a.ids, ops[i].id, json_integer((json_int_t)i));
        if (!ops[i].complete_wanted)
            continue;
        long cs = ops[i].complete_status;
        cr_assert(cs != 404,
                  "completion of %s still answered 404 after %d attempts: the acknowledged "
                  "create never became readable",
                  ops[i].id, ops[i].complete_attempts);
        cr_assert(cs == 200 || cs == 202 || cs == 503,
                  "completion of %s was answered %ld (0: no answer); only 200, 202 and 503 may be",
                  ops[i].id, cs);
        if (cs == 200 || cs == 202)
            a.completions++;
    }
    return a;
}

/* Acknowledged creates not in PostgreSQL; acknowledged completions not applied. */
static long not_yet_applied(struct test_traffic *t, json_t *sessions)
{
    long missing = 0;
    size_t n;
    const struct test_traffic_op *ops = test_traffic_ops(t, &n);
    for (size_t i = 0; i < n; i++) {
        if (ops[i].create_status != 201 && ops[i].create_status != 202)
            continue;
        const char *status = status_of(sessions, ops[i].id);
        if (status == NULL)
            missing++;
        else if (ops[i].complete_wanted &&
                 (ops[i].complete_status == 200 || ops[i].complete_status == 202) &&
                 strcmp(status, "complete") != 0)
            missing++;
    }
    return missing;
}

/* Sessions not in status (NULL: any). */
static long not_in_status(json_t *sessions, const char *status)
{
    long n = 0;
    const char *id;
    json_t *s;
    json_object_foreach(sessions, id, s)
    {
        n += status != NULL && strcmp(json_string_value(json_object_get(s, "status")), status) != 0;
    }
    return n;
}

/* Polls until every acknowledged write is applied (with traffic t) or every
 * session is in all_status (without), the outbox of these sessions is
 * published and every outbox event is on Kafka; or until timeout_s passed. */
static void settle(struct test_traffic *t, const char *all_status, const char *marker,
                   bool created_expected, int timeout_s)
{
    long started = clock_now_ms(), unapplied = 0, unpublished = 0, missing = 0;
    for (long deadline = started + timeout_s * 1000L; clock_now_ms() < deadline;
         test_sleep_ms(1000)) {
        json_t *sessions = load_sessions(marker, &unpublished);
        unapplied = t != NULL ? not_yet_applied(t, sessions) : not_in_status(sessions, all_status);
        missing = 0;
        if (unapplied == 0 && unpublished == 0) {
            json_t *subjects = subjects_of(sessions);
            json_t *tally = test_kafka_tally(subjects);
            struct verdict v = {0};
            check_outbox(sessions, created_expected, &v);
            check_kafka(sessions, tally, &v);
            missing = v.missing;
            json_decref(tally);
            json_decref(subjects);
        }
        json_decref(sessions);
        if (unapplied == 0 && unpublished == 0 && missing == 0)
            break;
    }
    fprintf(stderr,
            "settled in %.1f s: %ld writes not applied, %ld outbox rows unpublished, "
            "%ld outbox events not on Kafka\n",
            (double)(clock_now_ms() - started) / 1000.0, unapplied, unpublished, missing);
}

/* The final judgement of a traffic test: PostgreSQL against what the clients
 * were told, the outbox against the state machine, Kafka against the outbox
 * (redeliveries bounded by relay_faults, see verify_outbox_and_kafka).
 * Returns the duplicate deliveries on Kafka. */
static long verify(const char *test, struct test_traffic *t, const char *marker, long relay_faults)
{
    struct acked a = check_answers(t);
    long unpublished = 0;
    json_t *sessions = load_sessions(marker, &unpublished);
    size_t n;
    const struct test_traffic_op *ops = test_traffic_ops(t, &n);
    long lost = 0, wrong = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops[i].create_status != 201 && ops[i].create_status != 202)
            continue;
        json_t *s = json_object_get(sessions, ops[i].id);
        if (s == NULL) {
            if (lost++ == 0)
                fprintf(stderr, "%s: acknowledged session %s (create %ld) is not in PostgreSQL\n",
                        test, ops[i].id, ops[i].create_status);
            continue;
        }
        const char *status = json_string_value(json_object_get(s, "status"));
        long cs = ops[i].complete_status;
        bool acked_completion = ops[i].complete_wanted && (cs == 200 || cs == 202);
        bool ok;
        if (acked_completion) {
            char reference[96];
            snprintf(reference, sizeof(reference), "pay-%s", ops[i].id);
            const char *ref = json_string_value(json_object_get(s, "payment_reference"));
            ok = strcmp(status, "complete") == 0 && ref != NULL && strcmp(ref, reference) == 0;
        } else if (!ops[i].complete_wanted) {
            ok = strcmp(status, "open") == 0; /* nobody asked for anything else */
        } else {
            ok = strcmp(status, "open") == 0 || strcmp(status, "complete") == 0; /* after a 503 */
        }
        if (!ok && wrong++ == 0)
            fprintf(stderr, "%s: session %s is %s (create %ld, completion %ld)\n", test, ops[i].id,
                    status, ops[i].create_status, cs);
    }
    cr_assert_eq(lost, 0, "%ld acknowledged creates are missing from PostgreSQL", lost);
    cr_assert_eq(wrong, 0, "%ld sessions are not in the state their clients were told", wrong);
    /* By marker: nothing beyond the acknowledged creates, except creates
     * answered 503 that reached Kafka anyway (documented, rare). */
    size_t extra = json_object_size(sessions) - json_object_size(a.ids);
    cr_assert_leq(extra, (size_t)a.unacknowledged,
                  "%zu sessions carry this test's marker beyond the %zu acknowledged creates",
                  extra, json_object_size(a.ids));
    cr_assert_eq(unpublished, 0, "%ld outbox rows were never published", unpublished);

    long duplicates = verify_outbox_and_kafka(test, sessions, true, relay_faults);
    fprintf(stderr, "%s: %zu sessions (%zu acknowledged, %ld answered 503), %ld completed\n", test,
            json_object_size(sessions), json_object_size(a.ids), a.unacknowledged, a.completions);
    json_decref(sessions);
    json_decref(a.ids);
    return duplicates;
}

/* ---- the tests -------------------------------------------------------------------------- */

static void expect_orderly_stop(const char *test, const char *service);

/* Stops the session worker twice while traffic flows, restarts it each time,
 * and checks everything the clients were told. kill -9: after 40 sessions
 * were readable in time (201), wherever it is; then, once the restarted
 * worker is back at work, inside a batch's transaction for sure (held at the
 * outbox). graceful: SIGTERM at the same points (exit 0 within the grace).
 * Returns the duplicate deliveries on Kafka. */
static long session_worker_stops_under_load(const char *test, bool graceful)
{
    cr_assert_eq(wait_for_ready(60), 200);
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    struct test_traffic_options o = {.api_key = test_env("CAISSE_TEST_KEY_A"),
                                     .marker = marker,
                                     .threads = 4,
                                     .creates = 300,
                                     .complete_every = 2,
                                     .pause_ms = 50,
                                     .completion_deadline_s = 120};
    struct test_traffic *t = test_traffic_start(&o);
    int stops = 0;
    PGconn *watch = connect_db();
    for (int round = 0; round < 2; round++) {
        long base = test_traffic_count(t, 201);
        if (!wait_traffic(t, 201, base + (round == 0 ? 40 : 15), 150000))
            break;
        PGconn *lock = NULL;
        if (round == 1 && !graceful) {
            lock = lock_outbox();
            cr_assert(wait_blocked_on_outbox(watch, 20000),
                      "the session worker never reached the outbox with a batch");
        }
        long answered = test_traffic_count(t, -1);
        if (graceful)
            expect_orderly_stop(test, "session-worker");
        else
            test_service_kill9("session-worker");
        stops++;
        fprintf(stderr, "%s: stopped %s after %ld of %d creates were answered\n", test,
                lock != NULL ? "inside a batch's transaction" : "mid-stream", answered, o.creates);
        if (lock != NULL)
            unlock_outbox(lock);
        test_sleep_ms(1000);
        test_service_start("session-worker", NULL);
    }
    PQfinish(watch);
    cr_assert_geq(stops, 1, "the traffic ended before the session worker could be stopped");
    test_traffic_join(t);
    char summary[1024];
    test_traffic_summary(t, summary, sizeof(summary));
    fprintf(stderr, "%s: %d stops; %s\n", test, stops, summary);
    settle(t, NULL, marker, true, 150);
    /* A kill -9 can cut the relay's round (it runs in the session worker);
     * an orderly stop finishes it. */
    long duplicates = verify(test, t, marker, graceful ? 0 : stops);
    test_traffic_free(t);
    return duplicates;
}

Test(faults, session_worker_kill_9_mid_stream_loses_and_duplicates_nothing, .timeout = 480,
     .fini = restore_stack)
{
    session_worker_stops_under_load("session worker kill -9", false);
}

/* Inserts count open sessions, due for an hour or more, in a tenant of their
 * own (marker is its id and the metadata marker), so they are counted through
 * the tenant's index. */
static void insert_due(const char *marker, int count)
{
    char sql[2048];
    snprintf(sql, sizeof(sql),
             "WITH org AS ("
             "  INSERT INTO organizations (id, name, default_currency)"
             "  VALUES ($1::uuid, 'Crash test', 'XOF') RETURNING id),"
             " s AS ("
             "  INSERT INTO checkout_sessions (id, organization_id, environment, amount,"
             "    currency_code, status, title, customer_email, quantity, expires_at, metadata,"
             "    created_at, created_by, updated_at)"
             "  SELECT gen_random_uuid(), org.id, 'test', 1000 + g, 'XOF', 'open', 'Due ' || g,"
             "    'due@example.com', 1,"
             "    date_trunc('second', now()) - interval '3 hours' + g * interval '1 second',"
             "    jsonb_build_object('traffic', $1::text, 'seq', g),"
             "    date_trunc('second', now()) - interval '4 hours', org.id,"
             "    date_trunc('second', now()) - interval '4 hours'"
             "  FROM org, generate_series(1, %d) AS g"
             "  RETURNING 1)"
             " SELECT count(*) FROM s",
             count);
    char *inserted = test_sql_value(sql, marker);
    cr_assert(inserted != NULL && strtol(inserted, NULL, 10) == count, "inserted %s of %d",
              inserted, count);
    free(inserted);
}

static long expired_count(PGconn *c, const char *org)
{
    const char *params[1] = {org};
    PGresult *r = PQexecParams(c,
                               "SELECT count(*) FROM checkout_sessions WHERE organization_id = "
                               "$1::uuid AND environment = 'test' AND status = 'expired'",
                               1, NULL, params, NULL, NULL, 0);
    cr_assert(PQresultStatus(r) == PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
    long n = strtol(PQgetvalue(r, 0, 0), NULL, 10);
    PQclear(r);
    return n;
}

/* Until at least at_least of the count due sessions of marker are expired. */
static void wait_expired(PGconn *c, const char *marker, long at_least, int count)
{
    long expired = 0;
    for (long deadline = clock_now_ms() + 60000; clock_now_ms() < deadline; test_sleep_ms(5)) {
        expired = expired_count(c, marker);
        if (expired >= at_least)
            break;
    }
    cr_assert_geq(expired, at_least, "the expiry worker expired only %ld of %d in 60 s", expired,
                  count);
}

/* After a drain of count due sessions: every one expired exactly once, its
 * event published, and on Kafka, never twice: the expiry worker writes the
 * outbox, it does not relay it, so its stops cannot repeat a publication.
 * Returns the duplicate deliveries (asserted 0). */
static long verify_all_expired(const char *test, const char *marker, int count)
{
    settle(NULL, "expired", marker, false, 120);
    long unpublished = 0;
    json_t *sessions = load_sessions(marker, &unpublished);
    cr_assert_eq(json_object_size(sessions), (size_t)count);
    const char *id;
    json_t *s;
    long not_expired = 0;
    json_object_foreach(sessions, id, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "status")), "expired") != 0 &&
            not_expired++ == 0)
            fprintf(stderr, "%s: session %s is %s\n", test, id,
                    json_string_value(json_object_get(s, "status")));
    }
    cr_assert_eq(not_expired, 0, "%ld of %d due sessions were not expired", not_expired, count);
    cr_assert_eq(unpublished, 0, "%ld outbox rows were never published", unpublished);
    long duplicates = verify_outbox_and_kafka(test, sessions, false, 0);
    json_decref(sessions);
    return duplicates;
}

Test(faults, expiry_worker_kill_9_mid_batch_loses_and_duplicates_nothing, .timeout = 300,
     .fini = restore_stack_and_expiry_worker)
{
    static const char test[] = "expiry worker kill -9";
    enum { N = 4000 };
    /* Small batches, so the drain is a run of transactions a kill can land in. */
    static const char expiry_env[] = "CAISSE_EXPIRY_BATCH=50";
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    test_service_stop("expiry-worker");
    insert_due(marker, N);
    test_service_start("expiry-worker", expiry_env);

    PGconn *c = connect_db();
    /* First wherever the worker is (right after a commit was seen); then for
     * sure inside a sweep, its batch updated but held at the outbox. */
    static const long kill_at[] = {N / 5, N * 3 / 5};
    for (size_t k = 0; k < sizeof(kill_at) / sizeof(kill_at[0]); k++) {
        wait_expired(c, marker, kill_at[k], N);
        PGconn *lock = NULL;
        if (k == 1) {
            lock = lock_outbox();
            cr_assert(wait_blocked_on_outbox(c, 20000),
                      "the expiry worker never reached the outbox with a batch");
        }
        test_service_kill9("expiry-worker");
        long at_kill = expired_count(c, marker);
        fprintf(stderr, "%s: killed %s with %ld of %d expired\n", test,
                lock != NULL ? "inside a sweep" : "between sweeps or in one", at_kill, N);
        cr_assert_lt(at_kill, N, "the drain was over before the kill: nothing was tested");
        if (lock != NULL) {
            /* Released, the killed sweep's backend finds its client gone and
             * rolls back: its batch must not count as expired. */
            unlock_outbox(lock);
            test_sleep_ms(1000);
            long after = expired_count(c, marker);
            cr_assert_eq(after, at_kill, "the killed sweep committed: %ld expired, then %ld",
                         at_kill, after);
        }
        test_sleep_ms(500);
        test_service_start("expiry-worker", expiry_env);
    }
    PQfinish(c);

    verify_all_expired(test, marker, N);
}

/* ---- orderly stops (SIGTERM) under load ----------------------------------------------- */

/* The stack's CAISSE_SHUTDOWN_GRACE_MS (the default): an orderly stop must end
 * within it, or the watchdog would have ended it with status 1. */
#define GRACE_MS 20000L

static void expect_orderly_stop(const char *test, const char *service)
{
    long took = 0;
    int status = test_service_sigterm(service, GRACE_MS + 10000, &took);
    cr_assert_eq(status, 0, "%s: %s exited with %d after SIGTERM (-1: still running after %ld ms)",
                 test, service, status, GRACE_MS + 10000);
    cr_assert_leq(took, GRACE_MS, "%s: %s took %ld ms to stop, beyond the grace period", test,
                  service, took);
    fprintf(stderr, "%s: %s stopped in %ld ms with status 0\n", test, service, took);
}

/* The gateway as the stack runs it, and the workers, whatever the test did. */
static void restore_stack_and_gateway(void)
{
    restore_stack();
    const char *repo = test_env("CAISSE_TEST_REPO");
    test_shell("bash %s/deploy/stack.sh stop-service gateway >/dev/null 2>&1", repo);
    ensure_service("gateway", repo);
    wait_for_ready(60);
}

Test(faults, session_worker_sigterm_under_load_exits_0_and_duplicates_nothing, .timeout = 480,
     .fini = restore_stack)
{
    long duplicates = session_worker_stops_under_load("session worker SIGTERM", true);
    cr_assert_eq(duplicates, 0, "an orderly stop published %ld events twice", duplicates);
}

struct sigterm_call {
    const char *service;
    long timeout_ms;
    long *took_ms;
    int *status;
};

static void *sigterm_thread(void *arg)
{
    struct sigterm_call *c = arg;
    *c->status = test_service_sigterm(c->service, c->timeout_ms, c->took_ms);
    return NULL;
}

Test(faults, gateway_sigterm_turns_unready_then_answers_creates_in_flight_and_loses_nothing,
     .timeout = 240, .fini = restore_stack_and_gateway)
{
    static const char test[] = "gateway SIGTERM";
    enum { CREATES = 8 };
    cr_assert_eq(wait_for_ready(60), 200);
    /* With the session worker stopped, every create stays in flight: the
     * gateway waits for the worker up to CAISSE_CREATE_WAIT_MS (10 s here). */
    expect_orderly_stop(test, "session-worker");
    expect_orderly_stop(test, "gateway");
    test_service_start("gateway", "CAISSE_CREATE_WAIT_MS=10000 CAISSE_SHUTDOWN_DELAY_MS=3000");
    cr_assert_eq(wait_for_ready(60), 200);
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    struct test_traffic_options o = {.api_key = test_env("CAISSE_TEST_KEY_A"),
                                     .marker = marker,
                                     .threads = CREATES,
                                     .creates = CREATES,
                                     .complete_every = 0,
                                     .pause_ms = 0,
                                     .completion_deadline_s = 0};
    struct test_traffic *t = test_traffic_start(&o);
    test_sleep_ms(2500);
    cr_assert_eq(test_traffic_count(t, -1), 0,
                 "creates were answered with the worker stopped: none was in flight");
    /* SIGTERM from a thread of ours, so the shutdown delay can be watched:
     * unready at once, still alive and still serving until it ends. */
    cr_assert(test_service_pid("gateway") > 0);
    long took = 0;
    int status = -1;
    pthread_t stopper;
    struct sigterm_call call = {"gateway", GRACE_MS + 10000, &took, &status};
    cr_assert_eq(pthread_create(&stopper, NULL, sigterm_thread, &call), 0);
    test_sleep_ms(1000);
    struct api_response ready =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "GET", "/readyz", NULL, NULL, NULL);
    struct api_response alive =
        test_api_at(test_env("CAISSE_TEST_INTERNAL_URL"), "GET", "/healthz", NULL, NULL, NULL);
    struct api_response get =
        test_api("GET", "/checkout-sessions?limit=1", test_env("CAISSE_TEST_KEY_A"), NULL, NULL);
    cr_assert_eq(ready.status, 503, "/readyz answered %ld during the shutdown delay", ready.status);
    cr_assert_eq(alive.status, 200, "/healthz answered %ld during the shutdown delay",
                 alive.status);
    cr_assert_eq(get.status, 200, "a read answered %ld during the shutdown delay", get.status);
    test_api_free(&ready);
    test_api_free(&alive);
    test_api_free(&get);
    pthread_join(stopper, NULL);
    cr_assert_eq(status, 0, "the gateway exited with %d after SIGTERM", status);
    cr_assert_leq(took, GRACE_MS, "the gateway took %ld ms to stop", took);
    test_traffic_join(t);
    cr_assert_eq(test_traffic_count(t, 202), CREATES,
                 "of %d creates in flight at SIGTERM, only %ld were answered 202 (accepted)",
                 CREATES, test_traffic_count(t, 202));
    fprintf(stderr, "%s: %d creates in flight answered 202; stopped in %ld ms\n", test, CREATES,
            took);
    /* Once stopped it takes nothing: a new connection is refused (curl: 7). */
    int rc = test_shell("curl -s -o /dev/null --max-time 5 -X POST %s/checkout-sessions",
                        test_env("CAISSE_TEST_URL"));
    cr_assert_eq(rc, 7, "a request after the stop did not find the listener closed (curl %d)", rc);

    test_service_start("gateway", NULL);
    test_service_start("session-worker", NULL);
    cr_assert_eq(wait_for_ready(60), 200);
    settle(t, NULL, marker, true, 120);
    long duplicates = verify(test, t, marker, 0);
    cr_assert_eq(duplicates, 0, "%ld events were published twice", duplicates);
    test_traffic_free(t);
}

Test(faults, expiry_worker_sigterm_mid_burst_exits_0_and_duplicates_nothing, .timeout = 300,
     .fini = restore_stack_and_expiry_worker)
{
    static const char test[] = "expiry worker SIGTERM";
    enum { N = 4000 };
    static const char expiry_env[] = "CAISSE_EXPIRY_BATCH=50";
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    expect_orderly_stop(test, "expiry-worker");
    insert_due(marker, N);
    test_service_start("expiry-worker", expiry_env);
    PGconn *c = connect_db();
    static const long stop_at[] = {N / 5, N * 3 / 5};
    for (size_t k = 0; k < sizeof(stop_at) / sizeof(stop_at[0]); k++) {
        wait_expired(c, marker, stop_at[k], N);
        expect_orderly_stop(test, "expiry-worker");
        long at_stop = expired_count(c, marker);
        fprintf(stderr, "%s: stopped with %ld of %d expired\n", test, at_stop, N);
        cr_assert_lt(at_stop, N, "the drain was over before the stop: nothing was tested");
        test_sleep_ms(500);
        test_service_start("expiry-worker", expiry_env);
    }
    PQfinish(c);
    long duplicates = verify_all_expired(test, marker, N);
    cr_assert_eq(duplicates, 0, "an orderly stop published %ld events twice", duplicates);
}
