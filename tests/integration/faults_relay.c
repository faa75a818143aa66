/* The relay bounded by bytes (issue 16): a backlog of the largest events,
 * piled up while Kafka is down, is relayed once Kafka is back in rounds of at
 * most CAISSE_OUTBOX_BATCH_BYTES, so the session worker's memory stays within
 * a bound derived from that budget, and every event is published exactly once.
 * Part of the faults suite (it stops the stack's Kafka), which
 * tests/integration/run.sh runs alone. */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>

#include "core/uuid.h"
#include "support.h"

#define WORKER "session-worker"
/* The budget of this test's worker: small, so the backlog spans many rounds. */
#define BUDGET_BYTES (1024L * 1024L)
/* Sessions in the backlog: each makes an event of about 66 KB, 250 of them
 * about 16 MB, sixteen budgets' worth. A round that ignored the budget would
 * hold all of them at once, twice over at least (the query's result and the
 * rows copied from it): well past the bound below. */
#define SESSIONS 250
/* What a round may add to the worker's resident memory: the rows (one budget),
 * the query's result while they are copied out of it (another), libpq's and
 * the allocator's slack (a third), plus what reconnecting to Kafka and
 * serving its delivery reports costs whatever the budget. */
#define BOUND_KB (3 * BUDGET_BYTES / 1024 + 8 * 1024)

static void restore(void)
{
    test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO"));
    test_shell("bash %s/deploy/pg.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO"));
    /* The worker as the stack runs it (the default budget). */
    test_service_stop(WORKER);
    test_service_start(WORKER, NULL);
    test_wait_readyz(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"), 200, 90, NULL, 0);
}

/* A field of /proc/<pid>/status in kB (VmRSS, VmHWM). */
static long proc_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s: no such process", path);
    long kb = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    }
    fclose(f);
    cr_assert_gt(kb, 0, "no %s in %s", field, path);
    return kb;
}

/* Resets the process's peak resident size (VmHWM) to its current one. */
static void reset_peak(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/clear_refs", (long)pid);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f, "cannot open %s", path);
    cr_assert_eq(fputs("5", f) >= 0, 1);
    cr_assert_eq(fclose(f), 0, "cannot reset the peak of %ld", (long)pid);
}

static long long sql_count(const char *sql, const char *param)
{
    char *v = test_sql_value(sql, param);
    cr_assert_not_null(v);
    long long n = strtoll(v, NULL, 10);
    free(v);
    return n;
}

Test(faults, a_backlog_of_large_events_is_relayed_within_the_byte_budget_exactly_once,
     .timeout = 900, .fini = restore)
{
    /* The worker with a small budget, Kafka up. */
    test_service_stop(WORKER);
    char env[64];
    snprintf(env, sizeof(env), "CAISSE_OUTBOX_BATCH_BYTES=%ld", BUDGET_BYTES);
    test_service_start(WORKER, env);
    cr_assert_eq(test_wait_readyz(test_env("CAISSE_TEST_SESSION_WORKER_OPS_URL"), 200, 90, NULL, 0),
                 200);
    pid_t pid = test_service_pid(WORKER);
    cr_assert_gt(pid, 0);

    /* The largest sessions, created (Kafka is needed for that) and published. */
    char marker[UUID_STR_LEN];
    cr_assert_eq(uuid_v7_string(marker), 0);
    char *body = test_largest_session_body(marker);
    json_t *subjects = json_object();
    for (int i = 0; i < SESSIONS; i++) {
        struct api_response r = test_create(test_env("CAISSE_TEST_KEY_B"), body);
        cr_assert(r.status == 201 || r.status == 202, "create %d: %ld %.200s", i, r.status, r.text);
        json_object_set_new(subjects,
                            json_string_value(json_object_get(r.json, "checkout_session_id")),
                            json_true());
        test_api_free(&r);
    }
    free(body);
    const char *count_sql = "SELECT count(*) FROM checkout_sessions WHERE metadata->>'marker' = $1";
    for (time_t end = time(NULL) + 120; time(NULL) < end && sql_count(count_sql, marker) < SESSIONS;
         test_sleep_ms(500))
        ;
    cr_assert_eq(sql_count(count_sql, marker), SESSIONS);
    for (time_t end = time(NULL) + 120;
         time(NULL) < end && sql_count("SELECT count(*) FROM outbox_pending", NULL) > 0;
         test_sleep_ms(500))
        ;
    cr_assert_eq(sql_count("SELECT count(*) FROM outbox_pending", NULL), 0);

    /* Kafka down; from here the worker's peak is measured. */
    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh stop >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    reset_peak(pid);
    long baseline_kb = proc_status_kb(pid, "VmRSS");

    /* Their deadline now: the expiry worker (no Kafka needed) expires them, and
     * their expired events, each the whole large session, pile up in the outbox. */
    free(test_sql_value("WITH due AS (UPDATE checkout_sessions SET expires_at = now()"
                        " WHERE metadata->>'marker' = $1 AND status = 'open' RETURNING 1)"
                        " SELECT count(*) FROM due",
                        marker));
    const char *expired_sql = "SELECT count(*) FROM outbox o JOIN outbox_pending p"
                              " ON p.seq = o.seq WHERE o.type = 'checkout.session.expired'"
                              " AND o.payload LIKE '%' || $1 || '%'";
    for (time_t end = time(NULL) + 120;
         time(NULL) < end && sql_count(expired_sql, marker) < SESSIONS; test_sleep_ms(500))
        ;
    cr_assert_eq(sql_count(expired_sql, marker), SESSIONS, "the backlog did not build up");
    long long backlog_bytes =
        sql_count("SELECT sum(octet_length(o.payload)) FROM outbox o JOIN outbox_pending p"
                  " ON p.seq = o.seq",
                  NULL);
    cr_assert_gt(backlog_bytes, 8 * BUDGET_BYTES, "a backlog of %lld bytes", backlog_bytes);
    /* The relay keeps trying meanwhile (each try times out after 5 s). */
    test_sleep_ms(12000);

    cr_assert_eq(
        test_shell("bash %s/deploy/kafka.sh start >/dev/null 2>&1", test_env("CAISSE_TEST_REPO")),
        0);
    for (time_t end = time(NULL) + 300;
         time(NULL) < end && sql_count("SELECT count(*) FROM outbox_pending", NULL) > 0;
         test_sleep_ms(500))
        ;
    cr_assert_eq(sql_count("SELECT count(*) FROM outbox_pending", NULL), 0,
                 "the backlog was not relayed");
    cr_assert_eq(test_service_pid(WORKER), pid, "the session worker restarted");
    long peak_kb = proc_status_kb(pid, "VmHWM");
    long grew_kb = peak_kb - baseline_kb;
    cr_log_info("relay: backlog of %d events, %lld bytes, budget %ld bytes: resident %ld kB"
                " before, peak %ld kB (+%ld kB, bound +%ld kB)",
                SESSIONS, backlog_bytes, BUDGET_BYTES, baseline_kb, peak_kb, grew_kb,
                (long)BOUND_KB);
    cr_assert_leq(grew_kb, (long)BOUND_KB,
                  "the session worker grew by %ld kB relaying %lld bytes (bound %ld kB)", grew_kb,
                  backlog_bytes, (long)BOUND_KB);

    /* Every event on Kafka exactly once, read by kcat: one created and one
     * expired event per session, each delivered once. */
    json_t *tally = test_kafka_tally(subjects);
    cr_assert_eq(json_object_size(tally), SESSIONS, "%zu of %d sessions on Kafka",
                 json_object_size(tally), SESSIONS);
    const char *subject;
    json_t *by_type;
    json_object_foreach(tally, subject, by_type)
    {
        cr_assert_eq(json_object_size(by_type), 2, "session %s: %zu event types", subject,
                     json_object_size(by_type));
        const char *types[] = {"checkout.session.created", "checkout.session.expired"};
        for (int t = 0; t < 2; t++) {
            json_t *ids = json_object_get(by_type, types[t]);
            cr_assert_eq(json_object_size(ids), 1, "session %s: %zu %s event ids", subject,
                         json_object_size(ids), types[t]);
            const char *event_id;
            json_t *deliveries;
            json_object_foreach(ids, event_id, deliveries)
            {
                cr_assert_eq(json_integer_value(deliveries), 1, "event %s (%s) on Kafka %lld times",
                             event_id, types[t], (long long)json_integer_value(deliveries));
            }
        }
    }
    json_decref(tally);
    json_decref(subjects);
}
